"""φ's geometry and κ̃ (paper Sec. 3.2): Eq. 1-2 against hand values and against the network
itself, and feature crops against features of image crops."""

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SHARED
from torchvision.ops import roi_align

from trackers.siammt.backbone import RECEPTIVE_FIELD, STRIDE, AlexNet, output_size
from trackers.siammt.crop import (
    effective_size,
    image_to_feature,
    kappa,
    roi_grid,
    sample_bilinear,
    valid_input_size,
)

FRAME = SHARED / "data" / "mot" / "TUD-Stadtmitte" / "img1" / "000001.jpg"
WEIGHTS = Path(__file__).resolve().parents[1] / "trackers/siammt/weights/FDSiamfc_30.pth"


@pytest.mark.parametrize(
    ("n", "expected"),
    [(127, 41), (255, 169), (87, 1), (94, 1), (95, 9), (130, 41), (134, 41), (135, 49)],
)
def test_effective_size_hand_values(n, expected):
    # Eq. 1 with K = 87, S = 8: ceil((N - 86) / 8) * 8 - 7.
    assert effective_size(n) == expected


@pytest.mark.parametrize("n", range(87, 400, 7))
def test_effective_size_is_the_smallest_input_a_padded_net_maps_to_m_cells(n):
    # A 'same'-padded net with stride S maps N' px to ceil(N' / S) cells.
    m = output_size(n)
    n_eff = effective_size(n)
    assert math_ceil_div(n_eff, STRIDE) == m
    assert math_ceil_div(n_eff - 1, STRIDE) < m


def math_ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def test_eq2_hand_values_and_exact_offset_on_valid_sizes():
    # 127 px exemplar: cell j is centred on pixel 43 + 8 j.
    assert image_to_feature(43.0, 127) == 0.0
    assert image_to_feature(63.0, 127) == 2.5  # image centre -> centre of the 6 cells
    assert image_to_feature(43.0 + 8 * 21, 255) == 21.0
    for n in (87, 95, 127, 255, 639):
        assert (n - RECEPTIVE_FIELD) % STRIDE == 0
        assert image_to_feature(float((RECEPTIVE_FIELD - 1) / 2), n) == 0.0
    # Off the valid sizes Eq. 2 splits the dropped pixels: the tracker never uses such sizes.
    assert valid_input_size(130) == 135 and valid_input_size(135) == 135
    assert valid_input_size(10) == RECEPTIVE_FIELD


def test_receptive_field_and_stride_of_the_network():
    """An impulse at pixel p reaches exactly the cells j with 8 j <= p < 8 j + 87, i.e. cell j is
    centred on pixel 43 + 8 j: the premise of Eq. 2."""
    net = AlexNet((4, 4, 4, 4, 4))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
    width = 87 + 8 * 5
    for p in (0, 7, 8, 43, 86, 87, 100, width - 1):
        x = torch.zeros(1, 3, RECEPTIVE_FIELD, width)
        x[0, :, 43, p] = 1.0
        with torch.no_grad():
            y = net(x)[0, 0, 0]
        hit = set(torch.nonzero(y > 0).flatten().tolist())
        assert hit == {j for j in range(len(y)) if 8 * j <= p < 8 * j + 87}, p


def _linear_map(h: int, w: int) -> torch.Tensor:
    """(H, W, 2) map whose channels are linear in the cell coordinates: bilinear sampling of it
    returns the coordinates themselves, so expected values are hand-computable."""
    y, x = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    return torch.stack([10 * y + x, -x], dim=-1)


def test_kappa_hand_values():
    # Input region 111 x 119 px -> 4 x 5 cells; cell (y, x) centred on pixel (43 + 8y, 43 + 8x).
    n = (valid_input_size(111), valid_input_size(119))
    assert n == (111, 119)
    feats = _linear_map(output_size(n[0]), output_size(n[1]))
    # A 16 x 16 px RoI centred on cell (2, 2), i.e. continuous pixel 59.5, split in 2 x 2 bins:
    # bin centres 4 px = 0.5 cells either side.
    roi = torch.tensor([[51.5, 51.5, 67.5, 67.5]])
    gx, gy = roi_grid(roi, 2, n)
    np.testing.assert_allclose(gx.numpy(), [[1.5, 2.5]])
    np.testing.assert_allclose(gy.numpy(), [[1.5, 2.5]])
    out = kappa(feats, roi, 2, n)[0]  # (2, 2, C)
    np.testing.assert_allclose(out[..., 0].numpy(), [[16.5, 17.5], [26.5, 27.5]], atol=1e-5)
    np.testing.assert_allclose(out[..., 1].numpy(), [[-1.5, -2.5], [-1.5, -2.5]], atol=1e-5)
    # Beyond the map, samples take the border cell (clamped): x = 10 -> 4.
    far = sample_bilinear(feats, torch.tensor([[10.0]]), torch.tensor([[1.25]]))
    np.testing.assert_allclose(far[0, 0, 0].numpy(), [16.5, -4.0], atol=1e-5)


