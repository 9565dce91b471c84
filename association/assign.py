"""Hungarian assignment on an affinity matrix, with gating.

Pairs whose affinity is below `min_affinity` are never matched (gating), so an empty or gated
row/column simply stays unmatched. `lap.lapjv` solves the rectangular problem with
`extend_cost`; its `cost_limit` implements the gate: leaving a row and a column unmatched
costs as much as a pair at the gate, so what is maximised is the sum of (affinity -
min_affinity) over the matches (ByteTrack's matching), not the total affinity: one pair at 0.9
beats two at 0.5 with a gate of 0.2.

A NaN or -inf affinity is never matched. lapjv needs finite costs (a NaN or infinite one
silently gives a worse matching), so such pairs, like every pair below the gate, enter it as
finite values below the gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import lap
import numpy as np


@dataclass(frozen=True, eq=False)
class Assignment:
    """`matches` (K, 2) of (row, col); the rows and columns left unmatched, ascending."""

    matches: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray


def assign(affinity: np.ndarray, min_affinity: float) -> Assignment:
    """One-to-one matches with affinity >= `min_affinity` that maximise the sum of (affinity -
    min_affinity) (module docstring). A +inf affinity or a NaN gate is a ValueError."""
    affinity = np.asarray(affinity, np.float64)
    if affinity.ndim != 2:
        raise ValueError(f"affinity must be 2-D, got shape {affinity.shape}")
    if np.isnan(min_affinity):
        raise ValueError("min_affinity is NaN")
    if np.isposinf(affinity).any():
        raise ValueError("affinity contains +inf")
    rows, cols = affinity.shape
    if rows == 0 or cols == 0:
        return Assignment(np.zeros((0, 2), np.int64), np.arange(rows), np.arange(cols))
    # Gated pairs (NaN and -inf included: the comparison fails) enter lapjv 1 below the gate.
    passes = affinity >= min_affinity
    cost = 1.0 - np.where(passes, affinity, min_affinity - 1.0)
    # lapjv leaves a pair unmatched when its cost exceeds cost_limit; the tiny slack keeps a pair
    # at exactly min_affinity matchable despite float rounding.
    _, row_to_col, _ = lap.lapjv(cost, extend_cost=True, cost_limit=1.0 - min_affinity + 1e-9)
    matched_rows = np.flatnonzero(row_to_col >= 0)
    matched_cols = row_to_col[matched_rows]
    keep = passes[matched_rows, matched_cols]
    matches = np.stack([matched_rows[keep], matched_cols[keep]], axis=1).astype(np.int64)
    return Assignment(
        matches,
        np.setdiff1d(np.arange(rows), matches[:, 0]),
        np.setdiff1d(np.arange(cols), matches[:, 1]),
    )
