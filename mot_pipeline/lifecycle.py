"""Track lifecycle: states, the id counter, and ages counted in frames.

A track is TENTATIVE until confirmed, TRACKED while matched at the latest detector frame, and
LOST while unmatched but still within `max_age` frames of its last detection. Ages are frames,
not detector calls, scaled from a buffer given at a reference frame rate, and never shorter than
one detection interval, so a track always survives one missed detection (ByteTrack's
`int(fps / 30 * 30)` gives 7 frames at 7 fps, less than a k = 10 gap).

Confirmation: a tentative track is invisible, and at k = 5 waiting for the next detector frame
hides a new person for 5 frames. A track whose first detection scores at least `confirm_score`
can be confirmed at once; others need `min_hits` matched detections. It is off by default
(None): spurious single detections cost more than the hidden frames of real people (measurements:
docs/DECISIONS.md, "Confirmation of new tracks"). The first tracks of a sequence are confirmed
at once (ByteTrack does so on frame 1).

`TrackSnapshot` is every live track after a frame, reported or not, as `Lifecycle.snapshot`
gives it to the fixed-lag smoother (`smoothing.py`).

Each track has a class (`track_classes.py`: a vote over its detections, so a one-frame flip
does not change it), and the track buffer may differ per class (`track_buffer_by_class`):
parked cars wait behind occluders longer than people do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from association import CascadeResult, TrackGroups
from mot_pipeline.boxes import as_boxes, inside_fraction
from mot_pipeline.track_classes import ClassVotes, resolve_class_keys
from mot_pipeline.types import UNKNOWN_CLASS, Detections, Tracks


class TrackState(IntEnum):
    TENTATIVE = 0
    TRACKED = 1
    LOST = 2


@dataclass(frozen=True)
class LifecycleConfig:
    new_track_score: float = 0.25
    track_buffer: int = 30  # frames at `reference_frame_rate`
    # Per class (detector class name or id): a track buffer replacing `track_buffer`.
    track_buffer_by_class: dict[str | int, int] = field(default_factory=dict)
    # Detections of another class a track needs before it may take that class.
    class_min_hits: int = 2
    reference_frame_rate: float = 30.0
    min_hits: int = 2
    confirm_score: float | None = None
    # A propagated track is reported only while the motion estimator's confidence is at least
    # this; 0 reports every tracked track. None: the estimator's own threshold
    # (`trackers.ReportThreshold`: SiamMT and the SiamFC baselines), else 0 (Kalman, hold).
    min_report_score: float | None = None
    # End a lost track once less than `lost_min_inside` of its predicted box is inside the
    # frame (see `end_departed`).
    end_lost_outside: bool = True
    lost_min_inside: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.lost_min_inside <= 1.0:
            raise ValueError(f"lost_min_inside must be in [0, 1], got {self.lost_min_inside}")
        buffers = [self.track_buffer, *self.track_buffer_by_class.values()]
        if any(isinstance(b, bool) or not isinstance(b, int) or b < 0 for b in buffers):
            raise ValueError(f"track buffers must be integers >= 0, got {buffers}")
        if self.class_min_hits < 1:
            raise ValueError(f"class_min_hits must be >= 1, got {self.class_min_hits}")


@dataclass(frozen=True, eq=False)
class TrackSnapshot:
    """Every live track after a frame, reported or not: `visible` marks those reported online,
    `detected` those whose box is this frame's detection; `classes` None: all unknown."""

    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    visible: np.ndarray
    classes: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(as_boxes(self.boxes)) != n:
            raise ValueError(f"{len(self.boxes)} boxes for {n} tracks")
        if self.classes is None:
            object.__setattr__(self, "classes", np.full(n, UNKNOWN_CLASS, np.int64))
        for name in ("scores", "detected", "visible", "classes"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} tracks")


@dataclass(frozen=True, eq=False)
class LifecycleUpdate:
    """What the motion estimator must do after a detector frame: correct or start tracks
    `ids` at `boxes` (matched first, then new), and forget `removed`."""

    ids: np.ndarray
    boxes: np.ndarray
    removed: np.ndarray


