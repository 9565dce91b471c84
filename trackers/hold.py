"""The null motion model: a track stays where it was last seen.

Useful as the floor every other estimator must beat, and as what many trackers effectively do
when detections are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mot_pipeline.boxes import as_boxes


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

    def add(self, frame: np.ndarray, boxes: np.ndarray, ids: np.ndarray) -> None:
        boxes = as_boxes(boxes)
        ids = np.asarray(ids, np.int64).reshape(-1)
        if len(ids) != len(boxes):
            raise ValueError(f"{len(ids)} ids for {len(boxes)} boxes")
        position = {int(t): r for r, t in enumerate(self._ids)}
        new_ids, new_boxes = [], []
        for t, b in zip(ids, boxes, strict=True):
            if int(t) in position:
                self._boxes[position[int(t)]] = b
            else:
                new_ids.append(t)
                new_boxes.append(b)
        if new_ids:
            self._ids = np.concatenate([self._ids, np.asarray(new_ids, np.int64)])
            self._boxes = np.concatenate([self._boxes, as_boxes(new_boxes)])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, np.int64))
        self._ids, self._boxes = self._ids[keep], self._boxes[keep]

    def propagate(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._boxes.copy(), np.ones(len(self._ids), np.float32)
