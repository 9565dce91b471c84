"""Settings of SiamMT and its SiamFC baselines: frozen dataclasses without a torch import, so a
YAML preset is checked (names, types, choices) before any model loads.

Hyper-parameters shared by SiamMT and the baselines live once, in `SiamParams` (SiamFC's values),
so that the trackers differ only in their architecture. The reasons and measurements behind the
defaults are in docs/DECISIONS.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mot_pipeline.types import check_choices
from trackers.motion_prior import MotionPriorConfig


@dataclass(frozen=True)
class SiamParams:
    """SiamFC's inference hyper-parameters (values from SiamFC / siamfc-pytorch) and the
    settings every SiamFC-family tracker has."""

    # siamfc-pytorch checkpoint: a path, or a packaged one by name (FDSiamfc_30, the default;
    # FDSiamfc_15, 0.15x width: the lean preset)
    weights: str | None = None
    device: str = "cpu"
    activation: Literal["relu", "leaky_relu"] = "relu"  # the shipped weights: ReLU
    context: float = 0.5  # ζ: context margin of the exemplar region, Eq. 5
    exemplar_px: int = 127  # SiamFC's exemplar image
    instance_px: int = 255  # SiamFC's search image
    scale_step: float = 1.0375
    scale_num: int = 3
    scale_lr: float = 0.59
    scale_penalty: float = 0.9745
    window_influence: float = 0.176
    response_up: int = 16
    upsample: Literal["bilinear", "bicubic"] = "bilinear"  # SiamMT (paper Sec. 4.4) / SiamFC
    out_scale: float = 0.001  # siamfc-pytorch's head: logits = out_scale * xcorr
    # The score of a box is sigmoid(score_scale * logit + score_bias): 1 and 0 give the net's
    # own probability; `mot-bench calibrate` fits them so that it is the probability that the
    # box is on its target (measurements: docs/DECISIONS.md, "SiamMT: a calibrated score").
    score_scale: float = 1.0
    score_bias: float = 0.0
    min_box_size: float = 2.0  # px, a box never shrinks below this
    # Not SiamFC's: the pipeline hides a propagated track whose score (the probability at the
    # box returned) falls below this (`trackers.ReportThreshold`).
    min_report_score: float = 0.9
    # The motion prior around the appearance tracker (`trackers.motion_prior`); None: none.
    motion: MotionPriorConfig | None = None

    def __post_init__(self) -> None:
        check_choices(self)
        if self.motion is not None and not isinstance(self.motion, MotionPriorConfig):
            raise ValueError(f"motion must be a MotionPriorConfig or None, got {self.motion!r}")
        if not (self.score_scale > 0 and np.isfinite(self.score_bias)):
            raise ValueError(
                f"score_scale must be > 0 and score_bias finite, got {self.score_scale}, "
                f"{self.score_bias}"
            )
        if self.scale_num < 1 or self.scale_num % 2 == 0:
            raise ValueError(f"scale_num must be odd and positive, got {self.scale_num}")

    def scale_factors(self) -> np.ndarray:
        """Search scales, e.g. (1.0375^-1, 1, 1.0375)."""
        half = self.scale_num // 2
        return self.scale_step ** np.linspace(-half, half, self.scale_num)


@dataclass(frozen=True)
class SiamMTConfig(SiamParams):
    """SiamMT: one backbone pass per frame, feature crops, batched correlation; by default with
    the motion prior (the baselines have none, as in the paper's comparison)."""

    motion: MotionPriorConfig | None = field(default_factory=MotionPriorConfig)
    # φ's inference backend and arithmetic (`backends.py`; "auto": see `backends.resolve`).
    # torch runs f32 or bf16 on any device; openvino f32, bf16 or int8 on the CPU. The heads
    # always run in float32.
    backend: Literal["torch", "openvino", "auto"] = "auto"
    precision: Literal["f32", "bf16", "int8", "auto"] = "auto"
    cache_dir: str | None = None  # OpenVINO models built from the weights; None: the default
    int8_calibration: str | None = None  # a sequence with gt to calibrate on; None: the sample
    # "siamfc": the exemplar region maps onto SiamFC's 127-px exemplar image (the field of view
    # the shipped weights were trained with); "paper": onto the 6 x 6 exemplar (Fig. 7c).
    field_of_view: Literal["siamfc", "paper"] = "siamfc"
    exemplar_cells: int = 6
    search_cells: int = 22
    # Frame resizing so the median target sits at the trained scale: None automatic, or fixed.
    frame_scale: float | None = None
    min_frame_scale: float = 0.125
    max_frame_scale: float = 4.0
    frame_scale_tolerance: float = 0.15  # keep the current factor while within +-15 %
    max_resized_pixels: int = 4_000_000  # upsampling never makes a frame larger than this
    partial: bool = True  # features only of the region covering the search areas
    # Mean-colour padding around the frame, px after resizing; None: the receptive field
    # rounded up to the stride, where clamping samples at the border is exact.
    border_pad: int | None = None
    # κ̃ + Φ̃ order: "sampled" (Φ̃ on the map, then κ̃), "crop" (the paper's order), "auto":
    # per target, "sampled" unless it costs more than `sampled_cost_ratio` times "crop".
    xcorr_layout: Literal["auto", "sampled", "crop"] = "auto"
    sampled_cost_ratio: float = 3.0
    chunk_bytes: int = 4 << 20  # CPU cache blocking of κ̃ + Φ̃ working sets (0: one chunk)
    profile: bool = False  # record per-stage times (ms) of the last propagate in `stage_ms`

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frame_scale is not None and self.frame_scale <= 0:
            raise ValueError("frame_scale must be positive")


@dataclass(frozen=True)
class SiamFCConfig(SiamParams):
    """The SiamFC baselines (`siamfc`, `siamfc-mi`): SiamFC's bicubic upsampling."""

    upsample: Literal["bilinear", "bicubic"] = "bicubic"
