"""Frozen data that flows through a frame: detections in, tracks out.

Arrays are validated and made read-only at construction, so a plugin cannot change what another
plugin holds. Boxes are float32 (N, 4) `x1, y1, x2, y2` in 0-based pixels (see `boxes.py`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from mot_pipeline.boxes import as_boxes

UNKNOWN_CLASS = -1  # a track's class when no detection gave it one (e.g. a given box)


def check_frame(frame: object) -> np.ndarray:
    """`frame` if it is an (H, W, 3) BGR uint8 image, else ValueError: the pipeline and the
    appearance trackers take frames as OpenCV decodes them, and a float or grey image would
    be tracked wrongly without any error."""
    ok = isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
    if not ok or frame.dtype != np.uint8 or 0 in frame.shape:
        what = (
            f"{frame.dtype} array of shape {frame.shape}"
            if isinstance(frame, np.ndarray)
            else type(frame).__name__
        )
        raise ValueError(f"frame must be an (H, W, 3) BGR uint8 array, got a {what}")
    return frame


def check_choices(config: object) -> None:
    """ValueError naming the first `Literal` field of dataclass `config` whose value is not
    one of its choices (the YAML loader checks them too; this covers the Python API)."""
    hints = typing.get_type_hints(type(config))
    for f in fields(config):  # type: ignore[arg-type]
        hint = hints[f.name]
        if typing.get_origin(hint) is Literal:
            value, choices = getattr(config, f.name), typing.get_args(hint)
            if value not in choices:
                raise ValueError(f"{f.name} must be one of {choices}, got {value!r}")


def group_by_frame(frames: np.ndarray) -> dict[int, np.ndarray]:
    """Frame index -> the indices of the rows on it, in row order: per-frame loops over MOT
    rows without an O(rows x frames) scan."""
    frames = np.asarray(frames)
    if len(frames) == 0:
        return {}
    order = np.argsort(frames, kind="stable")
    values, starts = np.unique(frames[order], return_index=True)
    bounds = [*starts[1:].tolist(), len(order)]
    return {
        int(f): order[s:e] for f, s, e in zip(values.tolist(), starts.tolist(), bounds, strict=True)
    }


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


def _vector(values: object, n: int, dtype: type, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries for {n} boxes")
    return arr


@dataclass(frozen=True, eq=False)
class Detections:
    """Detector output for one frame: boxes (N, 4), scores (N,), classes (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __init__(self, boxes: object, scores: object, classes: object | None = None) -> None:
        b = as_boxes(boxes)
        n = len(b)
        if not np.isfinite(b).all():
            raise ValueError("detection boxes must be finite")
        s = _vector(scores, n, np.float32, "scores")
        c = np.zeros(n, np.int64) if classes is None else _vector(classes, n, np.int64, "classes")
        object.__setattr__(self, "boxes", _frozen(b))
        object.__setattr__(self, "scores", _frozen(s))
        object.__setattr__(self, "classes", _frozen(c))

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, index: np.ndarray) -> Detections:
        """Subset by boolean mask or integer index."""
        return Detections(self.boxes[index], self.scores[index], self.classes[index])


@dataclass(frozen=True, eq=False)
class Tracks:
    """Tracks reported for one frame.

    `detected[i]` is True when track i's box comes from a detection matched on this frame and
    False when the motion estimator propagated it; `scores` are the detection score for the
    former and the motion estimator's confidence for the latter. `classes[i]` is the track's
    detector class id (`lifecycle.py` keeps it stable), UNKNOWN_CLASS where none is known.
    """

    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    classes: np.ndarray

    def __init__(
        self,
        ids: object,
        boxes: object,
        scores: object,
        detected: object | None = None,
        classes: object | None = None,
    ) -> None:
        b = as_boxes(boxes)
        n = len(b)
        i = _vector(ids, n, np.int64, "ids")
        if len(np.unique(i)) != n:
            raise ValueError("track ids must be unique within a frame")
        s = _vector(scores, n, np.float32, "scores")
        d = np.zeros(n, bool) if detected is None else _vector(detected, n, bool, "detected")
        c = (
            np.full(n, UNKNOWN_CLASS, np.int64)
            if classes is None
            else _vector(classes, n, np.int64, "classes")
        )
        object.__setattr__(self, "ids", _frozen(i))
        object.__setattr__(self, "boxes", _frozen(b))
        object.__setattr__(self, "scores", _frozen(s))
        object.__setattr__(self, "detected", _frozen(d))
        object.__setattr__(self, "classes", _frozen(c))

    @classmethod
    def empty(cls) -> Tracks:
        return cls(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class FrameResult:
    """What the pipeline emits per frame: 0-based frame index, its tracks, and whether the
    detector ran on it (`detections` is None on propagated-only frames)."""

    frame_index: int
    tracks: Tracks
    detections: Detections | None = None

    @property
    def detector_ran(self) -> bool:
        return self.detections is not None
