"""Drawing tracks on frames and writing the frames to an mp4 (OpenCV only: no font files).

Each track id keeps one colour on every frame and in every run (`color_for_id` is a pure
function of the id). Boxes matched to a detection on this frame are drawn solid; boxes the
motion estimator propagated are drawn thin and dashed, so detector frames stand out. A box's
label is its class name (from the detector's names) and id, e.g. `person 3`.
"""

from __future__ import annotations

import colorsys
import contextlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from mot_pipeline.errors import InputError
from mot_pipeline.types import UNKNOWN_CLASS, FrameResult, Tracks, check_frame

# Hue steps by the golden ratio's conjugate: consecutive ids land far apart on the colour wheel
# and no two ids below a few hundred get near-identical hues.
GOLDEN_RATIO_CONJUGATE = (math.sqrt(5.0) - 1.0) / 2.0
ID_SATURATION = 0.85
ID_VALUE = 0.95
LIGHT_LABEL = 140  # luma above which a label background gets black text, else white
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX  # built into OpenCV
DEFAULT_FOURCC = "mp4v"


@dataclass(frozen=True)
class RenderConfig:
    detected_thickness: int = 2
    propagated_thickness: int = 1
    dash_length: int = 6  # px, dashes and gaps of propagated boxes
    font_scale: float = 0.5
    text_thickness: int = 1
    label_padding: int = 2  # px around label text
    show_scores: bool = False

    def __post_init__(self) -> None:
        for name in ("detected_thickness", "propagated_thickness", "dash_length", "text_thickness"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.font_scale <= 0 or self.label_padding < 0:
            raise ValueError("font_scale must be > 0 and label_padding >= 0")


def color_for_id(track_id: int) -> tuple[int, int, int]:
    """The BGR colour of `track_id`: deterministic, the same on every frame and run."""
    hue = (int(track_id) * GOLDEN_RATIO_CONJUGATE) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, ID_SATURATION, ID_VALUE)
    return round(blue * 255), round(green * 255), round(red * 255)


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    blue, green, red = background
    return BLACK if 0.299 * red + 0.587 * green + 0.114 * blue > LIGHT_LABEL else WHITE


def _dashed_rectangle(
    image: np.ndarray,
    top_left: tuple[int, int],
    bottom_right: tuple[int, int],
    color: tuple[int, int, int],
    thickness: int,
    dash: int,
) -> None:
    (x1, y1), (x2, y2) = top_left, bottom_right
    for start in range(x1, x2 + 1, 2 * dash):
        end = min(start + dash, x2)
        cv2.line(image, (start, y1), (end, y1), color, thickness, cv2.LINE_8)
        cv2.line(image, (start, y2), (end, y2), color, thickness, cv2.LINE_8)
    for start in range(y1, y2 + 1, 2 * dash):
        end = min(start + dash, y2)
        cv2.line(image, (x1, start), (x1, end), color, thickness, cv2.LINE_8)
        cv2.line(image, (x2, start), (x2, end), color, thickness, cv2.LINE_8)


def _overlaps_frame(box: np.ndarray, width: int, height: int) -> bool:
    return bool(box[0] < width and box[2] > 0 and box[1] < height and box[3] > 0)


def track_label(
    track_id: int, class_id: int, names: Mapping[int, str], score: float | None = None
) -> str:
    """`person 3` (class name and id); `c5 3` for a class without a name, `3` for an unknown
    class; the score appended when given."""
    if class_id == UNKNOWN_CLASS:
        label = str(track_id)
    else:
        label = f"{names.get(class_id, f'c{class_id}')} {track_id}"
    return label if score is None else f"{label} {score:.2f}"


