"""`mot-bench`: speed (`speed`), accuracy against detection interval (`accuracy`), the
paper's tracking-quality protocol (`mvot`), the calibration of SiamMT's score (`calibrate`),
and derived test sequences (`variants`). Argument parsing and reporting only; the work is in
`mot_pipeline.bench`."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from mot_pipeline.cli.argtypes import non_negative_int, positive_float, positive_int
from mot_pipeline.errors import InputError
from mot_pipeline.threads import short_openmp_spin

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
PROG = "mot-bench"
DEFAULT_OUTPUT = "runs/bench"


def _output(p: argparse.ArgumentParser, default: str, text: str) -> None:
    p.add_argument("--output", "-o", default=default, metavar="DIR", help=text)


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")


def _common(p: argparse.ArgumentParser, methods: Sequence[str]) -> None:
    """The options every benchmark shares: output, threads, device, quiet, methods."""
    _output(p, DEFAULT_OUTPUT, f"where results go (default {DEFAULT_OUTPUT}); files are replaced")
    p.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="torch/OpenCV threads (default: all cores)",
    )
    p.add_argument("--device", help="torch device for the trackers (and YOLO), e.g. cpu, cuda")
    _quiet(p)
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(methods),
        metavar="M",
        help=f"motion estimators (default {' '.join(methods)})",
    )


def _paths(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help=what)


def _intervals(p: argparse.ArgumentParser, default: Sequence[int], what: str) -> None:
    p.add_argument(
        "--detect-every",
        "-k",
        nargs="+",
        type=positive_int,
        default=list(default),
        metavar="K",
        help=f"{what} (default {' '.join(map(str, default))})",
    )


def _cache(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache", metavar="DIR", help="detection cache (default ~/.cache/mot-pipeline/detections)"
    )


def _timed_detector(p: argparse.ArgumentParser, default: str) -> None:
    """`--detector` (the detector timed beside the trackers) or `--no-detector`."""
    detector = p.add_mutually_exclusive_group()
    detector.add_argument(
        "--detector",
        default=default,
        metavar="{yolo11n,yolov8n,MODEL_PATH}",
        help="the detector timed on the same frames, for the 'x det' column: an embedded "
        "YOLO name or an ultralytics model path, as for mot-run "
        f"(default {default})",
    )
    detector.add_argument(
        "--no-detector",
        dest="detector",
        action="store_const",
        const=None,
        help="time the trackers only",
    )


def _speed_parser(sub: Any) -> None:
    from mot_pipeline.bench import speed

    s = sub.add_parser("speed", help="fps against the number of tracked objects (paper Fig. 9, 10)")
    _common(s, speed.DEFAULT_METHODS)
    _preset(s)
    s.add_argument(
        "--resolution",
        nargs="+",
        choices=sorted(speed.RESOLUTIONS),
        default=["vga", "hd"],
        help="MT-VGA 640x480 and/or MT-HD 1280x720",
    )
    s.add_argument(
        "--objects",
        nargs="+",
        type=positive_int,
        default=list(speed.DEFAULT_OBJECTS),
        metavar="N",
        help="numbers of targets (default 1 2 5 10 20 50 100 150)",
    )
    s.add_argument(
        "--frames", type=positive_int, default=20, help="timed frames per point (default 20)"
    )
    s.add_argument(
        "--warmup", type=non_negative_int, default=3, help="untimed frames first (default 3)"
    )
    s.add_argument(
        "--budget-s",
        type=positive_float,
        default=20.0,
        metavar="S",
        help="max seconds per (method, resolution, N) point (default 20)",
    )
    s.add_argument(
        "--partial",
        action="store_true",
        help="partial feature extraction (off by default, as in the paper)",
    )
    s.add_argument(
        "--no-stages",
        dest="stages",
        action="store_false",
        help="do not ask estimators to time their stages (Fig. 10)",
    )
    s.add_argument(
        "--source",
        metavar="PATH",
        help="frames from this sequence/video for every resolution (default: "
        "../shared TUD-Stadtmitte for VGA, people.mp4 for HD, else the sample)",
    )
    s.add_argument("--seed", type=int, default=0, help="target placement seed")
    _timed_detector(s, speed.DEFAULT_DETECTOR)
    s.set_defaults(run=_speed)


def _accuracy_parser(sub: Any) -> None:
    from mot_pipeline.bench import accuracy

    a = sub.add_parser("accuracy", help="MOTA/IDF1/HOTA and fps per estimator x detect-every")
    _paths(a, "MOTChallenge sequences or split dirs with gt/gt.txt")
    _common(a, accuracy.DEFAULT_METHODS)
    _intervals(a, accuracy.DEFAULT_DETECT_EVERY, "detection intervals")
    a.add_argument(
        "--detector",
        metavar="{yolo11n,yolov8n,public,MODEL_PATH}",
        help="as for mot-run (default: the config's)",
    )
    a.add_argument("--config", metavar="YAML", help="a mot-run preset (see configs/)")
    a.add_argument("--conf", type=float, help="YOLO confidence threshold")
    _cache(a)
    from mot_pipeline.cli import scale

    scale.add_arguments(a, chunks=False)  # --workers, --ray: the runs as parallel tasks
    a.set_defaults(run=_accuracy)


def _preset(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="YAML",
        help="a mot-run preset: its tracker_options apply to its tracker (e.g. SiamMT's backend)",
    )


def _mvot_parser(sub: Any) -> None:
    from mot_pipeline.bench import mvot

    m = sub.add_parser("mvot", help="VOT accuracy/robustness from gt starts (paper Sec. 4.2)")
    _paths(m, "MOTChallenge sequences or split dirs with gt/gt.txt")
    _common(m, mvot.DEFAULT_METHODS)
    _preset(m)
    m.add_argument(
        "--realtime-fps",
        nargs="*",
        type=positive_float,
        default=list(mvot.DEFAULT_REALTIME_FPS),
        metavar="FPS",
        help="VOT-RT frame rates (default 20 25; none: offline only)",
    )
    m.add_argument(
        "--no-offline",
        dest="offline",
        action="store_false",
        help="skip the run without a time limit",
    )
    m.add_argument(
        "--burn-in",
        type=non_negative_int,
        default=mvot.VOT_BURN_IN,
        help=f"frames after each (re-)init left out of accuracy (default {mvot.VOT_BURN_IN}, VOT)",
    )
    m.add_argument(
        "--max-gap",
        type=non_negative_int,
        default=mvot.MAX_GAP_FRAMES,
        help="absences longer than this restart the object from gt "
        f"(default {mvot.MAX_GAP_FRAMES})",
    )
    m.set_defaults(run=_mvot)


def _calibrate_parser(sub: Any) -> None:
    from mot_pipeline.bench import calibration

    c = sub.add_parser(
        "calibrate",
        help="how well SiamMT's score tells a box on its target, and its fitted calibration",
    )
    _paths(c, "MOTChallenge sequences or split dirs with gt/gt.txt")
    _output(c, "runs/calibration", "where calibration.json/.md go (default runs/calibration)")
    c.add_argument(
        "--threads", type=positive_int, metavar="N", help="torch threads (default: all cores)"
    )
    _quiet(c)
    _intervals(c, calibration.DEFAULT_DETECT_EVERY, "detection intervals to sample at")
    c.add_argument("--config", metavar="YAML", help="a mot-run preset (its tracker: siammt)")
    _cache(c)
    c.set_defaults(run=_calibrate)


def _variants_parser(sub: Any) -> None:
    from mot_pipeline.bench import variants

    v = sub.add_parser(
        "variants",
        help="mirrored, half-frame-rate, reversed, half-size copies of sequences, gt transformed",
    )
    _paths(v, "MOTChallenge sequences with gt")
    where = "where the sequences go, as NAME-KIND (default runs/variants); replaced"
    _output(v, "runs/variants", where)
    v.add_argument(
        "--kinds",
        nargs="+",
        choices=variants.KINDS + variants.OFFSET_KINDS,
        default=list(variants.KINDS),
        help="flip: mirrored left-right; half: every 2nd frame; reverse: frames backwards; "
        "small: half width and height (default these four); offsetN: without the first N "
        "frames (another detection phase)",
    )
    _quiet(v)
    v.set_defaults(run=_variants)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Benchmarks: tracking speed, accuracy against detection "
        "interval, and the paper's multi-object VOT protocol.",
    )
    sub = p.add_subparsers(
        dest="command", required=True, metavar="{speed,accuracy,mvot,calibrate,variants}"
    )
    for add in (_speed_parser, _accuracy_parser, _mvot_parser, _calibrate_parser, _variants_parser):
        add(sub)
    return p


def _speed(args: argparse.Namespace, log, command: str) -> None:
    from mot_pipeline.bench import speed

    sources = {r: args.source for r in args.resolution} if args.source else {}
    config = speed.SpeedConfig(
        resolutions=tuple(dict.fromkeys(args.resolution)),
        objects=tuple(args.objects),
        methods=tuple(dict.fromkeys(args.methods)),
        frames=args.frames,
        warmup=args.warmup,
        budget_s=args.budget_s,
        device=args.device or "cpu",
        threads=args.threads,
        partial=args.partial,
        stages=args.stages,
        seed=args.seed,
        sources=sources,
        detector=args.detector,
        tracker_configs=_preset_tracker(args.config),
    )
    speed.run(config, args.output, log=log, command=command)


def _preset_tracker(path: str | None) -> dict:
    """{tracker: its config} from a mot-run preset's `tracker` and `tracker_options`."""
    if path is None:
        return {}
    from mot_pipeline.config import load_config, tracker_config

    run = load_config(path)
    return {run.tracker: tracker_config(run, path)}


