"""How much does the 20-sequence accuracy move when φ's features are perturbed? A control
for low-precision backbones (docs/DECISIONS.md, "SiamMT: inference backend and int8").

Runs `mot-bench accuracy` with SiamMT's torch float32 backbone whose features get seeded
Gaussian noise of mean absolute size REL x mean |feature| (int8's measured error is 0.032):

    python tools/perturbed_features.py --seed 1 --rel 0.032 -k 10 -o runs/noise \\
        ../shared/data/mot/{TUD-Campus,TUD-Stadtmitte,KITTI-17,PETS09-S2L1} runs/variants/*
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import torch

from mot_pipeline.cli.bench import main as bench
from trackers.siammt import backends

MEAN_ABS_OF_UNIT_NORMAL = math.sqrt(2 / math.pi)
PRESET = "tracker: siammt\ntracker_options:\n  backend: torch\n  precision: f32\n"


def perturb(seed: int, rel: float) -> None:
    """Make every torch backbone call add the noise (seeded once: runs are repeatable)."""
    gen = torch.Generator().manual_seed(seed)
    plain = backends.TorchBackbone.__call__

    def noisy(self: backends.TorchBackbone, x: torch.Tensor) -> torch.Tensor:
        f = plain(self, x)
        sigma = rel / MEAN_ABS_OF_UNIT_NORMAL * f.abs().mean()
        return f + sigma * torch.randn(f.shape, generator=gen)

    backends.TorchBackbone.__call__ = noisy  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="+", help="MOTChallenge sequences with gt")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rel", type=float, default=0.032, help="noise size over mean |feature|")
    p.add_argument("-k", nargs="+", default=["10"], help="detection intervals")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--threads", default="1")
    args = p.parse_args(argv)
    perturb(args.seed, args.rel)
    with tempfile.TemporaryDirectory() as tmp:
        preset = Path(tmp) / "torch-f32.yaml"
        preset.write_text(PRESET)
        return bench(
            ["accuracy", *args.paths, "--methods", "siammt", "-k", *args.k, "--config",
             str(preset), "--threads", args.threads, "-o", args.output, "-q"]
        )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
