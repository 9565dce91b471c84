"""Eq. 3, the logistic (sigmoid cross-entropy) loss, class-balanced per map, and the split of
the loss between maps that show the exemplar's person and maps that do not."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trackers.siammt.training.labels import balanced_weights


def logistic_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 3 per cell: max(x, 0) - x * y + log(1 + exp(-|x|)), the numerically safe form of
    -y log s(x) - (1 - y) log(1 - s(x))."""
    return logits.clamp(min=0) - logits * labels + torch.log1p(torch.exp(-logits.abs()))


@dataclass(frozen=True)
class LossParts:
    """The loss to minimise and its two halves (detached floats, for the log; NaN where a
    batch has no map of that kind)."""

    total: torch.Tensor
    positive_maps: float
    negative_maps: float


def balanced_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    map_weight: torch.Tensor,
    positive_weight: float = 0.5,
    negative_pair_weight: float = 0.25,
) -> LossParts:
    """Eq. 3 summed over each map (P, H, W) with `balanced_weights`, then averaged over the
    maps with a positive and over those without, mixed as (1 - ν) A + ν B with
    ν = `negative_pair_weight` (all weight on the one kind a batch may lack). Maps of
    `map_weight` 0 are ignored."""
    cells = logistic_loss(logits, labels) * balanced_weights(labels, positive_weight)
    per_map = cells.flatten(1).sum(1)
    has_pos = labels.flatten(1).amax(1) > 0.5
    keep = map_weight > 0
    parts = []
    for kind in (has_pos & keep, ~has_pos & keep):
        w = map_weight * kind
        total = w.sum()
        parts.append((per_map * w).sum() / total if total > 0 else None)
    pos, neg = parts
    if pos is None and neg is None:
        zero = logits.sum() * 0.0
        return LossParts(zero, float("nan"), float("nan"))
    if pos is None or neg is None:
        total = pos if neg is None else neg
    else:
        total = (1 - negative_pair_weight) * pos + negative_pair_weight * neg
    as_float = [float("nan") if p is None else float(p.detach()) for p in parts]
    return LossParts(total, as_float[0], as_float[1])
