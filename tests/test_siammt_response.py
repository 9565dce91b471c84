"""Peak search and box update: the fast path equals SiamFC's literal recipe; hand cases."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trackers.siammt.config import SiamParams
from trackers.siammt.crop import exemplar_side
from trackers.siammt.response import (
    PeakFinder,
    _bilinear_blocks,
    apply_update,
    hann_window,
    locate_reference,
    near_node_matrix,
    upsample_matrix,
)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_upsample_matrix_is_torch_interpolate(mode):
    u = upsample_matrix(17, 16, mode)
    x = torch.randn(4, 3, 17, 17, generator=torch.Generator().manual_seed(0))
    ref = F.interpolate(x, size=(272, 272), mode=mode, align_corners=False)
    np.testing.assert_allclose((u @ x @ u.T).numpy(), ref.numpy(), atol=1e-5)


def test_near_node_samples_give_the_exact_max_and_min_of_a_bilinear_upsampling():
    u = upsample_matrix(17, 16, "bilinear")
    v = near_node_matrix(u, 16)
    assert v.shape == (34, 17)
    x = torch.randn(64, 17, 17, generator=torch.Generator().manual_seed(1))
    full = u @ x @ u.T
    coarse = v @ x @ v.T
    np.testing.assert_allclose(coarse.amax(dim=(1, 2)), full.amax(dim=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(coarse.amin(dim=(1, 2)), full.amin(dim=(1, 2)), rtol=1e-6)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("n", [1, 37])
def test_fast_peak_search_equals_siamfc_recipe(mode, n):
    gen = torch.Generator().manual_seed(n)
    # Smooth maps like real responses (random noise makes ties and near-ties common).
    maps = F.avg_pool2d(torch.randn(n, 3, 23, 23, generator=gen), 7, 1) * 8
    params = SiamParams(upsample=mode)
    disp, idx, logit = PeakFinder(params, 17, chunk_maps=5).locate(maps)
    rdisp, ridx, rlogit = locate_reference(maps, params)
    np.testing.assert_array_equal(idx.numpy(), ridx.numpy())
    np.testing.assert_array_equal(disp.numpy(), rdisp.numpy())
    np.testing.assert_allclose(logit.numpy(), rlogit.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("top_blocks", [1, 2, 9, 400])
def test_block_pruned_peak_search_is_exact_whatever_the_number_of_blocks(top_blocks):
    # Few blocks force the full-map fallback for many targets; all must equal the recipe.
    gen = torch.Generator().manual_seed(top_blocks)
    maps = F.avg_pool2d(torch.randn(40, 3, 21, 21, generator=gen), 5, 1) * 8
    params = SiamParams()
    disp, idx, logit = PeakFinder(params, 17, top_blocks=top_blocks).locate(maps)
    rdisp, ridx, rlogit = locate_reference(maps, params)
    np.testing.assert_array_equal(idx.numpy(), ridx.numpy())
    np.testing.assert_array_equal(disp.numpy(), rdisp.numpy())
    np.testing.assert_allclose(logit.numpy(), rlogit.numpy(), rtol=1e-5, atol=1e-6)


def test_bilinear_blocks_partition_the_rows_and_bound_the_upsampled_map():
    rows, lo, hi = _bilinear_blocks(17, 16)
    assert rows.shape == (18, 16)
    assert sorted(set(rows.flatten().tolist())) == list(range(272))
    u = upsample_matrix(17, 16, "bilinear")
    v = near_node_matrix(u, 16)
    x = torch.randn(17, 17, generator=torch.Generator().manual_seed(3))
    full, coarse = u @ x @ u.T, v @ x @ v.T
    for b in range(18):
        for c in range(18):
            block = full[rows[b]][:, rows[c]]
            corners = coarse[[int(lo[b]), int(hi[b])]][:, [int(lo[c]), int(hi[c])]]
            assert float(block.max()) <= float(corners.max()) + 1e-6
            assert float(block.min()) >= float(corners.min()) - 1e-6


def test_hand_case_single_peak_and_scale_penalty():
    params = SiamParams(window_influence=0.0)
    maps = torch.zeros(2, 3, 17, 17)
    maps[0, 2, 12, 8] = 1.0  # peak 4 cells below the centre, on the larger scale
    maps[1, :, 8, 3] = 1.0  # the same peak on all scales: the penalty keeps scale 1
    disp, idx, logit = PeakFinder(params, 17).locate(maps)
    # Bilinear x16: the largest samples sit 1/32 cell either side of the node on each axis;
    # argmax takes the first, at output row 16 * 12 + 7, i.e. (199 - 135.5) / 16 = 4 - 1/32
    # cells, and at column 16 * 8 + 7, i.e. -1/32.
    np.testing.assert_allclose(disp[0].numpy(), [4 - 1 / 32, -1 / 32])
    assert idx.tolist() == [2, 1]
    np.testing.assert_allclose(disp[1].numpy(), [-1 / 32, -5 - 1 / 32])
    np.testing.assert_allclose(logit.numpy(), [(1 - 1 / 32) ** 2] * 2, rtol=1e-6)


def test_hann_window_and_scales():
    w = hann_window(272)
    assert abs(float(w.sum()) - 1) < 1e-5 and w[0, 0] == 0 and w.argmax() == 135 * 272 + 135
    np.testing.assert_allclose(SiamParams().scale_factors(), [1 / 1.0375, 1, 1.0375])


def test_box_update_hand_values():
    params = SiamParams()
    centre = np.array([[100.0, 50.0]])
    size = np.array([[40.0, 80.0]])
    cell = np.array([2.0])
    disp = np.array([[1.5, -2.0]])  # (dy, dx) cells
    apply_update(centre, size, cell, disp, np.array([2]), params)
    f = 1.0375
    np.testing.assert_allclose(centre, [[100.0 - 2.0 * 2.0 * f, 50.0 + 1.5 * 2.0 * f]])
    damp = 1 - 0.59 + 0.59 * f
    np.testing.assert_allclose(size, [[40.0 * damp, 80.0 * damp]])
    np.testing.assert_allclose(cell, [2.0 * damp])


def test_exemplar_side_eq5():
    wh = np.array([[40.0, 80.0], [10.0, 10.0]])
    # sqrt((w + ζ(w+h)) (h + ζ(w+h))): ζ = 0.5 -> sqrt(100 * 140); ζ = 0 -> sqrt(w h).
    np.testing.assert_allclose(exemplar_side(wh, 0.5), [np.sqrt(100 * 140), 20.0])
    np.testing.assert_allclose(exemplar_side(wh, 0.0), [np.sqrt(3200), 10.0])