def test_kappa_equals_roi_align_with_one_sample_per_bin():
    """κ̃ is RoIAlign with sampling_ratio 1 (paper Fig. 5a) after Eq. 2: compare with
    torchvision's independent implementation on RoIs inside the map."""
    gen = torch.Generator().manual_seed(0)
    h, w, c = 30, 30, 7
    feats = torch.randn(h, w, c, generator=gen)
    n = (valid_input_size(8 * (h - 1) + 87), valid_input_size(8 * (w - 1) + 87))
    centre = torch.rand(50, 2, generator=gen) * torch.tensor([8.0 * 14, 8.0 * 8]) + 100
    half = (torch.rand(50, 1, generator=gen) * 40 + 10).expand(50, 2)
    rois = torch.cat([centre - half, centre + half], dim=1)
    ours = kappa(feats, rois, 6, n)  # (B, 6, 6, C)
    # Same RoIs in feature-index coordinates for roi_align (aligned=False samples at
    # x1 + (j + 0.5) * bin directly on the index grid).
    off = (RECEPTIVE_FIELD - 1) / 2 + 0.5
    boxes = torch.cat([torch.zeros(50, 1), (rois - off) / STRIDE], dim=1)
    ref = roi_align(feats.permute(2, 0, 1)[None], boxes, (6, 6), 1.0, 1, aligned=False)
    np.testing.assert_allclose(ours.numpy(), ref.permute(0, 2, 3, 1).numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def frame_and_net():
    cv2 = pytest.importorskip("cv2")
    if not FRAME.is_file():
        pytest.skip(f"shared data not found at {FRAME}")
    from trackers.siammt.backbone import load_alexnet

    return cv2.imread(str(FRAME)), load_alexnet(WEIGHTS)


def _features(net, bgr: np.ndarray) -> torch.Tensor:
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    with torch.inference_mode():
        return net(torch.from_numpy(rgb).permute(2, 0, 1)[None].float())[0].permute(1, 2, 0)


@pytest.mark.parametrize(
    ("side", "centre", "min_cos"),
    [
        (127.0, (303.5, 199.5), None),  # grid-aligned: the very same pixels -> same features
        (127.0, (300.2, 201.7), 0.95),  # sub-pixel offset: bilinear in features vs in pixels
        (127.0 * 1.1, (300.0, 200.0), 0.95),  # 10 % scale difference
        (127.0 / 1.1, (300.0, 200.0), 0.95),
    ],
)
def test_feature_crop_matches_features_of_image_crop(frame_and_net, side, centre, min_cos):
    """SiamMT's exemplar = κ̃ on frame features; SiamFC's = φ of the 127-px image crop. Away from
    the borders they agree (the premise of SiamMT-W, paper Sec. 3.3)."""
    from trackers.siammt.siamfc import crop_and_resize

    frame, net = frame_and_net
    h, w = frame.shape[:2]
    region = frame[: valid_input_size(h) - STRIDE, : valid_input_size(w) - STRIDE]
    feats = _features(net, region)
    crop = crop_and_resize(frame, np.array(centre), side, 127, (0, 0, 0))
    image_feats = _features(net, crop).reshape(-1, feats.shape[-1])
    cell = STRIDE * side / 127  # SiamFC's 6 x 6 features sit 8 crop px apart
    cx, cy = centre
    roi = torch.tensor([[cx - 3 * cell, cy - 3 * cell, cx + 3 * cell, cy + 3 * cell]])
    ours = kappa(feats, roi, 6, region.shape[:2]).reshape(-1, feats.shape[-1])
    if min_cos is None:
        np.testing.assert_allclose(ours.numpy(), image_feats.numpy(), rtol=1e-4, atol=1e-4)
    else:
        cos = torch.nn.functional.cosine_similarity(ours.flatten(), image_feats.flatten(), dim=0)
        assert cos > min_cos
