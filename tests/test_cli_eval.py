"""`mot-eval`: scoring result directories, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import SHARED

from mot_pipeline.cli.evaluate import main

CAMPUS = SHARED / "data" / "mot" / "TUD-Campus"


@pytest.fixture
def gt_root(tmp_path: Path) -> Path:
    """A copy of TUD-Campus's gt and seqinfo (no images needed) under GT_ROOT/TUD-Campus."""
    if not (CAMPUS / "gt" / "gt.txt").is_file():
        pytest.skip("shared sequence TUD-Campus not available")
    root = tmp_path / "gt_root"
    (root / "TUD-Campus" / "gt").mkdir(parents=True)
    shutil.copy(CAMPUS / "gt" / "gt.txt", root / "TUD-Campus" / "gt" / "gt.txt")
    shutil.copy(CAMPUS / "seqinfo.ini", root / "TUD-Campus" / "seqinfo.ini")
    return root


@pytest.fixture
def results(tmp_path: Path, gt_root: Path) -> Path:
    """Ground truth as the tracker's result (TUD-Campus has no zero-flag rows)."""
    out = tmp_path / "results"
    out.mkdir()
    shutil.copy(gt_root / "TUD-Campus" / "gt" / "gt.txt", out / "TUD-Campus.txt")
    return out


def test_gt_as_result_scores_one(
    results: Path, gt_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (results / "Other.txt").write_text("1,1,1,1,10,10\n")
    assert main([str(results), str(gt_root)]) == 0
    out = capsys.readouterr().out
    assert "skipped (no ground truth): Other.txt" in out
    assert any(ln.startswith("OVERALL") and "100.0" in ln for ln in out.splitlines())
    report = json.loads((results / "metrics.json").read_text())
    assert list(report["sequences"]) == ["TUD-Campus"]
    m = report["sequences"]["TUD-Campus"]
    assert (m["MOTA"], m["IDF1"], m["HOTA"]) == pytest.approx((1.0, 1.0, 1.0))
    assert (m["FP"], m["FN"], m["IDSW"], m["num_frames"]) == (0, 0, 0, 71)
    assert report["overall"]["MOTA"] == pytest.approx(1.0)


def test_single_sequence_dir_and_output_option(
    results: Path, gt_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "elsewhere" / "m.json"
    argv = [str(results), str(gt_root / "TUD-Campus"), "--output", str(out)]
    assert main([*argv, "--sequences", "TUD-Campus"]) == 0
    assert json.loads(out.read_text())["overall"]["IDF1"] == pytest.approx(1.0)
    assert not (results / "metrics.json").exists()


def test_malformed_result_is_one_line_naming_the_file(
    results: Path, gt_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = results / "TUD-Campus.txt"
    bad.write_text("1,1,10,10,50,50,1,-1,-1,-1\n2,1,10,oops,50,50,1,-1,-1,-1\n")
    assert main([str(results), str(gt_root)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mot-eval: error: ")
    assert str(bad) in err[0] and "line 2" in err[0]
    assert "Traceback" not in captured.err + captured.out
    assert not (results / "metrics.json").exists()


@pytest.mark.parametrize("which", ["results", "gt"])
def test_missing_directory_exits_2(
    which: str, results: Path, gt_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    argv = [missing, gt_root] if which == "results" else [results, missing]
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0] and "not found" in err[0]


def test_no_matching_pairs_exits_2(
    tmp_path: Path, gt_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "Unrelated.txt").write_text("")
    assert main([str(empty), str(gt_root)]) == 2
    assert "no result file" in capsys.readouterr().err


def test_unknown_requested_sequence_exits_2(
    results: Path, gt_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(results), str(gt_root), "--sequences", "MOT17-02"]) == 2
    assert "no result file for MOT17-02" in capsys.readouterr().err


@pytest.mark.parametrize("use_output", [False, True])
def test_existing_metrics_refused_unless_overwrite(
    use_output: bool,
    results: Path,
    gt_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = tmp_path / "m.json" if use_output else results / "metrics.json"
    metrics.write_text("earlier\n")
    argv = [str(results), str(gt_root)] + (["--output", str(metrics)] if use_output else [])
    # Refused up front, before any result file is read: a malformed one is not reported.
    (results / "TUD-Campus.txt").write_text("1,1,10,oops,50,50,1,-1,-1,-1\n")
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err == [f"mot-eval: error: {metrics}: exists; pass --overwrite"]
    assert captured.out == ""
    assert metrics.read_text() == "earlier\n"

    shutil.copy(gt_root / "TUD-Campus" / "gt" / "gt.txt", results / "TUD-Campus.txt")
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads(metrics.read_text())["overall"]["IDF1"] == pytest.approx(1.0)
    assert [p.name for p in metrics.parent.glob(".*.tmp")] == []


@pytest.mark.parametrize("victim", ["result", "gt", "seqinfo", "link"])
def test_output_never_replaces_an_input(
    victim: str,
    results: Path,
    gt_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--output` naming a result, gt or seqinfo file (or a link to one) is refused even with
    `--overwrite`: one line, the input untouched."""
    seq = gt_root / "TUD-Campus"
    target = {
        "result": results / "TUD-Campus.txt",
        "gt": seq / "gt" / "gt.txt",
        "seqinfo": seq / "seqinfo.ini",
        "link": tmp_path / "link.json",
    }[victim]
    if victim == "link":
        target.symlink_to(seq / "gt" / "gt.txt")
    before = target.read_bytes()
    argv = [str(results), str(gt_root), "--output", str(target), "--overwrite"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "would overwrite the input" in err[0]
    assert target.read_bytes() == before