class Lifecycle:
    """Holds every live track's state, class, last detection and reported box. `class_names`
    (the detector's, id -> name) resolve names in `track_buffer_by_class`."""

    def __init__(
        self,
        config: LifecycleConfig,
        frame_rate: float,
        detect_every: int,
        class_names: Mapping[int, str] | None = None,
    ) -> None:
        if frame_rate <= 0 or detect_every < 1:
            raise ValueError("frame_rate must be > 0 and detect_every >= 1")
        self.config = config

        def frames(buffer: int) -> int:
            scaled = buffer * frame_rate / config.reference_frame_rate
            return max(math.ceil(scaled), detect_every, 1)

        self.max_age = frames(config.track_buffer)
        by_class = resolve_class_keys(config.track_buffer_by_class, class_names)
        self.max_age_by_class = {c: frames(b) for c, b in by_class.items()}
        self.reset()

    def reset(self) -> None:
        self._next_id = 1
        self.ids = np.zeros(0, np.int64)
        self.states = np.zeros(0, np.int8)
        self.hits = np.zeros(0, np.int64)
        self.last_detected = np.zeros(0, np.int64)
        self.boxes = np.zeros((0, 4), np.float32)
        self.scores = np.zeros(0, np.float32)
        # The estimator's second prediction, rows of `ids`; only between `propagated` and
        # `detected` (association), None otherwise.
        self.prior_boxes: np.ndarray | None = None
        self._detected_now = np.zeros(0, bool)
        self._votes = ClassVotes(self.config.class_min_hits)
        self._first_frame = True

    @property
    def classes(self) -> np.ndarray:
        """Each live track's class id (`UNKNOWN_CLASS` where no detection gave one)."""
        return self._votes.classes

    def groups(self) -> TrackGroups:
        return TrackGroups(self.states == TrackState.TRACKED, self.states == TrackState.TENTATIVE)

    def propagated(
        self,
        ids: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        prior_boxes: np.ndarray | None = None,
    ) -> None:
        """Store the motion estimator's boxes and confidences for this frame (any order), and
        its optional second prediction (`trackers.PriorBoxes`) for this frame's association."""
        ids = np.asarray(ids, np.int64)
        if len(ids) != len(self.ids) or not np.isin(self.ids, ids).all():
            raise RuntimeError("motion estimator and lifecycle disagree on the live tracks")
        order = np.argsort(ids)
        rows = order[np.searchsorted(ids, self.ids, sorter=order)]
        self.boxes = np.asarray(boxes, np.float32)[rows]
        self.scores = np.asarray(scores, np.float32)[rows]
        if prior_boxes is not None:
            prior_boxes = np.asarray(prior_boxes, np.float32)[rows]
        self.prior_boxes = prior_boxes
        self._detected_now = np.zeros(len(self.ids), bool)

    def detected(
        self, frame_index: int, match: CascadeResult, detections: Detections
    ) -> LifecycleUpdate:
        """Apply a detector frame's matches: update states, start and end tracks."""
        c = self.config
        self.prior_boxes = None
        t, d = match.matches[:, 0], match.matches[:, 1]
        self.boxes[t], self.scores[t] = detections.boxes[d], detections.scores[d]
        self.hits[t] += 1
        self.last_detected[t] = frame_index
        self._votes.vote(t, detections.classes[d], detections.scores[d])
        confirmed = (self.states[t] != TrackState.TENTATIVE) | (self.hits[t] >= c.min_hits)
        self.states[t] = np.where(confirmed, TrackState.TRACKED, TrackState.TENTATIVE)
        self._detected_now[:] = False
        self._detected_now[t] = True

        unmatched = match.unmatched_tracks
        tentative = unmatched[self.states[unmatched] == TrackState.TENTATIVE]
        self.states[unmatched] = TrackState.LOST
        too_old = frame_index - self.last_detected > self._max_ages()
        drop = np.zeros(len(self.ids), bool)
        drop[tentative] = True  # a tentative track that misses once was a false start
        drop |= too_old & (self.states == TrackState.LOST)
        removed = self.ids[drop]
        keep_rows = np.flatnonzero(~drop)
        matched_keep = np.isin(keep_rows, t)
        corrected_ids = self.ids[keep_rows[matched_keep]]
        corrected_boxes = self.boxes[keep_rows[matched_keep]]
        self._keep(keep_rows)

        new = match.unmatched_high[detections.scores[match.unmatched_high] >= c.new_track_score]
        new_ids = np.arange(self._next_id, self._next_id + len(new), dtype=np.int64)
        self._next_id += len(new)
        instant = np.inf if c.confirm_score is None else c.confirm_score
        confident = (detections.scores[new] >= instant) | self._first_frame
        confident |= c.min_hits <= 1
        self._first_frame &= len(new) == 0  # until the first tracks start
        self._append(
            new_ids,
            np.where(confident, TrackState.TRACKED, TrackState.TENTATIVE),
            detections.select(new),
            frame_index,
        )
        return LifecycleUpdate(
            np.concatenate([corrected_ids, new_ids]),
            np.concatenate([corrected_boxes, detections.boxes[new]]),
            removed,
        )

    def end_departed(self, width: int, height: int) -> np.ndarray:
        """End the LOST tracks whose predicted box lies less than `lost_min_inside` inside the
        `width` x `height` frame (the motion-only `prior_boxes` where the estimator gives
        them, else `boxes`), and return their ids. Such a person is walking out; kept, an
        appearance tracker, which cannot place a box beyond the image, stays at the edge,
        follows whoever is near it and takes their detections (measurements of the rule and
        of 0.6: docs/DECISIONS.md, "Ending lost tracks that leave the frame")."""
        if not self.config.end_lost_outside or len(self.ids) == 0:
            return np.zeros(0, np.int64)
        boxes = self.boxes if self.prior_boxes is None else self.prior_boxes
        outside = inside_fraction(boxes, width, height) < self.config.lost_min_inside
        gone = outside & (self.states == TrackState.LOST)
        ids = self.ids[gone]
        if gone.any():
            self._keep(np.flatnonzero(~gone))
        return ids

    def report(self) -> Tracks:
        """Confirmed tracks matched at the latest detector frame, minus propagated ones whose
        motion confidence has collapsed."""
        show = self._visible()
        return Tracks(
            self.ids[show],
            self.boxes[show],
            self.scores[show],
            self._detected_now[show],
            self.classes[show],
        )

    def snapshot(self) -> TrackSnapshot:
        """Every live track, reported or not (for `smoothing.FixedLagSmoother`)."""
        return TrackSnapshot(
            self.ids, self.boxes, self.scores, self._detected_now, self._visible(), self.classes
        )

    def _max_ages(self) -> np.ndarray:
        """Each live track's max age in frames (its class's buffer, or the default)."""
        if not self.max_age_by_class:
            return np.full(len(self.ids), self.max_age)
        ages = self.max_age_by_class
        return np.array([ages.get(int(c), self.max_age) for c in self.classes], np.int64)

    def _visible(self) -> np.ndarray:
        show = self.states == TrackState.TRACKED
        threshold = self.config.min_report_score or 0.0
        return show & (self._detected_now | (self.scores >= threshold))

    def _keep(self, rows: np.ndarray) -> None:
        for name in ("ids", "states", "hits", "last_detected", "boxes", "scores", "_detected_now"):
            setattr(self, name, getattr(self, name)[rows])
        self._votes.keep(rows)
        if self.prior_boxes is not None:
            self.prior_boxes = self.prior_boxes[rows]

    def _append(self, ids, states, new: Detections, frame_index: int) -> None:
        n, boxes, scores = len(ids), new.boxes, new.scores
        self.ids = np.concatenate([self.ids, ids])
        self.states = np.concatenate([self.states, states.astype(np.int8)])
        self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
        self.last_detected = np.concatenate([self.last_detected, np.full(n, frame_index)])
        self.boxes = np.concatenate([self.boxes, boxes.astype(np.float32)])
        self.scores = np.concatenate([self.scores, scores.astype(np.float32)])
        self._detected_now = np.concatenate([self._detected_now, np.ones(n, bool)])
        self._votes.append(new.classes, new.scores)
