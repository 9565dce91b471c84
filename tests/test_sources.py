"""Frame sources: MOT sequences, split folders (MOT17 aliases), videos, image folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import MOT_DIR, SHARED

from mot_pipeline.errors import InputError
from mot_pipeline.sources import (
    DEFAULT_FRAME_RATE,
    KIND_IMAGES,
    KIND_MOT,
    KIND_VIDEO,
    UNKNOWN_LENGTH,
    Sequence,
    open_sources,
)

PEOPLE_MP4 = SHARED / "data" / "video" / "people.mp4"
W, H = 32, 24


def _image(value: int) -> np.ndarray:
    """A flat grey image: survives JPEG compression within a level or two."""
    return np.full((H, W, 3), value, np.uint8)


def _make_sequence(
    root: Path,
    name: str,
    length: int = 3,
    write: int | None = None,
    fps: int = 25,
    det: str = "",
    size: tuple[int, int] = (W, H),
) -> Path:
    """A MOTChallenge sequence folder with `write` (default: all) of its `length` frames."""
    seq = root / name
    (seq / "img1").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text(
        "[Sequence]\n"
        f"name={name}\nimDir=img1\nframeRate={fps}\nseqLength={length}\n"
        f"imWidth={size[0]}\nimHeight={size[1]}\nimExt=.jpg\n"
    )
    for i in range(1, (length if write is None else write) + 1):
        cv2.imwrite(str(seq / "img1" / f"{i:06d}.jpg"), _image(40 * i))
    (seq / "gt").mkdir()
    (seq / "gt" / "gt.txt").write_text("1,1,1,1,5,5,1,1,1\n")
    if det:
        (seq / "det").mkdir()
        (seq / "det" / "det.txt").write_text(det)
    return seq


# ---------------------------------------------------------------------------------------------
# MOTChallenge sequences
# ---------------------------------------------------------------------------------------------


def test_mot_sequence(tmp_path: Path) -> None:
    seq_dir = _make_sequence(tmp_path, "SEQ-01", det="1,-1,1,1,5,5,30\n")
    [seq] = open_sources(seq_dir)
    assert (seq.name, seq.kind, seq.frame_rate, seq.width, seq.height, seq.length) == (
        "SEQ-01",
        KIND_MOT,
        25.0,
        W,
        H,
        3,
    )
    assert seq.aliases == ("SEQ-01",)
    assert seq.gt_path == seq_dir / "gt" / "gt.txt"
    assert seq.det_path == seq_dir / "det" / "det.txt" == seq.det_path_for("SEQ-01")
    frames = list(seq.frames())
    assert [i for i, _ in frames] == [0, 1, 2]
    for i, image in frames:
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
        assert abs(float(image.mean()) - 40 * (i + 1)) < 3  # frame i is img1/00000{i+1}.jpg


def test_mot_sequence_without_det_and_frame_rate_override(tmp_path: Path) -> None:
    seq_dir = _make_sequence(tmp_path, "SEQ-01")
    [seq] = open_sources(seq_dir, frame_rate=12.5)
    assert seq.frame_rate == 12.5 and seq.det_path is None
    assert seq.det_paths == {"SEQ-01": None}


def test_missing_frame_is_reported_at_open(tmp_path: Path) -> None:
    seq_dir = _make_sequence(tmp_path, "SEQ-01", length=5, write=3)
    with pytest.raises(InputError, match="missing frame 4 of 5") as info:
        open_sources(seq_dir)
    assert info.value.path == seq_dir / "img1" / "000004.jpg"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_jpeg_names_the_file(tmp_path: Path, damage: str) -> None:
    seq_dir = _make_sequence(tmp_path, "SEQ-01")
    bad = seq_dir / "img1" / "000002.jpg"
    data = bad.read_bytes()
    bad.write_bytes(
        {"garbage": b"not a jpeg", "truncated": data[: len(data) // 2], "empty": b""}[damage]
    )
    [seq] = open_sources(seq_dir)
    frames = seq.frames()
    assert next(frames)[0] == 0
    with pytest.raises(InputError) as info:
        next(frames)
    assert info.value.path == bad
    assert "000002.jpg" in str(info.value) and "\n" not in str(info.value)


def test_image_size_must_match_seqinfo(tmp_path: Path) -> None:
    seq_dir = _make_sequence(tmp_path, "SEQ-01", size=(W * 2, H))
    [seq] = open_sources(seq_dir)
    with pytest.raises(InputError, match=f"image is {W}x{H}, the sequence is {2 * W}x{H}"):
        next(seq.frames())


def test_malformed_seqinfo(tmp_path: Path) -> None:
    seq_dir = _make_sequence(tmp_path, "SEQ-01")
    (seq_dir / "seqinfo.ini").write_text("[Sequence]\nname=SEQ-01\n")
    with pytest.raises(InputError, match="seqinfo"):
        open_sources(seq_dir)


# ---------------------------------------------------------------------------------------------
# Split folders and MOT17 aliases
# ---------------------------------------------------------------------------------------------


def test_split_folder_groups_mot17_aliases(tmp_path: Path) -> None:
    for detector in ("SDP", "DPM", "FRCNN"):
        _make_sequence(tmp_path, f"MOT17-02-{detector}", det=f"1,-1,1,1,5,5,{len(detector)}\n")
    _make_sequence(tmp_path, "MOT17-04-FRCNN", det="1,-1,1,1,5,5,1\n")
    _make_sequence(tmp_path, "ANOTHER-01")
    (tmp_path / "not-a-sequence").mkdir()
    (tmp_path / "README.txt").write_text("hello")

    sequences = open_sources(tmp_path)
    assert [s.name for s in sequences] == ["ANOTHER-01", "MOT17-02", "MOT17-04-FRCNN"]
    plain, grouped, single = sequences
    assert plain.aliases == ("ANOTHER-01",)
    assert single.aliases == ("MOT17-04-FRCNN",)
    assert grouped.aliases == ("MOT17-02-DPM", "MOT17-02-FRCNN", "MOT17-02-SDP")
    for alias in grouped.aliases:
        assert grouped.det_path_for(alias) == tmp_path / alias / "det" / "det.txt"
    assert grouped.det_path is None  # ambiguous for a group: ask per alias
    assert grouped.gt_path is not None and grouped.gt_path.name == "gt.txt"
    assert grouped.length == 3 and len(list(grouped.frames())) == 3
    with pytest.raises(KeyError, match="not an alias"):
        grouped.det_path_for("MOT17-04-FRCNN")


def test_mot17_variants_with_different_images_are_not_grouped(tmp_path: Path) -> None:
    _make_sequence(tmp_path, "MOT17-09-DPM", length=3)
    _make_sequence(tmp_path, "MOT17-09-SDP", length=4)
    assert [s.name for s in open_sources(tmp_path)] == ["MOT17-09-DPM", "MOT17-09-SDP"]


def test_shared_split_folder() -> None:
    if not MOT_DIR.is_dir():
        pytest.skip("shared MOT data not found")
    sequences = open_sources(MOT_DIR)
    assert [(s.name, s.length, s.frame_rate) for s in sequences] == [
        ("KITTI-17", 145, 10.0),
        ("PETS09-S2L1", 795, 7.0),
        ("TUD-Campus", 71, 25.0),
        ("TUD-Stadtmitte", 179, 25.0),
    ]
    for seq in sequences:
        assert seq.gt_path is not None and seq.gt_path.is_file()
        assert seq.det_path is not None and seq.det_path.is_file()
        index, image = next(seq.frames())
        assert index == 0 and image.shape == (seq.height, seq.width, 3)


# ---------------------------------------------------------------------------------------------
# Videos
# ---------------------------------------------------------------------------------------------


def _write_video(path: Path, n: int, fps: float) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()


def test_video_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write_video(path, 5, 12.0)
    [seq] = open_sources(path)
    assert (seq.name, seq.kind, seq.width, seq.height) == ("clip", KIND_VIDEO, 64, 48)
    assert seq.frame_rate == pytest.approx(12.0)
    assert seq.length in (5, UNKNOWN_LENGTH)
    assert seq.gt_path is None and seq.det_path is None
    frames = list(seq.frames())
    assert [i for i, _ in frames] == list(range(5))
    assert frames[0][1].shape == (48, 64, 3)
    assert open_sources(path, frame_rate=3)[0].frame_rate == 3.0


def test_shared_video_opens() -> None:
    if not PEOPLE_MP4.is_file():
        pytest.skip("shared video not found")
    [seq] = open_sources(PEOPLE_MP4)
    index, image = next(seq.frames())
    assert index == 0 and image.shape == (seq.height, seq.width, 3)
    assert seq.frame_rate > 0


def test_unreadable_video(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 1000)
    with pytest.raises(InputError) as info:
        open_sources(path)
    assert info.value.path == path


# ---------------------------------------------------------------------------------------------
# Image folders and bad paths
# ---------------------------------------------------------------------------------------------


def test_image_folder_in_natural_order(tmp_path: Path) -> None:
    for number in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"f{number}.png"), _image(number * 10))
    cv2.imwrite(str(tmp_path / ".f0.png"), _image(0))  # hidden: ignored
    (tmp_path / "notes.txt").write_text("not an image")
    [seq] = open_sources(tmp_path)
    assert (seq.kind, seq.length, seq.width, seq.height) == (KIND_IMAGES, 3, W, H)
    assert seq.name == tmp_path.name and seq.frame_rate == DEFAULT_FRAME_RATE
    assert [int(image[0, 0, 0]) for _, image in seq.frames()] == [10, 20, 100]  # PNG: exact
    assert open_sources(tmp_path, frame_rate=5)[0].frame_rate == 5.0


def test_image_folder_with_mixed_sizes(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), _image(1))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((H + 2, W, 3), np.uint8))
    [seq] = open_sources(tmp_path)
    with pytest.raises(InputError, match=r"b\.png"):
        list(seq.frames())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nothing-here", "no such file"),
        (lambda p: p, "no images"),
        (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "not a video"),
    ],
)
def test_bad_paths(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as info:
        open_sources(path)
    assert info.value.path == path


@pytest.mark.parametrize("rate", [0, -1, float("nan"), float("inf")])
def test_bad_frame_rate_override(tmp_path: Path, rate: float) -> None:
    _make_sequence(tmp_path, "SEQ-01")
    with pytest.raises(InputError, match="frame rate"):
        open_sources(tmp_path / "SEQ-01", frame_rate=rate)


def test_sequence_is_frozen(tmp_path: Path) -> None:
    [seq] = open_sources(_make_sequence(tmp_path, "SEQ-01"))
    assert isinstance(seq, Sequence)
    with pytest.raises(AttributeError):
        seq.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        seq.det_paths["SEQ-01"] = None  # type: ignore[index]
