"""A training batch: samples loaded from their sequences and augmented, the pairs scored, and
the labels of every pair (shared by the training step and the held-out evaluation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from trackers.siammt.training.augment import Augmenter, Sample
from trackers.siammt.training.labels import PairSet, disc_centres, label_map, pair_index
from trackers.siammt.training.pairs import PairGroup, SequenceGt


@dataclass(frozen=True)
class Batch:
    """Samples of one step, the pairs scored and their labels (P, R, R) and map weights."""

    samples: list[Sample]
    pairs: PairSet
    labels: torch.Tensor
    map_weight: torch.Tensor


def load_sample(
    sequences: Sequence[SequenceGt],
    group: PairGroup,
    augmenter: Augmenter,
    rng: np.random.Generator,
    train: bool = True,
) -> Sample:
    """Decode the group's two frames and augment them (`train`) or not."""
    seq = sequences[group.sequence]
    frame_z, frame_x = seq.read_frame(group.frame_z), seq.read_frame(group.frame_x)
    return augmenter.sample(group, frame_z, frame_x, rng, train)


def make_batch(
    samples: list[Sample], radius: float, response_size: int, device: torch.device
) -> Batch:
    """Score every exemplar against its own sample's search areas and the next sample's,
    with Eq. 4 labels centred wherever the exemplar's person is (`labels.disc_centres`)."""
    pairs = pair_index([len(s.group.ids) for s in samples])
    who = np.concatenate(
        [np.stack([np.full(len(s.group.ids), s.group.sequence), s.group.ids], 1) for s in samples]
    )[pairs.exemplar]
    owner = np.concatenate([np.full(len(s.group.ids), i) for i, s in enumerate(samples)])
    centre = np.concatenate([s.centre_x for s in samples])[pairs.search]
    spacing = np.concatenate([s.spacing_x for s in samples])[pairs.search]
    truths = [s.truth for s in samples]
    v, weight = disc_centres(who, truths, owner[pairs.search], centre, spacing, response_size)
    labels = label_map(response_size, torch.as_tensor(v, dtype=torch.float32), radius)
    return Batch(
        samples,
        pairs,
        labels.to(device),
        torch.as_tensor(weight, dtype=torch.float32, device=device),
    )