class TrackRenderer:
    """Draws `Tracks` onto copies of frames; holds its (frozen) style and the detector's class
    names (id -> name) for the labels."""

    Config = RenderConfig

    def __init__(
        self, config: RenderConfig | None = None, names: Mapping[int, str] | None = None
    ) -> None:
        self.config = config or RenderConfig()
        self.names = dict(names or {})

    def draw(
        self,
        image: np.ndarray,
        tracks: Tracks,
        frame_index: int,
        detector_ran: bool | None = None,
    ) -> np.ndarray:
        """A copy of `image` with every track's box and id, and the frame index top-left.

        `detector_ran=True` adds a "det" mark to the frame text (None/False: no mark).
        """
        check_frame(image)
        cfg = self.config
        canvas = image.copy()
        height, width = canvas.shape[:2]
        # Edges beyond the frame are moved to just outside it (still invisible), which keeps
        # coordinates small for OpenCV and dash loops short.
        margin = 2 * cfg.dash_length + max(cfg.detected_thickness, cfg.propagated_thickness)
        for track_id, box, score, detected, class_id in zip(
            tracks.ids, tracks.boxes, tracks.scores, tracks.detected, tracks.classes, strict=True
        ):
            if not np.isfinite(box).all() or not _overlaps_frame(box, width, height):
                continue
            x1, x2 = np.clip(box[[0, 2]], -margin, width + margin).round().astype(int).tolist()
            y1, y2 = np.clip(box[[1, 3]], -margin, height + margin).round().astype(int).tolist()
            color = color_for_id(int(track_id))
            corner = (x2 - 1, y2 - 1)  # x2, y2 are exclusive edges
            if detected:
                cv2.rectangle(canvas, (x1, y1), corner, color, cfg.detected_thickness, cv2.LINE_8)
            else:
                _dashed_rectangle(
                    canvas, (x1, y1), corner, color, cfg.propagated_thickness, cfg.dash_length
                )
            shown = float(score) if cfg.show_scores else None
            label = track_label(int(track_id), int(class_id), self.names, shown)
            self._label(canvas, label, (x1, y1), color)
        text = f"frame {frame_index}" + (" det" if detector_ran else "")
        self._label(canvas, text, (0, 0), WHITE, below=True)
        return canvas

    def draw_result(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """`draw` for a pipeline `FrameResult` (marks the frames where the detector ran)."""
        return self.draw(image, result.tracks, result.frame_index, result.detector_ran)

    def _label(
        self,
        canvas: np.ndarray,
        text: str,
        anchor: tuple[int, int],
        color: tuple[int, int, int],
        below: bool = False,
    ) -> None:
        """Text on a filled box of `color`, above `anchor` (or below it, or inside the frame)."""
        cfg = self.config
        (tw, th), baseline = cv2.getTextSize(text, FONT, cfg.font_scale, cfg.text_thickness)
        box_h = th + baseline + 2 * cfg.label_padding
        x = min(max(anchor[0], 0), max(canvas.shape[1] - tw - 2 * cfg.label_padding, 0))
        y = anchor[1] if below or anchor[1] - box_h < 0 else anchor[1] - box_h
        y = min(max(y, 0), max(canvas.shape[0] - box_h, 0))
        cv2.rectangle(canvas, (x, y), (x + tw + 2 * cfg.label_padding, y + box_h), color, -1)
        origin = (x + cfg.label_padding, y + cfg.label_padding + th)
        cv2.putText(
            canvas,
            text,
            origin,
            FONT,
            cfg.font_scale,
            _text_color(color),
            cfg.text_thickness,
            cv2.LINE_AA,
        )


def draw(image: np.ndarray, tracks: Tracks, frame_index: int) -> np.ndarray:
    """`TrackRenderer().draw` with the default style: a new image, `image` is left as is."""
    return TrackRenderer().draw(image, tracks, frame_index)


class VideoWriter:
    """Context manager writing BGR frames to an mp4 at `path`, all or nothing.

    Frames go to a hidden temporary file next to `path`, which replaces `path` only when the
    writer is closed cleanly; on an exception (or `abort()`) the temporary file is deleted, so a
    half-written video never appears under the final name. An existing `path` is refused up
    front unless `overwrite`. The frame size is that of the first frame unless
    `size=(width, height)` is given; closing before any frame writes no file.
    `write(frame, tracks, frame_index)` draws the tracks with `renderer` first.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        size: tuple[int, int] | None = None,
        *,
        overwrite: bool = False,
        renderer: TrackRenderer | None = None,
        fourcc: str = DEFAULT_FOURCC,
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError("is a directory", self.path)
        if self.path.exists() and not overwrite:
            raise InputError("exists; pass --overwrite", self.path)
        self.fps = float(fps)
        self.size = size
        self.renderer = renderer or TrackRenderer()
        self.fourcc = fourcc
        self.frames_written = 0
        # A process id in the name: the next run removes what a killed one left behind.
        self._tmp = self.path.with_name(f".{self.path.stem}.pid{os.getpid()}.tmp{self.path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self._closed = False
        if size is not None:
            self._open(size)

    def _open(self, size: tuple[int, int]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create output folder ({err.strerror})", self.path) from None
        code = cv2.VideoWriter_fourcc(*self.fourcc)
        writer = cv2.VideoWriter(str(self._tmp), code, self.fps, size)
        if not writer.isOpened():
            writer.release()
            with contextlib.suppress(OSError):
                self._tmp.unlink(missing_ok=True)
            raise InputError(
                f"cannot write video (codec {self.fourcc!r} unavailable or folder not writable)",
                self.path,
            )
        self.size = size
        self._writer = writer

    def write(
        self, image: np.ndarray, tracks: Tracks | None = None, frame_index: int | None = None
    ) -> None:
        """Append one (H, W, 3) uint8 BGR frame of the video's size, with `tracks` drawn on it
        (and `frame_index` written in its corner) when given."""
        if self._closed:
            raise RuntimeError("write() on a closed VideoWriter")
        check_frame(image)
        size = (image.shape[1], image.shape[0])
        if self._writer is None:
            self._open(size)
        elif size != self.size:
            raise ValueError(f"frame size {size} differs from the video's {self.size}")
        if tracks is not None:
            index = self.frames_written if frame_index is None else frame_index
            image = self.renderer.draw(image, tracks, index)
        assert self._writer is not None
        self._writer.write(np.ascontiguousarray(image))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and move it to `path` (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._writer is None:
            return
        self._writer.release()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop everything written so far; `path` is left untouched (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.release()
        with contextlib.suppress(OSError):
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
