"""SiamMT (paper Sec. 3.2, Fig. 4b) as the pipeline's `siammt` motion estimator.

Per frame: resize the frame so the median target sits at the scale the weights were trained at
(paper Sec. 4.1), run φ ONCE over the region that covers every search area (partial feature
extraction), cut 22 x 22 search features per target and scale with κ̃ (`crop.py`), score them
against the cached 6 x 6 exemplars with Φ̃ (`xcorr.py`), and move the boxes with SiamFC's peak
search and damped scale update (`response.py`). Exemplars are cut from the frame features at
`add` time (SiamMT-W: SiamFC's weights reused, paper Sec. 3.3) and cached until the next `add`
of the same id. `add` on the frame just propagated reuses its features (the cache is keyed by
the frame object, its shape and a pixel sample, and dropped by the next `propagate`): one
backbone pass per frame; a new target outside the extracted region costs one pass over its
own small region.

Geometry, in frame pixels, per target: the exemplar region is the square of side sqrt(A) (A of
Eq. 5, context ζ) centred on the box; `cell` is the spacing of the sample grid of both the
exemplar (6 x 6) and the search area (22 x 22 at scale 1), so score-map cells are `cell` px
apart. Two settings (`field_of_view`), both from the paper's Sec. 4.1:
- "paper": the region maps onto the 6 x 6 exemplar (Fig. 7c): cell = sqrt(A) / 6, with ζ = 0
  the paper's choice for its own weights;
- "siamfc" (default): the region maps onto SiamFC's 127-px exemplar image, whose 6 x 6 features
  are the receptive-field centres 43 + 8 j: cell = 8 sqrt(A) / 127; with ζ = 0.5 this is the
  field of view the SiamFC weights were trained with ("adjust ζ to replicate SiamFC's field of
  view"). Mean IoU with gt on TUD-Stadtmitte after 1 / 5 / 10 frames from gt boxes (SiamMT
  alone, bicubic): ζ = 0 "paper" 0.861 / 0.710 / 0.591, ζ = 0.5 "siamfc" 0.874 / 0.734 / 0.600.
The frame is resized by r so that the median cell becomes S = 8 px: the median target is seen
at the size SiamFC's crops would give it (with the paper's geometry that puts it at 48 px,
above the paper's 32-px floor; large targets make r < 1, e.g. ~0.5 on TUD-Stadtmitte). r is
clamped and kept while within a tolerance, so it does not change every frame.

Where the paper is silent, choices made here: samples beyond the frame see the frame's mean
colour (the region is padded with it by `border_pad` >= K px, so clamped samples are exact, as
in SiamFC's padded crops; 48 px measured the same end to end and ~30 % cheaper on TUD); region
origins are snapped to multiples of S in the resized frame, so features do not depend on which
targets are present (N targets together == N single runs, partial == full frame); Eq. 2 is
only used on region sizes where it is exact (see `crop.py`); the scale penalty multiplies
logits, as in SiamFC.

Upsampling: bilinear, as the paper. It moves boxes in whole score-map cells (see `response.py`);
SiamFC's bicubic is available (`upsample="bicubic"`, ~2x the peak-search cost) and gives
sub-cell steps, but end to end (below) the two are within noise of each other.

Motion prior (not in the paper; `motion="kalman"`, default). SiamMT alone drifts: on the four
shared sequences, detector every 5 frames (YOLO11n), it beat the Kalman estimator on MOTA but
lost IDF1 on TUD-Stadtmitte (57.6 vs 78.2): when people cross, the front one's appearance wins
and drags the other track. So SiamMT's boxes are measurements of the constant-velocity Kalman
filter the `kalman` estimator uses (`trackers.kalman_filter`, same state and noise), whose
prediction also centres the search areas: a measurement counts with a centre noise of
`siammt_noise` score-map cells (1.0, above SiamMT's measured one-frame error of 0.3-0.5 cells
because its errors persist from frame to frame), is dropped when its peak logit is below
`min_logit` or it is implausible (Mahalanobis gate), and tracks whose predicted boxes overlap
another's (IoU > `occlusion_iou`) are carried by the prediction alone. Measured (MOTA / IDF1,
k = 5, same detector): TUD-Campus 52.9 / 61.6 (Kalman 25.1 / 58.5), TUD-Stadtmitte 73.4 / 80.8
(69.9 / 78.2), KITTI-17 58.7 / 72.2 (43.8 / 62.3), PETS09-S2L1 69.8 / 70.3 (47.1 / 51.6).
The filter runs on (cx, cy, w, h) here (`motion_state`), unlike the `kalman` estimator's
(cx, cy, a, h): with SiamMT's measurements, four sequences, MOTA / IDF1 at k = 1 / 5 / 10,
cxcywh 74.6 / 74.8, 68.4 / 71.7, 55.5 / 63.4; cxcyah 74.8 / 72.1, 66.9 / 67.5, 54.7 / 58.8.

Association prior (not in the paper; `association_prior`, default on). The filter above still
follows SiamMT, and a partly hidden person's track can be dragged onto the one in front (or a
new, small one's onto its neighbour) before the next detection. So a second, detection-only
filter (the `kalman` estimator itself, O(N) numpy) runs beside it and its boxes are
`prior_boxes`; the pipeline's first association pass lets a confirmed track take a detection
that either box overlaps (`association.match_cascade`). Measured on the four sequences
(`mot-bench accuracy ... --methods siammt -k 5 10`, revised output, MOTA / IDF1 / HOTA), off ->
on: k = 5 78.2 / 75.8 / 57.0 -> 77.6 / 76.6 / 57.9, k = 10 70.1 / 69.3 / 52.0 -> 72.3 / 76.2 /
55.9; TUD-Stadtmitte k = 5 78.0 / 83.3 -> 79.1 / 84.3 (kalman 79.1 / 82.6). The MOTA lost at
k = 5 is TUD-Campus (58.5 -> 37.9): small static false detections that SiamMT's drifting boxes
used to shed are now kept, as the `kalman` estimator keeps them (28.7). Also consulting the
prior for tentative tracks (third pass): k = 5 77.5 / 76.2, k = 10 69.7 / 73.3 (TUD-Campus 8.4
at k = 10); in every pass: 77.4 / 76.4, 69.0 / 72.8 (TUD-Campus -4.2); for lost tracks only:
k = 10 71.1 / 72.5.

Speed (CPU, 2 threads, 0.3x width, 640 x 480, N = 100 targets 30-120 px tall, frame resized by
1.135, full frame; Intel Xeon with AMX shared with another 2-thread job, OMP_WAIT_POLICY=PASSIVE
(see the end of this paragraph); `mot-bench speed --resolution vga --objects 1 100 --methods siammt
siamfc-mi --budget-s 150 --threads 2`): backbone 40.6 ms (bf16; 73.8 ms float32 in the run before
this change), κ̃ + Φ̃ 14.3 ms (29.4 before), upsampling + peak 5.1 ms (5.6 before), box update 0.1
ms, motion prior 0.9 ms; 61.3 ms a frame (109.7 before; N = 1: 44.4, 78.2 before), 0.171 ms per
added target (0.318), 46.8x siamfc-mi's 2869 ms (26.3x). On one thread (CPU time, the same inputs):
0.195 ms per added target in float32, 0.349 before. κ̃ and Φ̃: targets sorted by size run in chunks
of at most `chunk_bytes` of working set (cache blocking, not a loop over objects; one chunk on
CUDA). `xcorr_layout="auto"` sends a target to correlate-then-sample (`xcorr.sampled_xcorr`: G = Z
F^T on the map window its samples touch, shared by its 3 scales, then bilinear sampling and Φ̃'s
offset sum as two dense matmuls) unless that costs more than `sampled_cost_ratio` times the
multiply-adds of the paper's crop-then-correlate, i.e. for targets up to ~2x the trained scale.
Against the previous gather-and-lerp sampling, same inputs, one process, interleaved: κ̃ + Φ̃ at N
= 100 13.9 -> 6.4 ms (2 threads; 24.2 -> 10.9 ms CPU time on 1 thread), scores equal to 2e-7
relative; the peak search's candidate blocks from per-block tables, 3.6 -> 2.7 ms (1 thread),
bit-identical. The backbone is compute-bound: `backbone_dtype="auto"` (opt-in) runs it in bfloat16
on CPUs with AMX-BF16, 32.3 -> 14.5 ms here (2.2x; features ~1 % from float32). AVX512-BF16 alone
is not enough: with oneDNN capped to it (ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16, its brgemm bf16
kernels) the same Xeon took 57.8 ms in bf16 vs 33.4 in float32 (capped to AVX512_CORE: 158 vs 36;
AVX2: 551 vs 49), so "auto" stays float32 there; an AMD EPYC (Zen 4) measured bf16 1.4x faster
(force "bfloat16" there). Accuracy, float32 -> bf16 (`mot-bench accuracy` TUD-Stadtmitte +
PETS09-S2L1, yolo11n), MOTA / IDF1: k = 5 70.5 / 72.3 -> 71.2 / 74.2, k = 10 59.5 / 64.2 -> 60.4 /
65.0, no sequence lower (earlier, four sequences, k = 5: 68.4 / 71.7 -> 68.8 / 73.3). On a shared
machine, libgomp's default spin-waiting makes every parallel op wait for a descheduled thread: with
another 2-thread process running, N = 100 took ~840 ms a frame, ~70 ms with
OMP_WAIT_POLICY=PASSIVE.

Scores: `propagate` returns sigmoid(logit) in [0, 1], the net's probability that the target is
at the box returned (the SiamFC head was trained with a logistic loss on these logits): the
peak's logit when SiamMT's measurement was used, the logit at the search centre (the
prediction) when it was not. `last_logits` holds the raw peaks (out_scale * xcorr, ~5-9 on a
tracked person), `last_accepted` which measurements were used, `last_scale_peaks` the peak of
each scale.

Reporting (`min_report_score`, shared with the SiamFC baselines in `SiamParams`; the issue asks
that a track whose score collapses stop being reported): the pipeline hides a propagated track
scored below 0.9 (a logit of 2.2; `trackers.ReportThreshold`). Revised output shows such a frame
again once the track's next detection comes, so there it only hides the frames after a track's
last detection where SiamMT has lost the person (walked out of the image, hidden): the frames
that would otherwise be false positives on a box left at the border or on a neighbour. Online,
a hidden frame stays hidden. Measured, the four MOT15 sequences and their 16 `mot-bench
variants` copies (the "20", YOLO11n, revised; MOTA / IDF1 / HOTA) and the four alone online
(`--lag 0`), threshold 0 (before) / 0.5 / 0.9 / 0.97:
- revised k = 5: 77.6 / 78.8 / 58.6, 77.7 / 78.8 / 58.6, 78.1 / 79.0 / 58.8, 78.5 / 79.1 / 58.8;
- revised k = 10: 69.4 / 73.0 / 54.0, 69.9 / 73.2 / 54.2, 71.2 / 73.7 / 54.6, 72.0 / 73.9 / 54.8;
- online k = 5: 68.3 / 74.0 / 53.1, 68.3 / 73.9 / 53.1, 68.1 / 73.9 / 53.0, 65.7 / 72.4 / 51.1;
- online k = 10: 57.9 / 71.0 / 48.0, 58.4 / 71.2 / 48.2, 59.4 / 71.5 / 48.4, 57.6 / 69.9 / 46.4.
0.9 is the one value that gains in revised output and does not lose online (0.97 hides people
that are there; 0.99 revised: 78.5 / 79.1 / 58.8, 72.0 / 73.9 / 54.6). `kalman` and `hold` have
no such threshold: their scores are not the probability of a box.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from mot_pipeline.boxes import iou_matrix
from mot_pipeline.types import check_frame
from trackers.kalman import KalmanConfig, KalmanEstimator
from trackers.kalman_filter import MAX_SIZE_RATE, BoxKalmanFilter, FilterNoise
from trackers.siammt.backbone import RECEPTIVE_FIELD, STRIDE, cpu_has_amx_bf16, output_size
from trackers.siammt.crop import kappa, roi_grid, sample_bilinear, valid_input_size
from trackers.siammt.response import (
    PeakFinder,
    SiamParams,
    apply_update,
    exemplar_side,
)
from trackers.siammt.targets import Targets, load_backbone
from trackers.siammt.xcorr import pairwise_xcorr_bmm, sampled_xcorr
from trackers.track_ids import rows_of, validated

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "FDSiamfc_30.pth"
# Smallest multiple of S that is >= K: a feature cell whose receptive field starts this far
# outside the frame sees only padding, so clamping samples to it is exact.
FULL_PAD = STRIDE * math.ceil(RECEPTIVE_FIELD / STRIDE)
_DTYPES = ("float32", "bfloat16", "auto")
_FINGERPRINT_STEP = (61, 67)  # pixels sampled to tell a reused frame buffer from the cached one


@dataclass(frozen=True)
class SiamMTConfig(SiamParams):
    """SiamMT settings. Hyper-parameters shared with the SiamFC baselines come from
    `SiamParams` (SiamFC's values; bilinear upsampling as the paper does for SiamMT)."""

    weights: str | None = None  # siamfc-pytorch checkpoint; None: the packaged FDSiamfc_30
    device: str = "cpu"
    # Backbone arithmetic: "float32" (default, as the issue asks), "auto" (bfloat16 on CPUs
    # with AMX-BF16, float32 elsewhere) or "bfloat16" (e.g. on an AMD EPYC with AVX512-BF16,
    # measured 1.4x faster). See "Speed" above: bf16 features differ ~1 % from float32; MOT
    # accuracy at k = 5 did not drop, but following people from gt starts without detections
    # did (`mot-bench mvot` TUD-Stadtmitte mean IoU 0.554 float32 vs 0.470 bf16), so bf16
    # stays opt-in. The heads always run in float32.
    backbone_dtype: str = "float32"
    activation: str = "relu"  # the shipped weights were trained with ReLU
    field_of_view: str = "siamfc"  # "siamfc" or "paper", see the module docstring
    exemplar_cells: int = 6
    search_cells: int = 22
    # Frame resizing: None = automatic (median cell -> S px), or a fixed factor.
    frame_scale: float | None = None
    min_frame_scale: float = 0.125
    max_frame_scale: float = 4.0
    frame_scale_tolerance: float = 0.15  # keep the current factor while within +-15 %
    max_resized_pixels: int = 4_000_000  # upsampling never makes a frame larger than this
    partial: bool = True  # features only of the region covering the search areas
    border_pad: int = FULL_PAD  # mean-colour padding around the frame (px after resizing)
    min_box_size: float = 2.0  # px, a box never shrinks below this
    # Motion prior (not in the paper; see "Motion prior" above): "kalman" or "none" (the
    # paper's tracker alone).
    motion: str = "kalman"
    motion_search: bool = True  # centre the search areas on the Kalman prediction
    # The filter (`trackers.kalman_filter`): state convention and noise (std) per frame as
    # fractions of the box height (ByteTrack's values, those of the `kalman` estimator), except
    # SiamMT's centre noise, in score-map cells.
    motion_state: str = "cxcywh"  # measured better than cxcyah with SiamMT (docstring)
    process_position: float = 1.0 / 20
    process_velocity: float = 1.0 / 160
    detection_noise: float = 1.0 / 20
    siammt_noise: float = 1.0
    siammt_size_noise: float = 0.05
    max_size_rate: float | None = MAX_SIZE_RATE  # size velocity limit per frame (both filters)
    min_logit: float = 0.0  # weaker peaks are not used as measurements
    # Predicted boxes overlapping another track's this much (IoU) are not measured by SiamMT:
    # when people cross, the front one's appearance wins and would drag both tracks.
    occlusion_iou: float = 0.3
    gate: float = 13.28  # chi-square (4 dof, 1 %): farther SiamMT boxes are implausible
    # Keep a detection-only Kalman filter (the `kalman` estimator) beside SiamMT and expose
    # its boxes as `prior_boxes`, so association can match a detection to either prediction.
    association_prior: bool = True
    # "sampled": Φ̃ on the map, then κ̃ of the products (`xcorr.sampled_xcorr`); "crop": κ̃
    # then Φ̃, the paper's order; "auto": per target, "sampled" unless it needs more than
    # `sampled_cost_ratio` times the multiply-adds of "crop" (whose bilinear gathers run far
    # below matmul speed; measured break-even ~3, windows of ~50 cells, i.e. targets ~2x the
    # trained scale). The same scores to float rounding.
    xcorr_layout: str = "auto"
    sampled_cost_ratio: float = 3.0
    chunk_bytes: int = 4 << 20  # CPU cache blocking of κ̃ + Φ̃ working sets (0: one chunk)
    profile: bool = False  # record per-stage times (ms) of the last propagate in `stage_ms`


@dataclass
class _FrameFeatures:
    """Backbone output for one region of one (resized) frame."""

    frame: np.ndarray
    fingerprint: bytes
    scale: tuple[float, float]  # (rx, ry): resized px per frame px
    origin: tuple[int, int]  # (ox, oy) of the region in resized px (may be negative)
    size: tuple[int, int]  # (width, height) of the region in px
    features: torch.Tensor  # (Hf, Wf, C) channels-last
    limits: tuple[bool, bool, bool, bool]  # region reaches the padded frame: x-lo, y-lo, x-hi, y-hi


def _fingerprint(frame: np.ndarray) -> bytes:
    return frame[:: _FINGERPRINT_STEP[0], :: _FINGERPRINT_STEP[1]].tobytes()


def resolve_backbone_dtype(name: str, device: torch.device) -> torch.dtype:
    """The backbone's dtype for `backbone_dtype` `name`: "auto" is bfloat16 on CPUs with
    AMX-BF16 (where it is measured faster, `cpu_has_amx_bf16`), float32 elsewhere."""
    if name == "auto":
        amx = device.type == "cpu" and cpu_has_amx_bf16()
        return torch.bfloat16 if amx else torch.float32
    return getattr(torch, name)


class SiamMTEstimator:
    """`MotionEstimator` running SiamMT over all live tracks at once."""

    Config = SiamMTConfig

    def __init__(self, config: SiamMTConfig | None = None) -> None:
        self.config = config or SiamMTConfig()
        c = self.config
        if c.field_of_view not in ("siamfc", "paper"):
            raise ValueError(f"unknown field_of_view {c.field_of_view!r}")
        if c.frame_scale is not None and c.frame_scale <= 0:
            raise ValueError("frame_scale must be positive")
        if c.xcorr_layout not in ("auto", "sampled", "crop"):
            raise ValueError(f"unknown xcorr_layout {c.xcorr_layout!r}")
        if c.motion not in ("kalman", "none"):
            raise ValueError(f"unknown motion prior {c.motion!r}")
        self._noise = FilterNoise(
            state=c.motion_state, position=c.process_position, velocity=c.process_velocity
        )
        self.device = torch.device(c.device)
        if c.backbone_dtype not in _DTYPES:
            raise ValueError(f"unknown backbone_dtype {c.backbone_dtype!r}; choose from {_DTYPES}")
        self._dtype = resolve_backbone_dtype(c.backbone_dtype, self.device)
        net = load_backbone(c.weights or DEFAULT_WEIGHTS, c.activation, self.device)
        self.net = net.take_bgr().to(self._dtype)
        self.response_size = c.search_cells - c.exemplar_cells + 1
        self.peaks = PeakFinder(c, self.response_size, self.device)
        self._scales = c.scale_factors()
        self.stage_ms: dict[str, float] = {}
        self.reset()

    # -- protocol ------------------------------------------------------------------------------
    @property
    def ids(self) -> np.ndarray:
        return self._t.ids.copy()

    def reset(self) -> None:
        self._t = Targets(self.config.exemplar_cells**2, self.net.out_channels, self.device)
        self._frame_scale: float | None = None
        self._cache: _FrameFeatures | None = None
        self.last_logits = np.zeros(0, np.float32)
        self.last_accepted = np.zeros(0, bool)
        self.last_scale_peaks = np.zeros((0, self.config.scale_num), np.float32)
        c = self.config
        self._kf = BoxKalmanFilter(self._noise, c.max_size_rate) if c.motion == "kalman" else None
        # The prior is the `kalman` estimator with its defaults but this size velocity limit.
        prior = KalmanConfig(max_size_rate=c.max_size_rate)
        self._prior = KalmanEstimator(prior) if c.association_prior else None
        self.prior_boxes: np.ndarray | None = None

    def add(self, frame: np.ndarray, boxes: np.ndarray, ids: np.ndarray) -> None:
        boxes, ids = validated(boxes, ids)
        if len(ids) == 0:
            return
        check_frame(frame)
        centre = ((boxes[:, :2] + boxes[:, 2:]) / 2).astype(np.float64)
        c = self.config
        size = np.maximum(boxes[:, 2:] - boxes[:, :2], c.min_box_size).astype(np.float64)
        cell = self._cell_size(size)
        with torch.inference_mode():
            exemplars = self._exemplar_features(frame, centre, cell)
        known = self._t.put(ids, centre, size, cell, exemplars)
        if self._prior is not None:
            self._prior.add(frame, boxes, ids)
        new = ~known
        kf = self._kf
        if kf is not None:
            z = kf.measure(boxes)
            if known.any():  # a detection corrects the filter
                rows = self._t.rows(ids[known])
                noise = kf.std(z[known, 3], c.detection_noise, kf.noise.aspect_measurement)
                kf.update(rows, z[known], noise)
            if new.any():
                kf.initiate(z[new])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self._t.ids, np.asarray(ids, np.int64).reshape(-1))
        if keep.all():
            return
        self._t.keep(keep)
        if self._kf is not None:
            self._kf.keep(keep)
        if self._prior is not None:
            self._prior.remove(ids)

    def propagate(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_frame(frame)
        self._cache = None  # a new frame: never reuse features across propagate calls
        if self._prior is not None:
            prior, _ = self._prior.propagate(frame)
            self.prior_boxes = prior[rows_of(self._prior.ids, self._t.ids)]
        if len(self._t.ids) == 0:
            self.last_logits = np.zeros(0, np.float32)
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        kf = self._kf
        t_predict = time.perf_counter()
        if kf is not None:
            kf.predict()
            if self.config.motion_search:
                self._set_state(kf.boxes())
        t_predict = time.perf_counter() - t_predict
        with torch.inference_mode():
            logits, centre_logits = self._track(frame)
        self.last_logits = logits
        if kf is None:
            self.last_accepted = np.ones(len(logits), bool)
            return self.boxes(), _sigmoid(logits)
        t0 = time.perf_counter()
        rows = np.arange(len(logits))
        z = kf.measure(self.boxes())
        r = self._siammt_std(z)
        accepted = (logits >= self.config.min_logit) & (kf.distance(rows, z, r) <= self.config.gate)
        accepted &= ~self._crowded(kf.boxes())
        if accepted.any():
            kf.update(rows[accepted], z[accepted], r[accepted])
        self._set_state(kf.boxes())
        self.last_accepted = accepted
        if self.config.profile:
            self.stage_ms["motion"] = (time.perf_counter() - t0 + t_predict) * 1e3
        # The score is the net's probability at the box returned: the peak for a measurement
        # that was used, the centre of the (scale 1) map, i.e. the prediction, otherwise.
        return self.boxes(), _sigmoid(np.where(accepted, logits, centre_logits))

    # -- extras --------------------------------------------------------------------------------
    @property
    def min_report_score(self) -> float:
        """`trackers.ReportThreshold`: the pipeline hides a propagated track scored below."""
        return self.config.min_report_score

    def boxes(self) -> np.ndarray:
        """Current boxes (xyxy, frame px) in the order of `ids`, without tracking."""
        half = self._t.size / 2
        return np.concatenate([self._t.centre - half, self._t.centre + half], axis=1).astype(
            np.float32
        )

    def _siammt_std(self, z: np.ndarray) -> np.ndarray:
        """Noise of SiamMT's boxes z (filter convention): the centre in score-map cells, the
        shape as a fraction of the height; SiamMT keeps the aspect ratio, so an aspect term
        gets the detections' noise."""
        c, kf = self.config, self._kf
        std = kf.std(z[:, 3], c.siammt_size_noise, kf.noise.aspect_measurement)
        std[:, :2] = c.siammt_noise * self._t.cell[:, None]
        return std

    def _crowded(self, boxes: np.ndarray) -> np.ndarray:
        """Tracks whose predicted box overlaps another's by more than `occlusion_iou`."""
        iou = iou_matrix(boxes, boxes)
        np.fill_diagonal(iou, 0.0)
        return (iou > self.config.occlusion_iou).any(axis=1)

    def _set_state(self, boxes: np.ndarray) -> None:
        """Move the SiamMT state to xyxy boxes; the sample grid follows the size."""
        boxes = boxes.astype(np.float64)
        self._t.centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        self._t.size = np.maximum(boxes[:, 2:] - boxes[:, :2], self.config.min_box_size)
        self._t.cell = self._cell_size(self._t.size)

    @property
    def frame_scale(self) -> float | None:
        """The resize factor used for the last frame (None before the first)."""
        return self._frame_scale

    # -- geometry ------------------------------------------------------------------------------
    def _cell_size(self, size: np.ndarray) -> np.ndarray:
        """Frame px between sample-grid cells for boxes of `size` (M, 2) = (w, h)."""
        c = self.config
        side = exemplar_side(size, c.context)
        if c.field_of_view == "paper":
            return side / c.exemplar_cells
        return side * STRIDE / c.exemplar_px

    def _choose_scale(self, cells: np.ndarray, frame_shape: tuple[int, ...]) -> float:
        c = self.config
        if c.frame_scale is not None:
            return float(c.frame_scale)
        top = min(
            c.max_frame_scale, math.sqrt(c.max_resized_pixels / max(1, np.prod(frame_shape[:2])))
        )
        ideal = float(
            np.clip(STRIDE / np.median(cells), c.min_frame_scale, max(top, c.min_frame_scale))
        )
        cur = self._frame_scale
        if cur is not None and abs(math.log(ideal / cur)) <= math.log1p(c.frame_scale_tolerance):
            return cur
        return ideal

    # -- features ------------------------------------------------------------------------------
    def _resize(self, frame: np.ndarray, scale: float) -> tuple[np.ndarray, tuple[float, float]]:
        h, w = frame.shape[:2]
        if scale == 1.0:
            return frame, (1.0, 1.0)
        wr, hr = max(1, round(w * scale)), max(1, round(h * scale))
        resized = cv2.resize(frame, (wr, hr), interpolation=cv2.INTER_LINEAR)
        return resized, (wr / w, hr / h)

    def _region(
        self, lo: np.ndarray, hi: np.ndarray, frame_wh: tuple[int, int]
    ) -> tuple[tuple[int, int], tuple[int, int], tuple[bool, bool, bool, bool]]:
        """Backbone input region (origin, size) covering sample points lo..hi (resized px).

        Cell j of a region at origin o is centred on o + K/2 + S j. Origins are multiples of S
        (features then do not depend on the region); sizes satisfy (size - K) % S == 0 (Eq. 2
        exact). A region never reaches beyond the frame padded by `border_pad` (rounded up to
        S); where it stops there its border cells see only padding (when the pad is >= K), so
        samples beyond them may be clamped to them exactly. Returns also, per side (x-lo,
        y-lo, x-hi, y-hi), whether the region reaches that limit.
        """
        pad = STRIDE * math.ceil(int(self.config.border_pad) / STRIDE)
        k, half = RECEPTIVE_FIELD, RECEPTIVE_FIELD / 2
        origin, size, at_lo, at_hi = [], [], [], []
        for axis in range(2):
            extent = frame_wh[axis]
            o_max = STRIDE * math.floor(max(extent + pad - k, -pad) / STRIDE)
            if self.config.partial:
                o = STRIDE * math.floor((lo[axis] - half) / STRIDE)
                o = min(max(o, -pad), o_max)
            else:
                o = -pad
            n_max = valid_input_size(extent + pad - o)
            n = min(valid_input_size(hi[axis] + half - o), n_max) if self.config.partial else n_max
            origin.append(int(o))
            size.append(int(n))
            at_lo.append(o <= -pad)
            at_hi.append(n >= n_max)
        return (origin[0], origin[1]), (size[0], size[1]), (*at_lo, *at_hi)

    def _features(
        self,
        frame: np.ndarray,
        resized: np.ndarray,
        scale: tuple[float, float],
        lo: np.ndarray,
        hi: np.ndarray,
    ) -> _FrameFeatures:
        """Backbone features of the region of `resized` covering sample points lo..hi."""
        hr, wr = resized.shape[:2]
        (ox, oy), (nx, ny), lims = self._region(lo, hi, (wr, hr))
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + nx, wr), min(oy + ny, hr)
        # The input is built in one pass: BGR (the net's conv1 takes it, `take_bgr`), the
        # frame's mean colour beyond its border, converted from uint8 while copied; on the CPU
        # straight into the backbone's dtype, channels-last; on CUDA as uint8, converted there.
        cpu = self.device.type == "cpu"
        x = torch.empty(
            (1, 3, ny, nx),
            dtype=self._dtype if cpu else torch.uint8,
            memory_format=torch.channels_last,
        )
        hwc = x[0].permute(1, 2, 0)  # (ny, nx, 3) view of the same memory
        if (x0, y0, x1, y1) != (ox, oy, ox + nx, oy + ny):
            hwc[:] = torch.tensor(np.round(cv2.mean(resized)[:3]), dtype=x.dtype)
        if x1 > x0 and y1 > y0:
            src = resized[y0:y1, x0:x1]
            if min(src.strides) < 0:  # torch cannot view negative strides (e.g. frame[:, ::-1])
                src = src.copy()
            hwc[y0 - oy : y1 - oy, x0 - ox : x1 - ox] = torch.from_numpy(src)
        if not cpu:
            x = x.to(self.device).to(self._dtype)
        feats = self.net(x)[0].permute(1, 2, 0).float().contiguous()  # (Hf, Wf, C)
        assert feats.shape[0] == output_size(ny) and feats.shape[1] == output_size(nx)
        return _FrameFeatures(frame, _fingerprint(frame), scale, (ox, oy), (nx, ny), feats, lims)

    def _covers(self, ff: _FrameFeatures, lo: np.ndarray, hi: np.ndarray) -> bool:
        """Whether sample points lo..hi (resized px) lie on the cached map, or beyond it only on
        sides where the map reaches the padded frame's limit (clamping is exact there)."""
        half = RECEPTIVE_FIELD / 2
        for a in range(2):
            o, n = ff.origin[a], ff.size[a]
            if lo[a] < o + half and not ff.limits[a]:
                return False
            if hi[a] > o + n - half and not ff.limits[2 + a]:
                return False
        return True

    def _exemplar_features(
        self, frame: np.ndarray, centre: np.ndarray, cell: np.ndarray
    ) -> torch.Tensor:
        """(M, e * e, C) exemplar features, reusing the cached frame features when they cover."""
        c = self.config
        ff = self._cache
        if ff is not None and (ff.frame is not frame or ff.fingerprint != _fingerprint(frame)):
            ff = self._cache = None
        if ff is None:
            all_cells = np.concatenate([self._t.cell, cell])
            self._frame_scale = self._choose_scale(all_cells, frame.shape)
            resized, scale = self._resize(frame, self._frame_scale)
        else:
            resized, scale = None, ff.scale
        sc = np.asarray(scale)
        half_span = c.exemplar_cells / 2 * cell
        lo = ((centre - half_span[:, None]) * sc).min(axis=0)
        hi = ((centre + half_span[:, None]) * sc).max(axis=0)
        if ff is None or not self._covers(ff, lo, hi):
            if resized is None:
                resized, _ = self._resize(frame, self._frame_scale)
            fresh = self._features(frame, resized, scale, lo, hi)
            if ff is None:
                self._cache = fresh
            ff = fresh
        rois = self._rois(ff, centre, cell[:, None], c.exemplar_cells)
        ex = kappa(ff.features, rois.reshape(-1, 4), c.exemplar_cells, ff.size[::-1])
        return ex.reshape(len(centre), c.exemplar_cells**2, -1)

    def _rois(
        self, ff: _FrameFeatures, centre: np.ndarray, spacing: np.ndarray, cells: int
    ) -> torch.Tensor:
        """RoIs (M, S', 4) in region px for grids of `cells` samples `spacing` (M, S') frame px
        apart around `centre` (M, 2) frame px."""
        sc = np.asarray(ff.scale)
        org = np.asarray(ff.origin, np.float64)
        c = centre[:, None, :] * sc - org  # (M, 1, 2)
        half = (spacing * cells / 2)[..., None] * sc  # (M, S', 2)
        rois = np.concatenate([c - half, c + half], axis=-1)
        return torch.as_tensor(rois, dtype=torch.float32, device=self.device)

    # -- tracking ------------------------------------------------------------------------------
    def _track(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One SiamMT step for all live tracks; returns the peak logits and the logits at the
        search centre (scale 1)."""
        c = self.config
        prof = c.profile
        t = _Timer(prof, self.device)
        self._frame_scale = self._choose_scale(self._t.cell, frame.shape)
        resized, scale = self._resize(frame, self._frame_scale)
        sc = np.asarray(scale)
        spacing = self._t.cell[:, None] * self._scales[None, :]  # (N, S)
        half_span = (c.search_cells - 1) / 2 * spacing.max(axis=1)
        lo = ((self._t.centre - half_span[:, None]) * sc).min(axis=0)
        hi = ((self._t.centre + half_span[:, None]) * sc).max(axis=0)
        t.lap("resize")
        ff = self._features(frame, resized, scale, lo, hi)
        self._cache = ff
        t.lap("backbone")
        scores = self._scores(ff, spacing, t) * c.out_scale  # (N, S, R, R) logits
        s = spacing.shape[1]
        mid = self.response_size // 2
        centre_logits = scores[:, s // 2, mid, mid].cpu().numpy().astype(np.float32)
        disp, scale_idx, logits = self.peaks.locate(scores)
        self.last_scale_peaks = self.peaks.last_peaks.cpu().numpy()
        disp_np = disp.cpu().numpy().astype(np.float64)
        idx_np = scale_idx.cpu().numpy()
        logits_np = logits.cpu().numpy().astype(np.float32)
        t.lap("peak")
        apply_update(self._t.centre, self._t.size, self._t.cell, disp_np, idx_np, c)
        np.maximum(self._t.size, c.min_box_size, out=self._t.size)
        t.lap("update")
        if prof:
            self.stage_ms = t.ms
        return logits_np, centre_logits

    def _scores(self, ff: _FrameFeatures, spacing: np.ndarray, t: _Timer) -> torch.Tensor:
        """κ̃ + Φ̃ of every target's search areas (sample `spacing` (N, S) frame px), in
        chunks of targets of similar size (cache blocking; one chunk on CUDA)."""
        c = self.config
        n, s = spacing.shape
        ns, ex_hw = c.search_cells, (c.exemplar_cells,) * 2
        order = np.argsort(spacing[:, -1], kind="stable")  # similar windows share a chunk
        rois = self._rois(ff, self._t.centre[order], spacing[order], ns)  # (N, S, 4)
        gx, gy = roi_grid(rois.reshape(-1, 4), ns, ff.size[::-1])
        gx, gy = gx.reshape(n, s, ns), gy.reshape(n, s, ns)
        # Side of the window of feature cells a target's samples touch (+2: bilinear, rounding).
        window = spacing[order].max(axis=1) * max(ff.scale) * ns / STRIDE + 2
        index = torch.as_tensor(order, device=self.device)
        maps = []
        for layout, chunks in self._plan(window, s, ff.features.shape[-1]):
            a, b = chunks[0][0], chunks[-1][1]
            ex = self._t.exemplars[index[a:b]]
            if layout == "sampled":
                local = [(i - a, j - a) for i, j in chunks]
                maps.append(sampled_xcorr(ff.features, gx[a:b], gy[a:b], ex, ex_hw, local, t))
                continue
            for i, j in chunks:
                x = sample_bilinear(ff.features, gx[i:j].reshape(-1, ns), gy[i:j].reshape(-1, ns))
                t.lap("crop")
                x = x.reshape(j - i, s, ns**2, -1)
                maps.append(pairwise_xcorr_bmm(x, ex[i - a : j - a], (ns, ns), ex_hw))
                t.lap("xcorr")
        out = torch.empty((n, *maps[0].shape[1:]), device=self.device, dtype=maps[0].dtype)
        out[index] = torch.cat(maps)
        return out

    def _plan(
        self, window: np.ndarray, s: int, channels: int
    ) -> list[tuple[str, list[tuple[int, int]]]]:
        """Split targets (sorted by size) into runs of one layout, each cut into chunks of at
        most `chunk_bytes` of working set (one chunk off the CPU): [(layout, [(a, b), ...])]."""
        c = self.config
        ns, k = c.search_cells, c.exemplar_cells**2
        out_side = ns - c.exemplar_cells + 1
        crop_macs = s * ns**2 * channels * k
        # G on the window, then A (S ho, he w) x G' (he w, we w) and the (., S wo) B product.
        w2 = window**2
        sampled_macs = w2 * (channels * k + s * out_side * k)
        sampled_macs = sampled_macs + window * s**2 * out_side**2 * c.exemplar_cells
        if c.xcorr_layout == "auto":
            sampled = sampled_macs <= c.sampled_cost_ratio * crop_macs
        else:
            sampled = np.full(len(window), c.xcorr_layout == "sampled")
        nbytes = np.where(sampled, w2 * (channels + 2 * k), s * ns**2 * channels) * 4
        budget = c.chunk_bytes if (c.chunk_bytes > 0 and self.device.type == "cpu") else np.inf
        plan: list[tuple[str, list[tuple[int, int]]]] = []

        def close(a: int, b: int) -> None:
            layout = "sampled" if sampled[a] else "crop"
            if plan and plan[-1][0] == layout:
                plan[-1][1].append((a, b))
            else:
                plan.append((layout, [(a, b)]))

        start, used = 0, 0.0
        for i in range(len(window)):
            if i > start and (sampled[i] != sampled[start] or used + nbytes[i] > budget):
                close(start, i)
                start, used = i, 0.0
            used += nbytes[i]
        close(start, len(window))
        return plan


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))).astype(np.float32)


class _Timer:
    """Accumulates wall time per stage when enabled (synchronising CUDA first)."""

    def __init__(self, enabled: bool, device: torch.device) -> None:
        self.enabled = enabled
        self.cuda = device.type == "cuda"
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter() if enabled else 0.0

    def lap(self, stage: str) -> None:
        if not self.enabled:
            return
        if self.cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - self._t) * 1e3
        self._t = now
