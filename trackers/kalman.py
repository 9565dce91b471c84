"""`kalman`: each track follows a constant-velocity Kalman filter between detections.

The filter (`trackers.kalman_filter`, SORT/ByteTrack's state and noise) is batched over all
tracks; this estimator adds the track ids and a confidence that decays with the frames since
the last detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from trackers.kalman_filter import MAX_SIZE_RATE, BoxKalmanFilter, FilterNoise
from trackers.track_ids import rows_of, validated


@dataclass(frozen=True)
class KalmanConfig:
    """Noise weights are fractions of the box height (ByteTrack's values)."""

    state: Literal["cxcyah", "cxcywh"] = "cxcyah"
    std_weight_position: float = 1.0 / 20
    std_weight_velocity: float = 1.0 / 160
    # Aspect-ratio noise is absolute (a is dimensionless), as in SORT/ByteTrack.
    std_aspect: float = 1e-2
    std_aspect_velocity: float = 1e-5
    std_aspect_measurement: float = 1e-1
    # Confidence reported by `propagate`: exp(-frames since last correction / horizon). It lets
    # association prefer recently corrected tracks; 1.0 right after a detection.
    confidence_horizon_frames: float = 25.0
    # The filter's size velocity limit, a fraction of the size per frame (None: no limit; see
    # `trackers.kalman_filter`).
    max_size_rate: float | None = MAX_SIZE_RATE

    def noise(self) -> FilterNoise:
        return FilterNoise(
            state=self.state,
            position=self.std_weight_position,
            velocity=self.std_weight_velocity,
            aspect=self.std_aspect,
            aspect_velocity=self.std_aspect_velocity,
            aspect_measurement=self.std_aspect_measurement,
        )


class KalmanEstimator:
    """`MotionEstimator` with a constant-velocity Kalman filter per track (vectorised)."""

    Config = KalmanConfig

    def __init__(self, config: KalmanConfig | None = None) -> None:
        self.config = config or KalmanConfig()
        self._noise = self.config.noise()  # validates the state
        self.reset()

    # -- protocol --------------------------------------------------------------------------
    @property
    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def reset(self) -> None:
        self._ids = np.zeros(0, np.int64)
        self._kf = BoxKalmanFilter(self._noise, self.config.max_size_rate)
        self._since_update = np.zeros(0, np.int64)

    def add(
        self,
        frame: np.ndarray,
        boxes: np.ndarray,
        ids: np.ndarray,
        frame_index: int | None = None,
    ) -> None:
        boxes, ids = validated(boxes, ids)
        z = self._kf.measure(boxes)
        known = np.isin(ids, self._ids)
        if known.any():
            rows = rows_of(self._ids, ids[known])
            self._kf.update(rows, z[known])
            self._since_update[rows] = 0
        new = ~known
        if new.any():
            self._kf.initiate(z[new])
            self._ids = np.concatenate([self._ids, ids[new]])
            self._since_update = np.concatenate([self._since_update, np.zeros(new.sum(), np.int64)])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, np.int64))
        self._ids, self._since_update = self._ids[keep], self._since_update[keep]
        self._kf.keep(keep)

    def propagate(
        self, frame: np.ndarray, frame_index: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(self._ids) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        self._kf.predict()
        self._since_update += 1
        return self.boxes(), self._confidence()

    # -- extras ----------------------------------------------------------------------------
    def boxes(self) -> np.ndarray:
        """Current state as xyxy boxes, in the order of `ids`, without predicting."""
        return self._kf.boxes()

    def velocities(self) -> np.ndarray:
        """Per-track (vx, vy) centre velocity in px/frame, in the order of `ids`."""
        return self._kf.mean[:, 4:6].astype(np.float32)

    def _confidence(self) -> np.ndarray:
        horizon = max(self.config.confidence_horizon_frames, 1e-6)
        return np.exp(-self._since_update / horizon).astype(np.float32)
