"""`mot-bench accuracy`: MOTA, IDF1, HOTA, IDSW and end-to-end fps for every motion estimator
x detection interval, over sequences with ground truth: the speed/accuracy trade-off.

Every run is exactly a `mot-run` with the same settings (`RunConfig` from the defaults or a
YAML preset, the same `Pipeline`, result files written and read back, `evaluation.evaluate`
over all sequences together), except that detections come from the on-disk cache
(`detcache.py`) through `PublicDetections(by_frame, min_score=-inf)`: the pipeline clips and
filters them exactly as it does live detector output, so scores equal `mot-run`'s.

Timing: the cached detector time of each frame the detector ran on is added back, so

    fps_e2e = frames / (decode_s + detect_s + track_s)

with decode_s the time to read and decode the frames in this run, detect_s the cached
per-frame detector time on detector frames plus the lookup and clipping, and track_s the rest
of `Pipeline.step` (propagation, association, lifecycle). `fps` leaves out decoding, as
`mot-run`'s `fps` does. Writing result files is not counted.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mot_pipeline.config import RunConfig
from mot_pipeline.errors import InputError

DEFAULT_METHODS = ("kalman", "hold", "siammt")
DEFAULT_DETECT_EVERY = (1, 2, 3, 5, 10, 15)
ACCURACY_JSON = "accuracy.json"
ACCURACY_MD = "accuracy.md"
ACCURACY_PLOT = "accuracy.png"
RESULTS_DIR = "results"
TABLE_METRICS = ("MOTA", "IDF1", "HOTA", "IDSW")
ROW_METRICS = ("MOTA", "IDF1", "HOTA", "MOTP", "IDSW", "FP", "FN", "num_frames", "DetA", "AssA")


@dataclass(frozen=True)
class AccuracyConfig:
    """The sweep. `run` holds the pipeline, detector and tracker settings (as for mot-run);
    its `tracker_options` apply to `run.tracker` only. `device` also moves trackers that have
    a `device` field. `cache_dir` None: `detcache.default_cache_dir()`."""

    run: RunConfig = field(default_factory=RunConfig)
    methods: tuple[str, ...] = DEFAULT_METHODS
    detect_every: tuple[int, ...] = DEFAULT_DETECT_EVERY
    threads: int | None = None
    device: str | None = None
    cache_dir: str | Path | None = None

    def __post_init__(self) -> None:
        if not self.methods:
            raise InputError("no methods given")
        if not self.detect_every or min(self.detect_every) < 1:
            raise InputError(f"detect-every values must be >= 1, got {list(self.detect_every)}")


@dataclass(frozen=True)
class _Unit:
    """One scored sequence: a source, the alias whose public detections it uses, its name."""

    source: Any
    alias: str
    name: str


def run_config_for(base: RunConfig, method: str, k: int, device: str | None = None) -> RunConfig:
    """`base` with tracker `method` and detection interval `k`, as `mot-run --tracker method
    -k k` would build it from the same preset."""
    from mot_pipeline.bench import tracker_kwargs

    options = dict(base.tracker_options) if method == base.tracker else {}
    _, extra, _ = tracker_kwargs(method, device)
    options.update(extra)
    pipeline = dataclasses.replace(base.pipeline, detect_every=k)
    return dataclasses.replace(
        base, tracker=method, detect_every=k, pipeline=pipeline, tracker_options=options
    )


def _units(paths: Sequence[str | Path], config: RunConfig) -> list[_Unit]:
    from mot_pipeline.bench import annotated_sources

    units: list[_Unit] = []
    for s in annotated_sources(paths, "score against", config.frame_rate):
        if config.detector == "public" and len(s.aliases) > 1:
            units.extend(_Unit(s, a, a) for a in s.aliases)  # detections differ per alias
        else:
            units.append(_Unit(s, s.aliases[0], s.aliases[0] if len(s.aliases) == 1 else s.name))
    names = [u.name for u in units]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"sequence given twice: {', '.join(dup)}")
    return units


def _rate(frames: int, seconds: float) -> float:
    return frames / seconds if seconds > 0 else math.nan


def _track_unit(unit: _Unit, detections: Any, tracker: Any, run_config: RunConfig):
    """Run the pipeline over one sequence with cached detections; results and timings."""
    from detectors.public import PublicDetections
    from mot_pipeline.pipeline import Pipeline

    detector = PublicDetections(detections.by_frame, min_score=-math.inf)
    pipeline = Pipeline(
        detector, tracker, config=run_config.pipeline, frame_rate=unit.source.frame_rate
    )
    results, decode_s = [], 0.0
    frames = unit.source.frames()
    while True:
        t0 = time.perf_counter()
        item = next(frames, None)
        decode_s += time.perf_counter() - t0
        if item is None:
            break
        results += pipeline.push(item[1])
    results += pipeline.flush()
    detector_frames = [r.frame_index for r in results if r.detector_ran]
    timing = {
        "frames": pipeline.timing.frames,
        "detector_frames": len(detector_frames),
        "decode_s": decode_s,
        "detect_s": detections.detect_seconds(detector_frames) + pipeline.timing.detect_s,
        "track_s": pipeline.timing.track_s,
    }
    return results, timing


def _timing_fields(t: dict[str, float]) -> dict[str, float]:
    return {
        **t,
        "fps": _rate(t["frames"], t["detect_s"] + t["track_s"]),
        "fps_e2e": _rate(t["frames"], t["decode_s"] + t["detect_s"] + t["track_s"]),
    }


def _sum_timing(timings: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = ("frames", "detector_frames", "decode_s", "detect_s", "track_s")
    return {k: sum(t[k] for t in timings) for k in keys}


def format_markdown(rows: Sequence[dict[str, Any]], header: str = "") -> str:
    """A markdown table, one row per (method, k); scores in percent."""
    cols = ["method", "k", *TABLE_METRICS, "fps", "fps e2e"]
    lines = [header, ""] if header else []
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r["method"], str(r["detect_every"])]
        for m in TABLE_METRICS:
            v = r.get(m)
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                cells.append("-")
            elif m == "IDSW":
                cells.append(str(int(v)))
            else:
                cells.append(f"{100 * v:.1f}")
        cells += [f"{r['fps']:.1f}", f"{r['fps_e2e']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(
    paths: Sequence[str | Path],
    output: str | Path,
    config: AccuracyConfig,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
    command: str | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Sweep methods x detect-every over `paths`; write accuracy.json, accuracy.md, the plot
    and the result files (`output/results/<method>-k<k>/<sequence>.txt`); return the report."""
    from tqdm import tqdm

    from mot_pipeline import evaluation, motchallenge
    from mot_pipeline.bench import check_methods, detcache, machine_info, write_json
    from mot_pipeline.runner import build_detector, build_tracker
    from mot_pipeline.threads import set_threads

    output = Path(output)
    base = config.run
    check_methods(config.methods)
    units = _units(paths, base)
    # Ground truth first: a malformed file should fail before any detection.
    gts = {u.name: motchallenge.read_mot_file(u.source.gt_path, "gt") for u in units}
    ks = sorted(set(config.detect_every))
    methods = list(dict.fromkeys(config.methods))
    # Trackers first (model loading may reset the thread count), then the detector, then
    # the thread count: the cached detection times are measured with the benchmark's threads.
    trackers = {m: build_tracker(run_config_for(base, m, ks[0], config.device)) for m in methods}
    threads = set_threads(config.threads)
    shared_detector: list[Any] = []

    def make_detector(unit: _Unit) -> Callable[[], Any]:
        def build() -> Any:
            if base.detector == "public":
                return build_detector(base, unit.source, unit.alias)
            if not shared_detector:
                shared_detector.append(build_detector(base))
                set_threads(threads)
            return shared_detector[0]

        return build

    cache = detcache.DetectionCache(config.cache_dir)
    info = machine_info(config.device or base.yolo.device)
    detections = {}
    for unit in units:
        desc_det = detcache.detector_description(base, unit.source, unit.alias)
        key = detcache.cache_key(desc_det, detcache.source_description(unit.source, unit.alias))
        needed = {f for k in ks for f in range(0, unit.source.length, k)}
        meta = {"detector": desc_det, "threads": threads, "cpu": info["cpu"]}
        detections[unit.name] = cache.get(
            key, unit.source, needed, make_detector(unit), meta, progress
        )
    log(
        f"detections: {cache.hits} frames from the cache, {cache.misses} detected "
        f"(cache {cache.root})"
    )

    rows: list[dict[str, Any]] = []
    sequence_rows: list[dict[str, Any]] = []
    total = len(methods) * len(ks) * sum(u.source.length for u in units)
    with tqdm(total=total, unit="frame", disable=not progress, leave=False) as bar:
        for method in methods:
            for k in ks:
                cfg = run_config_for(base, method, k, config.device)
                pairs, timings = [], {}
                for unit in units:
                    bar.set_description(f"{method} k={k} {unit.name}")
                    results, timing = _track_unit(
                        unit, detections[unit.name], trackers[method], cfg
                    )
                    bar.update(timing["frames"])
                    path = output / RESULTS_DIR / f"{method}-k{k}" / f"{unit.name}.txt"
                    motchallenge.write_results(path, results, overwrite=True)
                    seq_info = motchallenge.SequenceInfo(unit.name, 1.0, timing["frames"], 0, 0)
                    result_rows = motchallenge.read_mot_file(path, "result")
                    pairs.append((unit.name, gts[unit.name], result_rows, seq_info))
                    timings[unit.name] = timing
                metrics = evaluation.evaluate(pairs)
                for name, m in metrics["sequences"].items():
                    sequence_rows.append(
                        {
                            "method": method,
                            "detect_every": k,
                            "sequence": name,
                            **{x: m[x] for x in ROW_METRICS},
                            **_timing_fields(timings[name]),
                        }
                    )
                overall = metrics["overall"]
                rows.append(
                    {
                        "method": method,
                        "detect_every": k,
                        **{x: overall[x] for x in ROW_METRICS},
                        **_timing_fields(_sum_timing(list(timings.values()))),
                    }
                )
    report = {
        "benchmark": "accuracy",
        "command": command,
        "machine": info,
        "settings": {
            "sequences": [u.name for u in units],
            "paths": [str(p) for p in paths],
            "methods": methods,
            "detect_every": ks,
            "detector": base.detector,
            "yolo": dataclasses.asdict(base.yolo) if base.detector != "public" else None,
            "threads": threads,
            "cache": str(cache.root),
            "cache_frames_hit": cache.hits,
            "cache_frames_detected": cache.misses,
            "fps_e2e": "frames / (decode_s + detect_s + track_s); detect_s from the cache",
        },
        "rows": rows,
        "sequence_rows": sequence_rows,
    }
    write_json(output / ACCURACY_JSON, report)
    header = (
        f"Sequences: {', '.join(u.name for u in units)}; detector {base.detector}; "
        f"{info['cpu']}, {threads} threads." + (f"\n\nCommand: `{command}`" if command else "")
    )
    from mot_pipeline.fileio import atomic_write_text

    atomic_write_text(output / ACCURACY_MD, format_markdown(rows, header), overwrite=True)
    if plots:
        from mot_pipeline.bench import plots as plot

        plot.accuracy_tradeoff(rows, output / ACCURACY_PLOT)
    log(format_markdown(rows).rstrip())
    log(f"written: {output / ACCURACY_JSON}, {output / ACCURACY_MD}")
    return report
