"""Constant-velocity Kalman filter on box centre and shape, batched over all tracks.

The state and noise model follow SORT/ByteTrack: position noise proportional to box height,
so one filter serves people near and far. The state is (cx, cy, a, h) with a = w / h by default
or (cx, cy, w, h); each with its velocity. `propagate` is one predict step per frame, so the
velocity is learned per frame even when detections arrive only every k-th frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mot_pipeline.boxes import (
    as_boxes,
    cxcyah_to_xyxy,
    cxcywh_to_xyxy,
    xyxy_to_cxcyah,
    xyxy_to_cxcywh,
)

_NDIM = 4  # measured quantities: cx, cy, and two shape terms


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


class KalmanEstimator:
    """`MotionEstimator` with a constant-velocity Kalman filter per track (vectorised)."""

    Config = KalmanConfig

    def __init__(self, config: KalmanConfig | None = None) -> None:
        self.config = config or KalmanConfig()
        if self.config.state not in ("cxcyah", "cxcywh"):
            raise ValueError(f"unknown Kalman state {self.config.state!r}")
        self._to_z, self._from_z = (
            (xyxy_to_cxcyah, cxcyah_to_xyxy)
            if self.config.state == "cxcyah"
            else (xyxy_to_cxcywh, cxcywh_to_xyxy)
        )
        self._motion = np.eye(2 * _NDIM)
        self._motion[:_NDIM, _NDIM:] = np.eye(_NDIM)  # x += v each frame
        self.reset()

    # -- protocol --------------------------------------------------------------------------
    @property
    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def reset(self) -> None:
        self._ids = np.zeros(0, np.int64)
        self._mean = np.zeros((0, 2 * _NDIM))
        self._cov = np.zeros((0, 2 * _NDIM, 2 * _NDIM))
        self._since_update = np.zeros(0, np.int64)

    def add(self, frame: np.ndarray, boxes: np.ndarray, ids: np.ndarray) -> None:
        boxes = as_boxes(boxes)
        ids = np.asarray(ids, np.int64).reshape(-1)
        if len(ids) != len(boxes):
            raise ValueError(f"{len(ids)} ids for {len(boxes)} boxes")
        z = self._to_z(boxes).astype(np.float64)
        known = np.isin(ids, self._ids)
        if known.any():
            rows = self._rows(ids[known])
            self._update(rows, z[known])
        new = ~known
        if new.any():
            mean, cov = self._initiate(z[new])
            self._ids = np.concatenate([self._ids, ids[new]])
            self._mean = np.concatenate([self._mean, mean])
            self._cov = np.concatenate([self._cov, cov])
            self._since_update = np.concatenate([self._since_update, np.zeros(new.sum(), np.int64)])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, np.int64))
        self._ids, self._mean = self._ids[keep], self._mean[keep]
        self._cov, self._since_update = self._cov[keep], self._since_update[keep]

    def propagate(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self._ids) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        self._predict()
        self._since_update += 1
        return self.boxes(), self._confidence()

    # -- extras ----------------------------------------------------------------------------
    def boxes(self) -> np.ndarray:
        """Current state as xyxy boxes, in the order of `ids`, without predicting."""
        z = self._mean[:, :_NDIM].copy()
        z[:, 3] = np.maximum(z[:, 3], 1e-3)
        if self.config.state == "cxcywh":
            z[:, 2] = np.maximum(z[:, 2], 1e-3)
        return self._from_z(z.astype(np.float32))

    def velocities(self) -> np.ndarray:
        """Per-track (vx, vy) centre velocity in px/frame, in the order of `ids`."""
        return self._mean[:, _NDIM : _NDIM + 2].astype(np.float32)

    # -- filter ----------------------------------------------------------------------------
    def _rows(self, ids: np.ndarray) -> np.ndarray:
        order = {int(t): r for r, t in enumerate(self._ids)}
        return np.array([order[int(t)] for t in ids], np.int64)

    def _shape_std(self, h: np.ndarray, weight: float, aspect_std: float) -> np.ndarray:
        """Per-track std of the 4 measured terms: (M, 4)."""
        c = self.config
        s = np.stack([weight * h] * _NDIM, axis=1)
        if c.state == "cxcyah":
            s[:, 2] = aspect_std
        return s

    def _initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        h = z[:, 3]
        std = np.concatenate(
            [
                2 * self._shape_std(h, c.std_weight_position, c.std_aspect),
                10 * self._shape_std(h, c.std_weight_velocity, c.std_aspect_velocity),
            ],
            axis=1,
        )
        return mean, _diag(std**2)

    def _predict(self) -> None:
        c = self.config
        h = self._mean[:, 3]
        std = np.concatenate(
            [
                self._shape_std(h, c.std_weight_position, c.std_aspect),
                self._shape_std(h, c.std_weight_velocity, c.std_aspect_velocity),
            ],
            axis=1,
        )
        f = self._motion
        self._mean = self._mean @ f.T
        self._cov = f @ self._cov @ f.T + _diag(std**2)

    def _update(self, rows: np.ndarray, z: np.ndarray) -> None:
        c = self.config
        mean, cov = self._mean[rows], self._cov[rows]
        r = _diag(self._shape_std(mean[:, 3], c.std_weight_position, c.std_aspect_measurement) ** 2)
        s = cov[:, :_NDIM, :_NDIM] + r  # innovation covariance (H = [I 0])
        gain = np.linalg.solve(s, cov[:, :_NDIM, :]).transpose(0, 2, 1)  # P H^T S^-1
        innovation = z - mean[:, :_NDIM]
        self._mean[rows] = mean + np.einsum("mij,mj->mi", gain, innovation)
        self._cov[rows] = cov - gain @ s @ gain.transpose(0, 2, 1)
        self._since_update[rows] = 0

    def _confidence(self) -> np.ndarray:
        horizon = max(self.config.confidence_horizon_frames, 1e-6)
        return np.exp(-self._since_update / horizon).astype(np.float32)


def _diag(values: np.ndarray) -> np.ndarray:
    """Stack of diagonal matrices from (M, n) values."""
    out = np.zeros((*values.shape, values.shape[-1]))
    idx = np.arange(values.shape[-1])
    out[:, idx, idx] = values
    return out
