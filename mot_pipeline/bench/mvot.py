"""`mot-bench mvot`: the paper's tracking-quality protocol (Sec. 4.2) on MOTChallenge sequences.

No detector: every ground-truth target is started from its first gt box and followed by the
motion estimator alone, all targets of a sequence in one estimator (the multi-object setting).
Scoring follows VOT's supervised (reset-based) protocol, with each object of each sequence as
one VOT sequence, pooled over objects and sequences:

* Targets: MOT15 gt rows with consider flag 1; MOT16/17/20 rows of class pedestrian with flag 1.
* Segments: an object's gt frames, split where it is absent (no target row) for more than
  `max_gap` frames; each segment is started afresh from its first gt box (not a failure).
  Absences of up to `max_gap` frames are tracked through and not scored. Segments with fewer
  than 2 gt frames are left out (nothing to track).
* Failure: in a frame with a gt box, the reported box has IoU <= `failure_iou` (0) with it.
  The object is then dropped from the estimator and re-initialised from the gt box
  `reinit_delay` (5) frames later (VOT), or at the first later frame where it is processed
  and has a gt box.
* Accuracy = mean IoU over scored frames: frames with a gt box while tracked, excluding each
  (re-)initialisation frame and the `burn_in` (10, VOT's toolkit) frames after it, and frames
  in failure. Pooled: sum of IoUs / number of scored (object, frame) pairs.
* Robustness = exp(-S * F / N), S = 30 (VOT's sensitivity), F = failures, N = (object, frame)
  pairs with a gt box over all segments: the probability of tracking S frames without failing.

Real-time variant (VOT-RT): frames arrive at `fps`; the estimator's measured wall time per
processed frame (removals, propagate, (re-)initialisations) advances a clock; when it becomes
free it takes the latest frame that has arrived, and every frame in between reports the last
box (so it is scored, and may fail). Results therefore depend on this machine (it is recorded).
Each estimator is warmed up once (a propagate on a real frame) before any measured run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mot_pipeline.bench.report import cell, markdown_header, markdown_table
from mot_pipeline.boxes import as_boxes, iou_matrix
from mot_pipeline.errors import InputError

DEFAULT_METHODS = ("siammt", "siamfc-mi", "siamfc", "kalman")
DEFAULT_REALTIME_FPS = (20.0, 25.0)
VOT_SENSITIVITY = 30.0
VOT_REINIT_DELAY = 5
VOT_BURN_IN = 10
MAX_GAP_FRAMES = 10
OFFLINE = "offline"
MVOT_JSON = "mvot.json"
MVOT_MD = "mvot.md"
PEDESTRIAN = 1
_EPS = 1e-9  # clock tolerance when deciding which frame has arrived


@dataclass(frozen=True)
class MvotParams:
    """The protocol's constants (module docstring)."""

    reinit_delay: int = VOT_REINIT_DELAY
    burn_in: int = VOT_BURN_IN
    max_gap: int = MAX_GAP_FRAMES
    sensitivity: float = VOT_SENSITIVITY
    failure_iou: float = 0.0


@dataclass(frozen=True)
class MvotConfig:
    methods: tuple[str, ...] = DEFAULT_METHODS
    realtime_fps: tuple[float, ...] = DEFAULT_REALTIME_FPS
    offline: bool = True  # also run without a time limit
    params: MvotParams = field(default_factory=MvotParams)
    device: str | None = None
    threads: int | None = None
    # A method's own settings (its config dataclass) to start from, e.g. SiamMT's backend.
    tracker_configs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.methods:
            raise InputError("no methods given")
        if any(not (f > 0 and math.isfinite(f)) for f in self.realtime_fps):
            raise InputError(f"real-time fps must be positive, got {list(self.realtime_fps)}")
        if not self.offline and not self.realtime_fps:
            raise InputError("nothing to run: no real-time fps and offline off")


@dataclass(frozen=True, eq=False)
class Segment:
    """One object's stretch of gt (0-based frames, xyxy boxes); `id` is its estimator id."""

    id: int
    object_id: int
    frames: np.ndarray
    boxes: np.ndarray


