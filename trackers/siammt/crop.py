"""κ̃: crop-and-resize of *features* (paper Sec. 3.2), with the effective-size transform.

Coordinates. Image points are continuous pixel coordinates (pixel i spans [i, i + 1), the
project's box convention); `pixel index` coordinates put pixel i at i. Feature points are in
feature-index coordinates (cell j at j) of the map the backbone gives for an input region.

Eq. 1 / Eq. 2. A backbone without padding, receptive field K and stride S, maps an input of N px
to M = floor((N - K) / S) + 1 cells. The paper maps an image coordinate to features through the
*effective size* N' = ceil((N - K + 1) / S) * S - (S - 1) (Eq. 1): the smallest input that a
padded copy of the backbone would map to M cells, assumed centred in the input, so
x_f = (x_i - (N - N') / 2) / S (Eq. 2). The paper does not say where the leftover
r = (N - K) mod S pixels go; a VALID convolution drops them at the far end, so Eq. 2 is exact
(offset (K - 1) / 2, the centre of cell 0's receptive field) only when r = 0 and off by r / 2
px otherwise. We therefore always give the backbone regions with r = 0 (`valid_input_size`)
and use Eq. 2 as written.

κ̃ itself is RoIAlign with one bilinear sample per bin (paper Fig. 5a): an RoI given in image
pixels is mapped by Eq. 2 and split into n x n bins whose centres are sampled. Samples beyond the
map take the value of the nearest border cell (the paper is silent here); the tracker pads the
frame with its mean colour by more than K px wherever search areas leave it, so the border cells
it samples are those of a uniform mean-colour region, as in SiamFC's padded image crops.

The tracker samples with the 4-neighbour gather below, chunked: it was the fastest layout
measured (against `F.grid_sample` and torchvision's `roi_align`, docs/DECISIONS.md, "feature
crop layout") and yields the channels-last layout the bmm correlation wants, with no permute.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from trackers.siammt.backbone import RECEPTIVE_FIELD, STRIDE


def effective_size(n: int, k: int = RECEPTIVE_FIELD, s: int = STRIDE) -> int:
    """Eq. 1: the effective size N' of an N-px input for a no-padding backbone (K, S)."""
    return math.ceil((n - k + 1) / s) * s - (s - 1)


def image_to_feature(x_i: torch.Tensor | float, n: int, k: int = RECEPTIVE_FIELD, s: int = STRIDE):
    """Eq. 2: pixel-index coordinate `x_i` in an N-px input -> feature-index coordinate."""
    return (x_i - (n - effective_size(n, k, s)) / 2) / s


def valid_input_size(n: int, k: int = RECEPTIVE_FIELD, s: int = STRIDE) -> int:
    """Smallest size >= max(n, K) with (size - K) divisible by S, where Eq. 2 is exact."""
    n = max(int(n), k)
    return k + s * math.ceil((n - k) / s)


def roi_grid(
    rois: torch.Tensor,
    out_size: int,
    n: tuple[int, int],
    k: int = RECEPTIVE_FIELD,
    s: int = STRIDE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature-index sample coordinates of κ̃ for RoIs (B, 4) xyxy in continuous pixels.

    `n` = (height, width) of the backbone input the features came from. Returns (gx, gy), each
    (B, out_size): bin centres x1 + (j + 0.5) (x2 - x1) / out_size, taken to pixel-index
    coordinates (- 0.5) and through Eq. 2.
    """
    j = (torch.arange(out_size, dtype=rois.dtype, device=rois.device) + 0.5) / out_size
    px = rois[:, 0:1] + j * (rois[:, 2:3] - rois[:, 0:1]) - 0.5
    py = rois[:, 1:2] + j * (rois[:, 3:4] - rois[:, 1:2]) - 0.5
    return image_to_feature(px, n[1], k, s), image_to_feature(py, n[0], k, s)


def sample_bilinear(features_hwc: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """One bilinear sample per (gy, gx) pair of a separable grid, clamped at the borders.

    features_hwc: (H, W, C) channels-last map; gx: (B, nx), gy: (B, ny) feature-index
    coordinates. Returns (B, ny, nx, C). Written as a gather of the 4 neighbours of every
    sample from the flattened map (one index op each) and two lerps: no loop over RoIs.
    """
    h, w, c = features_hwc.shape
    flat = features_hwc.reshape(h * w, c)
    gx = gx.clamp(0, w - 1)
    gy = gy.clamp(0, h - 1)
    x0 = gx.floor()
    y0 = gy.floor()
    wx = (gx - x0).unsqueeze(1).unsqueeze(-1)  # (B, 1, nx, 1)
    wy = (gy - y0).unsqueeze(2).unsqueeze(-1)  # (B, ny, 1, 1)
    x0 = x0.long()
    y0 = y0.long()
    x1 = (x0 + 1).clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    b, nx = gx.shape
    ny = gy.shape[1]
    row0 = (y0 * w).unsqueeze(2)  # (B, ny, 1)
    row1 = (y1 * w).unsqueeze(2)
    col0 = x0.unsqueeze(1)  # (B, 1, nx)
    col1 = x1.unsqueeze(1)

    def take(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return flat.index_select(0, (rows + cols).reshape(-1)).reshape(b, ny, nx, c)

    top = torch.lerp(take(row0, col0), take(row0, col1), wx)
    bottom = torch.lerp(take(row1, col0), take(row1, col1), wx)
    return torch.lerp(top, bottom, wy)


def kappa(
    features_hwc: torch.Tensor, rois: torch.Tensor, out_size: int, n: tuple[int, int]
) -> torch.Tensor:
    """κ̃: (B, out, out, C) features of the RoIs (B, 4, continuous px of an input of size n)."""
    gx, gy = roi_grid(rois, out_size, n)
    return sample_bilinear(features_hwc, gx, gy)


def exemplar_side(wh: np.ndarray, context: float) -> np.ndarray:
    """sqrt(A) of Eq. 5: the side of the square exemplar region of boxes (M, 2) = (w, h)."""
    pad = context * wh.sum(axis=1)
    return np.sqrt((wh[:, 0] + pad) * (wh[:, 1] + pad))


def cell_size(
    wh: np.ndarray, context: float, exemplar_px: int, exemplar_cells: int, field_of_view: str
) -> np.ndarray:
    """Frame px between sample-grid cells (= score-map cells) for boxes of size (M, 2) = (w, h).

    "siamfc": the exemplar region maps onto SiamFC's `exemplar_px` image, whose feature cells
    are S px apart; "paper": it maps onto the `exemplar_cells` x `exemplar_cells` exemplar."""
    side = exemplar_side(wh, context)
    if field_of_view == "paper":
        return side / exemplar_cells
    return side * STRIDE / exemplar_px
