"""`mot-run`: track MOTChallenge sequences, videos or image folders; write results and metrics."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mot_pipeline.config import DEFAULT_DETECTOR, load_config, with_device
from mot_pipeline.errors import InputError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


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
        metavar="{yolo11n,yolov8n,public,MODEL_PATH}",
        help=f"embedded YOLO name, 'public' for det/det.txt, or an ultralytics model "
        f"path (default {DEFAULT_DETECTOR})",
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from mot_pipeline import runner

        if args.threads is not None and args.threads < 1:
            raise InputError(f"--threads must be >= 1, got {args.threads}")
        pipeline = {"detect_every": args.detect_every, "lag": args.lag}
        config = load_config(
            args.config,
            tracker=args.tracker,
            detector=args.detector,
            frame_rate=args.frame_rate,
            yolo={} if args.conf is None else {"conf": args.conf},
            pipeline={k: v for k, v in pipeline.items() if v is not None},
        )
        if args.device is not None:
            config = with_device(config, args.device)
        report = runner.run(
            args.paths,
            args.output,
            config,
            evaluate=args.evaluate,
            save_video=args.save_video,
            make_zip=args.zip,
            overwrite=args.overwrite,
            threads=args.threads,
            progress=not args.quiet,
            log=(lambda _: None) if args.quiet else print,
        )
    except InputError as err:
        print(f"mot-run: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mot-run: interrupted; no partial result files were written", file=sys.stderr)
        return EXIT_INTERRUPTED
    for r in report.runs:
        written = ", ".join(str(p) for p in r.result_paths)
        print(
            f"{r.name}: {r.frames} frames, {r.fps:.1f} fps "
            f"({r.fps_e2e:.1f} end to end) -> {written}"
        )
    if report.metrics_path:
        print(f"metrics: {report.metrics_path}")
    if report.zip_path:
        print(f"submission: {report.zip_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
