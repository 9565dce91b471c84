"""Φ̃: pairwise cross-correlation (paper Algorithm 1) and the layouts it can take.

Every search area b is correlated with *its own* exemplar only. Batches are target-major: row
b = n * n_scales + s holds target n at scale s, so exemplar n serves rows n * S .. n * S + S - 1;
a (scale, target) mix-up would silently pair the wrong exemplar, which the tests check.

`pairwise_xcorr_depthwise` is Algorithm 1 as written: stack the N search areas along channels
(line 2), the exemplars as N * c depthwise filters (line 3), one depthwise correlation (line 4),
reshape (line 5) and sum the c channels of each pair (line 6). `pairwise_xcorr_grouped` is the
same thing as one grouped convolution (groups = pairs), which sums the channels inside the conv.

`pairwise_xcorr_bmm` is the layout the tracker uses for κ̃-then-Φ̃ (and the SiamFC baselines use),
as grouped/depthwise convolutions are slow on CPU: with channels-last search features X (B, Hs * Ws,
C) and exemplars Z (N, he * we, C), one batched matmul Q = X Z^T gives, for every search cell p and
exemplar offset q = (u, v), the channel sum <X_p, Z_q>; the score at (i, j) is sum_q Q[(i + u, j +
v), (u, v)], read as one strided view of Q and reduced. All scales of a target share one matmul (its
rows are stacked). It computes Hs * Ws instead of (Hs - he + 1) * (Ws - we + 1) products per offset
(1.7x the MACs for 22/6) but runs at matmul speed. Measured at N = 100 targets x 3 scales, 0.3x
width (C = 76), 2 threads, on ready search features: grouped convolution 88 ms, depthwise (Algorithm
1 as written) 54 ms, bmm 14 ms, unfold + einsum 650 ms; the same numbers to 1e-6 relative. Fed chunk
by chunk straight from κ̃ (4 targets at a time, so the search features are still in cache) the bmm
adds ~5 ms to the crop; see `crop.py`.

`sampled_xcorr` swaps the two linear steps (Φ̃ on the map, then κ̃ of the products), which lets
the scales of a target share one correlation; the tracker picks per chunk of targets whichever
order needs fewer multiply-adds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pairwise_xcorr_reference(search: torch.Tensor, exemplar: torch.Tensor) -> torch.Tensor:
    """Per-pair loop (test oracle): search (B, C, H, W), exemplar (B, C, h, w) -> (B, H', W')."""
    return torch.stack(
        [F.conv2d(search[b : b + 1], exemplar[b : b + 1])[0, 0] for b in range(len(search))]
    )


def pairwise_xcorr_depthwise(search: torch.Tensor, exemplar: torch.Tensor) -> torch.Tensor:
    """Algorithm 1 literally (o = 1): depthwise correlation over B * C channels, then sum c."""
    b, c, h, w = search.shape
    ty = search.reshape(1, b * c, h, w)  # line 2
    tz = exemplar.reshape(b * c, 1, *exemplar.shape[-2:])  # line 3
    tp = F.conv2d(ty, tz, groups=b * c)  # line 4
    tq = tp.reshape(b, c, *tp.shape[-2:])  # line 5
    return tq.sum(dim=1)  # line 6


def pairwise_xcorr_grouped(search: torch.Tensor, exemplar: torch.Tensor) -> torch.Tensor:
    """Algorithm 1 as one grouped convolution: (B, C, H, W) x (B, C, h, w) -> (B, H', W')."""
    b, c, h, w = search.shape
    out = F.conv2d(search.reshape(1, b * c, h, w), exemplar, groups=b)
    return out[0]


def pairwise_xcorr_bmm(
    search: torch.Tensor,
    exemplar: torch.Tensor,
    search_hw: tuple[int, int],
    exemplar_hw: tuple[int, int],
) -> torch.Tensor:
    """Channels-last Φ̃: search (N, S, Hs * Ws, C), exemplar (N, he * we, C) -> (N, S, H', W').

    S search areas (scales) per exemplar; row order of the result follows the input.
    """
    n, s, _, c = search.shape
    q = torch.bmm(search.reshape(n, s * search_hw[0] * search_hw[1], c), exemplar.transpose(1, 2))
    return _sum_offsets(q.reshape(n, s, -1, exemplar.shape[1]), search_hw, exemplar_hw)


def _sum_offsets(
    q: torch.Tensor, search_hw: tuple[int, int], exemplar_hw: tuple[int, int]
) -> torch.Tensor:
    """Scores from channel sums q (N, S, Hs * Ws, he * we) = <X_p, Z_q>: (N, S, H', W')."""
    n, s = q.shape[:2]
    hs, ws = search_hw
    he, we = exemplar_hw
    q = q.contiguous()
    k = he * we
    ho, wo = hs - he + 1, ws - we + 1
    st = q.stride()
    # Element (n, s, i, j, u, v) = q[n, s * Hs * Ws + (i + u) * Ws + (j + v), u * we + v].
    view = q.as_strided(
        (n, s, ho, wo, he, we),
        (st[0], st[1], ws * k, k, ws * k + we, k + 1),
    )
    return view.sum(dim=(4, 5))


def sampled_xcorr(
    features_hwc: torch.Tensor,
    gx: torch.Tensor,
    gy: torch.Tensor,
    exemplar: torch.Tensor,
    exemplar_hw: tuple[int, int],
    timer=None,
) -> torch.Tensor:
    """κ̃ then Φ̃ in one, correlating before sampling: the scores of search areas sampled at
    feature-index grids gx (N, S, nx), gy (N, S, ny) of one map (H, W, C) against exemplars
    (N, he * we, C). Returns (N, S, ny - he + 1, nx - we + 1), what `kappa` followed by
    `pairwise_xcorr_bmm` gives (same clamping at the map borders), to float rounding.

    Bilinear sampling and the channel sums are both linear, so they commute: sum_c Z_q,c
    (sum_k w_k F_k,c) = sum_k w_k (sum_c Z_q,c F_k,c). Computing G = F Z^T on the window of the
    map each target's samples touch, then sampling G (he * we values per point instead of C),
    shares G between the S scales of a target: at 0.3x width (C = 76, 36 offsets) and targets
    near the trained scale (window ~25 x 25 cells vs 3 x 22 x 22 samples) it reads ~half the
    bytes and does ~40 % of the multiply-adds of crop-then-correlate. `timer.lap(stage)`, when
    given, splits the time into "xcorr" (window and G) and "crop" (sampling and the sums).
    """
    h, w, c = features_hwc.shape
    n, s, nx = gx.shape
    ny = gy.shape[2]
    gx = gx.clamp(0, w - 1)
    gy = gy.clamp(0, h - 1)
    x0, y0 = gx.floor(), gy.floor()
    wx = (gx - x0)[:, :, None, :, None]  # (N, S, 1, nx, 1)
    wy = (gy - y0)[:, :, :, None, None]  # (N, S, ny, 1, 1)
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    # The window of map cells each target's samples touch, one size for the batch.
    left, top = x0.flatten(1).amin(dim=1), y0.flatten(1).amin(dim=1)  # (N,)
    lx = int((x1.flatten(1).amax(dim=1) - left).max()) + 1
    ly = int((y1.flatten(1).amax(dim=1) - top).max()) + 1
    steps_x = torch.arange(lx, device=gx.device)
    steps_y = torch.arange(ly, device=gx.device)
    cols = (left[:, None] + steps_x).clamp(max=w - 1)  # (N, lx)
    rows = (top[:, None] + steps_y).clamp(max=h - 1)  # (N, ly)
    cells = (rows[:, :, None] * w + cols[:, None, :]).reshape(-1)
    window = features_hwc.reshape(h * w, c).index_select(0, cells).reshape(n, ly * lx, c)
    g = torch.bmm(window, exemplar.transpose(1, 2))  # (N, ly * lx, he * we)
    if timer is not None:
        timer.lap("xcorr")
    # Sample G: first along y (whole window rows, contiguous), then along x.
    k = g.shape[2]
    by_row = g.reshape(n * ly, lx * k)
    first_row = (torch.arange(n, device=gx.device) * ly - top)[:, None, None]  # (N, 1, 1)
    upper = by_row.index_select(0, (first_row + y0).reshape(-1))
    lower = by_row.index_select(0, (first_row + y1).reshape(-1))
    rows_s = torch.lerp(upper, lower, wy.reshape(-1, 1)).reshape(n * s * ny * lx, k)
    first_col = (torch.arange(n * s * ny, device=gx.device) * lx).reshape(n, s, ny, 1)
    first_col = first_col - left[:, None, None, None]
    a = rows_s.index_select(0, (first_col + x0[:, :, None, :]).reshape(-1))
    b = rows_s.index_select(0, (first_col + x1[:, :, None, :]).reshape(-1))
    shape = (n, s, ny, nx, k)
    q = torch.lerp(a.reshape(shape), b.reshape(shape), wx).reshape(n, s, ny * nx, k)
    out = _sum_offsets(q, (ny, nx), exemplar_hw)
    if timer is not None:
        timer.lap("crop")
    return out
