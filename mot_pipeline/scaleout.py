"""Sequences as parallel tasks: processes on this machine (`--workers N`) or Ray (`--ray`).

Each sequence, or each chunk of a long one (`chunks.py`), is one task that calls `runner.run`
on it alone, into a folder of its own, with its share of the cores as torch threads. The parent
collects every file a task wrote (whatever kinds of output `runner.run` makes) into the run's
staging folder, stitches chunks, and then scores, zips and publishes exactly as a sequential
run does: the result files, submission.zip and metrics.json are the same bytes, except the
timing fields (`fps`, `fps_e2e`) of metrics.json. A task that raises, or whose worker dies, is
a `SequenceFailure`; the other tasks go on.

Models reach the workers without a network: the embedded ones are inside the package, and on
Ray a user's model (`--detector PATH`, SiamMT's `weights`) is read here and written into the
task's folder (`_Models`). Frames are read where the sequence's paths point: on a cluster,
every node needs them at the same absolute path (a shared filesystem).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mot_pipeline.chunks import ChunkConfig
from mot_pipeline.errors import InputError
from mot_pipeline.sources import stderr_warning
from mot_pipeline.threads import available_cpus

# Object store of a Ray started here: tasks pass little (configs in, result files out), and
# Ray's default (30 % of memory) would reserve gigabytes of shared memory on a small machine.
LOCAL_RAY_OBJECT_STORE_BYTES = 128 * 1024**2
RAY_INSTALL_HINT = "pip install 'mot-pipeline[ray]'"
TASK_FOLDER_PREFIX = ".task-"  # inside the staging folder; publishing ignores folders


@dataclass(frozen=True)
class Backend:
    """Where tasks run: `workers` processes on this machine (1: in this process, one after
    another), or Ray (`ray`: local Ray when `ray_address` is None, else that cluster) with
    `cpus_per_task` and `gpus_per_task` reserved per task."""

    workers: int = 1
    ray: bool = False
    ray_address: str | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")
        if not self.cpus_per_task > 0 or not self.gpus_per_task >= 0:
            raise InputError("Ray CPUs per task must be > 0 and GPUs per task >= 0")

    def threads_per_task(self, threads: int | None = None) -> int:
        """`threads` when given, else the task's share of the cores, so that parallel tasks do
        not oversubscribe them: cores / workers here, the task's CPUs on Ray."""
        if threads is not None:
            return threads
        share = self.cpus_per_task if self.ray else available_cpus() / self.workers
        return max(1, int(share))


@dataclass(frozen=True)
class ScaleOut:
    """`runner.run(scale=...)`: where the tasks run, and whether long sequences are chunked."""

    backend: Backend = field(default_factory=Backend)
    chunks: ChunkConfig | None = None


@dataclass(frozen=True)
class TaskError:
    """A task that raised, or whose worker died: the one-line reason."""

    message: str

    @classmethod
    def of(cls, err: BaseException) -> TaskError:
        text = str(err) if isinstance(err, InputError) else f"{type(err).__name__}: {err}"
        return cls(text.strip().splitlines()[0] if text.strip() else type(err).__name__)


