"""INT8 φ: NNCF post-training quantisation, calibrated on what the tracker feeds φ.

The calibration set is search regions, not whole frames: around each gt person of the first
frames of a sequence (default: the bundled sample), the frame resized so that the median
person's score-map cell is S px (the tracker's resize policy) and cut to the region that covers
the person's three search scales, padded with the frame's mean colour as the tracker pads.
Weights are quantised per channel (NNCF's default for convolutions), activations per tensor,
with NNCF's full bias correction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mot_pipeline.errors import InputError
from trackers.siammt.backbone import RECEPTIVE_FIELD
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.crop import cell_size, valid_input_size
from trackers.siammt.features import ideal_scale

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "TUD-Campus"
CALIBRATION_FRAMES = 20
PEOPLE_PER_FRAME = 4


def calibration_sequence(config: SiamMTConfig) -> Path:
    """The sequence folder calibration reads (with img1/ and gt/gt.txt)."""
    path = Path(config.int8_calibration) if config.int8_calibration else SAMPLE
    if not (path / "gt" / "gt.txt").is_file() or not (path / "img1").is_dir():
        raise InputError("int8 calibration needs a sequence with img1/ and gt/gt.txt", path)
    return path


def calibration_regions(config: SiamMTConfig) -> list[np.ndarray]:
    """(1, 3, H, W) float32 BGR search regions around the gt people (see the module doc)."""
    seq = calibration_sequence(config)
    gt = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
    images = sorted((seq / "img1").glob("*.jpg"))[:CALIBRATION_FRAMES]
    regions = []
    for index, image in enumerate(images):
        rows = gt[(gt[:, 0] == index + 1) & (gt[:, 6] != 0)][:PEOPLE_PER_FRAME]
        frame = cv2.imread(str(image))
        if frame is None or len(rows) == 0:
            continue
        wh = rows[:, 4:6].astype(np.float64)
        c = config
        cells = cell_size(wh, c.context, c.exemplar_px, c.exemplar_cells, c.field_of_view)
        scale = ideal_scale(cells, frame.shape, c)  # the tracker's resize rule
        resized = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        centres = (rows[:, 2:4] - 1 + wh / 2) * scale
        span = (config.search_cells - 1) * cells * scale * config.scale_factors()[-1]
        for centre, side in zip(centres, span, strict=True):
            regions.append(_region(resized, centre, valid_input_size(int(side) + RECEPTIVE_FIELD)))
    return regions


def _region(image: np.ndarray, centre: np.ndarray, side: int) -> np.ndarray:
    """The side x side square of `image` centred on `centre`, mean colour beyond its border."""
    x0, y0 = (np.round(centre) - side // 2).astype(int)
    pad = side
    mean = [float(v) for v in np.round(cv2.mean(image)[:3])]
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=mean)
    crop = padded[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)


def require_nncf() -> Any:
    """The `nncf` module, or the one-line error that says what to install."""
    try:
        import nncf
    except ModuleNotFoundError:
        raise InputError("precision int8 needs nncf: pip install 'mot-pipeline[int8]'") from None
    return nncf


def quantize(model: Any, config: SiamMTConfig) -> Any:
    """`model` (float NCHW BGR input) quantised to int8 by NNCF on `calibration_regions`."""
    nncf = require_nncf()
    regions = calibration_regions(config)
    if not regions:
        raise InputError("no gt people to calibrate int8 on", calibration_sequence(config))
    dataset = nncf.Dataset(regions)
    # Full bias correction: feature error 4.8 -> 3.4 % at the same speed (docs/DECISIONS.md).
    return nncf.quantize(model, dataset, subset_size=len(regions), fast_bias_correction=False)
