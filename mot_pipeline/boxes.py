"""Box conversions and overlaps: the one place that knows box formats.

Inside the project every box is a float32 array (N, 4) of `x1, y1, x2, y2` in 0-based pixel
coordinates (x2/y2 exclusive edges, so width = x2 - x1). Other formats exist only at the edges:
`xywh` (left, top, width, height) for MOTChallenge files and `cxcywh` / `cxcyah` for motion
models. The 1-based MOTChallenge offset is not handled here but in `motchallenge.py`.
"""

from __future__ import annotations

import numpy as np

FloatArray = np.ndarray


def as_boxes(boxes: object) -> FloatArray:
    """Return `boxes` as a contiguous float32 (N, 4) array; an empty input gives (0, 4)."""
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return np.ascontiguousarray(arr)


def xyxy_to_xywh(boxes: FloatArray) -> FloatArray:
    b = as_boxes(boxes)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def xywh_to_xyxy(boxes: FloatArray) -> FloatArray:
    b = as_boxes(boxes)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def xyxy_to_cxcywh(boxes: FloatArray) -> FloatArray:
    b = as_boxes(boxes)
    wh = b[:, 2:] - b[:, :2]
    return np.concatenate([b[:, :2] + wh / 2, wh], axis=1)


def cxcywh_to_xyxy(boxes: FloatArray) -> FloatArray:
    b = as_boxes(boxes)
    half = b[:, 2:] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def xyxy_to_cxcyah(boxes: FloatArray) -> FloatArray:
    """Centre, aspect ratio (w / h) and height: the SORT/ByteTrack Kalman state. A height
    below 1e-6 px is stored as 1e-6, the height `a` is taken over, so `a * h` gives the width
    back (a box of no height kept its centre but lost its width)."""
    c = xyxy_to_cxcywh(boxes)
    h = np.maximum(c[:, 3], np.float32(1e-6))
    return np.stack([c[:, 0], c[:, 1], c[:, 2] / h, h], axis=1).astype(np.float32)


def cxcyah_to_xyxy(boxes: FloatArray) -> FloatArray:
    b = as_boxes(boxes)
    w = b[:, 2] * b[:, 3]
    return cxcywh_to_xyxy(np.stack([b[:, 0], b[:, 1], w, b[:, 3]], axis=1))


def area(boxes: FloatArray) -> FloatArray:
    b = as_boxes(boxes)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU (len(a), len(b)) as float32; 0 where a union is empty or not finite (a box
    with a NaN or infinite corner overlaps nothing)."""
    a, b = as_boxes(a), as_boxes(b)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    # Non-finite corners give nan (inf - inf, inf * 0) in the union, which is not > 0.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lt = np.maximum(a[:, None, :2], b[None, :, :2])
        rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
        wh = np.clip(rb - lt, 0, None)
        inter = wh[..., 0] * wh[..., 1]
        union = area(a)[:, None] + area(b)[None, :] - inter
        iou = np.where(union > 0, inter / union, 0.0)
    return iou.astype(np.float32)


def clip(boxes: FloatArray, width: int, height: int) -> FloatArray:
    """Clip boxes to the image `[0, width] x [0, height]`."""
    b = as_boxes(boxes).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def inside_fraction(boxes: FloatArray, width: int, height: int) -> FloatArray:
    """Fraction of each box's area inside the image `[0, width] x [0, height]`; a box of no
    area counts as inside (1) or outside (0) by its centre."""
    b = as_boxes(boxes)
    full, inside = area(b), area(clip(b, width, height))
    centre = (b[:, :2] + b[:, 2:]) / 2
    centre_in = (centre >= 0).all(axis=1) & (centre[:, 0] <= width) & (centre[:, 1] <= height)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(full > 0, inside / full, centre_in.astype(np.float64)).astype(np.float32)


def valid_mask(boxes: FloatArray, min_size: float = 1.0) -> np.ndarray:
    """True for finite boxes at least `min_size` px wide and high."""
    b = as_boxes(boxes)
    finite = np.isfinite(b).all(axis=1)
    return finite & (b[:, 2] - b[:, 0] >= min_size) & (b[:, 3] - b[:, 1] >= min_size)


def unique_boxes(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray | None:
    """Indices (ascending) of the boxes to keep when exact duplicates (identical coordinates)
    are merged: of each set, the highest score, the first of equal ones. None: no duplicate."""
    n = len(boxes)
    if n < 2:
        return None
    # Sorted by box (x1 first), then by descending score, then by position: each set of
    # identical boxes is a run whose first element is the one kept.
    order = np.lexsort((np.arange(n), -scores, boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0]))
    sorted_boxes = boxes[order]
    first = np.ones(n, bool)
    first[1:] = (sorted_boxes[1:] != sorted_boxes[:-1]).any(axis=1)
    if first.all():
        return None
    return np.sort(order[first])
