"""`mot-run` as a Python API: sequences in, MOTChallenge result files and metrics out.

The CLI only parses arguments and calls `run`; everything it can do is available here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors import Detector
from mot_pipeline import motchallenge
from mot_pipeline.config import RunConfig, tracker_config
from mot_pipeline.errors import InputError
from mot_pipeline.fileio import check_output_dir
from mot_pipeline.pipeline import Pipeline, Timing, rate
from mot_pipeline.sources import Sequence as FrameSource
from mot_pipeline.sources import open_sources
from trackers import create

PUBLIC = "public"
METRICS_FILE = "metrics.json"
SUBMISSION_FILE = "submission.zip"


@dataclass
class SequenceRun:
    """One processed sequence: its result files, the pipeline's timing, and the wall time
    (seconds) including decoding and writing."""

    name: str
    result_paths: list[Path]
    timing: Timing
    wall_s: float
    gt_path: Path | None

    @property
    def frames(self) -> int:
        return self.timing.frames

    @property
    def fps(self) -> float:
        return self.timing.fps

    @property
    def fps_e2e(self) -> float:
        return rate(self.frames, self.wall_s)


@dataclass
class RunReport:
    runs: list[SequenceRun] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    metrics_path: Path | None = None
    zip_path: Path | None = None


def make_detector(
    config: RunConfig, source: FrameSource | None = None, alias: str | None = None
) -> Detector:
    """The configured detector (`detectors.create`); public detections need the sequence (and
    its MOT17 alias), whose det.txt the engine reads."""
    import detectors

    if config.detector != PUBLIC:
        return detectors.create(config.detector, config.yolo)
    if source is None:
        raise InputError("public detections need a MOTChallenge sequence")
    det_path = source.det_path_for(alias or source.aliases[0])
    if det_path is None:
        raise InputError("no det/det.txt for public detections", source.path)
    by_frame = motchallenge.read_detections(det_path, source.length)
    return detectors.create(PUBLIC, config.public, by_frame=by_frame)


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
) -> RunReport:
    """Track every sequence under `paths`, write `output/<name>.txt` for each, and score them
    against their ground truth when it exists (`evaluate=None`) or when asked to."""
    from mot_pipeline.threads import set_threads

    output = check_output_dir(output)
    sources = [s for p in paths for s in open_sources(p, frame_rate=config.frame_rate)]
    targets = [output / f"{alias}.txt" for s in sources for alias in s.aliases]
    if save_video:
        targets += [output / f"{s.aliases[0]}.mp4" for s in sources]
    _check_targets(targets, output, overwrite, make_zip, evaluate)
    if evaluate and not any(s.gt_path for s in sources):
        raise InputError("no ground truth (gt/gt.txt) to evaluate against", paths[0])
    # Ground truth is read before any tracking, so a malformed gt.txt fails in seconds and
    # leaves no result files behind, not after the whole sequence has run.
    ground_truth = {}
    if evaluate is not False:
        ground_truth = {
            s.gt_path: motchallenge.read_mot_file(s.gt_path, "gt") for s in sources if s.gt_path
        }
    tracker = create(config.tracker, tracker_config(config))
    shared_detector = None if config.detector == PUBLIC else make_detector(config)
    set_threads(threads)  # after the models: loading YOLO resets torch's thread count
    report = RunReport()
    for source in sources:
        # Public detections differ per MOT17 alias, so each alias is a run of its own; an
        # image detector sees identical images, so one run serves all aliases.
        groups = [[a] for a in source.aliases] if shared_detector is None else [source.aliases]
        for aliases in groups:
            detector = shared_detector or make_detector(config, source, aliases[0])
            report.runs.append(
                _run_one(
                    source,
                    aliases,
                    detector,
                    tracker,
                    config,
                    output,
                    save_video,
                    overwrite,
                    progress,
                )
            )
    if evaluate is not False:
        _evaluate(report, ground_truth, output, required=bool(evaluate), log=log)
    if make_zip:
        files = [p for r in report.runs for p in r.result_paths]
        report.zip_path = motchallenge.write_submission_zip(
            files, output / SUBMISSION_FILE, overwrite=overwrite
        )
    return report


def _check_targets(targets, output, overwrite, make_zip, evaluate) -> None:
    """Refuse up front, before any work, to replace results without `overwrite`."""
    names = [t.name for t in targets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"two inputs would both write {', '.join(dup)}", output)
    extra = [output / SUBMISSION_FILE] if make_zip else []
    extra += [output / METRICS_FILE] if evaluate is not False else []
    for t in [*targets, *extra]:
        if t.exists() and not overwrite:
            raise InputError("exists; pass --overwrite", t)


def _run_one(
    source, aliases, detector, tracker, config, output, save_video, overwrite, progress
) -> SequenceRun:
    from tqdm import tqdm

    start = time.perf_counter()
    pipeline = Pipeline(detector, tracker, config.pipeline, frame_rate=source.frame_rate)
    paths = [output / f"{a}.txt" for a in aliases]
    total = source.length if source.length > 0 else None
    # Both writers publish their file only if the block ends without an exception.
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(motchallenge.ResultWriter(paths, overwrite=overwrite))
        video = None
        if save_video:
            from mot_pipeline.render import VideoWriter

            video = stack.enter_context(
                VideoWriter(output / f"{aliases[0]}.mp4", source.frame_rate, overwrite=overwrite)
            )
        frames = tqdm(
            source.frames(),
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
    return SequenceRun(name, paths, pipeline.timing, wall, source.gt_path)


def _evaluate(
    report: RunReport, ground_truth: dict[Path, Any], output: Path, required: bool, log
) -> None:
    """Score the runs that have ground truth (`ground_truth`: gt rows by gt path)."""
    from mot_pipeline import evaluation

    scored = [r for r in report.runs if r.gt_path is not None]
    pairs, run_of = [], {}
    for r in scored:
        gt = ground_truth[r.gt_path]
        for p in r.result_paths:
            # Only the length matters to scoring: frames without any row count too.
            info = motchallenge.SequenceInfo(p.stem, 1.0, r.frames, 0, 0)
            pairs.append((p.stem, gt, motchallenge.read_mot_file(p, "result"), info))
            run_of[p.stem] = r
    if not pairs:
        if required:
            raise InputError("no ground truth (gt/gt.txt) to evaluate against", output)
        return
    metrics = evaluation.evaluate(pairs)
    for name, m in metrics["sequences"].items():
        m["fps"], m["fps_e2e"] = run_of[name].fps, run_of[name].fps_e2e
    frames = sum(r.frames for r in scored)
    busy_s = sum(r.timing.detect_s + r.timing.track_s for r in scored)
    metrics["overall"]["fps"] = rate(frames, busy_s)
    metrics["overall"]["fps_e2e"] = rate(frames, sum(r.wall_s for r in scored))
    report.metrics = metrics
    # Existing metrics were refused up front unless --overwrite.
    report.metrics_path = evaluation.write_metrics_json(metrics, output / METRICS_FILE)
    log(evaluation.format_table(metrics))
