"""MOTChallenge text files: parsing, the 1-based conversion, validation, atomic writing."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import MOT_DIR, SAMPLE, SEQUENCES

from mot_pipeline.errors import InputError
from mot_pipeline.motchallenge import (
    GT_STYLE_MOT15,
    GT_STYLE_MOT16,
    MotRows,
    ResultWriter,
    detections_by_frame,
    format_gt_rows,
    format_seqinfo,
    read_detections,
    read_mot_file,
    read_seqinfo,
    write_result_rows,
    write_results,
    write_submission_zip,
)
from mot_pipeline.types import FrameResult, Tracks


def _write(tmp_path: Path, text: str, name: str = "file.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _seq(name: str) -> Path:
    seq = MOT_DIR / name
    if not (seq / "gt" / "gt.txt").is_file():
        pytest.skip(f"shared sequence {name} not available")
    return seq


# ---------------------------------------------------------------------------------- reading


def test_det_comma_and_whitespace_rows_convert_to_zero_based_xyxy(tmp_path: Path) -> None:
    path = _write(tmp_path, "1,-1,11,21,30,40,0.9,-1,-1,-1\n\n3 -1 1.5 1 10 20 0.25 -1 -1 -1\n")
    rows = read_mot_file(path, "det")
    np.testing.assert_array_equal(rows.frames, [0, 2])
    # left 11 (1-based) -> x1 10; x2 = x1 + width = 40; top 21 -> y1 20; y2 = 60.
    np.testing.assert_allclose(rows.boxes, [[10, 20, 40, 60], [0.5, 0, 10.5, 20]])
    np.testing.assert_allclose(rows.scores, [0.9, 0.25])
    np.testing.assert_array_equal(rows.classes, [-1, -1])
    assert rows.boxes.dtype == np.float32 and rows.frames.dtype == np.int64
    assert rows.kind == "det" and rows.style is None and rows.path == path
    assert not rows.boxes.flags.writeable


def test_gt_flavours_are_recognised_per_file(tmp_path: Path) -> None:
    mot15 = read_mot_file(
        _write(tmp_path, "1,1,1,1,10,10,1,-1,-1,-1\n1,2,5,5,10,10,0,3.2,4.1,0\n", "a.txt"), "gt"
    )
    assert mot15.style == GT_STYLE_MOT15
    np.testing.assert_array_equal(mot15.scores, [1, 0])  # consider flag
    np.testing.assert_array_equal(mot15.classes, [-1, -1])  # world x is not a class
    np.testing.assert_array_equal(mot15.visibility, [1, 1])

    mot16 = read_mot_file(
        _write(tmp_path, "1,1,1,1,10,10,1,1,0.75\n2,1,2,2,10,10,0,7,0.1\n", "b.txt"), "gt"
    )
    assert mot16.style == GT_STYLE_MOT16
    np.testing.assert_array_equal(mot16.classes, [1, 7])
    np.testing.assert_allclose(mot16.visibility, [0.75, 0.1])
    np.testing.assert_array_equal(mot16.scores, [1, 0])


def test_gt_writer_round_trips_both_flavours(tmp_path: Path) -> None:
    mot16_text = "2,1,2.000,2.000,10.000,10.000,0,7,0.1\n1,1,1.000,1.000,10.000,10.000,1,1,0.75\n"
    mot16 = read_mot_file(_write(tmp_path, mot16_text, "b.txt"), "gt")
    text = format_gt_rows(mot16)
    assert text.splitlines() == [  # sorted by frame, 1-based as read
        "1,1,1.000,1.000,10.000,10.000,1,1,0.75",
        "2,1,2.000,2.000,10.000,10.000,0,7,0.1",
    ]
    again = read_mot_file(_write(tmp_path, text, "c.txt"), "gt")
    assert again.style == GT_STYLE_MOT16
    np.testing.assert_array_equal(again.classes, [1, 7])
    mot15 = read_mot_file(_write(tmp_path, "1,1,1,1,10,10,1,3.2,4.1,0\n", "a.txt"), "gt")
    assert format_gt_rows(mot15) == "1,1,1.000,1.000,10.000,10.000,1,-1,-1,-1\n"
    with pytest.raises(ValueError, match="ground-truth"):
        format_gt_rows(read_mot_file(_write(tmp_path, "1,1,1,1,10,10,1\n", "r.txt"), "result"))


def test_seqinfo_writer_round_trips(tmp_path: Path) -> None:
    info = read_seqinfo(SAMPLE)
    (tmp_path / "seqinfo.ini").write_text(format_seqinfo(info))
    assert read_seqinfo(tmp_path) == info


def test_result_columns_default_when_absent(tmp_path: Path) -> None:
    rows = read_mot_file(
        _write(tmp_path, "1,4,1,1,10,10\n2,4,1,1,10,10,0.5,-1,-1,-1\n2,5,1,1,10,10,0.5,1\n"),
        "result",
    )
    np.testing.assert_allclose(rows.scores, [1.0, 0.5, 0.5])
    np.testing.assert_array_equal(rows.classes, [-1, -1, 1])
    np.testing.assert_array_equal(rows.ids, [4, 4, 5])


@pytest.mark.parametrize("kind", ["det", "result"])
def test_empty_det_and_result_files_are_valid(tmp_path: Path, kind: str) -> None:
    rows = read_mot_file(_write(tmp_path, "\n  \n"), kind)
    assert len(rows) == 0 and rows.boxes.shape == (0, 4) and rows.num_frames == 0


def test_empty_gt_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no rows"):
        read_mot_file(_write(tmp_path, ""), "gt")


@pytest.mark.parametrize(
    ("kind", "second_line", "problem"),
    [
        ("det", "2,-1,1,1,x,10,0.5,-1,-1,-1", "non-numeric value 'x'"),
        ("det", "2,-1,1,1,10,10", "6 columns"),
        ("result", "2,3,1,1,10", "5 columns"),
        ("result", "2,3,1,nan,10,10", "NaN"),
        ("result", "0,3,1,1,10,10", "frame must be >= 1"),
        ("result", "2.5,3,1,1,10,10", "frame must be an integer"),
        ("result", "2,3,1,1,0,10", "width and height must be > 0"),
        ("gt", "2,3,1,1,10,-2,1,-1,-1,-1", "width and height must be > 0"),
        ("result", "1,1,5,5,10,10", "duplicate id 1 in frame 1"),
        ("gt", "1,1,5,5,10,10,1,-1,-1,-1", "duplicate id 1 in frame 1"),
        ("gt", "2,3,1,1,10,10,1,1,1", "column count differs"),
        ("gt", "2,3,1,1,10,10,0.5,-1,-1,-1", "consider flag"),
        ("gt", "2,3,1,1,10,10,1,-1", "8 columns"),
    ],
)
def test_malformed_rows_name_file_and_line(
    tmp_path: Path, kind: str, second_line: str, problem: str
) -> None:
    first = "1,1,1,1,10,10,1,-1,-1,-1"
    path = _write(tmp_path, f"{first}\n{second_line}\n", "bad.txt")
    with pytest.raises(InputError) as err:
        read_mot_file(path, kind)
    message = str(err.value)
    assert message.startswith(str(path)) and "line 2" in message and problem in message
    assert "\n" not in message


def test_mot16_gt_rejects_unknown_class(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"line 1: class must be in 1\.\.13"):
        read_mot_file(_write(tmp_path, "1,1,1,1,10,10,1,14,1\n"), "gt")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_mot_file(tmp_path / "nope.txt", "result")
    with pytest.raises(InputError, match="is a directory"):
        read_mot_file(tmp_path, "det")


def test_degenerate_detections_are_kept(tmp_path: Path) -> None:
    # Zero width, negative height and a box left of the image: all kept for the consumer.
    path = _write(tmp_path, "1,-1,5,5,0,10,0.3\n1,-1,5,5,10,-3,0.3\n1,-1,-50,5,10,10,0.3\n")
    rows = read_mot_file(path, "det")
    assert len(rows) == 3
    np.testing.assert_allclose(rows.boxes[2], [-51, 4, -41, 14])


def test_frame_selection_and_groups(tmp_path: Path) -> None:
    path = _write(tmp_path, "2,1,1,1,5,5\n1,2,1,1,5,5\n2,3,1,1,5,5\n")
    rows = read_mot_file(path, "result")
    np.testing.assert_array_equal(rows.frame(1).ids, [1, 3])
    assert len(rows.frame(7)) == 0
    groups = rows.frame_groups()
    assert sorted(groups) == [0, 1]
    np.testing.assert_array_equal(rows.ids[groups[1]], [1, 3])
    assert rows.num_frames == 2


@pytest.mark.parametrize("name", SEQUENCES)
def test_shared_sequences_parse(name: str) -> None:
    seq = _seq(name)
    gt = read_mot_file(seq / "gt" / "gt.txt", "gt")
    det = read_mot_file(seq / "det" / "det.txt", "det")
    gt_lines = (seq / "gt" / "gt.txt").read_text().split()
    assert len(gt) == len(gt_lines) and gt.style == GT_STYLE_MOT15
    assert len(det) == len((seq / "det" / "det.txt").read_text().split())
    f, i, left, top, w, h = (float(v) for v in gt_lines[0].split(",")[:6])
    assert (gt.frames[0], gt.ids[0]) == (f - 1, i)
    np.testing.assert_allclose(gt.boxes[0], [left - 1, top - 1, left - 1 + w, top - 1 + h])


def test_detections_by_frame_on_real_dets() -> None:
    seq = _seq("TUD-Campus")
    path = seq / "det" / "det.txt"
    rows = read_mot_file(path, "det")
    by_frame = detections_by_frame(rows)
    assert sum(len(d) for d in by_frame.values()) == len(rows)
    first = [ln for ln in path.read_text().split() if ln.split(",")[0] == "1"]
    assert len(by_frame[0]) == len(first)
    np.testing.assert_allclose(by_frame[0].scores, [float(ln.split(",")[6]) for ln in first])
    padded = read_detections(path, num_frames=rows.num_frames + 5)
    assert sorted(padded) == list(range(rows.num_frames + 5))
    assert len(padded[rows.num_frames + 4]) == 0


# ---------------------------------------------------------------------------------- writing


def _frame_results(seed: int = 0, frames: int = 6) -> list[FrameResult]:
    rng = np.random.default_rng(seed)
    out = []
    for f in range(frames):
        n = int(rng.integers(0, 5))
        ids = rng.choice(np.arange(1, 50), size=n, replace=False)
        xy = rng.uniform(-20, 600, size=(n, 2))
        wh = rng.uniform(1, 200, size=(n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        out.append(FrameResult(f, Tracks(ids, boxes, rng.uniform(0, 1, n))))
    return out


def test_round_trip_preserves_frames_ids_and_boxes(tmp_path: Path) -> None:
    results = _frame_results()
    path = tmp_path / "out" / "SEQ.txt"
    assert write_results(path, results) == 0
    back = read_mot_file(path, "result")
    expected = sorted(
        (fr.frame_index, int(i), tuple(b), float(s))
        for fr in results
        for i, b, s in zip(fr.tracks.ids, fr.tracks.boxes, fr.tracks.scores, strict=True)
    )
    assert len(back) == len(expected)
    np.testing.assert_array_equal(back.frames, [e[0] for e in expected])
    np.testing.assert_array_equal(back.ids, [e[1] for e in expected])
    np.testing.assert_allclose(back.boxes, [e[2] for e in expected], atol=1e-2)
    np.testing.assert_allclose(back.scores, [e[3] for e in expected], atol=1e-3)
    # 1-based frames, sorted by frame then id, ten columns ending in -1,-1,-1.
    lines = path.read_text().splitlines()
    keys = [(int(ln.split(",")[0]), int(ln.split(",")[1])) for ln in lines]
    assert keys == sorted(keys) and keys[0][0] >= 1
    assert all(ln.endswith(",-1,-1,-1") and ln.count(",") == 9 for ln in lines)


def test_writer_formats_one_hand_row(tmp_path: Path) -> None:
    tracks = Tracks([7], [[10.0, 20.0, 40.5, 60.0]], [0.875])
    path = tmp_path / "r.txt"
    write_results(path, [FrameResult(0, tracks)])
    assert path.read_text() == "1,7,11.000,21.000,30.500,40.000,0.875,-1,-1,-1\n"


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    write_results(path, _frame_results(1))
    before = path.read_text()
    with pytest.raises(InputError, match="exists; pass --overwrite"):
        write_results(path, _frame_results(2))
    assert path.read_text() == before
    write_results(path, _frame_results(2), overwrite=True)
    assert path.read_text() != before


def test_aliases_get_identical_files(tmp_path: Path) -> None:
    names = [tmp_path / f"MOT17-02-{d}.txt" for d in ("DPM", "FRCNN", "SDP")]
    names[2].write_text("old\n")
    with pytest.raises(InputError, match="SDP"):
        write_results(names, _frame_results())
    assert not names[0].exists()  # nothing written when one target is refused
    write_results(names, _frame_results(), overwrite=True)
    texts = {p.read_text() for p in names}
    assert len(texts) == 1 and texts.pop().count("\n") > 0


def test_failed_write_leaves_no_file_behind(tmp_path: Path) -> None:
    def frames():
        yield from _frame_results()[:2]
        raise RuntimeError("pipeline crashed")

    path = tmp_path / "r.txt"
    with pytest.raises(RuntimeError):
        write_results(path, frames())
    with pytest.raises(RuntimeError), ResultWriter(path) as writer:
        writer.add(_frame_results()[0])
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_result_writer_streams_and_writes_on_close(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    with ResultWriter(path) as writer:
        for fr in _frame_results(3):
            writer.add(fr)
        assert not path.exists()
    assert len(read_mot_file(path, "result")) == sum(len(fr.tracks) for fr in _frame_results(3))
    with pytest.raises(InputError, match="exists"):
        ResultWriter(path)


def test_degenerate_boxes_are_left_out_and_counted(tmp_path: Path) -> None:
    tracks = Tracks([1, 2, 3], [[0, 0, 10, 10], [5, 5, 5, 9], [1, 1, 0, 4]], [1, 1, 1])
    path = tmp_path / "r.txt"
    assert write_results(path, [FrameResult(0, tracks)]) == 2
    np.testing.assert_array_equal(read_mot_file(path, "result").ids, [1])


def test_write_rows_round_trips_gt_as_result(tmp_path: Path) -> None:
    gt = read_mot_file(_seq("TUD-Campus") / "gt" / "gt.txt", "gt")
    rows = MotRows(gt.frames, gt.ids, gt.boxes, gt.scores, gt.classes, gt.visibility)
    write_result_rows(tmp_path / "r.txt", rows)
    back = read_mot_file(tmp_path / "r.txt", "result")
    order = np.lexsort((gt.ids, gt.frames))
    np.testing.assert_array_equal(back.ids, gt.ids[order])
    np.testing.assert_allclose(back.boxes, gt.boxes[order], atol=1e-2)


def test_submission_zip_has_files_at_root(tmp_path: Path) -> None:
    a, b = tmp_path / "res" / "A.txt", tmp_path / "res" / "B.txt"
    write_results(a, _frame_results(4))
    write_results(b, _frame_results(5))
    zip_path = write_submission_zip([a, b], tmp_path / "sub" / "submission.zip")
    with zipfile.ZipFile(zip_path) as zf:
        assert sorted(zf.namelist()) == ["A.txt", "B.txt"]
        assert zf.read("A.txt").decode() == a.read_text()
    with pytest.raises(InputError, match="exists"):
        write_submission_zip([a], zip_path)
    with pytest.raises(InputError, match=r"several result files named A\.txt"):
        write_submission_zip([a, tmp_path / "A.txt"], tmp_path / "x.zip")
    with pytest.raises(InputError, match="not found"):
        write_submission_zip([tmp_path / "missing.txt"], tmp_path / "y.zip")
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "y.zip").exists()


def test_submission_zip_is_reproducible(tmp_path: Path) -> None:
    """The same files packed again later (new file times and permissions, another order) give
    a byte-identical archive."""
    a, b = tmp_path / "res" / "A.txt", tmp_path / "res" / "B.txt"
    write_results(a, _frame_results(4))
    write_results(b, _frame_results(5))
    first = write_submission_zip([b, a], tmp_path / "1" / "submission.zip")
    for i, p in enumerate([a, b]):
        os.utime(p, (1_700_000_000 + i, 1_700_000_000 + i))  # as if rewritten later
        p.chmod(0o600)
    second = write_submission_zip([a, b], tmp_path / "2" / "submission.zip")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(second) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["A.txt", "B.txt"]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
        assert zf.read("B.txt") == b.read_bytes()
