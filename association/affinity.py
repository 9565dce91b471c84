"""Affinities between tracks and detections: (M, N) arrays, higher is better, 0 = no overlap.

ByteTrack's `fuse_score` multiplies IoU by the detection score so that, among overlapping
detections, a confident one wins. The motion estimator's own confidence (Kalman: time since the
last correction; Siamese trackers: the response peak) can enter the same way, raised to a weight:
a weight of 0 ignores it.

With detections k frames apart, a predicted box can miss its detection entirely. As C-BIoU
(Yang et al., WACV 2023) does, both boxes can be grown by a `buffer` fraction of their size on
every side before the IoU, so that near misses still overlap; the pipeline sets the buffer from
the time between detections.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from mot_pipeline.boxes import cxcywh_to_xyxy, iou_matrix, xyxy_to_cxcywh

Affinity = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def grow(boxes: np.ndarray, buffer: float) -> np.ndarray:
    """Boxes with `buffer` x width (height) added on the left and right (top and bottom)."""
    if buffer == 0:
        return boxes
    c = xyxy_to_cxcywh(boxes)
    c[:, 2:] *= 1 + 2 * buffer
    return cxcywh_to_xyxy(c)


def iou_affinity(
    track_boxes: np.ndarray,
    track_scores: np.ndarray,
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    buffer: float = 0.0,
) -> np.ndarray:
    """IoU of the boxes grown by `buffer` (plain IoU by default)."""
    return iou_matrix(grow(track_boxes, buffer), grow(det_boxes, buffer))


def fused_iou_affinity(
    track_boxes: np.ndarray,
    track_scores: np.ndarray,
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    detection_weight: float = 1.0,
    motion_weight: float = 0.0,
    buffer: float = 0.0,
) -> np.ndarray:
    """(Buffered) IoU x det_score^detection_weight x track_score^motion_weight (scores clipped
    to [0, 1])."""
    iou = iou_affinity(track_boxes, track_scores, det_boxes, det_scores, buffer)
    det = np.clip(np.asarray(det_scores, np.float32), 0.0, 1.0) ** detection_weight
    trk = np.clip(np.asarray(track_scores, np.float32), 0.0, 1.0) ** motion_weight
    return (iou * trk[:, None] * det[None, :]).astype(np.float32)


AFFINITIES: dict[str, Callable[..., np.ndarray]] = {
    "iou": iou_affinity,
    "fused_iou": fused_iou_affinity,
}


def make_affinity(name: str, **weights: float) -> Affinity:
    """The affinity `name` with its keyword parameters bound."""
    if name not in AFFINITIES:
        raise KeyError(f"unknown affinity {name!r}; choose from {', '.join(AFFINITIES)}")
    fn = AFFINITIES[name]
    return partial(fn, **weights) if weights else fn
