"""SiamMT's tracker loop (paper Sec. 3.2, Fig. 4b) over all live targets at once.

Per frame: φ once over the region covering every search area (`features.py`), κ̃ of 22 x 22
search features per target and scale (`crop.py`), Φ̃ against the cached 6 x 6 exemplars
(`xcorr.py`), SiamFC's peak search and damped scale update (`response.py`). Exemplars are cut
from the frame's features at `add` (SiamMT-W: SiamFC's weights, Sec. 3.3) and cached until the
next `add` of the same id; an `add` on the frame just propagated (same `frame_index`) reuses its
features. `build` wraps the tracker in the motion prior (`trackers.motion_prior`) by default.

Geometry, in frame px, per target: the exemplar region is the square of side sqrt(A) (Eq. 5,
context ζ) centred on the box; `cell` is the spacing of both sample grids (6 x 6 exemplar, 22 x
22 search area at scale 1), so score-map cells are `cell` px apart (`crop.cell_size`).
"""

from __future__ import annotations

import numpy as np
import torch

from mot_pipeline.types import check_frame
from trackers import MotionEstimator
from trackers.motion_prior import with_motion_prior
from trackers.siammt.backends import make_backbone, resolve
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.crop import cell_size, kappa
from trackers.siammt.features import FeatureExtractor
from trackers.siammt.response import PeakFinder, apply_update, probability
from trackers.siammt.targets import Targets
from trackers.siammt.timing import StageTimer
from trackers.siammt.xcorr import plan, search_scores, window_cells
from trackers.track_ids import validated