@dataclass
class Tally:
    """Counts of one run (or several, added up)."""

    failures: int = 0
    pairs: int = 0  # N: (object, frame) pairs with a gt box
    iou_sum: float = 0.0
    scored: int = 0
    objects: int = 0
    frames: int = 0
    processed: int = 0
    busy_s: float = 0.0

    def __iadd__(self, other: Tally) -> Tally:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def metrics(self, sensitivity: float = VOT_SENSITIVITY) -> dict[str, Any]:
        return {
            "accuracy": self.iou_sum / self.scored if self.scored else None,
            "robustness": math.exp(-sensitivity * self.failures / self.pairs)
            if self.pairs
            else None,
            "failures": self.failures,
            "pairs": self.pairs,
            "scored_pairs": self.scored,
            "objects": self.objects,
            "frames": self.frames,
            "processed_frames": self.processed,
            "skipped_frames": self.frames - self.processed,
            "ms_per_processed_frame": 1e3 * self.busy_s / self.processed
            if self.processed
            else None,
        }


def target_segments(gt: Any, max_gap: int = MAX_GAP_FRAMES) -> list[Segment]:
    """Segments of every target in `gt` (a `MotRows` of kind gt); ids 1, 2, ... in order of
    object id then time."""
    from mot_pipeline.motchallenge import GT_STYLE_MOT16

    is_target = gt.scores != 0
    if gt.style == GT_STYLE_MOT16:
        is_target &= gt.classes == PEDESTRIAN
    segments: list[Segment] = []
    for object_id in np.unique(gt.ids[is_target]).tolist():
        idx = np.flatnonzero(is_target & (gt.ids == object_id))
        idx = idx[np.argsort(gt.frames[idx], kind="stable")]
        frames = gt.frames[idx]
        cuts = np.flatnonzero(np.diff(frames) > max_gap + 1) + 1
        for part in np.split(np.arange(len(idx)), cuts):
            if len(part) < 2:
                continue
            segments.append(
                Segment(
                    len(segments) + 1,
                    int(object_id),
                    frames[part].copy(),
                    as_boxes(gt.boxes[idx[part]]).copy(),
                )
            )
    return segments


@dataclass
class _State:
    segment: Segment
    gt: dict[int, np.ndarray]
    status: str = "waiting"  # waiting -> tracking <-> failed -> done
    box: np.ndarray | None = None
    init_frame: int = -1
    reinit_at: int = 0

    @property
    def last(self) -> int:
        return int(self.segment.frames[-1])


def simulate(
    estimator: Any,
    frames: Iterable[tuple[int, np.ndarray]],
    segments: Sequence[Segment],
    params: MvotParams = MvotParams(),
    realtime_fps: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    on_frame: Callable[[], None] | None = None,
) -> Tally:
    """Run the protocol over `frames` ((index, image) in order) for `segments`; offline when
    `realtime_fps` is None. `clock` times the estimator (injectable for tests)."""
    estimator.reset()
    states = [_State(s, dict(zip(s.frames.tolist(), s.boxes, strict=True))) for s in segments]
    tally = Tally(objects=len(segments), pairs=sum(len(s.frames) for s in segments))
    starts: dict[int, list[_State]] = {}
    for st in states:
        starts.setdefault(int(st.segment.frames[0]), []).append(st)
    to_remove: list[int] = []
    busy_until, last_processed = 0.0, -1
    for t, frame in frames:
        tally.frames += 1
        process = True
        if realtime_fps is not None:
            latest = math.floor(busy_until * realtime_fps + _EPS)
            process = t == max(last_processed + 1, latest)
        if process:
            t0 = clock()
            _process(estimator, frame, t, states, to_remove)
            dt = clock() - t0
            tally.processed += 1
            tally.busy_s += dt
            last_processed = t
            if realtime_fps is not None:
                busy_until = max(busy_until, t / realtime_fps) + dt
        _score(t, states, params, tally, to_remove)
        if on_frame is not None:
            on_frame()
    return tally


