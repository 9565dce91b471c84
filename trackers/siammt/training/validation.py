"""Held-out evaluation after every epoch (and before the first: the starting weights): the loss
on a fixed set of frame pairs without augmentation, and how often the score map's peak lands on
the exemplar's person, over all maps that show them (`peak_hits`) and over the maps of someone
else's search area (a neighbour's, or another sample's of the same sequence) that show them
off-centre (`neighbour_hits`: the confusion between people walking close together that the
transferred weights suffer from).

The pairs come from the `--val` sequences, drawn once with the run's seed, so every epoch (and a
resumed run) scores the same pairs. For the paper's model selection ("the validation error of
the last epochs") they must not be the sequences a result is reported on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from trackers.siammt.training.augment import Augmenter
from trackers.siammt.training.batch import load_sample, make_batch
from trackers.siammt.training.config import TrainConfig
from trackers.siammt.training.loss import balanced_loss
from trackers.siammt.training.model import SiamMTTrainNet
from trackers.siammt.training.pairs import PairGroup, PairSampler, SequenceGt

VAL_STREAM = 1  # the held-out draws' random stream, apart from the epochs' (seed, epoch)


@dataclass(frozen=True)
class ValResult:
    loss: float
    positive_maps: float
    negative_maps: float
    peak_hits: float  # share of maps showing the person whose peak is on a positive cell
    neighbour_hits: float  # the same over maps centred on someone else


def peak_on_positive(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per map (P, H, W): whether the highest logit lies on a positive cell."""
    top = logits.flatten(1).argmax(1)
    return labels.flatten(1).gather(1, top[:, None])[:, 0] > 0.5


class Validator:
    """Scores a net on `pairs` fixed frame pairs of held-out sequences."""

    def __init__(
        self,
        sequences: Sequence[SequenceGt],
        config: TrainConfig,
        augmenter: Augmenter,
        pairs: int,
    ) -> None:
        self.sequences, self.config, self.augmenter = list(sequences), config, augmenter
        sampler = PairSampler(self.sequences, config.sampler, augmenter.siammt)
        rng = np.random.default_rng([config.seed, VAL_STREAM])
        groups = [sampler.sample(rng) for _ in range(pairs)]
        size = config.batch_size
        self.batches: list[list[PairGroup]] = [
            groups[i : i + size] for i in range(0, len(groups), size)
        ]

    def evaluate(self, net: SiamMTTrainNet) -> ValResult:
        """Mean loss parts and hit rates over the fixed pairs (net in eval mode meanwhile)."""
        was_training = net.training
        net.eval()
        rng = np.random.default_rng(0)  # unused without augmentation; the API wants one
        parts_rows = []
        hits, shown, nb_hits, nb_shown = 0, 0, 0, 0
        c = self.config.loss
        with torch.no_grad():
            for groups in self.batches:
                samples = [
                    load_sample(self.sequences, g, self.augmenter, rng, False) for g in groups
                ]
                b = make_batch(samples, c.radius, net.response_size, net.device)
                logits = net(b.samples, b.pairs)
                parts = balanced_loss(
                    logits, b.labels, b.map_weight, c.positive_weight, c.negative_pair_weight
                )
                parts_rows.append([parts.total.item(), parts.positive_maps, parts.negative_maps])
                show = (b.labels.flatten(1).amax(1) > 0.5) & (b.map_weight > 0)
                hit = peak_on_positive(logits, b.labels) & show
                other = torch.as_tensor(b.pairs.exemplar != b.pairs.search, device=show.device)
                hits, shown = hits + int(hit.sum()), shown + int(show.sum())
                nb_hits += int((hit & other).sum())
                nb_shown += int((show & other).sum())
        net.train(was_training)
        mean = np.nanmean(np.asarray(parts_rows, np.float64), axis=0)  # a part may be absent
        return ValResult(*mean.tolist(), _ratio(hits, shown), _ratio(nb_hits, nb_shown))


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")
