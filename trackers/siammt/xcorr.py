"""Φ̃: pairwise cross-correlation (paper Algorithm 1) and the layouts it can take.

Every search area b is correlated with *its own* exemplar only. Batches are target-major: row
b = n * n_scales + s holds target n at scale s, so exemplar n serves rows n * S .. n * S + S - 1;
a (scale, target) mix-up would silently pair the wrong exemplar, which the tests check.

`pairwise_xcorr_depthwise` is Algorithm 1 as written: stack the N search areas along channels
(line 2), the exemplars as N * c depthwise filters (line 3), one depthwise correlation (line 4),
reshape (line 5) and sum the c channels of each pair (line 6). `pairwise_xcorr_grouped` is the
same thing as one grouped convolution (groups = pairs), which sums the channels inside the conv.

`pairwise_xcorr_bmm` is the layout the tracker uses on CPU, where grouped/depthwise convolutions
are slow: with channels-last search features X (B, Hs * Ws, C) and exemplars Z (N, he * we, C),
one batched matmul Q = X Z^T gives, for every search cell p and exemplar offset q = (u, v), the
channel sum <X_p, Z_q>; the score at (i, j) is sum_q Q[(i + u, j + v), (u, v)], read as one
strided view of Q and reduced. All scales of a target share one matmul (its rows are stacked).
It computes Hs * Ws instead of (Hs - he + 1) * (Ws - we + 1) products per offset (1.7x the MACs
for 22/6) but runs at matmul speed. Measured at N = 100 targets x 3 scales, 0.3x width
(C = 76), 2 threads, on ready search features: grouped convolution 88 ms, depthwise
(Algorithm 1 as written) 54 ms, bmm 14 ms, unfold + einsum 650 ms; the same numbers to 1e-6
relative. Fed chunk by chunk straight from κ̃ (4 targets at a time, so the search features are
still in cache) the bmm adds ~5 ms to the crop; see `crop.py`.
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
    hs, ws = search_hw
    he, we = exemplar_hw
    q = torch.bmm(search.reshape(n, s * hs * ws, c), exemplar.transpose(1, 2))
    q = q.contiguous()  # (N, S * Hs * Ws, he * we)
    k = he * we
    ho, wo = hs - he + 1, ws - we + 1
    st = q.stride()
    # Element (n, s, i, j, u, v) = q[n, s * Hs * Ws + (i + u) * Ws + (j + v), u * we + v].
    view = q.as_strided(
        (n, s, ho, wo, he, we),
        (st[0], hs * ws * k, ws * k, k, ws * k + we, k + 1),
    )
    return view.sum(dim=(4, 5))
