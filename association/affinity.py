"""Affinities between tracks and detections: (M, N) arrays, higher is better, 0 = no overlap.

ByteTrack's `fuse_score` multiplies IoU by the detection score so that, among overlapping
detections, a confident one wins. The motion estimator's own confidence (Kalman: time since the
last correction; Siamese trackers: the response peak) can enter the same way, raised to a weight:
a weight of 0 ignores it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from mot_pipeline.boxes import iou_matrix

Affinity = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def iou_affinity(
    track_boxes: np.ndarray,
    track_scores: np.ndarray,
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
) -> np.ndarray:
    """Plain IoU."""
    return iou_matrix(track_boxes, det_boxes)


def fused_iou_affinity(
    track_boxes: np.ndarray,
    track_scores: np.ndarray,
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    detection_weight: float = 1.0,
    motion_weight: float = 0.0,
) -> np.ndarray:
    """IoU x det_score^detection_weight x track_score^motion_weight (scores clipped to [0, 1])."""
    iou = iou_matrix(track_boxes, det_boxes)
    det = np.clip(np.asarray(det_scores, np.float32), 0.0, 1.0) ** detection_weight
    trk = np.clip(np.asarray(track_scores, np.float32), 0.0, 1.0) ** motion_weight
    return (iou * trk[:, None] * det[None, :]).astype(np.float32)


AFFINITIES: dict[str, Callable[..., np.ndarray]] = {
    "iou": iou_affinity,
    "fused_iou": fused_iou_affinity,
}


def make_affinity(name: str, **weights: float) -> Affinity:
    """The affinity `name` with its weights bound (weights are only valid for `fused_iou`)."""
    if name not in AFFINITIES:
        raise KeyError(f"unknown affinity {name!r}; choose from {', '.join(AFFINITIES)}")
    fn = AFFINITIES[name]
    return partial(fn, **weights) if weights else fn
