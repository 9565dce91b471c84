"""`mot-eval RESULTS_DIR GT_ROOT`: score any tracker's MOTChallenge result files.

Each `RESULTS_DIR/<name>.txt` is scored against `GT_ROOT/<name>/gt/gt.txt` (GT_ROOT may also be
one sequence directory). Prints a table and writes `RESULTS_DIR/metrics.json` (or `--output`);
an existing metrics file is refused, before any scoring, unless `--overwrite`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mot_pipeline.errors import InputError
from mot_pipeline.fileio import check_writable
from mot_pipeline.outputs import check_not_inputs

PROG = "mot-eval"
RESULT_SUFFIX = ".txt"
METRICS_NAME = "metrics.json"
GT_FILE = Path("gt") / "gt.txt"
SEQINFO_NAME = "seqinfo.ini"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Score MOTChallenge result files (MOTA, IDF1, HOTA) against ground truth.",
    )
    p.add_argument("results_dir", type=Path, help="directory of <sequence>.txt result files")
    p.add_argument(
        "gt_root",
        type=Path,
        help="directory of sequences (<name>/gt/gt.txt), or one sequence directory",
    )
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"metrics JSON path (default: RESULTS_DIR/{METRICS_NAME})",
    )
    p.add_argument("--sequences", nargs="+", metavar="NAME", help="score only these sequences")
    p.add_argument("--overwrite", action="store_true", help="replace an existing metrics file")
    return p


def find_pairs(
    results_dir: Path, gt_root: Path, sequences: Sequence[str] | None = None
) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """Match result files to sequence directories: ([(name, result file, seq dir)], skipped).

    `skipped` names the result files that have no ground truth. Missing directories, unknown
    `sequences` or no pair at all raise `InputError`.
    """
    if not results_dir.is_dir():
        raise InputError("results directory not found", results_dir)
    if not gt_root.is_dir():
        raise InputError("ground-truth directory not found", gt_root)
    results = {p.stem: p for p in sorted(results_dir.glob(f"*{RESULT_SUFFIX}")) if p.is_file()}
    if sequences:
        unknown = [s for s in sequences if s not in results]
        if unknown:
            raise InputError(f"no result file for {', '.join(unknown)}", results_dir)
        results = {s: results[s] for s in sequences}
    single = (gt_root / GT_FILE).is_file()  # GT_ROOT is itself a sequence directory
    single_name = gt_root.resolve().name
    pairs, skipped = [], []
    for name, path in results.items():
        if single:
            seq_dir = gt_root if name == single_name else None
        else:
            seq_dir = gt_root / name if (gt_root / name / GT_FILE).is_file() else None
        if seq_dir is None:
            skipped.append(path.name)
        else:
            pairs.append((name, path, seq_dir))
    if not pairs:
        where = f"{single_name}.txt" if single else f"<name>.txt with <name>/{GT_FILE}"
        raise InputError(f"no result file in {results_dir} matches ({where})", gt_root)
    return pairs, skipped


def run(args: argparse.Namespace) -> int:
    output = args.output if args.output is not None else args.results_dir / METRICS_NAME
    pairs, skipped = find_pairs(args.results_dir, args.gt_root, args.sequences)
    check_writable(output, args.overwrite)  # refuse up front, before any reading or scoring
    inputs = [p for _, result, seq_dir in pairs for p in (result, seq_dir / GT_FILE)]
    inputs += [seq_dir / SEQINFO_NAME for _, _, seq_dir in pairs]
    check_not_inputs([output], inputs)  # --overwrite never replaces a result or gt file
    # Heavy imports (motmetrics/pandas, TrackEval) only once the arguments are valid.
    from mot_pipeline.evaluation import (
        SequencePair,
        evaluate,
        format_table,
        write_metrics_json,
    )
    from mot_pipeline.motchallenge import read_mot_file, read_seqinfo

    if skipped:
        print(f"skipped (no ground truth): {', '.join(skipped)}")
    items = []
    for name, result_path, seq_dir in pairs:
        info = read_seqinfo(seq_dir) if (seq_dir / SEQINFO_NAME).is_file() else None
        gt = read_mot_file(seq_dir / GT_FILE, "gt")
        result = read_mot_file(result_path, "result")
        items.append(SequencePair(name, gt, result, info))
    report = evaluate(items)
    print(format_table(report))
    write_metrics_json(report, output, overwrite=args.overwrite)
    print(f"metrics written to {output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors print one line on stderr and return 2 (argparse's code)."""
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except InputError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
    except OSError as err:  # e.g. an unwritable output path
        print(f"{PROG}: error: {err}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
