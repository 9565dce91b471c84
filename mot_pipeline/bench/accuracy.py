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

The trade-off: a row is `on_front` when no other (method, k) has both a higher-or-equal MOTA
and a higher-or-equal fps_e2e, one of them strictly (the Pareto front over all rows); the
table's 'front' column and the plot mark those settings, the only ones worth picking for
MOTA at a given speed.

The sweep: detections first (cached, or detected once), then every method x interval over all
sequences (`_Sweep.point`), then one report (`report.write`: accuracy.json, accuracy.md, the
accuracy-against-fps plot).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mot_pipeline.bench.report import MISSING, markdown_header, markdown_table, pareto_front
from mot_pipeline.config import RunConfig
from mot_pipeline.errors import InputError
from mot_pipeline.pipeline import rate

if TYPE_CHECKING:
    from mot_pipeline.scaleout import Backend

DEFAULT_METHODS = ("kalman", "hold", "siammt")
DEFAULT_DETECT_EVERY = (1, 2, 3, 5, 10, 15)
ACCURACY_JSON = "accuracy.json"
ACCURACY_MD = "accuracy.md"
ACCURACY_PLOT = "accuracy.png"
RESULTS_DIR = "results"
TABLE_METRICS = ("MOTA", "IDF1", "HOTA", "IDSW")
FRONT_AXES = ("MOTA", "fps_e2e")  # the Pareto front's axes, both higher-is-better
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
    -k k` would build it from the same preset; `device` set where the tracker has the field."""
    from mot_pipeline.bench import config_fields
    from trackers import config_class

    options = dict(base.tracker_options) if method == base.tracker else {}
    if device is not None and "device" in config_fields(config_class(method)):
        options["device"] = device
    pipeline = dataclasses.replace(base.pipeline, detect_every=k)
    return dataclasses.replace(base, tracker=method, pipeline=pipeline, tracker_options=options)


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


def _cached_detections(
    units: Sequence[_Unit],
    base: RunConfig,
    ks: Sequence[int],
    cache: Any,
    threads: int,
    cpu: str,
    progress: bool,
) -> dict[str, Any]:
    """Each unit's detections on every frame some k runs the detector on: from `cache`,
    detecting (with the benchmark's `threads`) only what it lacks."""
    from mot_pipeline import runner
    from mot_pipeline.bench import detcache
    from mot_pipeline.threads import set_threads

    shared: list[Any] = []  # an image detector is built once, on first need

    def detector_for(unit: _Unit) -> Callable[[], Any]:
        def build() -> Any:
            if base.detector == "public":
                return runner.make_detector(base, unit.source, unit.alias)
            if not shared:
                shared.append(runner.make_detector(base))
                set_threads(threads)  # loading a model may reset the thread count
            return shared[0]

        return build

    detections = {}
    for unit in units:
        detector = detcache.detector_description(base, unit.source, unit.alias)
        key = detcache.cache_key(detector, detcache.source_description(unit.source, unit.alias))
        needed = {f for k in ks for f in range(0, unit.source.length, k)}
        meta = {"detector": detector, "threads": threads, "cpu": cpu}
        detections[unit.name] = cache.get(
            key, unit.source, needed, detector_for(unit), meta, progress
        )
    return detections


def _track_unit(unit: _Unit, detections: Any, tracker: Any, run_config: RunConfig):
    """Run the pipeline over one sequence with cached detections; results and timings."""
    from detectors.public import PublicDetections
    from mot_pipeline.pipeline import Pipeline

    detector = PublicDetections(detections.by_frame, min_score=-math.inf)
    pipeline = Pipeline(detector, tracker, run_config.pipeline, frame_rate=unit.source.frame_rate)
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
        "fps": rate(t["frames"], t["detect_s"] + t["track_s"]),
        "fps_e2e": rate(t["frames"], t["decode_s"] + t["detect_s"] + t["track_s"]),
    }


def _metrics(scores: dict[str, Any]) -> dict[str, Any]:
    return {x: scores[x] for x in ROW_METRICS}


def _sum_timing(timings: Iterable[dict[str, float]]) -> dict[str, float]:
    keys = ("frames", "detector_frames", "decode_s", "detect_s", "track_s")
    timings = list(timings)
    return {k: sum(t[k] for t in timings) for k in keys}


@dataclass
class _Sweep:
    """What every (method, k) point shares: the sequences, their ground truth and cached
    detections, one tracker per method, and where result files go."""

    config: AccuracyConfig
    units: list[_Unit]
    gts: dict[str, Any]
    detections: dict[str, Any]
    trackers: dict[str, Any]
    output: Path
    # (method, k, sequence) -> (results, timing) tracked beforehand by parallel tasks
    tracked: dict[tuple[str, int, str], tuple[list, dict]] = field(default_factory=dict)

    def run(self, methods: Sequence[str], ks: Sequence[int], progress: bool) -> tuple[list, list]:
        """Every (method, k) point: the overall rows and the per-sequence rows."""
        from mot_pipeline.bench import progress_bar

        rows, sequence_rows = [], []
        total = len(methods) * len(ks) * sum(u.source.length for u in self.units)
        with progress_bar(total, progress and not self.tracked) as bar:
            for method in methods:
                for k in ks:
                    row, per_sequence = self.point(method, k, bar)
                    rows.append(row)
                    sequence_rows += per_sequence
        return rows, sequence_rows

    def point(self, method: str, k: int, bar: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Track every sequence with `method` every `k` frames, as mot-run would, and score
        them together: the overall row and one row per sequence."""
        from mot_pipeline import evaluation

        run_config = run_config_for(self.config.run, method, k, self.config.device)
        pairs, timings = [], {}
        for unit in self.units:
            bar.set_description(f"{method} k={k} {unit.name}")
            tracked = self.tracked.get((method, k, unit.name))
            if tracked is None:
                tracker, detections = self.trackers[method], self.detections[unit.name]
                tracked = _track_unit(unit, detections, tracker, run_config)
            results, timings[unit.name] = tracked
            bar.update(timings[unit.name]["frames"])
            pairs.append(self._written_and_read(method, k, unit, results, timings[unit.name]))
        metrics = evaluation.evaluate(pairs)
        key = {"method": method, "detect_every": k}
        sequence_rows = [
            {**key, "sequence": name, **_metrics(m), **_timing_fields(timings[name])}
            for name, m in metrics["sequences"].items()
        ]
        overall = _metrics(metrics["overall"])
        return {**key, **overall, **_timing_fields(_sum_timing(timings.values()))}, sequence_rows

    def _written_and_read(
        self, method: str, k: int, unit: _Unit, results: list, timing: dict[str, float]
    ) -> tuple:
        """Write the result file as mot-run does and read it back: what gets scored."""
        from mot_pipeline import motchallenge

        path = self.output / RESULTS_DIR / f"{method}-k{k}" / f"{unit.name}.txt"
        motchallenge.write_results(path, results, overwrite=True)
        info = motchallenge.SequenceInfo(unit.name, 1.0, timing["frames"], 0, 0)
        rows = motchallenge.read_mot_file(path, "result")
        return unit.name, self.gts[unit.name], rows, info


@dataclass(frozen=True)
class _TrackTask:
    """One (sequence, method, k) run for a parallel worker; `unit` indexes `_TaskInputs`."""

    unit: int
    method: str
    k: int


@dataclass(frozen=True)
class _TaskInputs:
    """What every task shares (on Ray stored once): the sequences (`scaleout.Portable`), their
    cached detections, the sweep's settings, and the torch threads of a task."""

    sources: list[Any]
    aliases: list[str]
    names: list[str]
    detections: list[Any]
    config: AccuracyConfig
    threads: int


def track_task(task: _TrackTask, shared: _TaskInputs) -> tuple[list, dict[str, float]]:
    """A worker's side: build the method's tracker, then track one sequence from the cached
    detections exactly as `_Sweep.point` does; its results and timing."""
    import trackers
    from mot_pipeline.config import tracker_config
    from mot_pipeline.threads import set_threads

    run_config = run_config_for(shared.config.run, task.method, task.k, shared.config.device)
    tracker = trackers.create(task.method, tracker_config(run_config))
    set_threads(shared.threads)  # after the model: loading one may reset the thread count
    i = task.unit
    unit = _Unit(shared.sources[i].rebuild(), shared.aliases[i], shared.names[i])
    return _track_unit(unit, shared.detections[i], tracker, run_config)


def _track_in_tasks(
    sweep: _Sweep, methods: Sequence[str], ks: Sequence[int], backend: Backend, progress: bool
) -> dict[tuple[str, int, str], tuple[list, dict]]:
    """Every (sequence, method, k) tracked as a task where `backend` runs them, all from the
    detections cached once; a task that fails fails the sweep (one line)."""
    from mot_pipeline.scaleout import Portable, TaskError, map_tasks

    units = sweep.units
    shared = _TaskInputs(
        [Portable.of(u.source) for u in units],
        [u.alias for u in units],
        [u.name for u in units],
        [sweep.detections[u.name] for u in units],
        sweep.config,
        backend.threads_per_task(sweep.config.threads),
    )
    tasks = [_TrackTask(i, m, k) for m in methods for k in ks for i in range(len(units))]
    sizes = [units[t.unit].source.length for t in tasks]
    results = map_tasks(
        backend, track_task, tasks, shared, sizes=sizes, progress=progress, desc="runs"
    )
    tracked = {}
    for task, result in zip(tasks, results, strict=True):
        name = units[task.unit].name
        if isinstance(result, TaskError):
            raise InputError(f"{name}, {task.method} k={task.k}: {result.message}")
        tracked[(task.method, task.k, name)] = result
    return tracked


def _tasks_setting(backend: Backend, threads: int | None) -> str:
    """How the runs were spread, for the report (their fps are per task)."""
    where = f"Ray ({backend.ray_address or 'local'})" if backend.ray else "local processes"
    count = "" if backend.ray else f"{backend.workers} "
    each = backend.threads_per_task(threads)
    return f"each (sequence, method, k) a task on {count}{where}, {each} threads each"


def mark_front(rows: Sequence[dict[str, Any]]) -> None:
    """Set each row's `on_front`: no other (method, k) has both a higher-or-equal MOTA and a
    higher-or-equal fps_e2e, one of them strictly (`report.pareto_front`)."""
    front = pareto_front([(r.get(FRONT_AXES[0]), r.get(FRONT_AXES[1])) for r in rows])
    for row, on in zip(rows, front, strict=True):
        row["on_front"] = on


def format_markdown(rows: Sequence[dict[str, Any]], header: str = "") -> str:
    """A markdown table, one row per (method, k); scores in percent; 'front': on the
    MOTA / fps e2e Pareto front ('yes')."""
    cols = ["method", "k", *TABLE_METRICS, "fps", "fps e2e", "front"]
    return markdown_table(cols, map(_cells, rows), header)


def _cells(row: dict[str, Any]) -> list[str]:
    scores = [_metric_cell(m, row.get(m)) for m in TABLE_METRICS]
    fps = [f"{row['fps']:.1f}", f"{row['fps_e2e']:.1f}"]
    front = "yes" if row.get("on_front") else ""
    return [row["method"], str(row["detect_every"]), *scores, *fps, front]


def _metric_cell(metric: str, value: Any) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return str(int(value)) if metric == "IDSW" else f"{100 * value:.1f}"


def run(
    paths: Sequence[str | Path],
    output: str | Path,
    config: AccuracyConfig,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
    command: str | None = None,
    plots: bool = True,
    backend: Backend | None = None,
) -> dict[str, Any]:
    """Sweep methods x detect-every over `paths`; write accuracy.json, accuracy.md, the plot
    and the result files (`output/results/<method>-k<k>/<sequence>.txt`); return the report.
    `backend`: track every (sequence, method, k) as a parallel task (`scaleout.py`), from the
    detections cached here once."""
    import trackers
    from mot_pipeline import motchallenge
    from mot_pipeline.bench import check_methods, detcache
    from mot_pipeline.bench.report import machine_info, new_report
    from mot_pipeline.config import tracker_config
    from mot_pipeline.threads import set_threads

    base = config.run
    check_methods(config.methods)
    units = _units(paths, base)
    # Ground truth first: a malformed file should fail before any detection.
    gts = {u.name: motchallenge.read_mot_file(u.source.gt_path, "gt") for u in units}
    ks, methods = sorted(set(config.detect_every)), list(dict.fromkeys(config.methods))
    # Trackers first (model loading may reset the thread count), then the thread count, then
    # the detector: the cached detection times are measured with the benchmark's threads.
    tracker_configs = {
        m: tracker_config(run_config_for(base, m, ks[0], config.device)) for m in methods
    }
    # Parallel tasks build their own trackers; here the settings are checked.
    built = {} if backend else {m: trackers.create(m, c) for m, c in tracker_configs.items()}
    threads = set_threads(config.threads)
    info = machine_info(config.device or base.yolo.device)
    cache = detcache.DetectionCache(config.cache_dir)
    detections = _cached_detections(units, base, ks, cache, threads, info["cpu"], progress)
    log(
        f"detections: {cache.hits} frames from the cache, {cache.misses} detected "
        f"(cache {cache.root})"
    )
    sweep = _Sweep(config, units, gts, detections, built, Path(output))
    if backend is not None:
        sweep.tracked = _track_in_tasks(sweep, methods, ks, backend, progress)
    rows, sequence_rows = sweep.run(methods, ks, progress)
    mark_front(rows)
    settings = _settings(config, units, paths, threads, cache)
    if backend is not None:
        settings["tasks"] = _tasks_setting(backend, config.threads)
    report = new_report("accuracy", command, info, settings, rows=rows, sequence_rows=sequence_rows)
    _write(report, output, log=log, plots=plots)
    return report


def _settings(
    config: AccuracyConfig, units: Sequence[_Unit], paths: Sequence, threads: int, cache: Any
) -> dict[str, Any]:
    base = config.run
    return {
        "sequences": [u.name for u in units],
        "paths": [str(p) for p in paths],
        "methods": list(dict.fromkeys(config.methods)),
        "detect_every": sorted(set(config.detect_every)),
        "detector": base.detector,
        "yolo": dataclasses.asdict(base.yolo) if base.detector != "public" else None,
        "threads": threads,
        "cache": str(cache.root),
        "cache_frames_hit": cache.hits,
        "cache_frames_detected": cache.misses,
        "fps_e2e": "frames / (decode_s + detect_s + track_s); detect_s from the cache",
        "on_front": "on the Pareto front of all rows: no other row has both a higher-or-equal "
        "MOTA and a higher-or-equal fps_e2e, one of them strictly",
    }


def _write(
    report: dict[str, Any], output: str | Path, *, log: Callable[[str], None], plots: bool
) -> None:
    from mot_pipeline.bench import plots as plot
    from mot_pipeline.bench.report import write

    rows, settings = report["rows"], report["settings"]
    header = markdown_header(
        f"Sequences: {', '.join(settings['sequences'])}; detector {settings['detector']}; "
        f"{report['machine']['cpu']}, {settings['threads']} threads.",
        report["command"],
    )
    log(format_markdown(rows).rstrip())
    figures = {ACCURACY_PLOT: lambda: plot.accuracy_tradeoff(rows)} if plots else {}
    write(output, report, markdown=format_markdown(rows, header), figures=figures, log=log)
