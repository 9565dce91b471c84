"""Association: join detections to tracks on detector frames.

- `affinity.py`: affinity functions `(track_boxes, track_scores, det_boxes, det_scores) -> (M, N)`,
  higher is better, injectable by name (IoU, IoU fused with detection and motion confidence).
- `assign.py`: Hungarian assignment with `lap` and gating on a minimum affinity.
- `cascade.py`: ByteTrack's multi-pass matching over track groups (tracked/lost, tentative) and
  high/low-score detections.
"""

from association.affinity import AFFINITIES, Affinity, make_affinity
from association.assign import Assignment, assign
from association.cascade import CascadeConfig, CascadeResult, TrackGroups, match_cascade

__all__ = [
    "AFFINITIES",
    "Affinity",
    "Assignment",
    "CascadeConfig",
    "CascadeResult",
    "TrackGroups",
    "assign",
    "make_affinity",
    "match_cascade",
]
