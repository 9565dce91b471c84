"""Labels of scored pairs: Eq. 4's label map, the class-balanced weights of Eq. 3, and which
cell of a search area (if any) holds the exemplar's person.

The paper centres the positive disc on the map's centre v, since its search areas are cut
around the annotated target. Ours are cut around the target moved by a random shift, and around
its neighbours (the negatives that matter for multi-object tracking), so the disc is centred on
wherever the exemplar's person actually is in the search area, and a map whose search area does
not show that person has no positive at all. Score-map cell (i, j) sits at the search-area
centre plus ((j, i) - (R - 1) / 2) grid spacings (`response.py` reads peaks the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from trackers.siammt.backbone import STRIDE


def label_map(
    size: int, centres: torch.Tensor, radius: float, stride: int = STRIDE
) -> torch.Tensor:
    """Eq. 4 for maps of `size` x `size` cells: 1 where stride * ||(x, y) - v|| <= radius, else 0.

    `centres` (P, 2) are the discs' centres v as (x, y) in cell coordinates (cell (i, j) at
    x = j, y = i); a NaN centre gives a map without positives. Returns (P, size, size) float32.
    """
    idx = torch.arange(size, dtype=torch.float32, device=centres.device)
    dx = idx[None, None, :] - centres[:, 0, None, None].float()
    dy = idx[None, :, None] - centres[:, 1, None, None].float()
    dist = stride * torch.sqrt(dx * dx + dy * dy)
    return (dist <= radius).float()  # NaN compares False: no positive


def balanced_weights(labels: torch.Tensor, positive_weight: float = 0.5) -> torch.Tensor:
    """Per-cell weights that sum to 1 over each map (P, H, W): `positive_weight` spread evenly
    over its positive cells and the rest over its negative cells, so the few positives of a map
    count as much as its many negatives (SiamFC's balancing); a map without positives spreads
    all its weight over its cells."""
    pos = labels > 0.5
    n_pos = pos.flatten(1).sum(1).float()[:, None, None]
    n_neg = (~pos).flatten(1).sum(1).float()[:, None, None]
    has_pos = n_pos > 0
    w_pos = torch.where(has_pos, positive_weight / n_pos.clamp(min=1), 0.0)
    w_neg = torch.where(has_pos, (1 - positive_weight) / n_neg.clamp(min=1), 1 / n_neg.clamp(min=1))
    return torch.where(pos, w_pos, w_neg)


@dataclass(frozen=True)
class PairSet:
    """Which (exemplar, search area) pairs are scored: `exemplar[p]`, `search[p]` index the
    batch's exemplars and search areas (both in sample order, people in group order)."""

    exemplar: np.ndarray
    search: np.ndarray

    def __len__(self) -> int:
        return len(self.exemplar)


def pair_index(group_sizes: Sequence[int], cross_groups: int = 1) -> PairSet:
    """Every exemplar of a sample against every search area of its own sample (positives and
    neighbours) and of the next `cross_groups` samples (other people, other times or
    sequences: the paper's negative pairs)."""
    starts = np.concatenate([[0], np.cumsum(group_sizes)]).astype(np.int64)
    n = len(group_sizes)
    ex, se = [], []
    for g in range(n):
        others = [g] + [(g + k) % n for k in range(1, min(cross_groups, n - 1) + 1)]
        for h in others:
            e, s = np.meshgrid(
                np.arange(starts[g], starts[g + 1]),
                np.arange(starts[h], starts[h + 1]),
                indexing="ij",
            )
            ex.append(e.ravel())
            se.append(s.ravel())
    return PairSet(np.concatenate(ex), np.concatenate(se))


@dataclass(frozen=True)
class SearchTruth:
    """What a search frame shows: its sequence and the people annotated in it, in the
    sample's (possibly flipped) pixel coordinates; `usable` False marks people too occluded
    or too small to score (a map of theirs is ignored, not called negative)."""

    sequence: int
    ids: np.ndarray  # (K,)
    centres: np.ndarray  # (K, 2) frame px
    usable: np.ndarray  # (K,) bool


def disc_centres(
    who: np.ndarray,
    truths: Sequence[SearchTruth],
    owner: np.ndarray,
    centre: np.ndarray,
    spacing: np.ndarray,
    response_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Positive-disc centres (P, 2) in score-map cells (NaN: none) and map weights (P,) of P
    pairs. `who` (P, 2) = (sequence, id) of each pair's exemplar; search area p lies in the
    frame `truths[owner[p]]`, centred at `centre[p]` (frame px) with grid spacing `spacing[p]`.
    A positive only where the same sequence's same id is annotated in that frame."""
    mid = (response_size - 1) / 2
    out = np.full((len(who), 2), np.nan)
    weight = np.ones(len(who))
    for p, (seq, pid) in enumerate(who):
        truth = truths[owner[p]]
        if truth.sequence != seq:
            continue
        rows = np.flatnonzero(truth.ids == pid)
        if len(rows) == 0:
            continue
        k = rows[0]
        if not truth.usable[k]:
            weight[p] = 0.0
            continue
        out[p] = mid + (truth.centres[k] - centre[p]) / spacing[p]
    return out, weight
