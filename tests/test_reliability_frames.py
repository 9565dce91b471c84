"""Issue 19, frames: damaged images and videos are errors (or warnings under `skip`), odd but
valid images are read as stored; signals during a run leave no file behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import SAMPLE, small_sequence
from PIL import Image

from mot_pipeline.errors import InputError
from mot_pipeline.outputs import STAGING_PREFIX
from mot_pipeline.sources import open_sources, read_image

FRAME = SAMPLE / "img1" / "000001.jpg"
EXIF_ORIENTATION = 0x0112
ROTATE_90 = 6  # EXIF: the viewer should rotate the stored pixels 90 degrees clockwise
DAMAGE = 2000  # bytes overwritten in the middle of a JPEG


def _damaged(tmp_path: Path, fill: bytes) -> Path:
    data = bytearray(FRAME.read_bytes())
    middle = len(data) // 2
    data[middle : middle + len(fill)] = fill
    path = tmp_path / "000001.jpg"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "fill",
    [
        bytes(DAMAGE),
        b"\xff" * DAMAGE,
        np.random.default_rng(0).integers(0, 256, DAMAGE, dtype=np.uint8).tobytes(),
        b"overwritten " * (DAMAGE // 12),
    ],
    ids=["zeros", "ff", "random", "text"],
)
def test_jpeg_with_its_middle_overwritten_is_rejected(tmp_path, fill):
    path = _damaged(tmp_path, fill)
    with pytest.raises(InputError, match="corrupt JPEG") as info:
        read_image(path)
    assert info.value.path == path


def test_truncated_jpeg_is_rejected(tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(FRAME.read_bytes()[:-5000])
    with pytest.raises(InputError, match=r"cut\.jpg"):
        read_image(path)


def test_jpeg_with_bytes_after_its_end_marker_is_read(tmp_path):
    path = tmp_path / "padded.jpg"
    path.write_bytes(FRAME.read_bytes() + b"\x00trailing data" * 500)
    assert np.array_equal(read_image(path), read_image(FRAME))


def test_exif_orientation_is_not_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90
    Image.open(FRAME).save(path, exif=exif, quality=95)
    image = read_image(path)
    assert image.shape == read_image(FRAME).shape  # 480x640 as stored, not 640x480


def test_png_named_jpg_is_read(tmp_path):
    path = tmp_path / "000001.jpg"
    cv2.imwrite(str(tmp_path / "x.png"), read_image(FRAME))
    (tmp_path / "x.png").rename(path)
    assert np.array_equal(read_image(path), read_image(FRAME))


def test_stderr_is_restored_after_reading(tmp_path, capfd):
    with pytest.raises(InputError):
        read_image(_damaged(tmp_path, bytes(DAMAGE)))
    os.write(2, b"still here\n")
    assert "still here" in capfd.readouterr().err


def test_skip_policy_repeats_the_previous_frame(tmp_path):
    seq_dir = small_sequence(tmp_path)
    (seq_dir / "img1" / "000003.jpg").write_bytes(b"broken")
    [seq] = open_sources(seq_dir)
    warnings: list[str] = []
    frames = list(seq.frames(skip_bad=True, warn=warnings.append))
    assert [i for i, _ in frames] == list(range(seq.length))
    assert np.array_equal(frames[2][1], frames[1][1])
    assert len(warnings) == 1 and "000003.jpg" in warnings[0] and "frame 3" in warnings[0]
    with pytest.raises(InputError, match=r"000003\.jpg"):
        list(seq.frames())


def _video(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    return path


def test_video_shorter_than_its_header_promises(tmp_path):
    [seq] = open_sources(_video(tmp_path / "clip.mp4", 8))
    assert seq.length == 8
    seq.check("all")
    promising = replace(seq, length=20)  # what a header with a wrong count says
    with pytest.raises(InputError, match="decoded 8 of the 20 frames"):
        promising.check("all")
    warnings: list[str] = []
    assert len(list(promising.frames(skip_bad=True, warn=warnings.append))) == 8
    assert len(warnings) == 1 and "clip.mp4" in warnings[0]


def test_check_modes(tmp_path):
    seq_dir = small_sequence(tmp_path)
    (seq_dir / "img1" / "000002.jpg").write_bytes(b"broken")
    [seq] = open_sources(seq_dir)
    seq.check("none")
    seq.check("sample")  # frames 1, 4 and 6
    with pytest.raises(InputError, match=r"000002\.jpg"):
        seq.check("all")
    with pytest.raises(ValueError):
        seq.check("some")


# ---------------------------------------------------------------------------------------------
# Signals: SIGTERM leaves nothing; what SIGKILL leaves is removed by the next run
# ---------------------------------------------------------------------------------------------


def _start(seq: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mot_pipeline.cli.run", str(seq), "-o", str(out)]
    cmd += ["--tracker", "hold", "--detector", "public", "--save-video", "--quiet"]
    # A shell's background job (nohup cmd &) starts with SIGINT ignored, and a child inherits
    # that: Python then installs no KeyboardInterrupt handler. Restore the default, as in a
    # terminal.
    return subprocess.Popen(
        cmd,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _long_split(tmp_path: Path, copies: int = 8) -> Path:
    """A split of `copies` copies of the sample (files symlinked): a run long enough (seconds,
    even on a loaded machine) that a signal sent once staging starts arrives before the end."""
    root = tmp_path / "long"
    for i in range(copies):
        shutil.copytree(
            SAMPLE,
            root / f"{SAMPLE.name}-{i}",
            copy_function=lambda s, d: os.symlink(Path(s).resolve(), d),
        )
    return root


def _wait_for_staging(proc: subprocess.Popen, out: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(STAGING_PREFIX) for p in out.glob(".*")):
            return
        time.sleep(0.05)
    pytest.fail("the run never started writing")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_a_run_leaves_nothing(tmp_path, sig):
    out = tmp_path / "out"
    out.mkdir()
    proc = _start(_long_split(tmp_path), out)
    _wait_for_staging(proc, out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "no result files were written" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == []


@pytest.mark.slow
def test_what_sigkill_leaves_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = _start(_long_split(tmp_path), out)
    _wait_for_staging(proc, out)
    proc.kill()
    proc.communicate(timeout=60)
    assert any(p.name.startswith(STAGING_PREFIX) for p in out.iterdir())
    seq = small_sequence(tmp_path)
    rerun = _start(seq, out)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "TUD-Campus.mp4",
        "TUD-Campus.txt",
        "metrics.json",
    ]
