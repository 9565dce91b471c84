"""Augmentation of a frame pair, and the sample grids placed on it (paper Sec. 3.3).

Geometric: the search area's size gets the paper's "random factor" (`scale_jitter`), so the net
does not learn that a person always fills the same share of it; its centre is shifted by up to
`max_shift` score-map cells, so the peak is not always at the centre (the tracker's search area
is centred on where the target *was*); each frame's resize factor is jittered
(`frame_scale_jitter`), as the tracker resizes a frame for its median target, not for each one.
Photometric (the usual): brightness, contrast, saturation, grayscale, motion blur, noise, and a
horizontal flip of both frames (boxes mirrored with them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from trackers.siammt.backbone import RECEPTIVE_FIELD, STRIDE
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.crop import cell_size
from trackers.siammt.training.config import AugmentConfig
from trackers.siammt.training.labels import SearchTruth
from trackers.siammt.training.pairs import PairGroup

BLUR_LENGTHS = (3, 5, 7)  # px of a motion-blur line kernel
MAX_LEVEL = 255.0


@dataclass(frozen=True, eq=False)
class Sample:
    """A group ready for the net: its (augmented, BGR uint8) frames, the exemplar grids
    (centre `centre_z`, spacing `cell_z`, frame px), the search grids (`centre_x`,
    `spacing_x`), each frame's resize jitter, and the truth of the search frame."""

    group: PairGroup
    frame_z: np.ndarray
    frame_x: np.ndarray
    centre_z: np.ndarray  # (M, 2)
    cell_z: np.ndarray  # (M,)
    centre_x: np.ndarray  # (M, 2)
    spacing_x: np.ndarray  # (M,)
    zoom_z: float
    zoom_x: float
    truth: SearchTruth


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def _mirror(boxes: np.ndarray, width: int) -> np.ndarray:
    out = boxes.copy()
    out[:, 0], out[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return out


class Augmenter:
    """Turns a `PairGroup` and its two frames into a `Sample` (random draws from `rng`)."""

    def __init__(self, config: AugmentConfig, siammt: SiamMTConfig) -> None:
        self.config, self.siammt = config, siammt

    def cells(self, boxes: np.ndarray) -> np.ndarray:
        """Frame px per score-map cell of boxes (M, 4), as the tracker computes it."""
        c = self.siammt
        wh = np.maximum(boxes[:, 2:] - boxes[:, :2], c.min_box_size)
        return cell_size(wh, c.context, c.exemplar_px, c.exemplar_cells, c.field_of_view)

    def sample(
        self,
        group: PairGroup,
        frame_z: np.ndarray,
        frame_x: np.ndarray,
        rng: np.random.Generator,
        train: bool = True,
    ) -> Sample:
        """The sample of `group`; `train` False: no augmentation (grids as the gt says)."""
        a = self.config
        boxes_z, boxes_x, truth = group.boxes_z, group.boxes_x, group.truth
        if train and rng.random() < a.flip:
            frame_z, frame_x = frame_z[:, ::-1], frame_x[:, ::-1]
            boxes_z = _mirror(boxes_z, frame_z.shape[1])
            boxes_x = _mirror(boxes_x, frame_x.shape[1])
            centres = truth.centres.copy()
            centres[:, 0] = frame_x.shape[1] - centres[:, 0]
            truth = replace(truth, centres=centres)
        m = len(group.ids)
        spacing, centre_x = self.cells(boxes_x), _centres(boxes_x)
        zoom_z = zoom_x = 1.0
        if train:
            spacing = spacing * np.exp(rng.uniform(-a.scale_jitter, a.scale_jitter, m))
            centre_x = centre_x + rng.uniform(-a.max_shift, a.max_shift, (m, 2)) * spacing[:, None]
            zoom_z, zoom_x = np.exp(rng.uniform(-a.frame_scale_jitter, a.frame_scale_jitter, 2))
        sample = Sample(
            group,
            frame_z,
            frame_x,
            _centres(boxes_z),
            self.cells(boxes_z),
            centre_x,
            spacing,
            float(zoom_z),
            float(zoom_x),
            truth,
        )
        return self._photometric_pair(sample, rng) if train else sample

    def _photometric_pair(self, s: Sample, rng: np.random.Generator) -> Sample:
        """`photometric` on both frames, where φ will look (grids plus a receptive field at
        the frame's resize), grayscale for both or neither."""
        gray = rng.random() < self.config.grayscale
        cv2.setRNGSeed(int(rng.integers(2**31)))  # cv2.randn's noise follows `rng`
        e, x = self.siammt.exemplar_cells, self.siammt.search_cells
        reach_z = RECEPTIVE_FIELD / STRIDE * s.cell_z.max() / s.zoom_z
        reach_x = RECEPTIVE_FIELD / STRIDE * s.spacing_x.max() / s.zoom_x
        region_z = self.region(s.centre_z, e / 2 * s.cell_z + reach_z, s.frame_z.shape)
        region_x = self.region(s.centre_x, x / 2 * s.spacing_x + reach_x, s.frame_x.shape)
        return replace(
            s,
            frame_z=self.photometric(s.frame_z, rng, gray, region_z),
            frame_x=self.photometric(s.frame_x, rng, gray, region_x),
        )

    def photometric(
        self, frame: np.ndarray, rng: np.random.Generator, gray: bool, region: np.ndarray
    ) -> np.ndarray:
        """Brightness, contrast, saturation (or grayscale), blur and noise of a BGR frame,
        applied only inside `region` (x0, y0, x1, y1 px): what φ will see of it, a fraction
        of the frame (the rest, mean-colour padding aside, never reaches the net)."""
        a = self.config
        x0, y0, x1, y1 = region
        out = frame.copy()
        if x1 <= x0 or y1 <= y0:
            return out
        crop = out[y0:y1, x0:x1]
        gain = rng.uniform(1 - a.contrast, 1 + a.contrast)
        shift = MAX_LEVEL * rng.uniform(-a.brightness, a.brightness)
        lut = np.clip(np.arange(256) * gain + shift, 0, MAX_LEVEL).astype(np.uint8)
        crop = cv2.LUT(crop, lut)
        luma = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        keep = 0.0 if gray else 1 + rng.uniform(-a.saturation, a.saturation)
        crop = cv2.addWeighted(crop, keep, luma, 1 - keep, 0.0)
        if rng.random() < a.blur:
            crop = cv2.filter2D(crop, -1, _motion_kernel(rng))
        if a.noise > 0:
            noise = np.empty(crop.shape, np.int16)
            cv2.randn(noise, 0, a.noise)  # cv2's RNG: seeded below from `rng`
            crop = cv2.add(crop, noise, dtype=cv2.CV_8U)
        out[y0:y1, x0:x1] = crop
        return out

    @staticmethod
    def region(centre: np.ndarray, half: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Pixels (x0, y0, x1, y1) within `half` (M,) of `centre` (M, 2), clipped to the
        frame: the callers add a receptive field to the grids' half-size."""
        lo = np.floor((centre - half[:, None]).min(axis=0))
        hi = np.ceil((centre + half[:, None]).max(axis=0))
        h, w = shape[:2]
        return np.array([max(0, lo[0]), max(0, lo[1]), min(w, hi[0]), min(h, hi[1])], np.int64)


def _motion_kernel(rng: np.random.Generator) -> np.ndarray:
    """A normalised line kernel of random length and direction (motion blur)."""
    n = int(rng.choice(BLUR_LENGTHS))
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    k = cv2.warpAffine(k, rot, (n, n))
    return k / max(float(k.sum()), 1e-6)
