"""`mot-train`: train SiamMT's backbone on MOTChallenge sequences with ground truth, and on
videos pseudo-labelled by the pipeline: reads the preset and the data with the engine
(`mot_pipeline.config`, `mot_pipeline.training_data`) and hands them to the trainer
(trackers/siammt/training)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mot_pipeline.errors import InputError

if TYPE_CHECKING:
    from trackers.siammt.training.trainer import TrainResult

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
PSEUDO_DIR = "pseudo"
# On a shared machine libgomp's default spin-waiting makes every parallel op wait for a
# descheduled thread (~10x slower steps measured, docs/DECISIONS.md): passive unless set.
OMP_WAIT_POLICY = ("OMP_WAIT_POLICY", "PASSIVE")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mot-train",
        description="Train SiamMT (paper Sec. 3.3): pairs of frames from sequences with "
        "ground truth and from pseudo-labelled videos; writes checkpoints, a loss log and "
        "the final weights with a mot-run preset (track.yaml).",
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="training preset (see configs/)")
    p.add_argument(
        "--data",
        nargs="+",
        default=[],
        metavar="SEQ_DIR",
        help="MOTChallenge sequence folders with gt/gt.txt",
    )
    p.add_argument(
        "--video",
        nargs="+",
        default=[],
        metavar="VIDEO",
        help="unlabeled videos: tracked at detect-every 1, confident tracks become gt",
    )
    p.add_argument(
        "--val",
        nargs="+",
        default=[],
        metavar="SEQ_DIR",
        help="held-out sequences with gt, scored after every epoch (val.csv)",
    )
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="where results go")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--device", help="torch device, e.g. cpu, cuda (default: the config's)")
    p.add_argument("--epochs", type=int, metavar="N", help="override the config's epochs")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads (default: all cores)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault(*OMP_WAIT_POLICY)  # before torch starts its thread pool
    log = (lambda _: None) if args.quiet else print
    try:
        result = _train(args, log)
    except InputError as err:
        print(f"mot-train: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mot-train: interrupted; rerun with --resume to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"weights: {result.weights}")
    print(f"preset:  {result.preset}  (mot-run SEQ --config {result.preset})")
    return 0


def _train(args: argparse.Namespace, log: Callable[[str], None]) -> TrainResult:
    from mot_pipeline.config import load_train_config
    from mot_pipeline.fileio import check_output_dir
    from mot_pipeline.threads import set_threads

    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    if args.epochs is not None and args.epochs < 1:
        raise InputError(f"--epochs must be >= 1, got {args.epochs}")
    if not args.data and not args.video:
        raise InputError("nothing to train on: give --data and/or --video")
    config = load_train_config(args.config, epochs=args.epochs, device=args.device)
    for path in [*args.data, *args.video, *args.val]:
        if not Path(path).exists():
            raise InputError("not found", path)
    output = check_output_dir(args.output)
    from mot_pipeline.training_data import load_sequence, pseudo_label  # torch: after the checks

    data = list(args.data)
    for video in args.video:
        data.append(pseudo_label(video, output / PSEUDO_DIR, config.pseudo, log, args.threads))
    sequences = [load_sequence(p, config.sampler) for p in data]
    val = [load_sequence(p, config.sampler) for p in args.val]
    from trackers.siammt.training.trainer import Trainer

    trainer = Trainer(
        config, sequences, output, val=val, resume=args.resume, progress=not args.quiet, log=log
    )
    set_threads(args.threads)  # after the models: loading YOLO resets torch's thread count
    return trainer.run()


if __name__ == "__main__":
    raise SystemExit(main())
