"""The null motion model: a track stays where it was last seen.

Useful as the floor every other estimator must beat, and as what many trackers effectively do
when detections are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trackers.track_ids import rows_of, validated


@dataclass(frozen=True)
class HoldConfig:
    """No parameters: kept so every estimator takes a config the same way."""


class HoldEstimator:
    """`MotionEstimator` that reports each track's last box with confidence 1."""

    Config = HoldConfig

    def __init__(self, config: HoldConfig | None = None) -> None:
        self.config = config or HoldConfig()
        self.reset()

    @property
    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def reset(self) -> None:
        self._ids = np.zeros(0, np.int64)
        self._boxes = np.zeros((0, 4), np.float32)

    def add(
        self,
        frame: np.ndarray,
        boxes: np.ndarray,
        ids: np.ndarray,
        frame_index: int | None = None,
    ) -> None:
        boxes, ids = validated(boxes, ids)
        known = np.isin(ids, self._ids)
        self._boxes[rows_of(self._ids, ids[known])] = boxes[known]
        self._ids = np.concatenate([self._ids, ids[~known]])
        self._boxes = np.concatenate([self._boxes, boxes[~known]])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, np.int64))
        self._ids, self._boxes = self._ids[keep], self._boxes[keep]

    def propagate(
        self, frame: np.ndarray, frame_index: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._boxes.copy(), np.ones(len(self._ids), np.float32)