def require_ray() -> Any:
    """The `ray` module; `InputError` (one line for the CLI) when it is not installed."""
    try:
        import ray
    except ImportError:
        raise InputError(f"--ray needs Ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


# --------------------------------------------------------------------------------------------
# Executors: `map(fn, tasks, shared)` yields (task index, result or TaskError) as tasks end
# --------------------------------------------------------------------------------------------


class _Inline:
    """Tasks one after another in this process (`--workers 1`, e.g. chunks only)."""

    def map(self, fn: Callable, tasks: list, shared: Any) -> Iterator[tuple[int, Any]]:
        for index, task in enumerate(tasks):
            try:
                yield index, fn(task, shared)
            except Exception as err:  # a task's failure is reported, the others go on
                yield index, TaskError.of(err)

    def close(self, interrupted: bool) -> None:
        pass


def _start_worker() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops them (no tracebacks), and
    their (hidden) progress bars lock with a thread lock: tqdm's default also makes a
    process-shared semaphore, which a stopped worker would leave behind (a warning)."""
    import signal
    import threading

    from tqdm import tqdm

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tqdm.set_lock(threading.RLock())


class _Processes:
    """A pool of `workers` fresh (spawned: no forked torch thread pools) processes."""

    def __init__(self, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(workers, context, initializer=_start_worker)

    def map(self, fn: Callable, tasks: list, shared: Any) -> Iterator[tuple[int, Any]]:
        from concurrent.futures import as_completed

        futures = {self._pool.submit(fn, task, shared): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            err = future.exception()  # BrokenProcessPool when a worker died
            yield futures[future], (future.result() if err is None else TaskError.of(err))

    def close(self, interrupted: bool) -> None:
        # The executor has no public way to stop running tasks (3.14's terminate_workers
        # aside); its process table is read before shutdown, which clears it.
        if interrupted:  # tasks still running are stopped, not waited for
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Ray:
    """Ray tasks: on the cluster at `ray_address`, or on a Ray started here (and stopped
    after); an already initialised Ray (`ray.init` by the caller) is used as it is."""

    def __init__(self, backend: Backend) -> None:
        self._ray = require_ray()
        self._started = not self._ray.is_initialized()
        if self._started:
            try:
                self._ray.init(**_ray_init_options(backend.ray_address))
            except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
                where = backend.ray_address or "this machine"
                reason = TaskError.of(err).message
                raise InputError(f"cannot start Ray on {where}: {reason}") from None
        self._options = {"num_cpus": backend.cpus_per_task, "num_gpus": backend.gpus_per_task}
        self._pending: dict[Any, int] = {}

    def map(self, fn: Callable, tasks: list, shared: Any) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        remote = ray.remote(fn).options(**self._options)
        shared_ref = ray.put(shared)  # stored once, read by every task
        self._pending = {remote.remote(task, shared_ref): i for i, task in enumerate(tasks)}
        while self._pending:
            [ref], _ = ray.wait(list(self._pending), num_returns=1)
            index = self._pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as err:  # the task raised: its own error
                result = TaskError.of(getattr(err, "cause", None) or err)
            except ray.exceptions.RayError as err:  # the worker or its node died
                result = TaskError.of(err)
            yield index, result

    def close(self, interrupted: bool) -> None:
        for ref in self._pending:
            self._ray.cancel(ref, force=True)
        if self._started:
            self._ray.shutdown()


def _ray_init_options(address: str | None) -> dict[str, Any]:
    """Quiet Ray (no dashboard, workers' output not forwarded); a local one sized to this
    machine's cores with a small object store."""
    common = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address:
        return {"address": address, **common}
    return {
        "num_cpus": available_cpus(),
        "object_store_memory": LOCAL_RAY_OBJECT_STORE_BYTES,
        "include_dashboard": False,
        **common,
    }


@contextlib.contextmanager
def _executor(backend: Backend) -> Iterator[Any]:
    if backend.ray:
        pool: Any = _Ray(backend)
    else:
        pool = _Processes(backend.workers) if backend.workers > 1 else _Inline()
    finished = False
    try:
        yield pool
        finished = True
    finally:
        pool.close(interrupted=not finished)


def map_tasks(
    backend: Backend,
    fn: Callable[[Any, Any], Any],
    tasks: list,
    shared: Any = None,
    *,
    sizes: list[int],
    progress: bool = True,
    desc: str = "tasks",
) -> list[Any]:
    """`fn(task, shared)` for every task where `backend` runs them; the results (a `TaskError`
    for a task that raised) in task order. `fn` must be a module-level function (workers
    import it by name). One progress bar: `sizes[i]` frames when task i ends. The largest
    tasks start first, so that a long sequence does not start last and run alone."""
    from tqdm import tqdm

    order = sorted(range(len(tasks)), key=lambda i: -sizes[i])
    results: list[Any] = [None] * len(tasks)
    bar = tqdm(total=sum(sizes), unit="frame", desc=desc, disable=not progress, leave=False)
    with _executor(backend) as pool, bar:
        done = failed = 0
        for position, result in pool.map(fn, [tasks[i] for i in order], shared):
            index = order[position]
            results[index] = result
            done, failed = done + 1, failed + isinstance(result, TaskError)
            bar.update(sizes[index])
            bar.set_postfix_str(
                f"{done}/{len(tasks)} tasks" + (f", {failed} failed" * bool(failed))
            )
    return results


# --------------------------------------------------------------------------------------------
# What travels to a worker
# --------------------------------------------------------------------------------------------


def _absolute(value: Any) -> Any:
    if isinstance(value, Path):
        return value.absolute()
    if isinstance(value, tuple):
        return tuple(_absolute(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _absolute(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Portable:
    """A `sources.Sequence` as pickle can carry it (its `det_paths` is a read-only mapping,
    which pickle refuses), its paths absolute (a worker may run in another folder)."""

    cls: type
    fields: dict[str, Any]

    @classmethod
    def of(cls, source: Any) -> Portable:
        names = [f.name for f in dataclasses.fields(source) if f.init]
        return cls(type(source), {n: _absolute(getattr(source, n)) for n in names})

    def rebuild(self) -> Any:
        return self.cls(**self.fields)


@dataclass(frozen=True)
class _Model:
    """A model file or folder read into memory: its name and each file's bytes by relative
    path ("" for a single file)."""

    name: str
    files: dict[str, bytes]

    @classmethod
    def read(cls, path: Path) -> _Model:
        if path.is_file():
            return cls(path.name, {"": path.read_bytes()})
        files = {str(f.relative_to(path)): f.read_bytes() for f in path.rglob("*") if f.is_file()}
        return cls(path.name, files)

    def write(self, folder: Path) -> Path:
        """The model under `folder`, by its own name (ultralytics reads the format from it)."""
        root = folder / self.name
        for relative, data in self.files.items():
            target = root / relative if relative else root
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return root


@dataclass(frozen=True)
class _Models:
    """A user's models sent to Ray workers, which may not see this machine's files: the
    detector (`--detector PATH`) and the tracker's `weights` option, where set."""

    detector: _Model | None = None
    weights: _Model | None = None

    @classmethod
    def of(cls, config: Any) -> _Models:
        detector = _user_model(config.detector)
        weights = _user_weights(config.tracker_options.get("weights"))
        return cls(
            _Model.read(detector) if detector else None,
            _Model.read(weights) if weights else None,
        )

    def into(self, config: Any, folder: Path) -> Any:
        """`config` with the models written under `folder` and their paths put in."""
        if self.detector is not None:
            config = dataclasses.replace(config, detector=str(self.detector.write(folder)))
        if self.weights is not None:
            options = {**config.tracker_options, "weights": str(self.weights.write(folder))}
            config = dataclasses.replace(config, tracker_options=options)
        return config


def _user_weights(weights: str | None) -> Path | None:
    """The file of the tracker's `weights` option; None when unset or the name of a packaged
    checkpoint (`FDSiamfc_15`), which every worker has with the package."""
    if not weights:
        return None
    from trackers.siammt.backbone import weights_path

    return None if weights_path(weights) != Path(weights) else Path(weights).expanduser()


def _user_model(detector: str) -> Path | None:
    """The model path of `--detector PATH` (`InputError` when missing); None for a name."""
    import detectors
    from detectors.yolo import EMBEDDED_MODELS, resolve_model
    from mot_pipeline.config import NO_DETECTOR

    if detector in detectors.REGISTRY or detector in EMBEDDED_MODELS or detector == NO_DETECTOR:
        return None
    return resolve_model(detector)


# --------------------------------------------------------------------------------------------
# mot-run's tasks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceTask:
    """One sequence, or frames `span` of it, with `runner.run`'s settings for it. `folder`:
    where the worker leaves its files (this machine); None: it returns their bytes (Ray)."""

    source: Portable
    span: tuple[int, int] | None
    config: Any
    threads: int
    save_video: bool
    folder: str | None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskOutput:
    """What a task's `runner.run` reported, the files it wrote (names, or names and bytes),
    and what it logged and warned, for the parent to pass on."""

    runs: list[Any]
    failures: list[Any]
    files: dict[str, bytes | None]
    log: list[str]
    warnings: list[str]


def run_sequence_task(task: SequenceTask, models: _Models | None) -> TaskOutput:
    """A worker's side: `runner.run` on the one sequence (or chunk), evaluation and the
    run-level files left to the parent."""
    from mot_pipeline import runner
    from mot_pipeline.chunks import frame_range

    lines: list[str] = []
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mot-task-") as scratch:
        work = Path(scratch)
        config = models.into(task.config, work / "models") if models else task.config
        source = task.source.rebuild()
        if task.span is not None:
            source = frame_range(source, *task.span, det_dir=work / "det")
        output = Path(task.folder) if task.folder else work / "out"
        report = runner.run(
            [source],
            output,
            config,
            evaluate=False,
            save_video=task.save_video,
            threads=task.threads,
            progress=False,
            log=lines.append,
            warn=warnings.append,
            **task.options,
        )
        products = {runner.METRICS_FILE, runner.SUBMISSION_FILE, runner.FAILURES_FILE}
        written = [p for p in sorted(output.iterdir()) if p.is_file() and p.name not in products]
        files = {p.name: None if task.folder else p.read_bytes() for p in written}
    return TaskOutput(report.runs, report.failures, files, lines, warnings)


class SequenceTasks:
    """`runner.run(scale=...)`: every sequence (or chunk) a task; the parent's share of the
    run. Built before any work, so that a missing Ray, a missing model or settings that cannot
    go together fail up front."""

    def __init__(
        self,
        scale: ScaleOut,
        config: Any,
        threads: int | None = None,
        log: Callable[[str], None] = print,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        backend = scale.backend
        if backend.ray:
            require_ray()
        self.options = {k: v for k, v in (options or {}).items() if v is not None}
        if scale.chunks is not None and self.options:
            raise InputError(f"--chunk-frames cannot be combined with --{next(iter(self.options))}")
        _user_model(config.detector)  # a missing model fails now, not in every task
        self.models = _Models.of(config) if backend.ray else None
        # The parent checked the frames (`check_frames`) already; the tasks need not again.
        frames = dataclasses.replace(config.input, check_frames="none")
        self.config = dataclasses.replace(config, input=frames)
        self.scale, self.threads, self.log = scale, backend.threads_per_task(threads), log

    def run(
        self,
        sources: list[Any],
        inputs: Any,
        stage: Any,
        report: Any,
        save_video: bool,
        progress: bool,
        warn: Callable[[str], None] | None,
    ) -> None:
        """Run every source as one or more tasks and put their files, runs and failures into
        `stage` and `report` in the sources' order, as the sequential loop does."""
        if self.scale.chunks is not None and save_video:
            raise InputError("--save-video cannot be combined with --chunk-frames")
        plans = [self._spans(s) for s in sources]
        tasks, owners = [], []
        for index, (source, spans) in enumerate(zip(sources, plans, strict=True)):
            portable = Portable.of(source)
            for span in spans:
                folder = None
                if not self.scale.backend.ray:  # this machine: files stay on its disk
                    folder = str(stage.root / f"{TASK_FOLDER_PREFIX}{len(tasks)}")
                task = SequenceTask(
                    portable, span, self.config, self.threads, save_video, folder, self.options
                )
                tasks.append(task)
                owners.append(index)
        sizes = [
            (t.span[1] - t.span[0]) if t.span else max(sources[o].length, 0)
            for t, o in zip(tasks, owners, strict=True)
        ]
        try:
            results = map_tasks(
                self.scale.backend,
                run_sequence_task,
                tasks,
                self.models,
                sizes=sizes,
                progress=progress,
                desc="sequences",
            )
            for index, source in enumerate(sources):
                mine = [
                    (t, r) for t, r, o in zip(tasks, results, owners, strict=True) if o == index
                ]
                if plans[index] == [None]:
                    _collect(source, *mine[0], stage, report)
                else:
                    self._stitch(source, mine, stage, report, warn)
        finally:
            for task in tasks:
                if task.folder:
                    shutil.rmtree(task.folder, ignore_errors=True)
        self._pass_on(results, warn)

    def _spans(self, source: Any) -> list[tuple[int, int] | None]:
        from mot_pipeline.chunks import plan

        chunks = self.scale.chunks
        if chunks is None or 0 <= source.length <= chunks.frames:
            return [None]
        return list(plan(source.length, chunks, self.config.pipeline.detect_every))

    def _stitch(self, source: Any, parts: list, stage: Any, report: Any, warn: Any) -> None:
        """One sequence from its chunks: its track files stitched (`_stitch_files`), each run's
        times summed and its tracks stitched; any failed chunk fails the sequence."""
        from mot_pipeline import runner
        from mot_pipeline.pipeline import Timing

        errors = [r.message for _, r in parts if isinstance(r, TaskError)]
        errors += [f.error for _, r in parts if isinstance(r, TaskOutput) for f in r.failures]
        if errors:
            report.failures.append(runner.SequenceFailure("/".join(source.aliases), errors[0]))
            return
        spans = [t.span for t, _ in parts]
        stitchings = self._stitch_files(parts, spans, stage, warn)
        for k, first in enumerate(parts[0][1].runs):
            runs = [output.runs[k] for _, output in parts]
            timing = Timing(
                detect_s=sum(r.timing.detect_s for r in runs),
                track_s=sum(r.timing.track_s for r in runs),
                frames=spans[-1][0] + runs[-1].frames,  # each frame once
            )
            paths = [stage.folder / p.name for p in first.result_paths]
            other = [stage.folder / p.name for p in first.other_paths]
            stitching = stitchings.get(paths[0].stem) if paths else None
            parts_rows = [r.tracks for r in runs]
            tracks = None
            if stitching is not None and all(rows is not None for rows in parts_rows):
                tracks = stitching.tracks(parts_rows)
            wall_s = sum(r.wall_s for r in runs)
            report.runs.append(
                runner.SequenceRun(
                    first.name, paths, timing, wall_s, source.gt_path, tracks, first.classes, other
                )
            )

    def _stitch_files(self, parts: list, spans: list, stage: Any, warn: Any) -> dict[str, Any]:
        """Each track file of the sequence stitched, the files of one name (alias) with one set
        of ids (`chunks.stitch_files`); their `chunks.Stitching` by name."""
        from mot_pipeline.chunks import stitch_files
        from mot_pipeline.exports import SUFFIXES

        format_of = {suffix: fmt for fmt, suffix in SUFFIXES.items()}
        names: dict[str, dict[str, str]] = {}  # stem -> format -> file name
        for name in parts[0][1].files:
            path = Path(name)
            if path.suffix not in format_of:
                (warn or stderr_warning)(f"{name}: not a track file, so not stitched")
                continue
            names.setdefault(path.stem, {})[format_of[path.suffix]] = name
        stitchings: dict[str, Any] = {}
        for stem, files in names.items():
            texts = {
                fmt: [_read(*part, name).decode() for part in parts] for fmt, name in files.items()
            }
            stitched, stitchings[stem] = stitch_files(texts, spans, self.scale.chunks.min_iou)
            for fmt, name in files.items():
                stage.path(name).write_text(stitched[fmt])
        return stitchings

    def _pass_on(self, results: list, warn: Callable[[str], None] | None) -> None:
        """The tasks' log lines (each once: every task says which tracker it built) and their
        warnings, in the sources' order."""
        outputs = [r for r in results if isinstance(r, TaskOutput)]
        for line in dict.fromkeys(line for o in outputs for line in o.log):
            self.log(line)
        for message in (m for o in outputs for m in o.warnings):
            (warn or stderr_warning)(message)


def _read(task: SequenceTask, output: TaskOutput, name: str) -> bytes:
    data = output.files[name]
    return data if data is not None else (Path(task.folder or "") / name).read_bytes()


def _collect(source: Any, task: SequenceTask, result: Any, stage: Any, report: Any) -> None:
    """A whole sequence's task: its files into the staging folder, its runs (paths as the
    sequential run reports them) and failures into the report."""
    from mot_pipeline import runner

    if isinstance(result, TaskError):
        report.failures.append(runner.SequenceFailure("/".join(source.aliases), result.message))
        return
    for name, data in result.files.items():
        if data is None:
            os.replace(Path(task.folder or "") / name, stage.path(name))
        else:
            stage.path(name).write_bytes(data)
    for run in result.runs:  # the paths as this process names them (the task's are absolute)
        paths = [stage.folder / p.name for p in run.result_paths]
        other = [stage.folder / p.name for p in run.other_paths]
        report.runs.append(
            dataclasses.replace(run, result_paths=paths, other_paths=other, gt_path=source.gt_path)
        )
    report.failures.extend(result.failures)
