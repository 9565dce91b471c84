"""The training loop (paper Sec. 3.3, 4.1): Adam with L2 weight decay, the learning rate
geometrically annealed from `lr` to `lr_end` over the epochs, a checkpoint after every epoch,
`resume` from the last one, a fixed seed (each epoch's draws depend only on (seed, epoch), so a
resumed run draws what an uninterrupted one would).

`finetune` starts from a siamfc-pytorch checkpoint with conv1..conv3 frozen and every BatchNorm
kept at its running statistics (the tracker folds them into the convolutions, and one frame
region per pass is too small a batch to re-estimate them); `scratch` trains every layer,
BatchNorm statistics included, from a normal initialisation.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from mot_pipeline.errors import InputError
from mot_pipeline.fileio import atomic_write_text
from trackers.siammt.training import checkpoint, history
from trackers.siammt.training.augment import Augmenter
from trackers.siammt.training.batch import Batch, load_sample, make_batch
from trackers.siammt.training.config import TrainConfig
from trackers.siammt.training.loss import LossParts, balanced_loss
from trackers.siammt.training.model import SiamMTTrainNet, init_alexnet
from trackers.siammt.training.pairs import PairSampler, SequenceGt
from trackers.siammt.training.validation import Validator

PRESET_FILE = "track.yaml"  # a mot-run preset that tracks with the trained weights
# tracker_options that describe the training machine, not the weights
MACHINE_OPTIONS = ("device", "backend", "precision", "cache_dir", "weights")


@dataclass(frozen=True)
class TrainResult:
    weights: Path  # final weights, siamfc-pytorch layout
    preset: Path  # mot-run preset using them
    epochs: int  # epochs finished (all of them)
    last_loss: float  # mean loss of the last epoch (NaN if none ran now)
    seconds_per_step: float  # mean over the steps run now (NaN if none)


def config_yaml(config: TrainConfig) -> str:
    """The config as YAML (tuples as lists), as saved beside the weights."""
    return yaml.safe_dump(_plain(dataclasses.asdict(config)), sort_keys=False)


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class Trainer:
    """Trains SiamMT's φ on sequences with ground truth (`val`: held out, scored after every
    epoch), as plain `SequenceGt`s that the engine reads from files; writes everything under
    `output`."""

    def __init__(
        self,
        config: TrainConfig,
        sequences: Sequence[SequenceGt],
        output: str | Path,
        *,
        val: Sequence[SequenceGt] = (),
        resume: bool = False,
        progress: bool = True,
        log: Callable[[str], None] = print,
    ) -> None:
        if not sequences:
            raise InputError("no training sequences given")
        self.config, self.output = config, Path(output)
        self.progress, self.log = progress, log
        self.siammt = config.siammt()
        self.sequences = list(sequences)
        self.sampler = PairSampler(self.sequences, config.sampler, self.siammt)
        self.augmenter = Augmenter(config.augment, self.siammt)
        torch.manual_seed(config.seed)
        backbone = init_alexnet(
            config.mode, config.init_weights, config.widths, self.siammt.activation
        )
        self.net = SiamMTTrainNet(backbone, self.siammt)
        self.net.freeze(config.frozen_convs if config.mode == "finetune" else 0)
        self.net.to(self.net.device)
        if self.net.device.type == "cpu":  # its convolutions run faster channels-last
            self.net.to(memory_format=torch.channels_last)
        params = [p for p in self.net.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        if not resume and checkpoint.latest_state(self.output) is not None:
            raise InputError(
                "holds a training run already; pass --resume or another --output", self.output
            )
        self.start_epoch = self._resume() if resume else 0
        self.steps = history.CsvLog(
            self.output / history.LOG_FILE, history.STEP_FIELDS, self.start_epoch
        )
        self.validator, self.val_log = None, None
        if val:
            self.validator = Validator(val, config, self.augmenter, config.val_pairs)
            self.val_log = history.CsvLog(
                self.output / history.VAL_FILE, history.VAL_FIELDS, self.start_epoch
            )

    def _resume(self) -> int:
        path = checkpoint.latest_state(self.output)
        if path is None:
            raise InputError("--resume: no training state to resume from", self.output)
        epoch = checkpoint.load_state(path, self.net.backbone, self.optimizer)
        checkpoint.move_optimizer(self.optimizer, self.net)
        self.log(f"resumed from {path} (epoch {epoch} of {self.config.epochs})")
        return epoch

    def run(self) -> TrainResult:
        """Train the remaining epochs, then write the final weights and a mot-run preset."""
        step_times: list[float] = []
        if self.start_epoch == 0:
            self._validate(0)  # the starting weights
        for epoch in range(self.start_epoch, self.config.epochs):
            step_times += self._epoch(epoch)
            checkpoint.save_state(
                self.output, epoch + 1, self.net.backbone, self.optimizer, config_yaml(self.config)
            )
            self._validate(epoch + 1)
            history.plot(self.steps, self.val_log)
        weights = checkpoint.export_weights(self.output / checkpoint.FINAL_FILE, self.net.backbone)
        preset = self._write_preset(weights)
        means = self.steps.epoch_means()
        last = means.get(self.config.epochs, float("nan")) if step_times else float("nan")
        per_step = float(np.mean(step_times)) if step_times else float("nan")
        return TrainResult(weights, preset, self.config.epochs, last, per_step)

    def _epoch(self, epoch: int) -> list[float]:
        """One epoch of `steps_per_epoch` steps; returns each step's seconds."""
        from tqdm import tqdm

        c = self.config
        lr = c.learning_rate(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        rng = np.random.default_rng([c.seed, epoch])
        torch.manual_seed(c.seed * 100_003 + epoch)
        self.net.train(c.mode == "scratch")
        times = []
        bar = tqdm(
            range(c.steps_per_epoch),
            desc=f"epoch {epoch + 1}/{c.epochs}",
            disable=not self.progress,
            leave=False,
        )
        for step in bar:
            t0 = time.perf_counter()
            parts = self.step(self.batch(rng))
            times.append(time.perf_counter() - t0)
            loss = float(parts.total.detach())
            bar.set_postfix(loss=f"{loss:.4f}")
            self.steps.append(
                epoch=epoch + 1,
                step=step,
                loss=loss,
                positive_maps=parts.positive_maps,
                negative_maps=parts.negative_maps,
                lr=lr,
                seconds=times[-1],
            )
        mean = self.steps.epoch_means().get(epoch + 1, float("nan"))
        self.log(f"epoch {epoch + 1}/{c.epochs}: loss {mean:.4f}, lr {lr:.2e}")
        return times

    def batch(self, rng: np.random.Generator, train: bool = True) -> Batch:
        """Draw `batch_size` groups, load and augment their frames, label every scored pair."""
        groups = [self.sampler.sample(rng) for _ in range(self.config.batch_size)]
        samples = [load_sample(self.sequences, g, self.augmenter, rng, train) for g in groups]
        return make_batch(samples, self.config.loss.radius, self.net.response_size, self.net.device)

    def _validate(self, epoch: int) -> None:
        """Score the held-out pairs after `epoch` epochs (0: the starting weights)."""
        if self.validator is None or self.val_log is None:
            return
        r = self.validator.evaluate(self.net)
        self.val_log.append(epoch=epoch, **dataclasses.asdict(r))
        self.log(
            f"held-out after epoch {epoch}: loss {r.loss:.4f}, peak on the person "
            f"{r.peak_hits:.1%}, in a neighbour's area {r.neighbour_hits:.1%}"
        )

    def step(self, batch: Batch) -> LossParts:
        """One optimiser step on `batch`."""
        c = self.config.loss
        logits = self.net(batch.samples, batch.pairs)
        parts = balanced_loss(
            logits, batch.labels, batch.map_weight, c.positive_weight, c.negative_pair_weight
        )
        self.optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        self.optimizer.step()
        return parts

    def _write_preset(self, weights: Path) -> Path:
        options = {k: v for k, v in self.config.tracker_options.items() if k not in MACHINE_OPTIONS}
        options = {"weights": str(weights.resolve()), **_plain(options)}
        options.setdefault("activation", self.siammt.activation)
        text = (
            "# mot-run preset written by mot-train: SiamMT with the weights trained here.\n"
            + yaml.safe_dump({"tracker": "siammt", "tracker_options": options}, sort_keys=False)
        )
        return atomic_write_text(self.output / PRESET_FILE, text, overwrite=True)
