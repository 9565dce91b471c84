"""φ over a frame (paper Sec. 3.2): the frame-resize policy, partial extraction, the feature
cache and the inference backend.

Resize: the frame is scaled by r so that the median target's score-map cell becomes S px, the
scale the weights were trained at (paper Sec. 4.1); r is clamped, and kept while within a
tolerance so that it does not change every frame.

Partial extraction: the backbone sees only the region of the resized frame that covers the
sample points asked for. Region origins are multiples of S and sizes satisfy (size - K) % S == 0
(Eq. 2 exact, see `crop.py`), so features do not depend on the region: N targets together equal
N single runs, and partial equals full frame. Beyond the frame the region sees the frame's mean
colour, by at most `border_pad` px: where a region reaches that limit its border cells see only
padding (when the pad is >= K), so samples beyond them may be clamped to them exactly.

Cache: the features of the last extracted region, keyed by the frame's index, so that `add` on
the frame just propagated (the pipeline's detector frames) reuses them: one backbone pass a
frame.

Backend: any `backends.Backbone` (torch or OpenVINO) runs φ over the region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from trackers.siammt.backbone import RECEPTIVE_FIELD, STRIDE, output_size
from trackers.siammt.backends import Backbone
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.crop import valid_input_size
from trackers.siammt.timing import StageTimer

# Smallest multiple of S that is >= K: a feature cell whose receptive field starts this far
# outside the frame sees only padding, so clamping samples to it is exact.
FULL_PAD = STRIDE * math.ceil(RECEPTIVE_FIELD / STRIDE)


@dataclass
class FrameFeatures:
    """Backbone output for one region of one (resized) frame."""

    frame_index: int | None
    scale: tuple[float, float]  # (rx, ry): resized px per frame px
    origin: tuple[int, int]  # (ox, oy) of the region in resized px (may be negative)
    size: tuple[int, int]  # (width, height) of the region in px
    features: torch.Tensor  # (Hf, Wf, C) channels-last
    limits: tuple[bool, bool, bool, bool]  # region reaches the padded frame: x-lo, y-lo, x-hi, y-hi

    def covers(self, lo: np.ndarray, hi: np.ndarray) -> bool:
        """Whether sample points lo..hi (resized px) lie on the map, or beyond it only on sides
        where the map reaches the padded frame's limit (clamping is exact there)."""
        half = RECEPTIVE_FIELD / 2
        for a in range(2):
            o, n = self.origin[a], self.size[a]
            if lo[a] < o + half and not self.limits[a]:
                return False
            if hi[a] > o + n - half and not self.limits[2 + a]:
                return False
        return True

    def rois(self, centre: np.ndarray, spacing: np.ndarray, cells: int) -> torch.Tensor:
        """RoIs (M, S', 4) in region px for grids of `cells` samples `spacing` (M, S') frame px
        apart around `centre` (M, 2) frame px."""
        sc = np.asarray(self.scale)
        org = np.asarray(self.origin, np.float64)
        c = centre[:, None, :] * sc - org  # (M, 1, 2)
        half = (spacing * cells / 2)[..., None] * sc  # (M, S', 2)
        rois = np.concatenate([c - half, c + half], axis=-1)
        return torch.as_tensor(rois, dtype=torch.float32, device=self.features.device)


def ideal_scale(cells: np.ndarray, frame_shape: tuple[int, ...], c: SiamMTConfig) -> float:
    """The resize factor that puts the median of `cells` (frame px per score-map cell) at S px,
    clamped to the config's range and to `max_resized_pixels` for a frame of `frame_shape`."""
    top = min(c.max_frame_scale, math.sqrt(c.max_resized_pixels / max(1, np.prod(frame_shape[:2]))))
    return float(np.clip(STRIDE / np.median(cells), c.min_frame_scale, max(top, c.min_frame_scale)))


