"""Settings of `mot-train`: frozen dataclasses with defaults in code, checked at construction,
loadable from YAML by the engine (`mot_pipeline.config.load_train_config`, unknown keys are an
error). No torch import, so a bad preset fails before any model loads.

Numbers from the paper (Sec. 3.3, 4.1) are marked; the rest, and what was measured, is in
docs/DECISIONS.md ("SiamMT: training").
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from mot_pipeline.types import check_choices
from trackers.siammt.config import SiamMTConfig

# The paper's schedule (Sec. 4.1): Adam, 3e-4 geometrically annealed to 3e-6. Its L2 factor
# reads "? x 10^-5" in the shared text (the digit is lost); 5 is our reading (docs/DECISIONS.md).
PAPER_LR = 3e-4
PAPER_LR_END = 3e-6
PAPER_WEIGHT_DECAY = 5e-5
PAPER_MAX_GAP = 100  # frames between exemplar and search frame of a positive pair
SIAMFC_LABEL_RADIUS = 16.0  # R of Eq. 4 in px at the trained scale (siamfc-pytorch's r_pos)
REDUCED_WIDTHS = (28, 76, 114, 114, 76)  # FDSiamFC 0.3x, the packaged weights' widths
MOT_PERSON_CLASSES = (1, 2, 7)  # MOT16 pedestrian, person on vehicle, static person


def _check_fraction(name: str, value: float, top: float = 1.0) -> None:
    if not 0.0 <= value <= top:
        raise ValueError(f"{name} must be in [0, {top}], got {value}")


@dataclass(frozen=True)
class SamplerConfig:
    """Which frame pairs and which people a training sample holds (`pairs.py`)."""

    max_gap: int = PAPER_MAX_GAP  # exemplar and search frame at most this far apart
    min_gap: int = 1  # and at least this far (0 allows the same frame)
    # People per frame pair: the anchor plus up to n - 1 neighbours whose centre lies within
    # `neighbour_radius` search-area half-widths of the anchor's (the hard negatives).
    targets_per_frame: int = 4
    neighbour_radius: float = 1.0
    min_visibility: float = 0.5  # gt visibility below this: not an exemplar, not scored
    min_height: float = 20.0  # px; smaller gt boxes are not used as exemplars
    classes: tuple[int, ...] = MOT_PERSON_CLASSES  # MOT16-style gt classes used (MOT15: all)
    max_size_ratio: float = 2.0  # group members within this factor of the anchor's size

    def __post_init__(self) -> None:
        if self.max_gap < max(self.min_gap, 1) or self.min_gap < 0:
            raise ValueError(f"need 0 <= min_gap <= max_gap, max_gap >= 1: {self}")
        if self.targets_per_frame < 1:
            raise ValueError(f"targets_per_frame must be >= 1, got {self.targets_per_frame}")
        if self.neighbour_radius < 0 or self.min_height < 0 or self.max_size_ratio < 1:
            raise ValueError("neighbour_radius, min_height >= 0 and max_size_ratio >= 1 needed")
        _check_fraction("min_visibility", self.min_visibility)
        object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))


@dataclass(frozen=True)
class AugmentConfig:
    """Geometric jitter of the sample grids and photometric augmentation (`augment.py`)."""

    scale_jitter: float = 0.1  # search-area size times exp(U(-a, a)) ("random factor", Sec 3.3)
    frame_scale_jitter: float = 0.1  # frame resize times exp(U(-a, a)): targets off-scale
    max_shift: float = 2.0  # search-area centre moved by U(-d, d) score-map cells per axis
    flip: float = 0.5  # probability of mirroring both frames of a pair
    grayscale: float = 0.1  # probability of dropping colour in both frames
    brightness: float = 0.2  # added intensity, U(-b, b) * 255, per frame
    contrast: float = 0.2  # intensity scaled by U(1 - c, 1 + c), per frame
    saturation: float = 0.2  # blend with grey by U(-s, s), per frame
    blur: float = 0.1  # probability of a small motion blur, per frame
    noise: float = 2.0  # std of added Gaussian noise, intensity levels

    def __post_init__(self) -> None:
        for name in ("flip", "grayscale", "blur"):
            _check_fraction(name, getattr(self, name))
        for name in ("brightness", "contrast", "saturation"):
            _check_fraction(name, getattr(self, name))
        if min(self.scale_jitter, self.frame_scale_jitter, self.max_shift, self.noise) < 0:
            raise ValueError("jitters, max_shift and noise must be >= 0")


@dataclass(frozen=True)
class LossConfig:
    """Eq. 3 with class-balanced weights and Eq. 4 labels (`labels.py`, `loss.py`)."""

    radius: float = SIAMFC_LABEL_RADIUS  # R (px at the trained scale), Eq. 4
    positive_weight: float = 0.5  # share of a map's weight on its positive cells
    # Share of the loss on maps without any positive (pairs of different people that do not
    # show the exemplar's person at all): the paper's negative pairs.
    negative_pair_weight: float = 0.25

    def __post_init__(self) -> None:
        if self.radius <= 0:
            raise ValueError(f"radius must be > 0, got {self.radius}")
        _check_fraction("positive_weight", self.positive_weight)
        _check_fraction("negative_pair_weight", self.negative_pair_weight)


@dataclass(frozen=True)
class PseudoConfig:
    """Ground truth from unlabeled video (`mot_pipeline.training_data`): the pipeline at
    detect_every 1, then only confident stretches of tracks are kept."""

    detector: str = "yolo11n"  # as mot-run's --detector
    tracker: str = "kalman"  # any registered tracker; at k = 1 the detector decides the boxes
    min_score: float = 0.5  # detector score of every kept box
    min_length: int = 10  # frames in a kept stretch of one track
    min_iou: float = 0.5  # IoU of consecutive boxes of a stretch (else it is cut)
    max_frames: int | None = None  # frames read per video (None: all)
    image_ext: str = ".jpg"

    def __post_init__(self) -> None:
        _check_fraction("min_score", self.min_score)
        _check_fraction("min_iou", self.min_iou)
        if self.min_length < 2:
            raise ValueError(f"min_length must be >= 2, got {self.min_length}")
        if self.max_frames is not None and self.max_frames < 2:
            raise ValueError(f"max_frames must be >= 2, got {self.max_frames}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything `mot-train` needs besides paths. `tracker_options` are `SiamMTConfig` fields
    (as in a mot-run preset): the geometry (field of view, context, cells, frame-scale limits)
    and activation training shares with the tracker that will load the result."""

    mode: Literal["finetune", "scratch"] = "finetune"
    # finetune: a siamfc-pytorch checkpoint to start from, a path or a packaged name (None:
    # the packaged FDSiamFC 0.3x; FDSiamfc_15: 0.15x)
    init_weights: str | None = None
    widths: tuple[int, ...] | None = None  # scratch: conv widths (None: 0.3x); finetune: checked
    frozen_convs: int = 3  # finetune: conv1..conv3 frozen (paper Sec. 3.3)
    epochs: int = 20
    pairs_per_epoch: int = 512  # frame pairs (each with up to targets_per_frame people)
    batch_size: int = 8  # frame pairs per step
    val_pairs: int = 64  # fixed frame pairs of the held-out (--val) sequences, scored per epoch
    lr: float = PAPER_LR
    lr_end: float = PAPER_LR_END  # geometric annealing from lr to lr_end over the epochs
    weight_decay: float = PAPER_WEIGHT_DECAY  # L2, Adam's
    seed: int = 0
    device: str = "cpu"
    tracker_options: dict[str, Any] = field(default_factory=dict)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)

    def __post_init__(self) -> None:
        check_choices(self)
        if min(self.epochs, self.pairs_per_epoch, self.batch_size, self.val_pairs) < 1:
            raise ValueError("epochs, pairs_per_epoch, batch_size and val_pairs must be >= 1")
        if not (self.lr > 0 and self.lr_end > 0 and self.weight_decay >= 0):
            raise ValueError("lr and lr_end must be > 0, weight_decay >= 0")
        if not 0 <= self.frozen_convs <= 5:
            raise ValueError(f"frozen_convs must be in 0..5, got {self.frozen_convs}")
        if self.widths is not None:
            widths = tuple(int(w) for w in self.widths)
            if len(widths) != 5 or any(w < 2 or w % 2 for w in widths):
                raise ValueError(f"widths must be 5 even numbers >= 2, got {self.widths}")
            object.__setattr__(self, "widths", widths)
        self.siammt()  # tracker_options must build a SiamMTConfig

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.pairs_per_epoch / self.batch_size)

    def siammt(self) -> SiamMTConfig:
        """The tracker settings training shares (torch backend, float32, this device)."""
        options = {**self.tracker_options, "backend": "torch", "precision": "f32"}
        options["device"] = self.device
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(SiamMTConfig)})
        if unknown:
            raise ValueError(f"unknown tracker_options {', '.join(unknown)}")
        return SiamMTConfig(**options)

    def learning_rate(self, epoch: int) -> float:
        """The learning rate of 0-based `epoch`: lr * (lr_end / lr) ** (epoch / (epochs - 1))."""
        if self.epochs == 1:
            return self.lr
        return self.lr * (self.lr_end / self.lr) ** (epoch / (self.epochs - 1))
