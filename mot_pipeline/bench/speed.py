"""`mot-bench speed`: the paper's multi-target speed benchmark (Sec. 4.3, Fig. 9 and 10).

MT-VGA (640x480) and MT-HD (1280x720) frames are real images (a short run of consecutive frames
of a sequence or video, resized to cover the resolution and centre-cropped), with N synthetic
person-like targets placed at random (fixed seed) fully inside the frame. Each method starts
all N targets on the first frame, propagates them over `warmup` frames, then over `frames`
timed frames; fps = timed frames / their total `propagate` time.

Frame resize: SiamMT resizes each frame so the median target reaches the scale its weights were
trained at (paper Sec. 4.1), so with the automatic policy the backbone input would change with
the median size of the first N synthetic targets, i.e. with N (N = 1 is one random box), and
that change is not a per-object cost. The bench therefore fixes, per (method, resolution), the
factor the automatic policy picks for the full set of targets (largest N), for every N; the
factor is in the JSON (`settings.frame_scale`). Methods without a `frame_scale` setting (the
SiamFC baselines crop each object from the frame) are unaffected.

Time budget: the one-tracker-per-object baselines grow linearly with N and would take minutes
per point, so each (method, resolution, N) point may spend at most `budget_s` seconds
(start, warm-up and timed frames). A point stops measuring once the next frame would overrun
the budget (at least one timed frame is always measured) and is marked `capped`; larger N of
that method at that resolution are then not run and are marked `skipped`.

Frame indices: the start is frame 0 and each propagate gets the next index, so an estimator
that reuses a frame's features between calls with the same index (SiamMT) reuses nothing here:
every timed frame pays its own feature extraction.

Per-stage times come from the estimator's `stage_ms` (dict stage -> milliseconds of the last
`propagate`, recorded when its config's `profile` is on), read after each timed frame. Stage
names are mapped onto `STAGES` (the paper's Fig. 10) through `STAGE_ALIASES`; the time
`propagate` spends outside the reported stages is listed as `OTHER_STAGE`.

Detector: the cost a tracker replaces between detections. Per resolution, the configured
detector (default the embedded YOLO11n INT8, as `mot-run`'s; None: not timed) runs on the
same frames the trackers propagate over, under the same warm-up, frame count and budget rules,
with the same thread count (it is loaded before the thread count is set, and the count is
checked before every timing). Its ms per frame is `detector_ms`, and each tracker row's
`ratio_to_detector` is its ms per frame over it: below 1, tracking a frame costs less than
detecting it. Both are mean ms per frame, as the table's fps are.

The sweep: per resolution, the detector, then per method N = the object counts in order
(`_measure_method`), then one report (`report.write`: speed.json and the two plots).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mot_pipeline.errors import InputError

RESOLUTIONS: dict[str, tuple[int, int]] = {"vga": (640, 480), "hd": (1280, 720)}
DEFAULT_OBJECTS = (1, 2, 5, 10, 20, 50, 100, 150)
DEFAULT_METHODS = ("siammt", "siamfc-mi", "siamfc", "kalman")
DEFAULT_DETECTOR = "yolo11n"  # mot-run's default: the embedded YOLO11n INT8
# The paper's Fig. 10: feature extraction, crop-and-resize, pairwise xcorr, upsampling and
# peak search, box update and bookkeeping.
STAGES = ("features", "crop", "xcorr", "upsample_peak", "update")
OTHER_STAGE = "other"  # propagate time outside the stages the estimator reports
# Names an estimator may use for the same stages (SiamMT's `stage_ms` names).
STAGE_ALIASES = {"resize": "features", "backbone": "features", "peak": "upsample_peak"}
STAGE_METHOD = "siammt"  # whose stages the stacked plot shows
MARGINAL_N = (1, 100)  # marginal cost per object: (t(100) - t(1)) / 99
RATIO_BASELINE = "siamfc-mi"  # siammt vs this at MARGINAL_N[1]
# Synthetic targets: sizes at VGA height, scaled with the frame height for other resolutions.
REFERENCE_HEIGHT = 480
BOX_HEIGHT_PX = (30.0, 120.0)
BOX_ASPECT = (0.35, 0.5)  # width / height of a standing person
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
# Default frame sources per resolution, first existing one wins (the bundled sample last).
DEFAULT_SOURCES: dict[str, tuple[Path, ...]] = {
    "vga": (SHARED / "data" / "mot" / "TUD-Stadtmitte", REPO / "samples" / "TUD-Campus"),
    "hd": (SHARED / "data" / "video" / "people.mp4", REPO / "samples" / "TUD-Campus"),
}
SPEED_FILE = "speed.json"
RATIO_COLUMN = "x det"  # the table's column of ratio_to_detector
RATIO_RULE = (
    "ratio_to_detector = method ms_per_frame / detector ms_per_frame (both means over the "
    "timed frames); the detector runs on the same frames, with the same warm-up, frame count, "
    "budget and thread count"
)
FPS_PLOT = "speed_fps.png"
STAGE_PLOT = "speed_stages.png"
CAP_RULE = (
    "each (method, resolution, N) point may spend at most budget_s seconds (start, warm-up "
    "and timed frames); a point that would overrun stops early (>= 1 timed frame) and is "
    "marked capped, and larger N of that method at that resolution are skipped"
)


@dataclass(frozen=True)
class SpeedConfig:
    """What to measure. `sources` maps a resolution to a sequence/video path (default:
    `DEFAULT_SOURCES`)."""

    resolutions: tuple[str, ...] = ("vga", "hd")
    objects: tuple[int, ...] = DEFAULT_OBJECTS
    methods: tuple[str, ...] = DEFAULT_METHODS
    frames: int = 20
    warmup: int = 3
    budget_s: float = 20.0
    device: str = "cpu"
    threads: int | None = None
    partial: bool = False  # partial feature extraction: off, as in the paper's Fig. 9
    stages: bool = True  # ask estimators to time their stages (a few syncs per frame on CUDA)
    seed: int = 0
    sources: Mapping[str, str | Path] = field(default_factory=dict)
    detector: str | None = DEFAULT_DETECTOR  # a YOLO name or model path; None: not timed
    # A method's own settings (its config dataclass) to start from, e.g. SiamMT's backend.
    tracker_configs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [r for r in self.resolutions if r not in RESOLUTIONS]
        if unknown:
            raise InputError(f"unknown resolution(s) {unknown}; choose from {list(RESOLUTIONS)}")
        if not self.objects or min(self.objects) < 1:
            raise InputError(f"object counts must be >= 1, got {list(self.objects)}")
        if self.frames < 1 or self.warmup < 0:
            raise InputError(f"need frames >= 1 and warmup >= 0, got {self.frames}, {self.warmup}")
        if not self.budget_s > 0:
            raise InputError(f"budget must be > 0 s, got {self.budget_s}")
        if self.detector == "public":
            raise InputError("public detections are read, not computed: time a model instead")


@dataclass
class PointResult:
    """One timed point: per-frame propagate seconds and per-stage seconds (summed)."""

    times: list[float]
    stages: dict[str, float] | None
    capped: bool


# --------------------------------------------------------------------------------------------
# Frames and targets
# --------------------------------------------------------------------------------------------


def default_source(resolution: str) -> Path:
    for path in DEFAULT_SOURCES[resolution]:
        if path.exists():
            return path
    raise InputError(f"no default frame source for {resolution}; pass --source")


def cover_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to cover `width` x `height` keeping the aspect ratio, then centre-crop."""
    import cv2

    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])


