"""Fingerprint the result files of `mot-run`, to show that a refactoring changed no output.

Runs `mot-run` (as `python -m mot_pipeline.cli.run`, from the checkout this file is in) for
siammt, kalman and hold at k = 1, 5, 10 over the four shared sequences, then writes or checks a
manifest of SHA-256 digests of the result files:

    python tools/result_hashes.py write tools/result_hashes.txt   # before a change
    python tools/result_hashes.py check tools/result_hashes.txt   # after it: exit 1 on a diff

Float results depend on the CPU's kernels: compare manifests made on one kind of machine.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_MOT = REPO.parent / "shared" / "data" / "mot"
SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte", "KITTI-17", "PETS09-S2L1")
TRACKERS = ("siammt", "kalman", "hold")
DETECT_EVERY = (1, 5, 10)


def digests(workdir: Path, sequences: list[Path], threads: int) -> dict[str, str]:
    """`method-kK/SEQ.txt` -> sha256 of that result file, running mot-run for each pair."""
    out: dict[str, str] = {}
    for method in TRACKERS:
        for k in DETECT_EVERY:
            run_dir = workdir / f"{method}-k{k}"
            cmd = [sys.executable, "-m", "mot_pipeline.cli.run", *map(str, sequences)]
            cmd += ["--tracker", method, "--detect-every", str(k)]
            cmd += ["--output", str(run_dir), "--no-eval", "--quiet", "--threads", str(threads)]
            subprocess.run(cmd, check=True, cwd=REPO)
            for path in sorted(run_dir.glob("*.txt")):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[f"{method}-k{k}/{path.name}"] = digest
                print(f"{digest}  {method}-k{k}/{path.name}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("write", "check"))
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--data", type=Path, default=SHARED_MOT, help="folder of sequences")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    sequences = [args.data / name for name in SEQUENCES]
    with tempfile.TemporaryDirectory() as tmp:
        found = digests(Path(tmp), sequences, args.threads)
    lines = [f"{digest}  {name}" for name, digest in sorted(found.items())]
    if args.mode == "write":
        args.manifest.write_text("\n".join(lines) + "\n")
        return 0
    expected = dict(
        reversed(line.split("  ", 1)) for line in args.manifest.read_text().splitlines() if line
    )
    differ = sorted(n for n in expected.keys() | found.keys() if expected.get(n) != found.get(n))
    for name in differ:
        print(f"differs: {name}", file=sys.stderr)
    print(f"{len(found) - len(differ)} of {len(expected)} result files identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