class SiamMT:
    """The `siammt` appearance estimator: `MotionEstimator` plus what `MotionPrior` needs
    (`cell`, `place`, `boxes`, `last_logits`, `last_centre_scores`)."""

    Config = SiamMTConfig

    def __init__(self, config: SiamMTConfig | None = None) -> None:
        self.config = c = config or SiamMTConfig()
        self.device = torch.device(c.device)
        self.choice = resolve(c)  # φ's backend and precision, and why
        self.backbone = make_backbone(c, self.choice)
        self.features = FeatureExtractor(c, self.backbone)
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
        self._t = Targets(self.config.exemplar_cells**2, self.backbone.out_channels, self.device)
        self.features.reset()
        self.last_logits = np.zeros(0, np.float32)
        self.last_centre_scores = np.zeros(0, np.float32)
        self.last_scale_peaks = np.zeros((0, self.config.scale_num), np.float32)

    def add(
        self,
        frame: np.ndarray,
        boxes: np.ndarray,
        ids: np.ndarray,
        frame_index: int | None = None,
    ) -> None:
        boxes, ids = validated(boxes, ids)
        if len(ids) == 0:
            return
        check_frame(frame)
        c = self.config
        centre = ((boxes[:, :2] + boxes[:, 2:]) / 2).astype(np.float64)
        size = np.maximum(boxes[:, 2:] - boxes[:, :2], c.min_box_size).astype(np.float64)
        cell = self._cell_size(size)
        cells = np.concatenate([self._t.cell, cell])  # the resize serves old and new targets
        half_span = c.exemplar_cells / 2 * cell
        with torch.inference_mode():
            ff = self.features.covering(frame, frame_index, cells, centre, half_span, reuse=True)
            rois = ff.rois(centre, cell[:, None], c.exemplar_cells)
            ex = kappa(ff.features, rois.reshape(-1, 4), c.exemplar_cells, ff.size[::-1])
        self._t.put(ids, centre, size, cell, ex.reshape(len(ids), c.exemplar_cells**2, -1))

    def remove(self, ids: np.ndarray) -> None:
        self._t.keep(~np.isin(self._t.ids, np.asarray(ids, np.int64).reshape(-1)))

    def propagate(
        self, frame: np.ndarray, frame_index: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        check_frame(frame)
        if len(self._t.ids) == 0:
            self.last_logits = self.last_centre_scores = np.zeros(0, np.float32)
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        with torch.inference_mode():
            self._track(frame, frame_index)
        return self.boxes(), self._probability(self.last_logits)

    # -- what the motion prior (and the benchmarks) use ----------------------------------------
    @property
    def cell(self) -> np.ndarray:
        return self._t.cell

    @property
    def frame_scale(self) -> float | None:
        """The resize factor used for the last frame (None before the first)."""
        return self.features.frame_scale

    @property
    def min_report_score(self) -> float:
        """`trackers.ReportThreshold`: the pipeline hides a propagated track scored below."""
        return self.config.min_report_score

    def _probability(self, logits: np.ndarray) -> np.ndarray:
        """The score of a box: the (calibrated) probability of its peak logit."""
        return probability(logits, self.config.score_scale, self.config.score_bias)

    def describe(self) -> str:
        """One line for logs: what runs φ and why (`backends.resolve`)."""
        return f"siammt, backbone {self.choice.describe()}"

    def place(self, boxes: np.ndarray) -> None:
        self._t.place(boxes, self.config.min_box_size)
        self._t.cell = self._cell_size(self._t.size)

    def boxes(self) -> np.ndarray:
        return self._t.boxes()

    # -- the paper's stages --------------------------------------------------------------------
    def _cell_size(self, size: np.ndarray) -> np.ndarray:
        c = self.config
        return cell_size(size, c.context, c.exemplar_px, c.exemplar_cells, c.field_of_view)

    def _track(self, frame: np.ndarray, frame_index: int | None) -> None:
        """One SiamMT step for all live tracks: φ, κ̃ + Φ̃, peak search, box update."""
        c, t = self.config, self._t
        timer = StageTimer(c.profile, self.device)
        spacing = t.cell[:, None] * self._scales[None, :]  # (N, S)
        half_span = (c.search_cells - 1) / 2 * spacing.max(axis=1)
        ff = self.features.covering(
            frame, frame_index, t.cell, t.centre, half_span, reuse=False, timer=timer
        )
        timer.lap("backbone")
        order = np.argsort(spacing[:, -1], kind="stable")  # similar windows share a chunk
        window = window_cells(spacing[order], ff.scale, c.search_cells)
        runs = plan(window, len(self._scales), ff.features.shape[-1], c, self.device.type == "cpu")
        index = torch.as_tensor(order, device=self.device)
        rois = ff.rois(t.centre[order], spacing[order], c.search_cells)
        sorted_maps = search_scores(
            ff.features, ff.size[::-1], rois, t.exemplars[index], runs, c, timer
        )
        scores = torch.empty(sorted_maps.shape, dtype=sorted_maps.dtype, device=self.device)
        scores[index] = sorted_maps  # contiguous: the peak search reads it row by row
        scores = scores * c.out_scale  # (N, S, R, R) logits
        mid = self.response_size // 2
        centre_logits = scores[:, len(self._scales) // 2, mid, mid].cpu().numpy()
        disp, scale_idx, logits = self.peaks.locate(scores)
        self.last_scale_peaks = self.peaks.last_peaks.cpu().numpy()
        self.last_logits = logits.cpu().numpy().astype(np.float32)
        self.last_centre_scores = self._probability(centre_logits.astype(np.float32))
        timer.lap("peak")
        disp_np = disp.cpu().numpy().astype(np.float64)
        apply_update(t.centre, t.size, t.cell, disp_np, scale_idx.cpu().numpy(), c)
        np.maximum(t.size, c.min_box_size, out=t.size)
        timer.lap("update")
        if c.profile:
            self.stage_ms = timer.ms


def build(config: SiamMTConfig) -> MotionEstimator:
    """The registry's `siammt`: SiamMT inside its motion prior (`config.motion`, None: alone)."""
    return with_motion_prior(SiamMT(config), config.motion)
