"""The paper's baselines (Sec. 4.3), behind the same `MotionEstimator` protocol as SiamMT.

- `SiamFCEstimator` (`siamfc`): one SiamFC tracker per object, as multi-object pipelines
  usually instantiate it: per object and frame, 3 image crops (κ) of 255 px, a backbone pass over
  them, the correlation and the peak search, in a Python loop over objects.
- `SiamFCMultiInputEstimator` (`siamfc-mi`): the same, but the crops of all objects are stacked
  in one batch for the backbone, the correlation and the peak search (the paper's SiamFC-MI).

Same weights and hyper-parameters as SiamMT (`SiamParams`), the same Φ̃ layout and peak search
code (bicubic upsampling, as SiamFC), and the same score (sigmoid of the peak logit), so that
differences to `siammt` are the architecture's: image crops and a backbone pass per search area
instead of one pass per frame and feature crops.

Image crops: the square of side s centred on c (continuous px) is resampled to `out` px with
one `cv2.warpAffine` (bilinear, mean-colour border), i.e. output pixel q samples the frame at
c + (q + 0.5 - out / 2) * s / out. siamfc-pytorch rounds c and s to whole pixels and pads
before a resize; sub-pixel crops keep the comparison with SiamMT's feature crops exact.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from mot_pipeline.types import check_frame
from trackers import MotionEstimator
from trackers.motion_prior import with_motion_prior
from trackers.siammt.backbone import STRIDE, load_backbone, output_size
from trackers.siammt.config import SiamFCConfig
from trackers.siammt.crop import exemplar_side
from trackers.siammt.response import PeakFinder, apply_update, probability
from trackers.siammt.targets import Targets
from trackers.siammt.xcorr import pairwise_xcorr_bmm
from trackers.track_ids import validated


def crop_and_resize(
    image: np.ndarray, centre: np.ndarray, side: float, out: int, border: tuple[float, ...]
) -> np.ndarray:
    """κ: the square of side `side` px centred on `centre` (x, y; continuous px), as out x out."""
    a = side / out
    # Inverse map in pixel-index coordinates: src = a * dst + b.
    bx = centre[0] - 0.5 + (0.5 - out / 2) * a
    by = centre[1] - 0.5 + (0.5 - out / 2) * a
    m = np.array([[a, 0.0, bx], [0.0, a, by]])
    return cv2.warpAffine(
        image,
        m,
        (out, out),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )


class _SiamFCBase:
    """Shared state and protocol; `_batch` decides one batch for all objects or one per object."""

    Config = SiamFCConfig
    _batch: bool = True

    def __init__(self, config: SiamFCConfig | None = None) -> None:
        self.config = config or SiamFCConfig()
        c = self.config
        self.device = torch.device(c.device)
        self.net = load_backbone(c.weights, c.activation, self.device)
        self.exemplar_cells = output_size(c.exemplar_px)
        self.search_cells = output_size(c.instance_px)
        self.peaks = PeakFinder(c, self.search_cells - self.exemplar_cells + 1, self.device)
        self._scales = c.scale_factors()
        self.reset()

    # -- protocol ------------------------------------------------------------------------------
    @property
    def ids(self) -> np.ndarray:
        return self._t.ids.copy()

    @property
    def min_report_score(self) -> float:
        """`trackers.ReportThreshold`, as SiamMT's (same hyper-parameters)."""
        return self.config.min_report_score

    def _probability(self, logits: np.ndarray) -> np.ndarray:
        """The score of a box: the (calibrated) probability of its peak logit."""
        return probability(logits, self.config.score_scale, self.config.score_bias)

    def reset(self) -> None:
        self._t = Targets(self.exemplar_cells**2, self.net.out_channels, self.device)
        self.last_logits = np.zeros(0, np.float32)
        self.last_centre_scores = np.zeros(0, np.float32)

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
        z_side = exemplar_side(size, c.context)
        border = cv2.mean(frame)[:3]
        crops = [
            crop_and_resize(frame, centre[i], z_side[i], c.exemplar_px, border)
            for i in range(len(ids))
        ]
        with torch.inference_mode():
            ex = self._backbone(np.stack(crops))  # (M, 6, 6, C)
        ex = ex.reshape(len(ids), self.exemplar_cells**2, -1)
        cell = self._cell_size(z_side)
        self._t.put(ids, centre, size, cell, ex)

    def remove(self, ids: np.ndarray) -> None:
        self._t.keep(~np.isin(self._t.ids, np.asarray(ids, np.int64).reshape(-1)))

    def propagate(
        self, frame: np.ndarray, frame_index: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        check_frame(frame)
        n = len(self._t.ids)
        if n == 0:
            self.last_logits = self.last_centre_scores = np.zeros(0, np.float32)
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        c = self.config
        border = cv2.mean(frame)[:3]
        x_side = self._t.cell * c.instance_px / STRIDE  # SiamFC's x_sz
        groups = [np.arange(n)] if self._batch else [np.array([i]) for i in range(n)]
        disp = np.zeros((n, 2))
        idx = np.zeros(n, np.int64)
        logits = np.zeros(n, np.float32)
        centre_logits = np.zeros(n, np.float32)
        mid = (self.search_cells - self.exemplar_cells + 1) // 2
        with torch.inference_mode():
            for g in groups:
                crops = [
                    crop_and_resize(frame, self._t.centre[i], x_side[i] * f, c.instance_px, border)
                    for i in g
                    for f in self._scales
                ]
                x = self._backbone(np.stack(crops))  # (len(g) * S, 22, 22, C)
                x = x.reshape(len(g), len(self._scales), self.search_cells**2, -1)
                gi = torch.as_tensor(g, device=self.device)
                maps = (
                    pairwise_xcorr_bmm(
                        x,
                        self._t.exemplars[gi],
                        (self.search_cells,) * 2,
                        (self.exemplar_cells,) * 2,
                    )
                    * c.out_scale
                )
                centre_logits[g] = maps[:, len(self._scales) // 2, mid, mid].cpu().numpy()
                d, s, lg = self.peaks.locate(maps)
                disp[g] = d.cpu().numpy()
                idx[g] = s.cpu().numpy()
                logits[g] = lg.cpu().numpy()
        apply_update(self._t.centre, self._t.size, self._t.cell, disp, idx, c)
        np.maximum(self._t.size, c.min_box_size, out=self._t.size)
        self.last_logits = logits
        self.last_centre_scores = self._probability(centre_logits)
        return self._t.boxes(), self._probability(logits)

    # -- what the motion prior uses ------------------------------------------------------------
    @property
    def cell(self) -> np.ndarray:
        return self._t.cell

    def place(self, boxes: np.ndarray) -> None:
        c = self.config
        self._t.place(boxes, c.min_box_size)
        self._t.cell = self._cell_size(exemplar_side(self._t.size, c.context))

    def boxes(self) -> np.ndarray:
        return self._t.boxes()

    def _cell_size(self, z_side: np.ndarray) -> np.ndarray:
        """Frame px per score-map cell for exemplar regions of side `z_side`: a cell is S px of
        SiamFC's exemplar image."""
        return z_side * STRIDE / self.config.exemplar_px

    # -- internals -----------------------------------------------------------------------------
    def _backbone(self, crops_bgr: np.ndarray) -> torch.Tensor:
        """(B, H, W, 3) BGR uint8 crops -> (B, h, w, C) features, channels-last."""
        x = torch.from_numpy(crops_bgr).to(self.device).flip(-1)  # BGR -> RGB
        x = x.permute(0, 3, 1, 2).float()
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x).permute(0, 2, 3, 1).contiguous()


class SiamFCEstimator(_SiamFCBase):
    """`siamfc`: one SiamFC tracker per object (a Python loop over objects, as in the paper)."""

    _batch = False


class SiamFCMultiInputEstimator(_SiamFCBase):
    """`siamfc-mi`: SiamFC with the crops of all objects stacked in one batch (paper Sec. 4.3)."""

    _batch = True


def build(config: SiamFCConfig) -> MotionEstimator:
    """The registry's `siamfc` (no motion prior unless `config.motion` sets one)."""
    return with_motion_prior(SiamFCEstimator(config), config.motion)


def build_mi(config: SiamFCConfig) -> MotionEstimator:
    """The registry's `siamfc-mi` (no motion prior unless `config.motion` sets one)."""
    return with_motion_prior(SiamFCMultiInputEstimator(config), config.motion)
