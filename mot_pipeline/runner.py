"""`mot-run` as a Python API: sequences in, MOTChallenge result files and metrics out.

The CLI only parses arguments and calls `run`; everything it can do is available here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detectors import Detector
from mot_pipeline import classes, evaluation, exports, motchallenge
from mot_pipeline.classes import PUBLIC
from mot_pipeline.config import NO_DETECTOR, RunConfig, tracker_config
from mot_pipeline.errors import InputError
from mot_pipeline.fileio import atomic_write_text, check_output_dir
from mot_pipeline.outputs import Staging, check_not_inputs
from mot_pipeline.pipeline import Pipeline, Timing, rate
from mot_pipeline.sources import UNKNOWN_LENGTH, open_sources
from mot_pipeline.sources import Sequence as FrameSource
from trackers import Describe, create

if TYPE_CHECKING:
    from mot_pipeline.scaleout import ScaleOut

METRICS_FILE = "metrics.json"
SUBMISSION_FILE = "submission.zip"
FAILURES_FILE = "failures.txt"


@dataclass
class SequenceRun:
    """One processed sequence: its result files, the pipeline's timing, and the wall time
    (seconds) including decoding and writing."""

    name: str
    result_paths: list[Path]
    timing: Timing
    wall_s: float
    gt_path: Path | None
    # Every track of every class (per-class scores), and the classes the run kept (id -> name).
    tracks: exports.TrackRows | None = None
    classes: dict[int, str] = field(default_factory=dict)
    # The other track files written (`--format csv/jsonl`), for the report.
    other_paths: list[Path] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return self.timing.frames

    @property
    def fps(self) -> float:
        return self.timing.fps

    @property
    def fps_e2e(self) -> float:
        return rate(self.frames, self.wall_s)


@dataclass(frozen=True)
class SequenceFailure:
    """A sequence that could not be processed (e.g. a corrupt frame): the one-line reason."""

    name: str
    error: str


@dataclass
class RunReport:
    runs: list[SequenceRun] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    metrics_path: Path | None = None
    zip_path: Path | None = None
    failures: list[SequenceFailure] = field(default_factory=list)
    failures_path: Path | None = None


@dataclass(frozen=True)
class _Inputs:
    """What the validation pass read: ground truth by gt path, public detections by alias,
    and the boxes to follow without a detector (`read_target_boxes`' by frame; `--init`)."""

    ground_truth: dict[Path, Any]
    detections: dict[str, dict[int, Any]]
    targets: dict[int, Any] | None = None


def make_detector(
    config: RunConfig,
    source: FrameSource | None = None,
    alias: str | None = None,
    by_frame: dict[int, Any] | None = None,
) -> Detector | None:
    """The configured detector (`detectors.create`), None for detector none; public detections
    need the sequence (and its MOT17 alias), whose det.txt the engine reads (unless already
    read: `by_frame`)."""
    import detectors

    if config.detector == NO_DETECTOR:
        return None
    if config.detector != PUBLIC:
        return detectors.create(config.detector, config.yolo)
    if by_frame is None:
        if source is None:
            raise InputError("public detections need a MOTChallenge sequence")
        by_frame = _public_detections(source, alias or source.aliases[0])
    return detectors.create(PUBLIC, config.public, by_frame=by_frame)


def _public_detections(source: FrameSource, alias: str) -> dict[int, Any]:
    """The det.txt rows of `alias` by frame (`InputError` when the sequence has none)."""
    det_path = source.det_path_for(alias)
    if det_path is None:
        raise InputError("no det/det.txt for public detections", source.path)
    return motchallenge.read_detections(det_path, source.length)


def check_device(device: str) -> None:
    """Refuse a torch device that does not parse or is not on this machine (`InputError`)."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"unknown device {device!r} (e.g. cpu, cuda, cuda:1)") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device {device!r}: CUDA is not available on this machine")
        if parsed.index is not None and parsed.index >= count:
            raise InputError(f"device {device!r}: this machine has {count} CUDA device(s)")
    elif parsed.type != "cpu":
        try:
            torch.empty(0, device=parsed)
        except (RuntimeError, AssertionError, NotImplementedError):
            raise InputError(f"device {device!r} is not available on this machine") from None


def run(
    paths: Sequence[str | Path],
    output: str | Path,
    config: RunConfig,
    *,
    evaluate: bool | None = None,
    save_video: bool = False,
    make_zip: bool = False,
    overwrite: bool = False,
    threads: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    warn: Callable[[str], None] | None = None,
    protect: Sequence[str | Path] = (),
    init: str | Path | None = None,
    scale: ScaleOut | None = None,
) -> RunReport:
    """Track every sequence under `paths`, write `output/<name>.txt` for each, and score them
    against their ground truth when it exists (`evaluate=None`) or when asked to. With
    `config.detector` none, `init` (one input only) lists the boxes to follow
    (`motchallenge.read_target_boxes`, `targets.py`).

    Every input is checked before any work (`_validate`); a sequence that fails while it runs
    (a corrupt frame) is listed in `report.failures` and `failures.txt` and the others go on.
    Files appear in `output` only once the run ends (`outputs.Staging`). `protect` names more
    input files (the config file) that no output may replace. `scale` runs the sequences as
    parallel tasks (`scaleout.py`: `--workers`, `--ray`, `--chunk-frames`); `paths` may also
    hold opened sequences (`sources.Sequence`).
    """
    output = check_output_dir(output)
    sources = [s for p in paths for s in _opened(p, config.frame_rate)]
    given = _given_targets(sources, config, init)
    classes.check(config)  # a class the detector does not have, before any work
    config = _with_formats(config)
    targets = _targets(sources, output, save_video, config.output.formats)
    scored = bool(evaluate) or (evaluate is None and any(s.gt_path for s in sources))
    products = _products(output, make_zip, scored)
    _check_targets(targets, output, overwrite, [*products, output / FAILURES_FILE])
    inputs_read = [*map(Path, protect), *_input_files(sources), *([Path(init)] if init else [])]
    check_not_inputs([*targets, *products], inputs_read)
    if evaluate and not any(s.gt_path for s in sources):
        raise InputError("no ground truth (gt/gt.txt) to evaluate against", paths[0])
    inputs = replace(_validate(sources, config, evaluate is not False), targets=given)
    if scale is None:
        run_sources = _in_this_process(config, threads, log)
    else:  # every sequence a task of its own, which builds its models (scaleout.py)
        from mot_pipeline.scaleout import SequenceTasks

        run_sources = SequenceTasks(scale, config, threads, log, {"init": init}).run
    report = RunReport()
    with Staging(output) as stage:
        run_sources(sources, inputs, stage, report, save_video, progress, warn)
        if evaluate is not False:
            _evaluate(report, inputs.ground_truth, stage, required=bool(evaluate))
        _write_zip_and_failures(report, stage, make_zip)
        # An older run's files that this one does not write again go: no folder mixes runs.
        products_any_run = [output / n for n in (METRICS_FILE, SUBMISSION_FILE, FAILURES_FILE)]
        products_any_run += [
            output / n
            for s in sources
            for a in s.aliases
            for n in exports.file_names(a, exports.SUFFIXES)
        ]
        stage.publish([*targets, *products_any_run] if overwrite else [])
    if report.metrics is not None:
        log(evaluation.format_table(report.metrics))
    return report


def _in_this_process(
    config: RunConfig, threads: int | None, log: Callable[[str], None]
) -> Callable[..., None]:
    """Build the models once, then set the thread count (loading YOLO resets it), and return
    the loop that runs every sequence with them, one after the other."""
    from mot_pipeline.threads import set_threads

    tracker = create(config.tracker, tracker_config(config))
    if isinstance(tracker, Describe):  # e.g. the backbone SiamMT's auto settings chose
        log(f"tracker: {tracker.describe()}")
    shared_detector = None if config.detector == PUBLIC else make_detector(config)
    set_threads(threads)  # after the models: loading YOLO resets torch's thread count

    def run_sources(sources, inputs, stage, report, save_video, progress, warn) -> None:
        for source in sources:
            _run_source(
                source,
                shared_detector,
                tracker,
                config,
                inputs,
                stage,
                report,
                save_video,
                progress,
                warn,
            )

    return run_sources


def _write_zip_and_failures(report: RunReport, stage: Staging, make_zip: bool) -> None:
    if make_zip:
        files = [stage.path(p.name) for r in report.runs for p in r.result_paths]
        motchallenge.write_submission_zip(files, stage.path(SUBMISSION_FILE))
        report.zip_path = stage.folder / SUBMISSION_FILE
    if report.failures:
        lines = "".join(f"{f.name}\t{f.error}\n" for f in report.failures)
        atomic_write_text(stage.path(FAILURES_FILE), lines)
        report.failures_path = stage.folder / FAILURES_FILE


def _with_formats(config: RunConfig) -> RunConfig:
    """`config` with the run's track file formats settled (`exports.formats`), once: the
    default depends on the detector's classes, read from its files (`classes.only_person`);
    every sequence (and scale-out task) then takes `config.output.formats` as it is."""
    chosen = exports.formats(config.output, classes.only_person(config))
    return replace(config, output=replace(config.output, formats=chosen))


def _targets(
    sources: list[FrameSource], output: Path, save_video: bool, formats: Sequence[str]
) -> list[Path]:
    targets = [output / f"{alias}.txt" for s in sources for alias in s.aliases]
    extra = [f for f in formats if f != exports.MOT]
    targets += [
        output / n for s in sources for a in s.aliases for n in exports.file_names(a, extra)
    ]
    if save_video:
        targets += [output / f"{s.aliases[0]}.mp4" for s in sources]
    return targets


def _products(output: Path, make_zip: bool, scored: bool) -> list[Path]:
    """The run's files besides per-sequence ones: metrics.json only when it will be written
    (a video without ground truth does not refuse another run's metrics.json)."""
    extra = [output / SUBMISSION_FILE] if make_zip else []
    return extra + ([output / METRICS_FILE] if scored else [])


def _opened(path: str | Path | FrameSource, frame_rate: float | None) -> list[FrameSource]:
    """The sequences under `path`; an opened sequence is taken as it is (a scale-out task's)."""
    return [path] if isinstance(path, FrameSource) else open_sources(path, frame_rate=frame_rate)


def _input_files(sources: list[FrameSource]) -> list[Path]:
    """Every file the run reads (outputs must not replace any of them)."""
    files: list[Path] = []
    for s in sources:
        files += [s.path, s.path / "seqinfo.ini", *s.image_paths, *s.det_paths.values()]
        files += [s.gt_path]
    return [f for f in files if f is not None]


def _validate(sources: list[FrameSource], config: RunConfig, with_gt: bool) -> _Inputs:
    """One pass over every input before any work, so that bad input fails in seconds and
    leaves nothing behind: devices, frames (`config.input.check_frames`), public detections,
    and ground truth against the sequence's length."""
    for device in {config.yolo.device, config.tracker_options.get("device")} - {None}:
        check_device(str(device))
    ground_truth: dict[Path, Any] = {}
    detections: dict[str, dict[int, Any]] = {}
    for s in sources:
        s.check(config.input.check_frames)
        if config.detector == PUBLIC:
            for alias in s.aliases:
                detections[alias] = _public_detections(s, alias)
        if with_gt and s.gt_path is not None:
            gt = motchallenge.read_mot_file(s.gt_path, "gt")
            if s.length != UNKNOWN_LENGTH and gt.num_frames > s.length:
                raise InputError(
                    f"has rows for frame {gt.num_frames} but the sequence has {s.length} "
                    "frames (seqLength in seqinfo.ini)",
                    s.gt_path,
                )
            ground_truth[s.gt_path] = gt
    return _Inputs(ground_truth, detections)


def _given_targets(
    sources: list[FrameSource], config: RunConfig, init: str | Path | None
) -> dict[int, Any] | None:
    """The boxes to follow by 0-based frame (detector none), read from `init`; `InputError`
    unless detector none and `init` come together, for one input."""
    if config.detector != NO_DETECTOR:
        if init is not None:
            raise InputError(
                f"--init {init}: boxes to follow are for --detector {NO_DETECTOR} "
                f"(not {config.detector})"
            )
        return None
    if init is None:
        raise InputError(f"--detector {NO_DETECTOR} needs the boxes to follow: --init FILE")
    if not classes.only_person(config):  # the default selection (or person) says nothing
        raise InputError(
            f"--classes / yolo.classes select a detector's classes; --detector {NO_DETECTOR} "
            "has none (given boxes have no class)"
        )
    if len(sources) != 1:
        names = ", ".join(s.name for s in sources[:3]) + (", ..." if len(sources) > 3 else "")
        raise InputError(
            f"--init gives boxes for one sequence or video, got {len(sources)} ({names})"
        )
    length = sources[0].length
    return motchallenge.read_target_boxes(init, None if length == UNKNOWN_LENGTH else length)


def _check_targets(targets, output, overwrite, products) -> None:
    """Refuse up front, before any work, to replace results without `overwrite`."""
    names = [t.name for t in targets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"two inputs would both write {', '.join(dup)}", output)
    for t in [*targets, *products]:
        if t.is_dir():
            raise InputError("is a directory", t)
        if (t.exists() or t.is_symlink()) and not overwrite:
            raise InputError("exists; pass --overwrite", t)


def _run_source(
    source, shared_detector, tracker, config, inputs, stage, report, save_video, progress, warn
) -> None:
    """Run one sequence (each alias group of it); a failure is recorded and the run goes on."""
    # Public detections differ per MOT17 alias, so each alias is a run of its own; an
    # image detector sees identical images, so one run serves all aliases.
    groups = [[a] for a in source.aliases] if config.detector == PUBLIC else [source.aliases]
    for aliases in groups:
        try:
            detector = shared_detector or make_detector(
                config, source, aliases[0], inputs.detections.get(aliases[0])
            )
            report.runs.append(
                _run_one(
                    source,
                    aliases,
                    detector,
                    tracker,
                    config,
                    stage,
                    save_video,
                    progress,
                    warn,
                    inputs.targets,
                )
            )
        except InputError as err:
            for alias in aliases:  # nothing of it is kept
                for suffix in (*exports.SUFFIXES.values(), ".mp4"):
                    stage.path(f"{alias}{suffix}").unlink(missing_ok=True)
            report.failures.append(SequenceFailure("/".join(aliases), str(err)))


def _run_one(
    source, aliases, detector, tracker, config, stage, save_video, progress, warn, targets=None
) -> SequenceRun:
    from tqdm import tqdm

    start = time.perf_counter()
    pipeline = Pipeline(detector, tracker, config.pipeline, frame_rate=source.frame_rate)
    for frame_index, (ids, boxes) in (targets or {}).items():  # detector none: `--init`
        pipeline.add_targets(boxes, ids, frame_index)
    paths = [stage.path(f"{a}.txt") for a in aliases]
    total = source.length if source.length > 0 else None
    names = getattr(detector, "names", None)  # class id -> name (None: no detector)
    keep = classes.benchmark_classes(names)
    # Both writers publish their files only if the block ends without an exception.
    with contextlib.ExitStack() as stack:
        formats = config.output.formats
        writer = exports.TrackWriter(stage.root, aliases, formats, names or {}, keep)
        stack.enter_context(writer)
        video = None
        if save_video:
            from mot_pipeline.render import TrackRenderer, VideoWriter

            video_path = stage.path(f"{aliases[0]}.mp4")
            renderer = TrackRenderer(names=names)
            video = stack.enter_context(
                VideoWriter(video_path, source.frame_rate, renderer=renderer)
            )
        skip_bad = config.input.on_bad_frame == "skip"
        frames = tqdm(
            source.frames(skip_bad=skip_bad, warn=warn),
            total=total,
            desc=aliases[0],
            unit="frame",
            disable=not progress,
            leave=False,
        )
        held: dict[int, np.ndarray] = {}  # frames awaiting their (lagged) result, for video

        def emit(results) -> None:
            for result in results:
                writer.add(result)
                if video is not None:
                    video.write(held.pop(result.frame_index), result.tracks, result.frame_index)

        for index, frame in frames:
            if video is not None:
                held[index] = frame
            emit(pipeline.push(frame))
        emit(pipeline.flush())
    wall = time.perf_counter() - start
    name = aliases[0] if len(aliases) == 1 else source.name
    final = [stage.folder / p.name for p in paths]
    tracked = classes.selected(config, names)
    others = [f for f in config.output.formats if f != exports.MOT]
    other = [stage.folder / n for a in aliases for n in exports.file_names(a, others)]
    return SequenceRun(
        name, final, pipeline.timing, wall, source.gt_path, writer.rows, tracked, other
    )


def _per_class(pairs: list[tuple], run_of: dict[str, SequenceRun]) -> dict[str, Any]:
    """Scores per class (`evaluation.evaluate_per_class`) where a run kept several classes:
    its tracks of every class against the gt classes (sequences whose gt has them)."""
    several = [(n, gt, run_of[n], info) for n, gt, _, info in pairs if len(run_of[n].classes) > 1]
    tracked = {c: name for _, _, r, _ in several for c, name in r.classes.items()}
    rows = [(n, gt, r.tracks.mot_rows(), info) for n, gt, r, info in several if r.tracks]
    return evaluation.evaluate_per_class(rows, tracked) if rows else {}


def _evaluate(
    report: RunReport, ground_truth: dict[Path, Any], stage: Staging, required: bool
) -> None:
    """Score the runs that have ground truth (`ground_truth`: gt rows by gt path)."""
    scored = [r for r in report.runs if r.gt_path is not None]
    pairs, run_of = [], {}
    for r in scored:
        gt = ground_truth[r.gt_path]
        for p in r.result_paths:
            # Only the length matters to scoring: frames without any row count too.
            info = motchallenge.SequenceInfo(p.stem, 1.0, r.frames, 0, 0)
            result = motchallenge.read_mot_file(stage.path(p.name), "result")
            pairs.append((p.stem, gt, result, info))
            run_of[p.stem] = r
    if not pairs:
        if required and not report.failures:
            raise InputError("no ground truth (gt/gt.txt) to evaluate against", stage.folder)
        return
    metrics = evaluation.evaluate(pairs)
    for name, m in metrics["sequences"].items():
        m["fps"], m["fps_e2e"] = run_of[name].fps, run_of[name].fps_e2e
    frames = sum(r.frames for r in scored)
    busy_s = sum(r.timing.detect_s + r.timing.track_s for r in scored)
    metrics["overall"]["fps"] = rate(frames, busy_s)
    metrics["overall"]["fps_e2e"] = rate(frames, sum(r.wall_s for r in scored))
    if report.failures:  # the overall scores leave these out
        metrics["failed"] = {f.name: f.error for f in report.failures}
    per_class = _per_class(pairs, run_of)
    if per_class:
        metrics["per_class"] = per_class
    report.metrics = metrics
    evaluation.write_metrics_json(metrics, stage.path(METRICS_FILE))
    report.metrics_path = stage.folder / METRICS_FILE
