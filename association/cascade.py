"""ByteTrack's matching cascade, on arrays only.

1. Confirmed tracks (tracked and lost) against high-score detections, fused affinity; where
   the estimator gives a second, motion-only prediction (`prior_boxes`), the better of the two.
2. Tracks still unmatched that were tracked at the previous detector frame against the
   low-score detections, plain IoU: occluded people often come back with a low score.
3. Tentative tracks against the high-score detections left over.

Where the estimator gives `prior_boxes` and the frame size is known, pass 2 asks more of a
track whose box touches the frame border: the low-score detection must overlap its prior box
too (the smaller of the two IoUs counts). An appearance tracker cannot place a box beyond the
image, so the box of a person who walked out stays at the edge, and low-score partial
detections there (of them, half out, or of someone coming in) would keep the track alive until
it takes the newcomer's identity; the motion-only prior carries on out of the frame. Asking
the same of every track, not only at the border, costs identity switches (measurements:
docs/DECISIONS.md, "Edge agreement in the second association pass").

Every pass matches within a class: a track and a detection of different classes (both known)
never match unless `cross_class_factor` > 0, which scales their affinity instead (1: class-
agnostic). A bicycle's detection then cannot take over its rider's track.

High-score detections left after that may start new tracks (the lifecycle decides); low-score
ones never do. The default thresholds are ultralytics' bytetrack.yaml (match_thresh 0.8 is a
cost, i.e. affinity >= 0.2; 0.5 and 0.7 likewise for the later passes).

Passes 1 and 3 grow boxes by `buffer_per_second` x the time since the previous detector frame
(see `affinity.grow`): 0 at k = 1 in effect (0.6 x 1/25 s = 2 %), and 8.6 % at k = 5 on a 7-fps
sequence: the longer the gap, the farther a prediction can miss its detection, and near misses
should still overlap (measurements of 0.6 and 1.0: docs/DECISIONS.md, "Box buffer in the
association cascade").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from association.affinity import iou_affinity, make_affinity
from association.assign import assign
from mot_pipeline.types import UNKNOWN_CLASS, Detections


@dataclass(frozen=True)
class CascadeConfig:
    high_score: float = 0.25
    low_score: float = 0.1
    affinity: str = "fused_iou"
    detection_weight: float = 1.0
    motion_weight: float = 0.0
    min_affinity_first: float = 0.2
    min_iou_second: float = 0.5
    min_affinity_tentative: float = 0.3
    buffer_per_second: float = 0.6
    # Pass 2: tracks whose box touches the frame border also need their prior box to overlap
    # a low-score detection (module docstring).
    edge_agreement: bool = True
    # Affinity factor for a track and a detection of different classes: 0 never matches them
    # (within-class association), 1 ignores classes, between penalises the pair.
    cross_class_factor: float = 0.0
    # Passes 1 and 2, where the estimator gives `prior_boxes`: a track scored below this is
    # matched by its prior box only, its appearance box is not trusted (0: both, always).
    min_appearance_score: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.cross_class_factor <= 1.0:
            raise ValueError(f"cross_class_factor must be in [0, 1], got {self.cross_class_factor}")


EDGE_MARGIN = 1.0  # px: a track box this close to the frame border touches it


@dataclass(frozen=True, eq=False)
class TrackGroups:
    """Track rows split by state: `tracked` (matched at the last detector frame), `tentative`
    (not yet confirmed); every other row is a lost confirmed track."""

    tracked: np.ndarray
    tentative: np.ndarray

    def __post_init__(self) -> None:
        if self.tracked.shape != self.tentative.shape:
            raise ValueError("tracked and tentative masks differ in length")
        if (self.tracked & self.tentative).any():
            raise ValueError("a track cannot be both tracked and tentative")


@dataclass(frozen=True, eq=False)
class CascadeResult:
    """`matches` (K, 2) of (track row, detection row) into the inputs; unmatched track rows;
    unmatched high-score detection rows (candidates for new tracks)."""

    matches: np.ndarray
    unmatched_tracks: np.ndarray
    unmatched_high: np.ndarray


def match_cascade(
    track_boxes: np.ndarray,
    track_scores: np.ndarray,
    groups: TrackGroups,
    detections: Detections,
    config: CascadeConfig | None = None,
    gap_seconds: float = 0.0,
    prior_boxes: np.ndarray | None = None,
    frame_size: tuple[int, int] | None = None,
    track_classes: np.ndarray | None = None,
) -> CascadeResult:
    """`gap_seconds`: time since the previous detector frame (sets the box buffer).

    `prior_boxes` (same rows as `track_boxes`, optional): a second prediction per track (e.g.
    a detection-only Kalman filter beside an appearance tracker's box). The first pass scores
    a confirmed track and a detection by the better of their two affinities, so a track that
    appearance dragged onto a neighbour can still take the detection its motion predicts.

    `track_classes` (same rows, optional): each track's class, against `detections.classes`
    (`CascadeConfig.cross_class_factor`); None or `UNKNOWN_CLASS` matches any class.
    """
    if prior_boxes is not None and np.shape(prior_boxes) != np.shape(track_boxes):
        raise ValueError("prior_boxes must have the shape of track_boxes")
    c = config or CascadeConfig()
    params = {"buffer": c.buffer_per_second * gap_seconds}
    if c.affinity == "fused_iou":
        params |= {"detection_weight": c.detection_weight, "motion_weight": c.motion_weight}
    affinity = make_affinity(c.affinity, **params)
    rows = np.arange(len(track_boxes))
    scores = detections.scores
    high = np.flatnonzero(scores >= c.high_score)
    low = np.flatnonzero((scores > c.low_score) & (scores < c.high_score))
    matches: list[np.ndarray] = []

    def affinity_of(boxes: np.ndarray, t_rows: np.ndarray, d_rows: np.ndarray, fn) -> np.ndarray:
        return fn(boxes[t_rows], track_scores[t_rows], detections.boxes[d_rows], scores[d_rows])

    def run(t_rows: np.ndarray, d_rows: np.ndarray, aff: np.ndarray, min_aff: float):
        if track_classes is not None:
            aff = _gate_classes(aff, track_classes[t_rows], detections.classes[d_rows], c)
        a = assign(aff, min_aff)
        matches.append(np.stack([t_rows[a.matches[:, 0]], d_rows[a.matches[:, 1]]], axis=1))
        return t_rows[a.unmatched_rows], d_rows[a.unmatched_cols]

    appearance_boxes = track_boxes  # pass 3 (tentative tracks) always uses these
    if prior_boxes is not None and c.min_appearance_score > 0:
        trusted = np.asarray(track_scores) >= c.min_appearance_score
        track_boxes = np.where(trusted[:, None], track_boxes, prior_boxes)
    confirmed = rows[~groups.tentative]
    aff = affinity_of(track_boxes, confirmed, high, affinity)
    if prior_boxes is not None:
        aff = np.maximum(aff, affinity_of(prior_boxes, confirmed, high, affinity))
    left_tracks, left_high = run(confirmed, high, aff, c.min_affinity_first)
    second = left_tracks[groups.tracked[left_tracks]]
    lost_left = left_tracks[~groups.tracked[left_tracks]]
    aff = affinity_of(track_boxes, second, low, iou_affinity)
    if c.edge_agreement and prior_boxes is not None and frame_size is not None:
        edge = _touches_border(track_boxes[second], frame_size)
        both = np.minimum(aff, affinity_of(prior_boxes, second, low, iou_affinity))
        aff = np.where(edge[:, None], both, aff)
    second_left, _ = run(second, low, aff, c.min_iou_second)
    tentative = rows[groups.tentative]
    aff = affinity_of(appearance_boxes, tentative, left_high, affinity)
    tentative_left, left_high = run(tentative, left_high, aff, c.min_affinity_tentative)
    return CascadeResult(
        np.concatenate(matches).astype(np.int64).reshape(-1, 2),
        np.sort(np.concatenate([second_left, lost_left, tentative_left])).astype(np.int64),
        np.sort(left_high).astype(np.int64),
    )


def _gate_classes(
    aff: np.ndarray, track_classes: np.ndarray, det_classes: np.ndarray, c: CascadeConfig
) -> np.ndarray:
    """`aff` with cross-class pairs scaled by `c.cross_class_factor`, or unmatchable (-inf)
    when it is 0; pairs with an unknown class are left alone."""
    known = (track_classes[:, None] != UNKNOWN_CLASS) & (det_classes[None, :] != UNKNOWN_CLASS)
    cross = known & (track_classes[:, None] != det_classes[None, :])
    if not cross.any():
        return aff
    penalised = aff * c.cross_class_factor if c.cross_class_factor > 0 else -np.inf
    return np.where(cross, penalised, aff)


def _touches_border(boxes: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Boxes reaching within `EDGE_MARGIN` of the border of a (width, height) frame."""
    width, height = frame_size
    lo = (boxes[:, :2] <= EDGE_MARGIN).any(axis=1)
    return lo | (boxes[:, 2] >= width - EDGE_MARGIN) | (boxes[:, 3] >= height - EDGE_MARGIN)
