"""Φ̃ (paper Algorithm 1): every layout equals a per-pair correlation, in (target, scale) order."""

import itertools

import numpy as np
import pytest
import torch

from trackers.siammt.xcorr import (
    pairwise_xcorr_bmm,
    pairwise_xcorr_depthwise,
    pairwise_xcorr_grouped,
    pairwise_xcorr_reference,
    sampled_xcorr,
)


def _pairs(n: int, scales: int, c: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    search = torch.randn(n, scales, c, 22, 22, generator=gen)
    exemplar = torch.randn(n, c, 6, 6, generator=gen)
    # Reference: pair (n, s) correlates search[n, s] with exemplar[n].
    ref = pairwise_xcorr_reference(
        search.reshape(n * scales, c, 22, 22), exemplar.repeat_interleave(scales, dim=0)
    ).reshape(n, scales, 17, 17)
    return search, exemplar, ref


@pytest.mark.parametrize(("n", "c"), [(1, 76), (37, 76), (37, 8), (3, 256)])
def test_all_layouts_equal_the_per_pair_reference(n, c):
    search, exemplar, ref = _pairs(n, 3, c)
    scale = ref.abs().max()  # compare relative to the magnitude of the scores
    flat = search.reshape(n * 3, c, 22, 22)
    per_pair_ex = exemplar.repeat_interleave(3, dim=0)
    grouped = pairwise_xcorr_grouped(flat, per_pair_ex).reshape(n, 3, 17, 17)
    depthwise = pairwise_xcorr_depthwise(flat, per_pair_ex).reshape(n, 3, 17, 17)
    bmm = pairwise_xcorr_bmm(
        search.permute(0, 1, 3, 4, 2).reshape(n, 3, 22 * 22, c),
        exemplar.permute(0, 2, 3, 1).reshape(n, 36, c),
        (22, 22),
        (6, 6),
    )
    for out in (grouped, depthwise, bmm):
        assert out.shape == ref.shape
        np.testing.assert_allclose((out / scale).numpy(), (ref / scale).numpy(), atol=1e-5)


def test_bmm_pairs_each_search_area_with_its_own_exemplar():
    """A (scale, target) mix-up must show: with exemplar k equal to a patch of search area k
    (target-major), the peak of pair (k, s) is at that patch's position only for the right k."""
    n, s, c = 5, 3, 16
    gen = torch.Generator().manual_seed(1)
    search = torch.randn(n, s, 22, 22, c, generator=gen)
    ex = torch.stack([search[k, 1, 4 + k : 10 + k, 7:13] for k in range(n)])  # (n, 6, 6, c)
    out = pairwise_xcorr_bmm(search.reshape(n, s, 484, c), ex.reshape(n, 36, c), (22, 22), (6, 6))
    for k in range(n):
        peak = int(out[k, 1].argmax())
        assert divmod(peak, 17) == (4 + k, 7)


def test_bmm_is_independent_of_batch_composition():
    search, exemplar, _ = _pairs(6, 3, 12)
    s = search.permute(0, 1, 3, 4, 2).reshape(6, 3, 484, 12)
    e = exemplar.permute(0, 2, 3, 1).reshape(6, 36, 12)
    together = pairwise_xcorr_bmm(s, e, (22, 22), (6, 6))
    alone = torch.cat(
        [pairwise_xcorr_bmm(s[k : k + 1], e[k : k + 1], (22, 22), (6, 6)) for k in range(6)]
    )
    np.testing.assert_allclose(together.numpy(), alone.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("n", [1, 37])
def test_sampled_xcorr_equals_crop_then_correlate(n):
    """Correlating the map first and sampling the products (one window per target, shared by
    its scales; dense bilinear matrices) gives κ̃ followed by Φ̃, including samples clamped at
    the map borders, in one chunk or in chunks of a few targets."""
    from trackers.siammt.crop import kappa, roi_grid

    gen = torch.Generator().manual_seed(n)
    h, w, c = 40, 52, 24
    feats = torch.randn(h, w, c, generator=gen)
    size = (8 * (h - 1) + 87, 8 * (w - 1) + 87)  # input px that give this map
    centre = torch.rand(n, 2, generator=gen) * torch.tensor([size[1], size[0]])
    cell = (0.6 + torch.rand(n, generator=gen)) * 8  # px per sample, some targets near edges
    scales = torch.tensor([1 / 1.0375, 1.0, 1.0375])
    half = (cell[:, None] * scales * 11)[..., None]
    rois = torch.cat([centre[:, None] - half, centre[:, None] + half], dim=-1)  # (n, 3, 4)
    exemplar = torch.randn(n, 36, c, generator=gen)
    search = kappa(feats, rois.reshape(-1, 4), 22, size).reshape(n, 3, 484, c)
    ref = pairwise_xcorr_bmm(search, exemplar, (22, 22), (6, 6))
    gx, gy = roi_grid(rois.reshape(-1, 4), 22, size)
    gx, gy = gx.reshape(n, 3, 22), gy.reshape(n, 3, 22)
    scale = ref.abs().max()
    # One chunk, and chunks of 1, 2, 3, 1, ... targets (each chunk with its own window size).
    bounds = [0]
    while bounds[-1] < n:
        bounds.append(min(n, bounds[-1] + 1 + len(bounds) % 3))
    for chunks in (None, list(itertools.pairwise(bounds))):
        out = sampled_xcorr(feats, gx, gy, exemplar, (6, 6), chunks)
        np.testing.assert_allclose((out / scale).numpy(), (ref / scale).numpy(), atol=1e-5)