def _process(estimator: Any, frame: np.ndarray, t: int, states: list[_State], to_remove: list[int]):
    """One processed frame: drop failed/finished objects, propagate, (re-)initialise (with the
    same frame index, so an estimator may reuse the frame's features)."""
    if to_remove:
        estimator.remove(np.asarray(to_remove, np.int64))
        to_remove.clear()
    if len(estimator.ids):
        boxes, _ = estimator.propagate(frame, t)
        by_id = dict(zip(estimator.ids.tolist(), np.asarray(boxes), strict=True))
        for st in states:
            if st.status == "tracking":
                st.box = by_id[st.segment.id]
    new = [
        st
        for st in states
        if t in st.gt
        and (
            (st.status == "waiting" and t >= st.segment.frames[0])
            or (st.status == "failed" and t >= st.reinit_at)
        )
    ]
    if new:
        boxes = np.stack([st.gt[t] for st in new])
        estimator.add(frame, boxes, np.asarray([st.segment.id for st in new], np.int64), t)
        for st in new:
            st.status, st.box, st.init_frame = "tracking", st.gt[t].copy(), t


def _score(t: int, states: list[_State], params: MvotParams, tally: Tally, to_remove: list[int]):
    live = [st for st in states if st.status == "tracking" and st.init_frame < t and t in st.gt]
    if live:
        ious = np.diag(
            iou_matrix(np.stack([st.box for st in live]), np.stack([st.gt[t] for st in live]))
        )
        for st, iou in zip(live, ious.tolist(), strict=True):
            if not iou > params.failure_iou:  # NaN boxes fail too
                tally.failures += 1
                st.status, st.reinit_at = "failed", t + params.reinit_delay
                to_remove.append(st.segment.id)
            elif t - st.init_frame > params.burn_in:
                tally.iou_sum += iou
                tally.scored += 1
    for st in states:
        if st.status in ("tracking", "failed", "waiting") and t >= st.last:
            if st.status == "tracking":
                to_remove.append(st.segment.id)
            st.status = "done"


def _mode_name(fps: float | None) -> str:
    return OFFLINE if fps is None else f"rt{fps:g}"


def format_markdown(rows: Sequence[dict[str, Any]], header: str = "") -> str:
    """A markdown table, one row per (method, mode)."""
    cols = [
        "method",
        "mode",
        "accuracy",
        "robustness",
        "failures",
        "pairs",
        "ms/frame",
        "skipped %",
    ]
    return markdown_table(cols, map(_cells, rows), header)


def _cells(row: dict[str, Any]) -> list[str]:
    skipped = 100.0 * row["skipped_frames"] / row["frames"] if row["frames"] else 0.0
    return [
        row["method"],
        row["mode"],
        cell(row["accuracy"], ".3f"),
        cell(row["robustness"], ".3f"),
        str(row["failures"]),
        str(row["pairs"]),
        cell(row["ms_per_processed_frame"], ".1f"),
        f"{skipped:.0f}",
    ]


def _warm_up(estimator: Any, frame: np.ndarray) -> None:
    """One add + propagate so lazy set-up (allocations, kernels) is not timed; without frame
    indices, so nothing is reused and every stage runs."""
    h, w = frame.shape[:2]
    box = np.asarray([[w * 0.4, h * 0.3, w * 0.5, h * 0.6]], np.float32)
    estimator.reset()
    estimator.add(frame, box, np.asarray([1], np.int64))
    estimator.propagate(frame)
    estimator.reset()


def _modes(config: MvotConfig) -> list[float | None]:
    """The real-time frame rates to run at, None (offline) first."""
    return ([None] if config.offline else []) + [float(f) for f in config.realtime_fps]


