"""Issue 19 through the Python API and `mot-eval`: failures in the report, bounded scoring."""

from __future__ import annotations

import shutil

import pytest
from helpers import small_sequence

from mot_pipeline.cli.evaluate import main as mot_eval
from mot_pipeline.config import InputConfig, RunConfig
from mot_pipeline.errors import InputError
from mot_pipeline.runner import FAILURES_FILE, run

FAST = RunConfig(tracker="hold", detector="public")
FAR_FRAME = 1_000_000_000


def test_runner_reports_a_failed_sequence_and_writes_the_rest(tmp_path):
    root = tmp_path / "split"
    root.mkdir()
    seq = small_sequence(tmp_path / "src")
    for name in ("A", "B"):
        shutil.copytree(seq, root / name)
    (root / "A" / "img1" / "000002.jpg").write_bytes(b"broken")
    out = tmp_path / "out"
    report = run([root], out, FAST, progress=False, log=lambda _: None)
    assert [f.name for f in report.failures] == ["A"] and "000002.jpg" in report.failures[0].error
    assert [r.name for r in report.runs] == ["B"]
    assert report.failures_path == out / FAILURES_FILE and report.failures_path.is_file()
    assert sorted(report.metrics["sequences"]) == ["B"]


def test_runner_skip_policy_through_the_config(tmp_path):
    seq = small_sequence(tmp_path)
    (seq / "img1" / "000002.jpg").write_bytes(b"broken")
    warnings: list[str] = []
    config = RunConfig(tracker="hold", detector="public", input=InputConfig(on_bad_frame="skip"))
    report = run([seq], tmp_path / "out", config, progress=False, log=print, warn=warnings.append)
    assert not report.failures and report.runs[0].frames == 6
    assert len(warnings) == 1


def test_input_config_is_validated_at_construction():
    with pytest.raises(ValueError, match="on_bad_frame"):
        InputConfig(on_bad_frame="retry")
    with pytest.raises(ValueError, match="frame_rate"):
        RunConfig(frame_rate=float("nan"))


def test_mot_eval_refuses_a_far_frame_without_allocating(tmp_path, capsys):
    seq = small_sequence(tmp_path / "gt")
    (seq / "seqinfo.ini").unlink()  # no length: the ground truth's last frame bounds it
    results = tmp_path / "results"
    results.mkdir()
    (results / "TUD-Campus.txt").write_text(f"{FAR_FRAME},1,10,10,20,40,1,-1,-1,-1\n")
    code = mot_eval([str(results), str(tmp_path / "gt")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"frame {FAR_FRAME}" in err and "TUD-Campus.txt" in err


def test_output_folder_checks_happen_before_opening_inputs(tmp_path):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "missing")
    with pytest.raises(InputError, match="symbolic link"):
        run([tmp_path / "nothing"], link, FAST, progress=False)