class FeatureExtractor:
    """Features of the frame region that covers given sample areas, resized, cached."""

    def __init__(self, config: SiamMTConfig, backbone: Backbone) -> None:
        self.config, self.backbone = config, backbone
        pad = FULL_PAD if config.border_pad is None else config.border_pad
        self._pad = STRIDE * math.ceil(int(pad) / STRIDE)
        self.reset()

    def reset(self) -> None:
        self.frame_scale: float | None = None  # the resize factor of the last frame
        self._cache: FrameFeatures | None = None

    def covering(
        self,
        frame: np.ndarray,
        frame_index: int | None,
        cells: np.ndarray,
        centre: np.ndarray,
        half_span: np.ndarray,
        reuse: bool,
        timer: StageTimer | None = None,
    ) -> FrameFeatures:
        """Features covering the squares of half side `half_span` (M,) frame px around `centre`
        (M, 2). With `reuse`, the cached map of the same `frame_index` serves if it covers them
        (else a pass over the new region, not cached); otherwise the frame is resized for
        `cells` (the targets' cell sizes) and the new map becomes the cache. `timer` splits
        "resize" from "backbone"."""
        ff = self._cache
        same_frame = ff is not None and frame_index is not None and ff.frame_index == frame_index
        if not (reuse and same_frame):
            ff = None
        resized = None
        if ff is None:
            self.frame_scale = self._choose_scale(cells, frame.shape)
            resized, scale = self._resize(frame, self.frame_scale)
        else:
            scale = ff.scale
        sc = np.asarray(scale)
        lo = ((centre - half_span[:, None]) * sc).min(axis=0)
        hi = ((centre + half_span[:, None]) * sc).max(axis=0)
        if timer is not None:
            timer.lap("resize")
        if ff is not None and ff.covers(lo, hi):
            return ff
        if resized is None:
            resized, _ = self._resize(frame, self.frame_scale)
        fresh = self._extract(frame_index, resized, scale, lo, hi)
        if ff is None:
            self._cache = fresh
        return fresh

    def _choose_scale(self, cells: np.ndarray, frame_shape: tuple[int, ...]) -> float:
        c = self.config
        if c.frame_scale is not None:
            return float(c.frame_scale)
        ideal = ideal_scale(cells, frame_shape, c)
        cur = self.frame_scale
        if cur is not None and abs(math.log(ideal / cur)) <= math.log1p(c.frame_scale_tolerance):
            return cur
        return ideal

    @staticmethod
    def _resize(frame: np.ndarray, scale: float) -> tuple[np.ndarray, tuple[float, float]]:
        h, w = frame.shape[:2]
        if scale == 1.0:
            return frame, (1.0, 1.0)
        wr, hr = max(1, round(w * scale)), max(1, round(h * scale))
        resized = cv2.resize(frame, (wr, hr), interpolation=cv2.INTER_LINEAR)
        return resized, (wr / w, hr / h)

    def _region(
        self, lo: np.ndarray, hi: np.ndarray, frame_wh: tuple[int, int]
    ) -> tuple[tuple[int, int], tuple[int, int], tuple[bool, bool, bool, bool]]:
        """Backbone input region (origin, size) covering sample points lo..hi (resized px),
        and per side (x-lo, y-lo, x-hi, y-hi) whether it reaches the padded frame's limit.
        Cell j of a region at origin o is centred on o + K/2 + S j."""
        pad, k, half = self._pad, RECEPTIVE_FIELD, RECEPTIVE_FIELD / 2
        partial = self.config.partial
        origin, size, at_lo, at_hi = [], [], [], []
        for axis in range(2):
            extent = frame_wh[axis]
            o_max = STRIDE * math.floor(max(extent + pad - k, -pad) / STRIDE)
            o = min(max(STRIDE * math.floor((lo[axis] - half) / STRIDE), -pad), o_max)
            o = o if partial else -pad
            n_max = valid_input_size(extent + pad - o)
            n = min(valid_input_size(hi[axis] + half - o), n_max) if partial else n_max
            origin.append(int(o))
            size.append(int(n))
            at_lo.append(o <= -pad)
            at_hi.append(n >= n_max)
        return (origin[0], origin[1]), (size[0], size[1]), (*at_lo, *at_hi)

    def _extract(
        self,
        frame_index: int | None,
        resized: np.ndarray,
        scale: tuple[float, float],
        lo: np.ndarray,
        hi: np.ndarray,
    ) -> FrameFeatures:
        """φ over the region of `resized` covering sample points lo..hi, built in one pass:
        BGR, the frame's mean colour beyond its border, converted from uint8 while copied."""
        hr, wr = resized.shape[:2]
        (ox, oy), (nx, ny), lims = self._region(lo, hi, (wr, hr))
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + nx, wr), min(oy + ny, hr)
        x = torch.empty(
            (1, 3, ny, nx), dtype=self.backbone.input_dtype, memory_format=torch.channels_last
        )
        hwc = x[0].permute(1, 2, 0)  # (ny, nx, 3) view of the same memory
        if (x0, y0, x1, y1) != (ox, oy, ox + nx, oy + ny):
            hwc[:] = torch.tensor(np.round(cv2.mean(resized)[:3]), dtype=x.dtype)
        if x1 > x0 and y1 > y0:
            src = resized[y0:y1, x0:x1]
            if min(src.strides) < 0:  # torch cannot view negative strides (e.g. frame[:, ::-1])
                src = src.copy()
            hwc[y0 - oy : y1 - oy, x0 - ox : x1 - ox] = torch.from_numpy(src)
        feats = self.backbone(x)
        assert feats.shape[0] == output_size(ny) and feats.shape[1] == output_size(nx)
        return FrameFeatures(frame_index, scale, (ox, oy), (nx, ny), feats, lims)