@dataclass
class _Sweep:
    """What every (method, mode) point shares: sequences, their segments, the estimators."""

    config: MvotConfig
    sources: list[Any]
    segments: dict[str, list[Segment]]
    estimators: dict[str, Any]

    def run(self, progress: bool, log: Callable[[str], None]) -> tuple[list, list]:
        """Every (method, mode) point: the pooled rows and the per-sequence rows."""
        from mot_pipeline.bench import progress_bar

        rows, sequence_rows = [], []
        modes = _modes(self.config)
        total = len(self.estimators) * len(modes) * sum(s.length for s in self.sources)
        with progress_bar(total, progress) as bar:
            for method in self.estimators:
                for fps in modes:
                    row, per_sequence = self.point(method, fps, bar)
                    rows.append(row)
                    sequence_rows += per_sequence
                    log(_summary_line(row))
        return rows, sequence_rows

    def point(self, method: str, fps: float | None, bar: Any) -> tuple[dict, list[dict]]:
        """`method` at `fps` (None: offline) over every sequence, pooled and per sequence."""
        key = {"method": method, "mode": _mode_name(fps), "realtime_fps": fps}
        sensitivity = self.config.params.sensitivity
        overall, sequence_rows = Tally(), []
        for s in self.sources:
            bar.set_description(f"{method} {key['mode']} {s.name}")
            estimator, segments = self.estimators[method], self.segments[s.name]
            tally = simulate(
                estimator, s.frames(), segments, self.config.params, fps, on_frame=bar.update
            )
            overall += tally
            sequence_rows.append({**key, "sequence": s.name, **tally.metrics(sensitivity)})
        return {**key, **overall.metrics(sensitivity)}, sequence_rows


def _summary_line(row: dict[str, Any]) -> str:
    return (
        f"  {row['method']:>10} {row['mode']:>8}: accuracy {cell(row['accuracy'], '.3f')}, "
        f"robustness {cell(row['robustness'], '.3f')} ({row['failures']} failures)"
    )


def run(
    paths: Sequence[str | Path],
    output: str | Path,
    config: MvotConfig,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Run every method in every mode over the sequences; write mvot.json and mvot.md."""
    import trackers
    from mot_pipeline import motchallenge
    from mot_pipeline.bench import annotated_sources, check_methods, tracker_config
    from mot_pipeline.bench.report import machine_info, new_report
    from mot_pipeline.threads import set_threads

    check_methods(config.methods)
    sources = annotated_sources(paths, "start and score objects")
    segments = {
        s.name: target_segments(motchallenge.read_mot_file(s.gt_path, "gt"), config.params.max_gap)
        for s in sources
    }
    estimators = {
        m: trackers.create(
            m, tracker_config(m, config.tracker_configs.get(m), device=config.device)[0]
        )
        for m in dict.fromkeys(config.methods)
    }
    threads = set_threads(config.threads)  # after the models: loading may reset it
    info = machine_info(config.device or "cpu")
    log(
        f"mot-bench mvot: real-time results depend on this machine: {info['cpu']}, "
        f"{threads} threads, device {info['device']}"
    )
    first_frame = next(sources[0].frames())[1]
    for estimator in estimators.values():
        _warm_up(estimator, first_frame)
    rows, sequence_rows = _Sweep(config, sources, segments, estimators).run(progress, log)
    settings = _settings(config, sources, list(estimators), threads)
    report = new_report("mvot", command, info, settings, rows=rows, sequence_rows=sequence_rows)
    _write(report, output, log)
    return report


def _settings(
    config: MvotConfig, sources: Sequence[Any], methods: list[str], threads: int
) -> dict[str, Any]:
    p = config.params
    return {
        "sequences": [s.name for s in sources],
        "methods": methods,
        "modes": [_mode_name(f) for f in _modes(config)],
        "reinit_delay": p.reinit_delay,
        "burn_in": p.burn_in,
        "max_gap": p.max_gap,
        "sensitivity": p.sensitivity,
        "failure_iou": p.failure_iou,
        "threads": threads,
        "robustness": "exp(-sensitivity * failures / pairs)",
        "accuracy": "sum of IoU / scored (object, frame) pairs",
    }


def _write(report: dict[str, Any], output: str | Path, log: Callable[[str], None]) -> None:
    from mot_pipeline.bench.report import write

    rows, settings, machine = report["rows"], report["settings"], report["machine"]
    header = markdown_header(
        f"Sequences: {', '.join(settings['sequences'])}; {machine['cpu']}, "
        f"{settings['threads']} threads, device {machine['device']}.",
        report["command"],
    )
    log(format_markdown(rows).rstrip())
    write(output, report, markdown=format_markdown(rows, header), log=log)