def load_frames(path: str | Path, width: int, height: int, count: int) -> list[np.ndarray]:
    """`count` consecutive frames of the first sequence at `path`, resized; a source shorter
    than `count` is played back and forth so the motion stays continuous."""
    from mot_pipeline.sources import open_sources

    source = open_sources(path)[0]
    frames: list[np.ndarray] = []
    for _, image in source.frames():
        frames.append(cover_resize(image, width, height))
        if len(frames) >= count:
            break
    if not frames:
        raise InputError("no frames", path)
    cycle = frames + frames[-2:0:-1] if len(frames) > 1 else frames
    return [cycle[i % len(cycle)] for i in range(count)]


def synthetic_boxes(n: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """`n` person-like xyxy boxes fully inside the frame; the first k of n are the same for
    any n >= k (one draw per seed), so larger N adds targets to the smaller sets."""
    u = np.random.default_rng(seed).random((n, 4))  # row i is box i whatever n is
    lo, hi = BOX_HEIGHT_PX
    h = (lo + u[:, 0] * (hi - lo)) * height / REFERENCE_HEIGHT
    w = h * (BOX_ASPECT[0] + u[:, 1] * (BOX_ASPECT[1] - BOX_ASPECT[0]))
    x1 = u[:, 2] * (width - w)
    y1 = u[:, 3] * (height - h)
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1).astype(np.float32)


