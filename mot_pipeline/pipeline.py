"""The frame loop: detect (every k-th frame) -> propagate -> associate -> lifecycle -> emit.

`step` emits frame t at once (online). `run` and `push`/`flush` emit it `lag` frames later,
revised by the detections that came in between (`smoothing.py`): what result files want.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from association import CascadeConfig, match_cascade
from detectors import Detector
from mot_pipeline.boxes import clip, unique_boxes, valid_mask
from mot_pipeline.lifecycle import Lifecycle, LifecycleConfig
from mot_pipeline.smoothing import FixedLagSmoother
from mot_pipeline.targets import GivenTargets, TargetsConfig
from mot_pipeline.types import Detections, FrameResult, check_frame
from trackers import MotionEstimator, PriorBoxes, ReportThreshold

DEFAULT_FRAME_RATE = 30.0
MIN_DETECTION_SIZE = 1.0  # px; smaller (or non-finite) detector boxes are dropped


@dataclass(frozen=True)
class PipelineConfig:
    detect_every: int = 1
    # Frames `run`/`push` hold back to revise them (`smoothing.py`); None: one detection
    # interval (detect_every), which covers every frame between two detector frames; 0: online.
    lag: int | None = None
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    association: CascadeConfig = field(default_factory=CascadeConfig)
    # Given boxes followed without a detector (`Pipeline(None, ...)`, `targets.py`).
    targets: TargetsConfig = field(default_factory=TargetsConfig)

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.lag is not None and self.lag < 0:
            raise ValueError(f"lag must be >= 0, got {self.lag}")


def rate(count: float, seconds: float) -> float:
    """`count` per second (frames per second, say); nan when no time was measured."""
    return count / seconds if seconds > 0 else float("nan")


@dataclass
class Timing:
    """Seconds spent in detection and in tracking (everything else in `step`), and frames."""

    detect_s: float = 0.0
    track_s: float = 0.0
    frames: int = 0

    @property
    def fps(self) -> float:
        return rate(self.frames, self.detect_s + self.track_s)


class Pipeline:
    """Detector-driven tracking. `run(source)` for a sequence, `step(frame)` for a live stream.
    The detection interval is `config.detect_every`. Without a detector (None) it follows the
    boxes given with `add_targets` (`targets.py`)."""

    def __init__(
        self,
        detector: Detector | None,
        tracker: MotionEstimator,
        config: PipelineConfig | None = None,
        *,
        frame_rate: float = DEFAULT_FRAME_RATE,
    ) -> None:
        self.detector, self.tracker = detector, tracker
        self.config = config or PipelineConfig()
        self.reset(frame_rate)

    def reset(self, frame_rate: float | None = None) -> None:
        """Forget all tracks (between sequences); ids restart at 1."""
        if frame_rate is not None:
            self.frame_rate = float(frame_rate)
        self.lifecycle = Lifecycle(
            self._lifecycle_config(),
            self.frame_rate,
            self.config.detect_every,
            getattr(self.detector, "names", None),  # for per-class settings given by name
        )
        self.tracker.reset()
        default_lost = self.lifecycle.config.min_report_score or 0.0
        self.given = GivenTargets(self.tracker, self.config.targets, default_lost)
        self.frame_index = 0
        self.frame_shape: tuple[int, ...] | None = None  # of the stream's first frame
        self.timing = Timing()
        self.smoother = FixedLagSmoother(self.lag)

    def _lifecycle_config(self) -> LifecycleConfig:
        """The lifecycle settings, with the tracker's own report threshold where none is set."""
        c = self.config.lifecycle
        if c.min_report_score is not None:
            return c
        own = self.tracker.min_report_score if isinstance(self.tracker, ReportThreshold) else 0.0
        return replace(c, min_report_score=float(own))

    @property
    def lag(self) -> int:
        """Frames `run` and `push` hold back; 0 without a detector (nothing to revise)."""
        c = self.config
        if self.detector is None:
            return 0
        return c.detect_every if c.lag is None else c.lag

    def add_targets(
        self, boxes: np.ndarray, ids: np.ndarray | None = None, frame_index: int | None = None
    ) -> np.ndarray:
        """Follow targets from `boxes` (float32 (N, 4) x1, y1, x2, y2, 0-based pixels) on frame
        `frame_index` (None: the next frame `step`/`push` takes; a later frame schedules them),
        with `ids` (None: the next free ids); return the ids. An id being followed is
        re-initialised at its box. Only without a detector; `reset` forgets scheduled boxes,
        but `run` keeps those added before it (they count from its first frame)."""
        if self.detector is not None:
            raise ValueError("add_targets needs a pipeline without a detector (detector None)")
        frame_index = self.frame_index if frame_index is None else int(frame_index)
        if frame_index < self.frame_index:
            raise ValueError(f"frame {frame_index} is past; the next frame is {self.frame_index}")
        return self.given.schedule(frame_index, boxes, ids)

    def run(self, source: Iterable[np.ndarray] | object) -> Iterator[FrameResult]:
        """Reset, then yield one result per frame of `source` (a `sources.Sequence`, whose frame
        rate is used, or any iterable of BGR frames), each `lag` frames late and revised."""
        given = self.given  # with the boxes `add_targets` gave before `run`, for this run
        self.reset(getattr(source, "frame_rate", None))
        self.given = given
        given.reset(keep_scheduled=True)
        frames = source.frames() if hasattr(source, "frames") else enumerate(source)
        for _, frame in frames:
            yield from self.push(frame)
        yield from self.flush()

    def push(self, frame: np.ndarray) -> list[FrameResult]:
        """`step`, but return the frames that became final: frame t - lag once frame t is in
        (none during the first `lag` frames). `flush` at the end of the stream."""
        result = self.step(frame)
        if self.detector is None:  # no lag: nothing to revise
            return [result]
        return self.smoother.push(result, self.lifecycle.snapshot())

    def flush(self) -> list[FrameResult]:
        """The frames `push` still holds, in order."""
        return self.smoother.flush()

    def step(self, frame: np.ndarray) -> FrameResult:
        """Track one BGR uint8 frame, the same size as the stream's first (`reset` between
        streams); return its tracks at once."""
        t0 = time.perf_counter()
        self._check(frame)
        if self.detector is None:  # given targets only (`targets.py`)
            return self._step_given(frame, t0)
        life, detect_s = self.lifecycle, 0.0
        if len(life.ids):
            boxes, scores = self.tracker.propagate(frame, self.frame_index)
            prior = self.tracker.prior_boxes if isinstance(self.tracker, PriorBoxes) else None
            life.propagated(self.tracker.ids, boxes, scores, prior)
        detections = None
        if self.frame_index % self.config.detect_every == 0:
            t1 = time.perf_counter()
            detections = self._sanitise(self.detector(frame, frame_index=self.frame_index), frame)
            detect_s = time.perf_counter() - t1
            gap_s = self.config.detect_every / self.frame_rate
            frame_size = (frame.shape[1], frame.shape[0])  # (width, height)
            self.tracker.remove(life.end_departed(*frame_size))
            match = match_cascade(
                life.boxes,
                life.scores,
                life.groups(),
                detections,
                self.config.association,
                gap_s,
                life.prior_boxes,
                frame_size=frame_size,
                track_classes=life.classes,
            )
            update = life.detected(self.frame_index, match, detections)
            self.tracker.remove(update.removed)
            self.tracker.add(frame, update.boxes, update.ids, self.frame_index)
        result = FrameResult(self.frame_index, life.report(), detections)
        self.frame_index += 1
        self.timing.detect_s += detect_s
        self.timing.track_s += time.perf_counter() - t0 - detect_s
        self.timing.frames += 1
        return result

    def _step_given(self, frame: np.ndarray, t0: float) -> FrameResult:
        result = FrameResult(self.frame_index, self.given.step(frame, self.frame_index))
        self.frame_index += 1
        self.timing.track_s += time.perf_counter() - t0
        self.timing.frames += 1
        return result

    def _check(self, frame: np.ndarray) -> None:
        check_frame(frame)
        if self.frame_shape is None:
            self.frame_shape = frame.shape
        elif frame.shape != self.frame_shape:
            raise ValueError(
                f"frame {self.frame_index} is {frame.shape[1]}x{frame.shape[0]}, the stream's "
                f"first was {self.frame_shape[1]}x{self.frame_shape[0]}; call reset() between "
                "streams"
            )

    @staticmethod
    def _sanitise(detections: Detections, frame: np.ndarray) -> Detections:
        """Clip boxes to the frame and drop empty ones, and exact duplicates (one box reported
        twice, e.g. a repeated det.txt row, would start two tracks): detectors may return any."""
        if len(detections) == 0:
            return detections
        height, width = frame.shape[:2]
        boxes = clip(detections.boxes, width, height)
        keep = valid_mask(boxes, MIN_DETECTION_SIZE)
        unique = unique_boxes(detections.boxes[keep], detections.scores[keep])
        if unique is not None:
            keep = np.flatnonzero(keep)[unique]
        return Detections(boxes[keep], detections.scores[keep], detections.classes[keep])
