"""Tracking given boxes, no detector: the paper's multiple visual object tracking task.

`Pipeline(None, tracker)` follows targets whose boxes are given (`Pipeline.add_targets`, or
`mot-run --detector none --init FILE`) with the motion estimator alone. On every frame each
followed target gets the estimator's box and score. A target scored below the threshold is
lost: not reported, and ended, unless `refind` is set: then the estimator keeps following it
(searching around where it was last) and the target is reported again once its score is back.
A box given for an id that is being followed re-initialises it there (a correction); one given
for an id that ended starts it again.

On the frame its box is given, a target is reported at that box with score 1 and `detected`
True (the box is an observation, not a propagation). Nothing comes later to revise a frame, so
such a pipeline has no lag. Given targets have no class (`UNKNOWN_CLASS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mot_pipeline.boxes import as_boxes
from mot_pipeline.types import Tracks
from trackers import MotionEstimator

GIVEN_SCORE = 1.0  # a target's score on the frame its box is given: sure
FIRST_ID = 1  # ids are positive, as in MOTChallenge files (-1 there means "no id")


@dataclass(frozen=True)
class TargetsConfig:
    """What happens to a given target whose score drops (see the module docstring)."""

    # Below this score a target is lost. None: the lifecycle's `min_report_score`, which is
    # itself the tracker's own threshold where unset (SiamMT, SiamFC 0.9; Kalman, hold 0), so
    # that "lost" means what "not reported" means with a detector. Negative: never lost.
    lost_score: float | None = None
    # Keep following a lost target and report it again when its score is back; False ends it.
    refind: bool = False

    def __post_init__(self) -> None:
        if self.lost_score is not None and not math.isfinite(self.lost_score):
            raise ValueError(f"lost_score must be a finite number or None, got {self.lost_score}")


def check_targets(boxes: object, ids: object | None) -> tuple[np.ndarray, np.ndarray | None]:
    """`boxes` as float32 (N, 4) and `ids` as int64 (N,), or ValueError: boxes must be finite
    with x2 > x1 and y2 > y1, ids unique integers >= 1."""
    b = as_boxes(boxes).copy()  # the caller may reuse its array
    if not (np.isfinite(b).all() and (b[:, 2:] > b[:, :2]).all()):
        raise ValueError("target boxes must be finite with x2 > x1 and y2 > y1")
    if ids is None:
        return b, None
    raw = np.asarray(ids).reshape(-1)
    if raw.dtype.kind not in "iuf" or (raw.dtype.kind == "f" and (raw != np.round(raw)).any()):
        raise ValueError(f"target ids must be integers, got {raw.tolist()}")
    i = raw.astype(np.int64)
    if len(i) != len(b):
        raise ValueError(f"{len(i)} ids for {len(b)} boxes")
    if len(np.unique(i)) != len(i) or (i < FIRST_ID).any():
        raise ValueError(f"target ids must be unique and >= {FIRST_ID}, got {i.tolist()}")
    return b, i


class GivenTargets:
    """The targets being followed (ids, boxes, scores in the estimator's order) and the boxes
    given for frames still to come. `default_lost_score` stands in for an unset
    `config.lost_score`."""

    def __init__(
        self, tracker: MotionEstimator, config: TargetsConfig, default_lost_score: float
    ) -> None:
        self.tracker, self.refind = tracker, config.refind
        lost = config.lost_score
        self.threshold = float(default_lost_score if lost is None else lost)
        self._scheduled: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.reset()

    def reset(self, keep_scheduled: bool = False) -> None:
        """Forget every target, and the boxes given for later frames unless `keep_scheduled`
        (the estimator is reset by its owner)."""
        self.ids = np.zeros(0, np.int64)
        self.boxes = np.zeros((0, 4), np.float32)
        self.scores = np.zeros(0, np.float32)
        self.given = np.zeros(0, bool)  # the box was given on the latest frame
        if not keep_scheduled:
            self._scheduled = {}
            self._next_id = FIRST_ID

    def schedule(self, frame_index: int, boxes: object, ids: object | None = None) -> np.ndarray:
        """Start (or correct) targets at `boxes` on frame `frame_index`; `ids` None takes the
        next free ids. Returns the ids. ValueError for bad boxes or ids, or an id given twice
        for one frame."""
        b, i = check_targets(boxes, ids)
        if i is None:
            i = np.arange(self._next_id, self._next_id + len(b), dtype=np.int64)
        if len(i) == 0:
            return i
        all_ids, all_boxes = i, b
        if frame_index in self._scheduled:
            before_ids, before_boxes = self._scheduled[frame_index]
            twice = np.intersect1d(before_ids, i)
            if len(twice):
                raise ValueError(f"target id(s) {twice.tolist()} given twice for one frame")
            all_ids = np.concatenate([before_ids, i])
            all_boxes = np.concatenate([before_boxes, b])
        self._scheduled[frame_index] = (all_ids, all_boxes)
        self._next_id = max(self._next_id, int(i.max()) + 1)
        return i

    def step(self, frame: np.ndarray, frame_index: int) -> Tracks:
        """Follow every target into `frame`, end or hide the lost ones, start the targets given
        for this frame; return the targets reported."""
        if len(self.ids):
            boxes, scores = self.tracker.propagate(frame, frame_index)
            self._store(self.tracker.ids, boxes, scores)
            if not self.refind:
                lost = self.scores < self.threshold
                self.tracker.remove(self.ids[lost])
                self._keep(~lost)
        self.given = np.zeros(len(self.ids), bool)
        scheduled = self._scheduled.pop(frame_index, None)
        if scheduled is not None:
            self._start(frame, frame_index, *scheduled)
        show = self.given | (self.scores >= self.threshold)
        return Tracks(self.ids[show], self.boxes[show], self.scores[show], self.given[show])

    def _store(self, ids: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        if len(ids) != len(self.ids) or not np.isin(self.ids, ids).all():
            raise RuntimeError("motion estimator and given targets disagree on the live ids")
        self.ids = ids.copy()
        self.boxes = as_boxes(boxes).copy()
        self.scores = np.asarray(scores, np.float32).reshape(-1).copy()

    def _keep(self, rows: np.ndarray) -> None:
        self.ids, self.boxes, self.scores = self.ids[rows], self.boxes[rows], self.scores[rows]

    def _start(
        self, frame: np.ndarray, frame_index: int, ids: np.ndarray, boxes: np.ndarray
    ) -> None:
        self.tracker.add(frame, boxes, ids, frame_index)
        live = np.isin(ids, self.ids)
        for track_id, box in zip(ids[live].tolist(), boxes[live], strict=True):
            row = int(np.flatnonzero(self.ids == track_id)[0])
            self.boxes[row], self.scores[row], self.given[row] = box, GIVEN_SCORE, True
        new = ~live
        self.ids = np.concatenate([self.ids, ids[new]])
        self.boxes = np.concatenate([self.boxes, boxes[new]])
        self.scores = np.concatenate([self.scores, np.full(new.sum(), GIVEN_SCORE, np.float32)])
        self.given = np.concatenate([self.given, np.ones(new.sum(), bool)])