def _accuracy(args: argparse.Namespace, log, command: str) -> None:
    from mot_pipeline.bench import accuracy
    from mot_pipeline.cli import scale
    from mot_pipeline.config import load_config

    backend = scale.backend(args)  # before any work: --ray without Ray is one line
    yolo = {k: v for k, v in {"conf": args.conf, "device": args.device}.items() if v is not None}
    base = load_config(args.config, detector=args.detector, yolo=yolo)
    config = accuracy.AccuracyConfig(
        run=base,
        methods=tuple(args.methods),
        detect_every=tuple(args.detect_every),
        threads=args.threads,
        device=args.device,
        cache_dir=args.cache,
    )
    accuracy.run(
        args.paths,
        args.output,
        config,
        progress=not args.quiet,
        log=log,
        command=command,
        backend=backend,
    )


def _mvot(args: argparse.Namespace, log, command: str) -> None:
    from mot_pipeline.bench import mvot

    config = mvot.MvotConfig(
        methods=tuple(args.methods),
        realtime_fps=tuple(args.realtime_fps),
        offline=args.offline,
        params=mvot.MvotParams(burn_in=args.burn_in, max_gap=args.max_gap),
        device=args.device,
        threads=args.threads,
        tracker_configs=_preset_tracker(args.config),
    )
    mvot.run(args.paths, args.output, config, progress=not args.quiet, log=log, command=command)


def _calibrate(args: argparse.Namespace, log, command: str) -> None:
    from mot_pipeline.bench import calibration
    from mot_pipeline.config import load_config

    config = calibration.CalibrateConfig(
        run=load_config(args.config),
        detect_every=tuple(args.detect_every),
        threads=args.threads,
        cache_dir=args.cache,
    )
    calibration.run(
        args.paths, args.output, config, progress=not args.quiet, log=log, command=command
    )


def _variants(args: argparse.Namespace, log, command: str) -> None:
    from mot_pipeline.bench.variants import make_variants

    make_variants(args.paths, args.output, args.kinds, log=log)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    short_openmp_spin()  # before torch loads: benchmarks time what mot-run runs
    command = shlex.join([PROG, *argv])
    log = (lambda _: None) if args.quiet else print
    try:
        from mot_pipeline.fileio import check_output_dir

        check_output_dir(args.output)
        args.run(args, log, command)
    except InputError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
