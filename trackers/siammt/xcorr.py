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
(1.7x the MACs for 22/6) but runs at matmul speed, several times faster than the grouped or
depthwise convolutions here (docs/DECISIONS.md, "cross-correlation layout").

`sampled_xcorr` swaps the two linear steps (Φ̃ on the map, then κ̃ of the products), which lets
the scales of a target share one correlation, and writes the sampling and Φ̃'s offset sum as
dense matmuls; the tracker uses it unless a target is far above the trained scale (see
`SiamMTConfig.sampled_cost_ratio`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from trackers.siammt.backbone import STRIDE
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.crop import roi_grid, sample_bilinear

# [(layout, [(start, stop), ...])]: runs of targets of one layout, cut into chunks
Plan = list[tuple[str, list[tuple[int, int]]]]


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


def bilinear_matrix(g: torch.Tensor, lo: torch.Tensor, length: int, size: int) -> torch.Tensor:
    """Dense 1-D bilinear sampling matrices: coordinates g (N, ...) on an axis of `size` cells
    (clamped to it, as `crop.sample_bilinear`) -> (N, ..., length), the weight of cell lo + k
    of each target's window (lo (N,)). Each row has two non-zeros: sampling becomes a matmul."""
    g = g.clamp(0, size - 1)
    g0 = g.floor()
    frac = g - g0
    lo = lo.reshape(-1, *([1] * (g.dim() - 1)))  # broadcast over g's trailing axes
    i0 = g0.long() - lo
    i1 = torch.minimum(i0 + 1, size - 1 - lo)
    out = g.new_zeros((*g.shape, length))
    out.scatter_add_(-1, i0.unsqueeze(-1), (1.0 - frac).unsqueeze(-1))
    out.scatter_add_(-1, i1.unsqueeze(-1), frac.unsqueeze(-1))
    return out


def sampled_xcorr(
    features_hwc: torch.Tensor,
    gx: torch.Tensor,
    gy: torch.Tensor,
    exemplar: torch.Tensor,
    exemplar_hw: tuple[int, int],
    chunks: Sequence[tuple[int, int]] | None = None,
    timer=None,
) -> torch.Tensor:
    """κ̃ then Φ̃ in one, correlating before sampling: the scores of search areas sampled at
    feature-index grids gx (N, S, nx), gy (N, S, ny) of one map (H, W, C) against exemplars
    (N, he * we, C). Returns (N, S, ny - he + 1, nx - we + 1), what `kappa` followed by
    `pairwise_xcorr_bmm` gives (same clamping at the map borders), to float rounding.

    Bilinear sampling and the channel sums are both linear, so they commute: sum_c Z_q,c
    (sum_k w_k F_k,c) = sum_k w_k (sum_c Z_q,c F_k,c). So G = Z F^T is computed once per target
    on the window (ly x lx cells) of the map its samples touch, shared by its S scales, and
    sampled with separable dense bilinear matrices Wy (ny, ly), Wx (nx, lx):

        score_s(i, j) = sum_{u, v} sum_{r, c} Wy_s(i + u, r) G(u, v, r, c) Wx_s(j + v, c)
                      = (A G' B)(s i, s j),

    with A(s i, u r) = Wy_s(i + u, r) (the scales' rows stacked), B(v c, s j) = Wx_s(j + v, c)
    (their columns side by side) and G' (he ly, we lx) = G with axes (u, r, v, c); the S
    diagonal blocks of A G' B are the scores. Φ̃'s sliding window over the
    offsets (u, v) is folded into A and B, so after G come only three batched matmuls and small
    copies, instead of gathers, lerps and a strided reduction of (S, ny, nx, he * we) samples.
    The off-diagonal blocks of the last matmul are wasted work, but one (S ho, we lx) x (we lx,
    S wo) matmul runs ~3x faster here than S small ones. At 0.3x width (C = 76) and a 25 x 25
    window: 1.7 (G) + 1.1 (A) + 0.4 (B) MMAC per target, all at matmul speed.

    `chunks` ((start, stop) row ranges, default one) bound the working set: each chunk's window
    is the largest of its targets', so similar sizes should share one. The indices and weights
    are built once for the whole batch. `timer.lap(stage)`, when given, splits the time into
    "xcorr" (windows and G) and "crop" (the sampling matmuls).
    """
    h, w, c = features_hwc.shape
    n, s, nx = gx.shape
    ny = gy.shape[2]
    he, we = exemplar_hw
    ho, wo = ny - he + 1, nx - we + 1
    dev = gx.device
    # The window of map cells each target's samples touch: left/top cell and extent.
    x0 = gx.clamp(0, w - 1).floor().long().flatten(1)
    y0 = gy.clamp(0, h - 1).floor().long().flatten(1)
    left, top = x0.amin(dim=1), y0.amin(dim=1)  # (N,)
    bottom = (y0.amax(dim=1) + 1).clamp(max=h - 1)
    right = (x0.amax(dim=1) + 1).clamp(max=w - 1)
    extent = (torch.stack([bottom - top, right - left]) + 1).cpu().numpy()  # (2, N): rows, cols
    big_y, big_x = int(extent[0].max()), int(extent[1].max())
    rows = (top[:, None] + torch.arange(big_y, device=dev)).clamp(max=h - 1)
    cols = (left[:, None] + torch.arange(big_x, device=dev)).clamp(max=w - 1)
    cells = rows[:, :, None] * w + cols[:, None, :]  # (N, big_y, big_x)
    wy = bilinear_matrix(gy, top, big_y, h)  # (N, S, ny, big_y)
    wx = bilinear_matrix(gx, left, big_x, w)  # (N, S, nx, big_x)
    sy, sx = wy.stride(), wx.stride()
    flat = features_hwc.reshape(h * w, c)
    out = []
    for a, b in chunks or [(0, n)]:
        m = b - a
        ly, lx = int(extent[0, a:b].max()), int(extent[1, a:b].max())
        window = flat.index_select(0, cells[a:b, :ly, :lx].reshape(-1)).reshape(m, ly * lx, c)
        g = torch.bmm(exemplar[a:b], window.transpose(1, 2))  # (m, (u, v), (r, c))
        g = g.reshape(m, he, we, ly, lx).transpose(2, 3).reshape(m, he * ly, we * lx)
        if timer is not None:
            timer.lap("xcorr")
        # Views of the first ly (lx) window cells of the batch-wide matrices, then copies.
        wa = wy.as_strided((m, s, ho, he, ly), (sy[0], sy[1], sy[2], sy[2], 1), a * sy[0])
        wb = wx.as_strided((m, we, lx, s, wo), (sx[0], sx[2], 1, sx[1], sx[2]), a * sx[0])
        full = torch.bmm(torch.bmm(wa.reshape(m, s * ho, he * ly), g), wb.reshape(m, -1, s * wo))
        out.append(torch.diagonal(full.reshape(m, s, ho, s, wo), dim1=1, dim2=3))
        if timer is not None:
            timer.lap("crop")
    return torch.cat(out).permute(0, 3, 1, 2)


def plan(window: np.ndarray, n_scales: int, channels: int, c: SiamMTConfig, cpu: bool) -> Plan:
    """The cost planner: split targets (sorted by size, windows (N,) of map cells their samples
    touch) into runs of one layout, each cut into chunks of at most `chunk_bytes` of working
    set (cache blocking; one chunk off the CPU). "auto" sends a target to `sampled_xcorr`
    unless that costs more than `sampled_cost_ratio` times the crop-then-correlate MACs."""
    ns, k, s = c.search_cells, c.exemplar_cells**2, n_scales
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
    budget = c.chunk_bytes if (c.chunk_bytes > 0 and cpu) else np.inf
    runs: Plan = []

    def close(a: int, b: int) -> None:
        layout = "sampled" if sampled[a] else "crop"
        if runs and runs[-1][0] == layout:
            runs[-1][1].append((a, b))
        else:
            runs.append((layout, [(a, b)]))

    start, used = 0, 0.0
    for i in range(len(window)):
        if i > start and (sampled[i] != sampled[start] or used + nbytes[i] > budget):
            close(start, i)
            start, used = i, 0.0
        used += nbytes[i]
    close(start, len(window))
    return runs


def search_scores(
    features_hwc: torch.Tensor,
    map_hw: tuple[int, int],
    rois: torch.Tensor,
    exemplars: torch.Tensor,
    runs: Plan,
    c: SiamMTConfig,
    timer=None,
) -> torch.Tensor:
    """κ̃ + Φ̃ of every target's search areas: RoIs (N, S, 4) in region px (input size
    `map_hw`), exemplars (N, e * e, C), both in the order `runs` was planned for. Returns the
    (N, S, R, R) correlation scores, run by run in the layout the plan chose."""
    n, s = rois.shape[:2]
    ns, ex_hw = c.search_cells, (c.exemplar_cells,) * 2
    gx, gy = roi_grid(rois.reshape(-1, 4), ns, map_hw)
    gx, gy = gx.reshape(n, s, ns), gy.reshape(n, s, ns)
    maps = []
    for layout, chunks in runs:
        a, b = chunks[0][0], chunks[-1][1]
        ex = exemplars[a:b]
        if layout == "sampled":
            local = [(i - a, j - a) for i, j in chunks]
            maps.append(sampled_xcorr(features_hwc, gx[a:b], gy[a:b], ex, ex_hw, local, timer))
            continue
        for i, j in chunks:
            x = sample_bilinear(features_hwc, gx[i:j].reshape(-1, ns), gy[i:j].reshape(-1, ns))
            if timer is not None:
                timer.lap("crop")
            x = x.reshape(j - i, s, ns**2, -1)
            maps.append(pairwise_xcorr_bmm(x, ex[i - a : j - a], (ns, ns), ex_hw))
            if timer is not None:
                timer.lap("xcorr")
    return torch.cat(maps)


def window_cells(spacing: np.ndarray, scale: tuple[float, float], cells: int) -> np.ndarray:
    """Side of the window of feature cells a target's samples touch, for search grids of
    `cells` samples `spacing` (N, S) frame px apart (+2: bilinear, rounding)."""
    return spacing.max(axis=1) * max(scale) * cells / STRIDE + 2
