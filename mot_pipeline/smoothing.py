"""Fixed-lag output: report frame t only after frame t + lag, revised with what came later.

Online, a tracker must decide about frame t at frame t. With detections k frames apart that
costs accuracy in three ways, all of which the next detector frame resolves:
- a new person's track stays tentative until its second detection, so its first k frames are
  not reported (confirmation, `lifecycle.py`);
- a track missed at one detector frame is LOST and hidden until a later detection finds it
  again, though the motion estimator kept following it;
- a propagated box drifts between detections.

Writing result files needs no answer at frame t, so `FixedLagSmoother` holds the last `lag`
frames back. When a detection at frame t matches a track last detected at t0, every held frame
of that track between them gets the box linearly interpolated between the two detections, and
if the track is confirmed at t, its held frames since t0 (the first detection of a tentative
track, the frames while LOST) are reported too. With lag >= k every frame between two detector
frames is still held when the second one comes. Frames after a track's last detection keep the
motion estimator's boxes. This is the offline trackers' interpolation over gaps (ByteTrack's on
MOT17/20), limited to `lag` frames so that it also runs on a stream, `lag` frames late.

The gap is filled by interpolating between the detections rather than by keeping the
estimator's path and spreading the error found at t over it: between two detections the Siamese
boxes wiggle around the path more than people deviate from a straight line over k frames; what
SiamMT adds is that the second detection is matched to the right track at all (measurements:
docs/DECISIONS.md, "Fixed-lag output: interpolation between detections").
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from mot_pipeline.lifecycle import TrackSnapshot
from mot_pipeline.types import Detections, FrameResult, Tracks


@dataclass
class _Held:
    """A frame not yet emitted: its snapshot as arrays we may still change."""

    frame_index: int
    detections: Detections | None
    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    visible: np.ndarray
    classes: np.ndarray

    def result(self) -> FrameResult:
        v = self.visible
        tracks = Tracks(
            self.ids[v], self.boxes[v], self.scores[v], self.detected[v], self.classes[v]
        )
        return FrameResult(self.frame_index, tracks, self.detections)


class FixedLagSmoother:
    """Holds `lag` frames; `push` one frame's result and snapshot, get the frames now final."""

    def __init__(self, lag: int) -> None:
        if lag < 0:
            raise ValueError(f"lag must be >= 0, got {lag}")
        self.lag = lag
        self.reset()

    def reset(self) -> None:
        self._held: deque[_Held] = deque()
        self._last_detected: dict[int, tuple[int, np.ndarray]] = {}  # id -> (frame, box)
        self._last_index: int | None = None

    def push(self, result: FrameResult, snapshot: TrackSnapshot) -> list[FrameResult]:
        t = result.frame_index
        if self._last_index is not None and t != self._last_index + 1:
            raise ValueError(f"frame {t} pushed after frame {self._last_index}")
        self._last_index = t
        rows = np.flatnonzero(snapshot.detected)
        ids = snapshot.ids[rows].astype(np.int64)
        boxes = snapshot.boxes[rows].astype(np.float32)
        seen = np.array([int(i) in self._last_detected for i in ids], bool)
        if seen.any():
            t0 = np.array([self._last_detected[int(i)][0] for i in ids[seen]], np.int64)
            b0 = np.array([self._last_detected[int(i)][1] for i in ids[seen]], np.float32)
            self._revise(ids[seen], t0, b0, t, boxes[seen], snapshot.visible[rows[seen]])
        for track_id, box in zip(ids.tolist(), boxes, strict=True):
            self._last_detected[track_id] = (t, box)
        # Ended tracks never come back (ids are not reused): forget them.
        live = set(snapshot.ids.tolist())
        self._last_detected = {i: f for i, f in self._last_detected.items() if i in live}
        self._held.append(
            _Held(
                t,
                result.detections,
                np.array(snapshot.ids, np.int64),
                np.array(snapshot.boxes, np.float32),
                np.array(snapshot.scores, np.float32),
                np.array(snapshot.detected, bool),
                np.array(snapshot.visible, bool),
                np.array(snapshot.classes, np.int64),
            )
        )
        out = []
        while self._held and self._held[0].frame_index < t - self.lag + 1:
            out.append(self._emit())
        return out

    def flush(self) -> list[FrameResult]:
        """Every held frame (at the end of a stream)."""
        out = [self._emit() for _ in range(len(self._held))]
        self.reset()
        return out

    def _emit(self) -> FrameResult:
        return self._held.popleft().result()

    def _revise(
        self,
        ids: np.ndarray,
        t0: np.ndarray,
        b0: np.ndarray,
        t: int,
        b1: np.ndarray,
        show: np.ndarray,
    ) -> None:
        """Interpolate each track's held frames between its detections b0 at t0 and b1 at t;
        report those frames if the track is confirmed at t."""
        for held in self._held:
            j = held.frame_index
            if len(held.ids) == 0:
                continue
            order = np.argsort(held.ids)
            pos = np.minimum(np.searchsorted(held.ids, ids, sorter=order), len(order) - 1)
            rows = order[pos]
            take = (held.ids[rows] == ids) & (j >= t0)
            if not take.any():
                continue
            rows, weight = rows[take], ((j - t0[take]) / (t - t0[take])).astype(np.float32)
            inside = weight > 0  # the frame of the earlier detection keeps it
            start, end = b0[take][inside], b1[take][inside]
            held.boxes[rows[inside]] = start + weight[inside, None] * (end - start)
            held.visible[rows] |= show[take]