# --------------------------------------------------------------------------------------------
# The methods under test, and timing them
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """A method under test: its tracker config, the estimator built from it, and the bench's
    settings that its config has (purpose -> field name, for the report)."""

    method: str
    config: Any
    estimator: Any
    fields: dict[str, str]

    def with_frame_scale(self, scale: float) -> Any:
        """A new estimator of this method, its frame resize factor fixed at `scale`."""
        import trackers

        return trackers.create(self.method, dataclasses.replace(self.config, frame_scale=scale))


def build_estimator(method: str, config: SpeedConfig) -> Subject:
    """The estimator with the bench's settings: device, partial extraction, profiling."""
    import trackers
    from mot_pipeline.bench import check_methods, tracker_config

    check_methods([method])
    settings = {"partial": config.partial, "profile": config.stages}
    base = config.tracker_configs.get(method)
    tracker, chosen = tracker_config(method, base, device=config.device, **settings)
    fields = {name: name for name in settings if name in chosen}
    return Subject(method, tracker, trackers.create(method, tracker), fields)


def automatic_frame_scale(subject: Subject, frame: np.ndarray, boxes: np.ndarray) -> float | None:
    """The resize factor the method's automatic policy picks for `boxes` on `frame`, or None
    when it has no such policy (module docstring)."""
    from mot_pipeline.bench import config_fields

    if "frame_scale" not in config_fields(subject.config) or subject.config.frame_scale is not None:
        return None
    estimator = subject.estimator
    estimator.reset()
    estimator.add(frame, boxes, np.arange(1, len(boxes) + 1, dtype=np.int64))
    scale = getattr(estimator, "frame_scale", None)
    estimator.reset()
    return None if scale is None else float(scale)


def _add_stages(totals: dict[str, float], estimator: Any) -> None:
    """Add the last propagate's `stage_ms` (in seconds, under `STAGES` names) to `totals`."""
    for name, ms in estimator.stage_ms.items():
        key = STAGE_ALIASES.get(name, name)
        totals[key] = totals.get(key, 0.0) + float(ms) / 1e3


def time_frames(
    step: Callable[[int], Any],
    timed_frames: int,
    warmup: int,
    budget_s: float,
    start: float,
    clock: Callable[[], float] = time.perf_counter,
    after: Callable[[], None] | None = None,
) -> tuple[list[float], bool]:
    """Call `step(index)` on indices 1..`warmup` untimed, then time it on the next ones until
    `timed_frames` are timed or the next would overrun `budget_s` counted from `start` (module
    docstring); `after()` runs after each timed call, untimed. Returns (seconds, capped)."""
    index, capped = 1, False
    for _ in range(warmup):
        step(index)
        index += 1
        if clock() - start > budget_s:
            capped = True
            break
    times: list[float] = []
    while len(times) < timed_frames:
        t0 = clock()
        step(index)
        times.append(clock() - t0)
        if after is not None:
            after()
        index += 1
        expected_next = sum(times) / len(times)
        if len(times) < timed_frames and clock() - start + expected_next > budget_s:
            capped = True
            break
    return times, capped


