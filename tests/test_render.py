"""Rendering: stable id colours, solid vs dashed boxes, pure drawing, all-or-nothing mp4."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mot_pipeline.errors import InputError
from mot_pipeline.render import (
    RenderConfig,
    TrackRenderer,
    VideoWriter,
    color_for_id,
    draw,
)
from mot_pipeline.types import FrameResult, Tracks

H, W = 120, 160


def _frame(value: int = 30) -> np.ndarray:
    return np.full((H, W, 3), value, np.uint8)


def _tracks(ids, boxes, detected) -> Tracks:
    return Tracks(ids, np.asarray(boxes, np.float32), np.ones(len(ids)), detected)


def test_color_for_id_is_a_fixed_function_of_the_id() -> None:
    # hue 0 at saturation 0.85, value 0.95: red = 0.95 * 255, green = blue = 0.15 * red
    assert color_for_id(0) == (36, 36, 242)
    assert color_for_id(7) == color_for_id(np.int64(7))
    colors = {color_for_id(i) for i in range(1, 51)}
    assert len(colors) == 50  # 50 consecutive ids, 50 different colours


def test_detected_box_is_solid_and_keeps_its_colour_across_frames() -> None:
    color = np.array(color_for_id(7), np.uint8)
    first = draw(_frame(), _tracks([7], [[40, 50, 100, 110]], [True]), 0)
    second = draw(_frame(), _tracks([3, 7], [[5, 5, 30, 30], [60, 40, 130, 100]], [True, True]), 1)
    # the bottom edge (exclusive y2 = 110 -> last row 109) in the colour of id 7, all along it
    assert (first[109, 45:95] == color).all()
    assert (second[99, 65:125] == color).all()  # same id on another frame, same colour
    assert not (second[29, 10:25] == color).all(axis=1).any()  # id 3 has another colour


def test_propagated_box_is_dashed() -> None:
    color = np.array(color_for_id(5), np.uint8)
    image = draw(_frame(), _tracks([5], [[20, 30, 120, 100]], [False]), 4)
    edge = (image[99, 20:120] == color).all(axis=1)  # bottom edge
    assert edge.any() and not edge.all()  # dashes and gaps
    cfg = RenderConfig()
    assert edge[: cfg.dash_length].all() and not edge[cfg.dash_length + 2]


def test_draw_is_pure_and_writes_the_frame_index() -> None:
    image = _frame()
    original = image.copy()
    out = draw(image, Tracks.empty(), 12)
    assert out is not image and np.array_equal(image, original)
    assert not np.array_equal(out[:20, :80], original[:20, :80])  # "frame 12" top-left
    assert np.array_equal(out[60:, :], original[60:, :])  # nothing else drawn
    marked = TrackRenderer().draw_result(image, FrameResult(12, Tracks.empty(), None))
    assert np.array_equal(marked, out)  # detector did not run: no "det" mark


def test_boxes_outside_or_invalid_are_skipped() -> None:
    ids = [1, 2, 3]
    boxes = [[-500, -500, -10, -10], [1e9, 1e9, 2e9, 2e9], [np.nan, 0, 10, 10]]
    out = draw(_frame(), _tracks(ids, boxes, [True, False, True]), 0)
    assert np.array_equal(out[30:], _frame()[30:])


def test_draw_rejects_non_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        draw(np.zeros((H, W, 3), np.float32), Tracks.empty(), 0)


def _count_frames(path: Path) -> tuple[int, float, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    fps = capture.get(cv2.CAP_PROP_FPS)
    n, size = 0, (0, 0)
    while True:
        ok, image = capture.read()
        if not ok:
            break
        n, size = n + 1, (image.shape[1], image.shape[0])
    capture.release()
    return n, fps, size


def test_video_writer_writes_a_readable_mp4(tmp_path: Path) -> None:
    path = tmp_path / "out" / "video.mp4"
    tracks = _tracks([7], [[40, 50, 100, 110]], [True])
    with VideoWriter(path, fps=10) as video:
        for i in range(6):
            video.write(_frame(20 * i), tracks, i)
        assert not path.exists()  # only a temporary file until close
    assert video.frames_written == 6
    assert _count_frames(path) == (6, pytest.approx(10.0), (W, H))
    assert sorted(p.name for p in path.parent.iterdir()) == ["video.mp4"]  # no temp left


def test_video_writer_leaves_nothing_on_error(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(path, fps=10) as video:
        video.write(_frame())
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_video_writer_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    path.write_bytes(b"old")
    with pytest.raises(InputError, match="exists"):
        VideoWriter(path, fps=10)
    with VideoWriter(path, fps=10, size=(W, H), overwrite=True) as video:
        video.write(_frame())
        with pytest.raises(ValueError, match="size"):
            video.write(np.zeros((H, W + 2, 3), np.uint8))
    assert _count_frames(path)[0] == 1


def test_video_writer_without_frames_writes_nothing(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "video.mp4", fps=10):
        pass
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "video.mp4", fps=0)
