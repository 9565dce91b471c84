"""Input checks and id -> row lookup shared by every estimator that keeps per-track rows."""

from __future__ import annotations

import numpy as np

from mot_pipeline.boxes import as_boxes


def validated(boxes: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`add`'s arguments as (float32 boxes, int64 ids), or ValueError."""
    boxes = as_boxes(boxes)
    ids = np.asarray(ids, np.int64).reshape(-1)
    if len(ids) != len(boxes):
        raise ValueError(f"{len(ids)} ids for {len(boxes)} boxes")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("duplicate ids in one add")
    if not np.isfinite(boxes).all():
        raise ValueError("boxes must be finite")
    return boxes, ids


def rows_of(live: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row of each of `ids` in `live` (all must be live)."""
    order = {int(t): r for r, t in enumerate(live)}
    return np.array([order[int(t)] for t in ids], np.int64)
