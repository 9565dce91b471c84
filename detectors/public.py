"""Precomputed ("public") detections as a `Detector`: MOTChallenge det/det.txt, already parsed.

Plugins import only the ground floor, so this class reads no files: the engine parses det.txt
(`motchallenge.detections_by_frame`) and hands over a 0-based frame index -> `Detections`
mapping. Scores are kept as the file gives them (not rescaled).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mot_pipeline.boxes import clip, valid_mask
from mot_pipeline.types import Detections

# MOT15 public detections (ACF) carry raw detector scores, not probabilities; on the shared
# MOT15 sequences the fraction of true detections crosses 50 % between scores 15 and 20. We stay
# at the low end of that range because a tracker can suppress isolated false positives but
# cannot recover a missed detection (measurements: docs/DECISIONS.md, "Public detections:
# minimum score on MOT15"). Public detections of other benchmarks (MOT17/20: DPM, FRCNN, SDP)
# have other score scales; pass `min_score` for those (e.g. -inf to keep all).
DEFAULT_MIN_SCORE = 15.0
MIN_BOX_SIZE = 1.0  # px; narrower or lower boxes (after clipping to the frame) are dropped
# MOTChallenge's public detections are people; their class id is COCO's, so that class names
# and `--classes` work as for a YOLO model.
NAMES: dict[int, str] = {0: "person"}


@dataclass(frozen=True)
class PublicConfig:
    """Public det.txt detections. MOT15 scores are raw detector scores, not in [0, 1]."""

    min_score: float = DEFAULT_MIN_SCORE

    def __post_init__(self) -> None:
        if math.isnan(self.min_score):
            raise ValueError("min_score must be a number, got nan")


class PublicDetections:
    """`Detector` that looks up the detections of `frame_index` in `by_frame`.

    Returns the frame's detections with score >= `min_score`, clipped to the frame and without
    boxes that end up empty (less than `MIN_BOX_SIZE` px wide or high) or have a non-finite
    score. Frames absent from `by_frame` have no detections.
    """

    def __init__(
        self, by_frame: Mapping[int, Detections], min_score: float = DEFAULT_MIN_SCORE
    ) -> None:
        if math.isnan(min_score):
            raise ValueError("min_score must be a number, got nan")
        self.by_frame = by_frame
        self.min_score = float(min_score)
        self.names = dict(NAMES)  # class id -> name, as `YoloDetector.names`

    def __call__(self, frame: np.ndarray, frame_index: int | None = None) -> Detections:
        if frame_index is None:
            raise ValueError("public detections are looked up by frame: pass frame_index")
        dets = self.by_frame.get(frame_index)
        if dets is None or len(dets) == 0:
            return Detections.empty()
        height, width = frame.shape[:2]
        boxes = clip(dets.boxes, width, height)
        keep = (dets.scores >= self.min_score) & valid_mask(boxes, MIN_BOX_SIZE)
        return Detections(boxes[keep], dets.scores[keep], dets.classes[keep])


def from_config(config: PublicConfig, by_frame: Mapping[int, Detections]) -> PublicDetections:
    """The registry's factory: `by_frame` is the sequence's det.txt, read by the engine."""
    return PublicDetections(by_frame, config.min_score)
