"""The scale-out options `mot-run` and `mot-bench accuracy` share: `--workers N`,
`--ray [ADDRESS]` with CPUs/GPUs per task, and (mot-run) `--chunk-frames`/`--chunk-overlap`.
Parsing only; the work is `mot_pipeline/scaleout.py`."""

from __future__ import annotations

import argparse
from pathlib import Path

from mot_pipeline.chunks import DEFAULT_OVERLAP, ChunkConfig
from mot_pipeline.cli.argtypes import non_negative_float, positive_int
from mot_pipeline.errors import InputError
from mot_pipeline.scaleout import Backend, ScaleOut, require_ray

LOCAL_RAY = ""  # `--ray` without an address: a Ray started on this machine


def add_arguments(p: argparse.ArgumentParser, *, chunks: bool) -> None:
    """Add the scale-out options to `p` (`chunks`: also the long-video splitting)."""
    g = p.add_argument_group("scale out (README: Scale out)")
    where = g.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="run sequences in N processes on this machine, each with its share of the cores "
        "as threads (--threads: per process)",
    )
    where.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        metavar="ADDRESS",
        help="run sequences as Ray tasks: on a Ray started here, or on the cluster at ADDRESS "
        "(e.g. auto, HOST:6379); put it after the paths, or write --ray=ADDRESS",
    )
    g.add_argument(
        "--ray-cpus-per-task",
        type=non_negative_float,
        metavar="C",
        help="CPUs Ray reserves per task, and its torch threads (default 1)",
    )
    g.add_argument(
        "--ray-gpus-per-task",
        type=non_negative_float,
        metavar="G",
        help="GPUs Ray reserves per task (default 0; with --device cuda)",
    )
    if chunks:
        g.add_argument(
            "--chunk-frames",
            type=positive_int,
            metavar="N",
            help="split sequences longer than N frames into overlapping chunks tracked in "
            "parallel, their tracks joined in the overlaps",
        )
        g.add_argument(
            "--chunk-overlap",
            type=positive_int,
            metavar="M",
            help=f"frames two chunks share (default {DEFAULT_OVERLAP})",
        )


def backend(args: argparse.Namespace) -> Backend | None:
    """The `Backend` the options ask for; None: no scale-out (one process, as before).
    `InputError` for options that need another one, or `--ray` without Ray installed."""
    ray = args.ray is not None
    if not ray and (args.ray_cpus_per_task is not None or args.ray_gpus_per_task is not None):
        raise InputError("--ray-cpus-per-task and --ray-gpus-per-task need --ray")
    if ray:
        if args.ray and Path(args.ray).exists():
            raise InputError(
                f"--ray {args.ray}: that is a path, not a Ray address; put --ray after the "
                "paths, or write --ray=ADDRESS"
            )
        require_ray()
        return Backend(
            ray=True,
            ray_address=args.ray or None,
            cpus_per_task=1.0 if args.ray_cpus_per_task is None else args.ray_cpus_per_task,
            gpus_per_task=args.ray_gpus_per_task or 0.0,
        )
    return None if args.workers is None else Backend(workers=args.workers)


def scale_out(args: argparse.Namespace) -> ScaleOut | None:
    """`mot-run`'s `ScaleOut`; None when no scale-out option is given. Chunks without
    --workers or --ray run one after another in this process."""
    where = backend(args)
    if args.chunk_frames is None:
        if args.chunk_overlap is not None:
            raise InputError("--chunk-overlap needs --chunk-frames")
        return None if where is None else ScaleOut(where)
    overlap = DEFAULT_OVERLAP if args.chunk_overlap is None else args.chunk_overlap
    return ScaleOut(where or Backend(), ChunkConfig(args.chunk_frames, overlap))