def measure_point(
    estimator: Any,
    frames: Sequence[np.ndarray],
    boxes: np.ndarray,
    timed_frames: int,
    warmup: int,
    budget_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> PointResult:
    """Start all `boxes` on `frames[0]`, warm up, then time `propagate` on the next frames
    (`frames` needs 1 + warmup + timed_frames entries), within `budget_s` (module docstring)."""
    staged = isinstance(getattr(estimator, "stage_ms", None), dict)
    stages: dict[str, float] = {}
    start = clock()
    estimator.reset()
    estimator.add(frames[0], boxes, np.arange(1, len(boxes) + 1, dtype=np.int64), 0)
    times, capped = time_frames(
        lambda index: estimator.propagate(frames[index], index),
        timed_frames,
        warmup,
        budget_s,
        start,
        clock,
        after=(lambda: _add_stages(stages, estimator)) if staged else None,
    )
    return PointResult(times, stages if staged else None, capped)


def measure_detector(
    detector: Any,
    frames: Sequence[np.ndarray],
    timed_frames: int,
    warmup: int,
    budget_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> PointResult:
    """Time `detector(frame, frame_index=i)` on the frames a tracker propagates over (from
    `frames[1]`), with the trackers' warm-up, frame count and budget rules."""
    start = clock()
    times, capped = time_frames(
        lambda index: detector(frames[index], frame_index=index),
        timed_frames,
        warmup,
        budget_s,
        start,
        clock,
    )
    return PointResult(times, None, capped)


def yolo_detector(name: str, device: str) -> Any:
    """The detector `mot-run --detector name --device device` builds (`detectors.create`)."""
    try:
        import detectors
        from detectors.yolo import YoloConfig

        return detectors.create(name, YoloConfig(device=device))
    except ImportError as err:  # e.g. a CUDA image without ultralytics
        raise InputError(
            f"cannot build detector {name!r} ({err}); pass --no-detector to time trackers only"
        ) from None


def _row(
    method: str, resolution: str, n: int, point: PointResult | None, config: SpeedConfig, info
) -> dict[str, Any]:
    """The report row of one point (None: skipped), with what it was measured on."""
    width, height = RESOLUTIONS[resolution]
    row: dict[str, Any] = {
        "method": method,
        "resolution": resolution,
        "width": width,
        "height": height,
        "N": n,
        "fps": None,
        "ms_per_frame": None,
        "ms_median": None,
        "ms_per_stage": None,
        "frames_measured": 0,
        "frames_requested": config.frames,
        "warmup": config.warmup,
        "capped": False,
        "skipped": point is None,
        "budget_s": config.budget_s,
        "device": config.device,
        **{k: info[k] for k in ("threads", "torch", "cpu", "gpu") if k in info},
    }
    if point is not None:
        row.update(_point_fields(point))
    return row


def _point_fields(point: PointResult) -> dict[str, Any]:
    """fps, ms per frame (mean, median, per stage) of a measured point."""
    total = sum(point.times)
    ms_per_frame = 1e3 * total / len(point.times)
    fields = {
        "fps": len(point.times) / total if total > 0 else math.inf,
        "ms_per_frame": ms_per_frame,
        "ms_median": 1e3 * statistics.median(point.times),
        "frames_measured": len(point.times),
        "capped": point.capped,
    }
    if point.stages is not None:
        per_frame = {k: 1e3 * v / len(point.times) for k, v in point.stages.items()}
        ordered = {k: per_frame.pop(k) for k in STAGES if k in per_frame}
        ordered.update(per_frame)
        ordered[OTHER_STAGE] = max(0.0, ms_per_frame - sum(ordered.values()))
        fields["ms_per_stage"] = ordered
    return fields


def _detector_row(
    name: str, resolution: str, point: PointResult, config: SpeedConfig, threads: int
) -> dict[str, Any]:
    """The report row of the detector at one resolution; `threads`: torch's count after it."""
    width, height = RESOLUTIONS[resolution]
    return {
        "detector": name,
        "resolution": resolution,
        "width": width,
        "height": height,
        **_point_fields(point),
        "frames_requested": config.frames,
        "warmup": config.warmup,
        "budget_s": config.budget_s,
        "device": config.device,
        "threads": threads,
    }


def add_ratios(rows: Sequence[dict[str, Any]], detector_rows: Sequence[Mapping[str, Any]]) -> None:
    """Give each tracker row its resolution's `detector_ms` and `ratio_to_detector` (its ms
    per frame / the detector's; None where the point was skipped)."""
    detector_ms = {d["resolution"]: d["ms_per_frame"] for d in detector_rows}
    for row in rows:
        det, ms = detector_ms.get(row["resolution"]), row["ms_per_frame"]
        row["detector_ms"] = det
        row["ratio_to_detector"] = ms / det if ms is not None and det else None


def summarize(
    rows: Sequence[Mapping[str, Any]], detector_rows: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """Marginal cost per object, the N=100 / N=1 time ratio, siammt vs siamfc-mi, and the
    detector's ms per frame per resolution (when it was timed)."""
    ms = {
        (r["method"], r["resolution"], r["N"]): r["ms_per_frame"]
        for r in rows
        if r["ms_per_frame"] is not None
    }
    lo, hi = MARGINAL_N
    per_method: list[dict[str, Any]] = []
    for method, resolution in dict.fromkeys((r["method"], r["resolution"]) for r in rows):
        t_lo, t_hi = ms.get((method, resolution, lo)), ms.get((method, resolution, hi))
        both = t_lo is not None and t_hi is not None
        per_method.append(
            {
                "method": method,
                "resolution": resolution,
                f"ms_at_{lo}": t_lo,
                f"ms_at_{hi}": t_hi,
                "marginal_ms_per_object": (t_hi - t_lo) / (hi - lo) if both else None,
                f"time_ratio_{hi}_over_{lo}": t_hi / t_lo if both and t_lo > 0 else None,
            }
        )
    speedups = {}
    for resolution in dict.fromkeys(r["resolution"] for r in rows):
        ours, base = (
            ms.get((STAGE_METHOD, resolution, hi)),
            ms.get((RATIO_BASELINE, resolution, hi)),
        )
        speedups[resolution] = base / ours if ours and base is not None else None
    summary: dict[str, Any] = {
        "per_method": per_method,
        f"{STAGE_METHOD}_speedup_over_{RATIO_BASELINE}_at_{hi}": speedups,
    }
    if detector_rows:
        summary["detector"] = detector_rows[0]["detector"]
        summary["detector_ms"] = {d["resolution"]: d["ms_per_frame"] for d in detector_rows}
    return summary


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """fps per method (rows) and N (columns), one block per resolution; capped points end in
    '*', skipped ones are '-'. Where a detector was timed, each N column is followed by an
    'x det' column: the method's ms per frame / the detector's."""
    ratios = any("ratio_to_detector" in r for r in rows)
    lines: list[str] = []
    for resolution in dict.fromkeys(r["resolution"] for r in rows):
        sub = [r for r in rows if r["resolution"] == resolution]
        ns = sorted({r["N"] for r in sub})
        cell = {(r["method"], r["N"]): r for r in sub}
        w, h = RESOLUTIONS[resolution]
        header = [f"fps {resolution} {w}x{h}"]
        for n in ns:
            header += [f"N={n}", RATIO_COLUMN] if ratios else [f"N={n}"]
        body = []
        for m in dict.fromkeys(r["method"] for r in sub):
            cells = [m]
            for n in ns:
                cells += _cells(cell.get((m, n)), ratios)
            body.append(cells)
        lines += _aligned([header, *body])
        lines.append("")
    return "\n".join(lines).rstrip()


def _cells(row: Mapping[str, Any] | None, ratios: bool) -> list[str]:
    """A point's fps cell (and its 'x det' cell)."""
    from mot_pipeline.bench.report import MISSING, cell

    if row is None or row["fps"] is None:
        return [MISSING, MISSING] if ratios else [MISSING]
    fps = f"{row['fps']:.1f}{'*' if row['capped'] else ''}"
    return [fps, cell(row.get("ratio_to_detector"), ".3g")] if ratios else [fps]


def _aligned(table: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(x[i]) for x in table) for i in range(len(table[0]))]
    return [
        "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))
        for cells in table
    ]


def format_summary(summary: Mapping[str, Any]) -> str:
    lo, hi = MARGINAL_N
    lines = []
    for s in summary["per_method"]:
        if s["marginal_ms_per_object"] is None:
            continue
        marginal, ratio = s["marginal_ms_per_object"], s[f"time_ratio_{hi}_over_{lo}"]
        lines.append(
            f"{s['method']} {s['resolution']}: marginal {marginal:.3f} ms/object "
            f"(N={lo}..{hi}), t({hi})/t({lo}) = {ratio:.2f}"
        )
    for res, ratio in summary[f"{STAGE_METHOD}_speedup_over_{RATIO_BASELINE}_at_{hi}"].items():
        if ratio is not None:
            lines.append(f"{STAGE_METHOD} vs {RATIO_BASELINE} at N={hi} ({res}): {ratio:.1f}x")
    for res, ms in summary.get("detector_ms", {}).items():
        lines.append(
            f"detector {summary['detector']} {res}: {ms:.2f} ms/frame "
            f"({1e3 / ms if ms > 0 else math.inf:.1f} fps); "
            f"{RATIO_COLUMN} = method ms/frame / detector ms/frame"
        )
    return "\n".join(lines)


def _log_row(row: Mapping[str, Any]) -> str:
    where = f"  {row['method']:>10} {row['resolution']} N={row['N']:<4}"
    if row["skipped"]:
        return f"{where} skipped (over budget at smaller N)"
    return (
        f"{where} {row['fps']:9.1f} fps {row['ms_per_frame']:9.2f} ms/frame "
        f"({row['frames_measured']} frames{', capped' if row['capped'] else ''})"
    )


def _log_detector(row: Mapping[str, Any]) -> str:
    return (
        f"  {'detector':>10} {row['resolution']} {row['detector']}: {row['fps']:.1f} fps "
        f"{row['ms_per_frame']:.2f} ms/frame ({row['frames_measured']} frames"
        f"{', capped' if row['capped'] else ''}, {row['threads']} threads)"
    )


def _fixed_scales(
    subjects: Sequence[Subject], frames: Mapping[str, list[np.ndarray]], config: SpeedConfig
) -> dict[str, dict[str, float]]:
    """method -> resolution -> the resize factor its automatic policy picks for all the
    targets (largest N), where it has one (module docstring)."""
    fixed: dict[str, dict[str, float]] = {}
    for resolution in config.resolutions:
        boxes = synthetic_boxes(max(config.objects), *RESOLUTIONS[resolution], config.seed)
        for subject in subjects:
            scale = automatic_frame_scale(subject, frames[resolution][0], boxes)
            if scale is not None:
                fixed.setdefault(subject.method, {})[resolution] = scale
    return fixed


def _measure_method(
    estimator: Any,
    method: str,
    resolution: str,
    frames: list[np.ndarray],
    config: SpeedConfig,
    info: Mapping[str, Any],
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """The rows of one method at one resolution, N in increasing order; once a point is
    capped by the budget, the larger N are skipped."""
    objects = sorted(set(config.objects))
    all_boxes = synthetic_boxes(max(objects), *RESOLUTIONS[resolution], config.seed)
    rows, over_budget = [], False
    for n in objects:
        point = None
        if not over_budget:
            point = measure_point(
                estimator, frames, all_boxes[:n], config.frames, config.warmup, config.budget_s
            )
            over_budget = point.capped
        rows.append(_row(method, resolution, n, point, config, info))
        log(_log_row(rows[-1]))
    estimator.reset()
    return rows


def _check_device(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} requested but CUDA is not available")


def _check_threads(threads: int, when: str) -> None:
    """Timing must run at the requested thread count: a model that reset it is caught here."""
    import torch

    if torch.get_num_threads() != threads:
        raise RuntimeError(
            f"torch runs {torch.get_num_threads()} threads {when}, not the {threads} set"
        )


def _time_detector(
    detector: Any, resolution: str, frames: list[np.ndarray], config: SpeedConfig, threads: int
) -> dict[str, Any]:
    """The detector's row at one resolution, timed at `threads` threads."""
    _check_threads(threads, f"before timing the detector ({resolution})")
    point = measure_detector(detector, frames, config.frames, config.warmup, config.budget_s)
    _check_threads(threads, f"after timing the detector ({resolution})")
    return _detector_row(str(config.detector), resolution, point, config, threads)


def run(
    config: SpeedConfig,
    output: str | Path,
    *,
    log: Callable[[str], None] = print,
    plots: bool = True,
    command: str | None = None,
    make_detector: Callable[[str, str], Any] = yolo_detector,
) -> dict[str, Any]:
    """Measure the detector and every (method, resolution, N), write `output/speed.json` and
    the plots; returns the report written. `make_detector(name, device)` builds the detector
    timed (`config.detector`; None: none)."""
    from mot_pipeline.bench.report import machine_info, new_report
    from mot_pipeline.threads import set_threads

    _check_device(config.device)
    count = 1 + config.warmup + config.frames
    sources = {r: Path(config.sources.get(r) or default_source(r)) for r in config.resolutions}
    frames = {r: load_frames(sources[r], *RESOLUTIONS[r], count) for r in config.resolutions}
    subjects = [build_estimator(method, config) for method in config.methods]
    fixed = _fixed_scales(subjects, frames, config)
    detector = make_detector(config.detector, config.device) if config.detector else None
    threads = set_threads(config.threads)  # after the models: loading may reset it
    info = machine_info(config.device)
    log(
        f"mot-bench speed: {info['cpu']}, {threads} threads, device {config.device}, "
        f"torch {info['torch']}; budget {config.budget_s:g} s per point; "
        f"detector {config.detector or 'not timed'}"
    )
    rows: list[dict[str, Any]] = []
    detector_rows: list[dict[str, Any]] = []
    for resolution in config.resolutions:
        if detector is not None:
            detector_rows.append(
                _time_detector(detector, resolution, frames[resolution], config, threads)
            )
            log(_log_detector(detector_rows[-1]))
        _check_threads(threads, f"before timing the trackers ({resolution})")
        for subject in subjects:
            scale = fixed.get(subject.method, {}).get(resolution)
            estimator = subject.estimator if scale is None else subject.with_frame_scale(scale)
            rows += _measure_method(
                estimator, subject.method, resolution, frames[resolution], config, info, log
            )
    if detector is not None:
        add_ratios(rows, detector_rows)
    settings = _settings(config, threads, fixed, subjects, sources)
    tables: dict[str, Any] = {"rows": rows, "summary": summarize(rows, detector_rows)}
    if detector is not None:
        tables["detector_rows"] = detector_rows
    report = new_report("speed", command, info, settings, **tables)
    _write(report, output, log=log, plots=plots)
    return report


def _settings(
    config: SpeedConfig,
    threads: int,
    fixed: dict,
    subjects: Sequence[Subject],
    sources: Mapping[str, Path],
) -> dict[str, Any]:
    return {
        "resolutions": {r: RESOLUTIONS[r] for r in config.resolutions},
        "objects": sorted(set(config.objects)),
        "methods": list(config.methods),
        "frames": config.frames,
        "warmup": config.warmup,
        "budget_s": config.budget_s,
        "cap_rule": CAP_RULE,
        "device": config.device,
        "threads": threads,
        "partial": config.partial,
        "frame_scale": fixed,
        "stages_timed": config.stages,
        "config_fields_set": {s.method: s.fields for s in subjects},
        "tracker_configs": {m: dataclasses.asdict(c) for m, c in config.tracker_configs.items()},
        "seed": config.seed,
        "sources": {r: str(p) for r, p in sources.items()},
        "stages": list(STAGES),
        "detector": config.detector,
        **({"ratio_to_detector": RATIO_RULE} if config.detector else {}),
    }


def _write(
    report: dict[str, Any], output: str | Path, *, log: Callable[[str], None], plots: bool
) -> None:
    from mot_pipeline.bench import plots as plot
    from mot_pipeline.bench.report import write

    rows = report["rows"]
    log(format_table(rows))
    text = format_summary(report["summary"])
    if text:
        log(text)
    figures = {
        FPS_PLOT: lambda: plot.speed_fps(rows, report.get("detector_rows", ())),
        STAGE_PLOT: lambda: plot.speed_stages(rows, method=STAGE_METHOD),
    }
    write(output, report, figures=figures if plots else {}, log=log)
