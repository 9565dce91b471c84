"""Issue 19 through `mot-run` in process: outputs never over inputs, a failed sequence does not
stop a split, interrupts and write errors leave nothing half-written, every input checked first.

Each case ends with one line on stderr (exit 2) or a clean run; see docs/DECISIONS.md for the list.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import small_sequence

from mot_pipeline import motchallenge, runner
from mot_pipeline.cli.run import main
from mot_pipeline.outputs import STAGING_PREFIX

FAST = ("--tracker", "hold", "--detector", "public", "--quiet")
FRAMES = 6  # small_sequence's length; check_frames "sample" decodes frames 1, 4 and 6
UNSAMPLED = 2  # a frame the default check does not decode


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    code = main([*map(str, args), *FAST])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, err: str, *fragments: str) -> str:
    """Assert the CLI's bad-input contract: exit 2, one line on stderr, no traceback."""
    lines = [line for line in err.strip().splitlines() if "warning" not in line]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("mot-run: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def listing(folder: Path) -> list[str]:
    """Everything in `folder`, hidden files included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def split(tmp_path: Path, names=("A", "B", "C")) -> Path:
    """A split folder of `small_sequence` copies under other names."""
    root = tmp_path / "split"
    root.mkdir()
    seq = small_sequence(tmp_path / "src", FRAMES)
    for name in names:
        shutil.copytree(seq, root / name)
        info = (root / name / "seqinfo.ini").read_text()
        (root / name / "seqinfo.ini").write_text(info.replace("TUD-Campus", name))
    return root


def break_frame(seq: Path, number: int, how: str = "garbage") -> Path:
    path = seq / "img1" / f"{number:06d}.jpg"
    data = bytearray(path.read_bytes())
    if how == "garbage":
        data = bytearray(b"not a jpeg")
    else:  # overwrite the middle: libjpeg decodes it with only a warning
        middle = len(data) // 2
        data[middle : middle + 2000] = bytes(2000)
    path.write_bytes(bytes(data))
    return path


def tiny_video(path: Path, frames: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    return path


# ---------------------------------------------------------------------------------------------
# Outputs never written over inputs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("through", ["same folder", "symlinked folder", "hard link"])
def test_save_video_never_replaces_the_input_video(tmp_path, capsys, through):
    clip = tiny_video(tmp_path / "in" / "clip.mp4")
    before = clip.read_bytes()
    out = tmp_path / "in"
    if through == "symlinked folder":
        out = tmp_path / "link"
        out.symlink_to(tmp_path / "in")
    elif through == "hard link":
        out = tmp_path / "out"
        out.mkdir()
        os.link(clip, out / "clip.mp4")
    code = main([str(clip), "--save-video", "-o", str(out), "--overwrite", "--tracker", "hold"])
    one_line(code, capsys.readouterr().err, "would overwrite the input", "clip.mp4")
    assert clip.read_bytes() == before
    assert listing(tmp_path / "in") == ["clip.mp4"]


def test_config_file_is_an_input_too(tmp_path, capsys):
    seq = small_sequence(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    config = out / "metrics.json"
    config.write_text("pipeline: {detect_every: 2}\n")
    code, _, err = run_cli(capsys, seq, "-o", out, "--config", config, "--overwrite")
    one_line(code, err, "would overwrite the input")
    assert config.read_text() == "pipeline: {detect_every: 2}\n"


# ---------------------------------------------------------------------------------------------
# A split goes on past a failed sequence; --overwrite never mixes two runs
# ---------------------------------------------------------------------------------------------


def test_split_continues_past_a_broken_frame(tmp_path, capsys):
    root = split(tmp_path)
    bad = break_frame(root / "B", UNSAMPLED)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, root, "-o", out)
    line = one_line(code, err, "1 of 3", "failures.txt", str(bad))
    assert "B" in line
    assert listing(out) == ["A.txt", "C.txt", "failures.txt", "metrics.json"]
    assert (out / "failures.txt").read_text().startswith("B\t")
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["sequences"]) == ["A", "C"] and "B" in metrics["failed"]
    assert "A.txt" in stdout and "C.txt" in stdout


def test_overwrite_over_a_complete_run_leaves_no_stale_file(tmp_path, capsys):
    root = split(tmp_path)
    out = tmp_path / "out"
    assert run_cli(capsys, root, "-o", out, "--zip")[0] == 0
    assert "B.txt" in listing(out)
    break_frame(root / "B", UNSAMPLED)
    code, _, err = run_cli(capsys, root, "-o", out, "--overwrite")  # no --zip this time
    one_line(code, err, "1 of 3")
    assert listing(out) == ["A.txt", "C.txt", "failures.txt", "metrics.json"]
    assert sorted(json.loads((out / "metrics.json").read_text())["sequences"]) == ["A", "C"]
    (root / "B" / "img1" / f"{UNSAMPLED:06d}.jpg").unlink()  # now caught up front
    shutil.copy(root / "A" / "img1" / f"{UNSAMPLED:06d}.jpg", root / "B" / "img1")
    assert run_cli(capsys, root, "-o", out, "--overwrite")[0] == 0
    assert listing(out) == ["A.txt", "B.txt", "C.txt", "metrics.json"]  # failures.txt gone


def test_check_frames_all_finds_the_broken_frame_before_any_work(tmp_path, capsys):
    root = split(tmp_path)
    bad = break_frame(root / "B", UNSAMPLED, how="overwritten")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, root, "-o", out, "--check-frames", "all")
    one_line(code, err, str(bad), "corrupt JPEG")
    assert listing(out) == []


def test_on_bad_frame_skip_keeps_numbering_and_warns(tmp_path, capsys):
    seq = small_sequence(tmp_path, FRAMES)
    break_frame(seq, UNSAMPLED)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, seq, "-o", out, "--on-bad-frame", "skip", "--lag", "0")
    assert code == 0, err
    assert "warning" in err and f"{UNSAMPLED:06d}.jpg" in err and "Traceback" not in err
    rows = motchallenge.read_mot_file(out / "TUD-Campus.txt", "result")
    assert rows.num_frames <= FRAMES and listing(out) == ["TUD-Campus.txt", "metrics.json"]


# ---------------------------------------------------------------------------------------------
# Interrupts and write errors: nothing half-written, and the message says so truly
# ---------------------------------------------------------------------------------------------


def test_interrupt_while_scoring_leaves_nothing(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_evaluate", interrupted)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, small_sequence(tmp_path), "-o", out)
    assert code == 130 and "no result files were written" in err
    assert listing(out) == []


def test_interrupt_in_the_second_sequence_leaves_nothing(tmp_path, capsys, monkeypatch):
    root = split(tmp_path, ("A", "B"))
    from mot_pipeline import sources

    real = sources.read_image
    target = root / "B" / "img1" / f"{UNSAMPLED:06d}.jpg"

    def read_image(path):
        if path == target:
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(sources, "read_image", read_image)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, root, "-o", out)
    assert code == 130 and "no result files were written" in err
    assert listing(out) == []
    monkeypatch.setattr(sources, "read_image", real)
    assert run_cli(capsys, root, "-o", out)[0] == 0  # the rerun needs no --overwrite


def test_interrupt_just_after_staging_starts_leaves_nothing(tmp_path, capsys, monkeypatch):
    """A signal handled right after the staging folder's mkdir (Python runs handlers after a C
    call returns) raises before the `with` block owns the folder: it must still go."""
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)
        if self.name.startswith(STAGING_PREFIX):
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "mkdir", mkdir)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, small_sequence(tmp_path), "-o", out)
    assert code == 130 and "no result files were written" in err
    assert listing(out) == []


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(motchallenge, "atomic_write_text", full)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, small_sequence(tmp_path), "-o", out)
    one_line(code, err, "No space left on device", "no result files were written")
    assert listing(out) == []


def test_leftovers_of_killed_runs_are_removed(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    dead = _dead_pid()
    (out / f".clip.{dead}.tmp.mp4").write_bytes(b"old temp video")
    (out / f".clip.pid{dead}.tmp.mp4").write_bytes(b"temp video")
    (out / f".metrics.json.pid{dead}.x1y2.tmp").write_text("{")
    (out / f"{STAGING_PREFIX}{dead}.partial").mkdir()
    (out / f".keep.pid{os.getpid()}.abc.tmp").write_text("a live writer's file")
    assert run_cli(capsys, small_sequence(tmp_path), "-o", out)[0] == 0
    assert listing(out) == [f".keep.pid{os.getpid()}.abc.tmp", "TUD-Campus.txt", "metrics.json"]


def _dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------------------------------------
# One validation pass before any work: seqinfo, det, gt, config, devices, output
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", ["0", "-25", "nan", "inf", "fast"])
def test_bad_frame_rate_in_seqinfo(tmp_path, capsys, rate):
    seq = small_sequence(tmp_path)
    info = seq / "seqinfo.ini"
    info.write_text(info.read_text().replace("frameRate=25", f"frameRate={rate}"))
    code, _, err = run_cli(capsys, seq, "-o", tmp_path / "out")
    one_line(code, err, "seqinfo.ini", "frameRate" if rate != "fast" else "malformed")


@pytest.mark.parametrize(
    ("row", "fragment"),
    [("1,-1,1e39,10,20,40,30,-1,-1,-1", "out of range"), ("1e300,-1,1,1,2,2,30", "out of range")],
)
def test_det_numbers_out_of_range(tmp_path, capsys, row, fragment):
    seq = small_sequence(tmp_path)
    (seq / "det" / "det.txt").write_text(row + "\n")
    code, _, err = run_cli(capsys, seq, "-o", tmp_path / "out")
    one_line(code, err, "det.txt", "line 1", fragment)


def test_det_with_a_byte_order_mark_is_read(tmp_path, capsys):
    seq = small_sequence(tmp_path)
    det = seq / "det" / "det.txt"
    det.write_bytes(b"\xef\xbb\xbf" + det.read_bytes())
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, seq, "-o", out)
    assert code == 0, err


@pytest.mark.parametrize("how", ["gt past the end", "seqLength shorter"])
def test_gt_past_the_sequence_end_fails_before_tracking(tmp_path, capsys, monkeypatch, how):
    seq = small_sequence(tmp_path)
    if how == "gt past the end":
        gt = seq / "gt" / "gt.txt"
        gt.write_text(gt.read_text() + f"{FRAMES + 1},99,1,1,10,10,1,-1,-1,-1\n")
    else:
        info = seq / "seqinfo.ini"
        info.write_text(info.read_text().replace(f"seqLength={FRAMES}", "seqLength=3"))
    monkeypatch.setattr(runner, "_run_one", lambda *a: pytest.fail("tracking started"))
    code, _, err = run_cli(capsys, seq, "-o", tmp_path / "out")
    one_line(code, err, "gt.txt", "seqLength")
    assert listing(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- a list\n", "mapping"),
        ("just a string\n", "mapping"),
        ("pipeline: {detect_every: .inf}\n", "detect_every"),
        ("frame_rate: .nan\n", "frame_rate"),
        ("pipeline: {lifecycle: {reference_frame_rate: .inf}}\n", "reference_frame_rate"),
        ("pipeline: {association: {min_iou_second: .nan}}\n", "min_iou_second"),
        ("input: {on_bad_frame: retry}\n", "on_bad_frame"),
        (b"tracker: \xff\xfe\n", "UTF-8"),
    ],
)
def test_bad_config_values(tmp_path, capsys, text, fragment):
    config = tmp_path / "bad.yaml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text)
    code, _, err = run_cli(
        capsys, small_sequence(tmp_path), "-o", tmp_path / "o", "--config", config
    )
    one_line(code, err, "bad.yaml", fragment)


def test_minus_infinity_where_it_means_keep_all(tmp_path, capsys):
    config = tmp_path / "all.yaml"
    config.write_text("public: {min_score: -.inf}\n")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, small_sequence(tmp_path), "-o", out, "--config", config)
    assert code == 0, err


@pytest.mark.parametrize("device", ["foo", "cuda", "cuda:7"])
def test_bad_device_with_the_default_tracker(tmp_path, capsys, device):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the device")
    seq = small_sequence(tmp_path)
    code = main([str(seq), "-o", str(tmp_path / "out"), "--device", device, "--quiet"])
    one_line(code, capsys.readouterr().err, repr(device))


def test_dangling_output_symlink_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "nowhere")
    monkeypatch.setattr(runner, "_run_one", lambda *a: pytest.fail("tracking started"))
    code, _, err = run_cli(capsys, small_sequence(tmp_path), "-o", link)
    one_line(code, err, "symbolic link")


@pytest.mark.slow
def test_closed_stdout_is_not_a_traceback(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # whatever mot-run prints meets a closed pipe
    out = tmp_path / "out"
    seq = small_sequence(tmp_path)
    proc = subprocess.run(
        ["mot-run", str(seq), "-o", str(out), "--tracker", "hold", "--detector", "public"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    os.close(write_end)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert listing(out) == ["TUD-Campus.txt", "metrics.json"]
