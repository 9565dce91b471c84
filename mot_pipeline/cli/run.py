"""`mot-run`: track MOTChallenge sequences, videos or image folders; write results and metrics."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import typing
from collections.abc import Iterator, Sequence
from types import FrameType

from mot_pipeline.cli import scale
from mot_pipeline.config import (
    DEFAULT_DETECTOR,
    NO_DETECTOR,
    InputConfig,
    load_config,
    with_device,
)
from mot_pipeline.errors import InputError
from mot_pipeline.exports import SUFFIXES
from mot_pipeline.threads import short_openmp_spin

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs (nothing half-written)."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises `Terminated` inside the block (main thread only; restored after)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parser() -> argparse.ArgumentParser:
    from trackers import REGISTRY

    p = argparse.ArgumentParser(
        prog="mot-run",
        description="Detect every K-th frame, track every frame, write MOTChallenge results "
        "(and metrics where ground truth exists).",
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="MOTChallenge sequence dir, split dir (e.g. MOT17/train), video file or image folder",
    )
    p.add_argument(
        "--detect-every",
        "-k",
        type=int,
        metavar="K",
        help="run the detector on every K-th frame (default 1, or the config's)",
    )
    p.add_argument(
        "--tracker", choices=sorted(REGISTRY), help="motion estimator between detections"
    )
    p.add_argument(
        "--lag",
        type=int,
        metavar="N",
        help="hold each frame back N frames to revise it with later detections (default: "
        "the detection interval K; 0: online output)",
    )
    p.add_argument(
        "--detector",
        metavar=f"{{yolo11n,yolov8n,public,{NO_DETECTOR},MODEL_PATH}}",
        help=f"embedded YOLO name, 'public' for det/det.txt, an ultralytics model path, or "
        f"'{NO_DETECTOR}' to follow the --init boxes (default {DEFAULT_DETECTOR})",
    )
    p.add_argument(
        "--output",
        "-o",
        default="runs/mot",
        metavar="DIR",
        help="where <sequence>.txt and metrics.json go (default runs/mot)",
    )
    p.add_argument("--config", metavar="YAML", help="a preset (see configs/); flags win")
    p.add_argument(
        "--eval",
        dest="evaluate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="score against gt/gt.txt (default: when it exists)",
    )
    p.add_argument("--save-video", action="store_true", help="write <sequence>.mp4 with tracks")
    p.add_argument("--zip", action="store_true", help="also write submission.zip")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads (default: all cores)")
    p.add_argument(
        "--frame-rate", type=float, metavar="FPS", help="override the source's frame rate"
    )
    p.add_argument("--conf", type=float, help="YOLO confidence threshold")
    p.add_argument("--device", help="torch device for YOLO and the tracker, e.g. cpu, cuda")
    p.add_argument("--overwrite", action="store_true", help="replace existing result files")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or table")
    _add_frame_options(p)
    _add_target_options(p)
    _add_class_options(p)
    scale.add_arguments(p, chunks=True)  # --workers, --ray, --chunk-frames
    return p


def _add_class_options(p: argparse.ArgumentParser) -> None:
    """Which detector classes to track (`yolo.classes`) and the track files (`output.formats`)."""
    p.add_argument(
        "--classes",
        nargs="+",
        metavar="CLASS",
        help="detector classes to track, by name or id (e.g. person bicycle car), or 'all' "
        "(default: person)",
    )
    p.add_argument(
        "--format",
        nargs="+",
        choices=list(SUFFIXES),
        help="track files per sequence: mot (<seq>.txt, always written), csv, jsonl (default: "
        "mot, plus csv when classes other than person are tracked)",
    )


def _add_target_options(p: argparse.ArgumentParser) -> None:
    """Given boxes followed with no detector (`--detector none`; config `pipeline.targets`)."""
    p.add_argument(
        "--init",
        metavar="FILE",
        help="with --detector none: boxes to follow, rows 'frame,id,x,y,w,h' (1-based, as in "
        "MOTChallenge files; more columns ignored, so gt.txt rows work); one input only",
    )
    p.add_argument(
        "--lost-score",
        type=float,
        metavar="S",
        help="a target scored below S is lost, not reported (default: the tracker's report "
        "threshold, siammt 0.9)",
    )
    p.add_argument(
        "--refind",
        action="store_true",
        default=None,
        help="keep following a lost target and report it again when its score is back "
        "(default: a lost target ends)",
    )


def _add_frame_options(p: argparse.ArgumentParser) -> None:
    """How frames are checked up front and what a corrupt one does (config section `input`)."""
    p.add_argument(
        "--check-frames",
        choices=_choices("check_frames"),
        help="frames decoded before any work: first, middle and last of each sequence "
        "(default), all, or none",
    )
    p.add_argument(
        "--on-bad-frame",
        choices=_choices("on_bad_frame"),
        help="a corrupt frame fails its sequence (stop, default) or is skipped with a warning, "
        "the previous frame standing in (skip)",
    )


def _choices(field: str) -> tuple[str, ...]:
    """The values `InputConfig.<field>` allows (its `Literal`): one list for flag and YAML."""
    return typing.get_args(typing.get_type_hints(InputConfig)[field])


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    short_openmp_spin()  # before torch loads
    try:
        with _sigterm_as_interrupt():
            report = _run(args)
    except InputError as err:
        return _error(str(err))
    except KeyboardInterrupt as err:
        print("mot-run: interrupted; no result files were written", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED
    except OSError as err:  # a write error (disk full, permissions): nothing was published
        where = f"{err.filename}: " if err.filename else ""
        return _error(f"{where}cannot write ({err.strerror or err}); no result files were written")
    try:
        _print_report(report)
    except BrokenPipeError:  # stdout closed early (e.g. `| head -1`): the files are written
        _silence_stdout()
    if report.failures:
        first = report.failures[0]
        return _error(
            f"{len(report.failures)} of {len(report.failures) + len(report.runs)} sequence(s) "
            f"failed, listed in {report.failures_path}; the others were written. {first.error}"
        )
    return 0


def _run(args: argparse.Namespace):
    from mot_pipeline import runner

    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    targets = {"lost_score": args.lost_score, "refind": args.refind}
    targets = {k: v for k, v in targets.items() if v is not None}
    pipeline = {"detect_every": args.detect_every, "lag": args.lag, "targets": targets or None}
    frames = {"check_frames": args.check_frames, "on_bad_frame": args.on_bad_frame}
    config = load_config(
        args.config,
        tracker=args.tracker,
        detector=args.detector,
        frame_rate=args.frame_rate,
        yolo={k: v for k, v in (("conf", args.conf), ("classes", args.classes)) if v is not None},
        output={} if args.format is None else {"formats": args.format},
        pipeline={k: v for k, v in pipeline.items() if v is not None},
        input={k: v for k, v in frames.items() if v is not None},
    )
    if args.device is not None:
        config = with_device(config, args.device)
    quiet = args.quiet
    return runner.run(
        args.paths,
        args.output,
        config,
        evaluate=args.evaluate,
        save_video=args.save_video,
        make_zip=args.zip,
        overwrite=args.overwrite,
        threads=args.threads,
        progress=not quiet,
        log=(lambda _: None) if quiet else _print,
        warn=lambda message: print(f"mot-run: warning: {message}", file=sys.stderr),
        protect=[args.config] if args.config else [],
        init=args.init,
        scale=scale.scale_out(args),
    )


def _print(text: str) -> None:
    """`print` that survives a closed stdout: the results matter, not the table."""
    try:
        print(text)
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's own flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _print_report(report) -> None:
    for r in report.runs:
        written = ", ".join(str(p) for p in [*r.result_paths, *r.other_paths])
        print(
            f"{r.name}: {r.frames} frames, {r.fps:.1f} fps "
            f"({r.fps_e2e:.1f} end to end) -> {written}"
        )
    if report.metrics_path:
        print(f"metrics: {report.metrics_path}")
    if report.zip_path:
        print(f"submission: {report.zip_path}")
    sys.stdout.flush()


def _error(message: str) -> int:
    print(f"mot-run: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
