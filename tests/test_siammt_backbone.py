"""φ and its weights: shapes, width inference, legacy format, clear errors, BN folding."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mot_pipeline.errors import InputError
from trackers.siammt.backbone import (
    FULL_WIDTHS,
    SIAMFC_BN_EPS,
    AlexNet,
    input_size,
    load_alexnet,
    load_backbone,
    output_size,
    weights_path,
)

PACKAGED = Path(__file__).resolve().parents[1] / "trackers" / "siammt" / "weights"


def test_full_width_alexnet_shapes():
    net = AlexNet(FULL_WIDTHS)
    assert net.out_channels == 256
    with torch.inference_mode():
        assert net(torch.zeros(1, 3, 127, 127)).shape == (1, 256, 6, 6)
        assert net(torch.zeros(2, 3, 255, 255)).shape == (2, 256, 22, 22)
    assert output_size(127) == 6 and output_size(255) == 22 and output_size(86) == 0
    assert input_size(6) == 127 and input_size(22) == 255
    bn = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bn) == 4 and all(m.eps == SIAMFC_BN_EPS for m in bn)


def test_leaky_relu_variant_builds():
    net = AlexNet((8, 8, 8, 8, 8), activation="leaky_relu")
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in net.modules())
    with pytest.raises(ValueError):
        AlexNet((8, 8, 8, 8, 8), activation="tanh")


def test_packaged_weights_load_with_inferred_width_and_notice():
    net = load_alexnet(PACKAGED / "FDSiamfc_30.pth")
    assert net.widths == (28, 76, 114, 114, 76)
    assert (PACKAGED / "NOTICE").is_file()
    assert "MIT" in (PACKAGED / "NOTICE").read_text()


def test_legacy_format_checkpoint_loads():
    path = PACKAGED / "FDSiamfc_15.pth"
    with path.open("rb") as fh:
        assert fh.read(2) != b"PK"  # legacy pickle, not the zip format
    net = load_alexnet(path)
    assert net.widths == (14, 38, 56, 56, 38)
    with torch.inference_mode():
        assert net(torch.zeros(1, 3, 127, 127)).shape == (1, 38, 6, 6)


def test_packaged_weights_by_name(tmp_path):
    assert weights_path(None) == PACKAGED / "FDSiamfc_30.pth"
    assert weights_path("FDSiamfc_15") == PACKAGED / "FDSiamfc_15.pth"
    assert load_backbone("FDSiamfc_15", "relu", torch.device("cpu")).widths[-1] == 38
    # A path (with a folder or a suffix) is always a path, even where a packaged name matches.
    for other in (tmp_path / "FDSiamfc_15", "FDSiamfc_15.pth", "x/FDSiamfc_15", "no_such"):
        assert weights_path(other) == Path(other)
    with pytest.raises(InputError, match="not found"):
        load_backbone("no_such", "relu", torch.device("cpu"))


def test_batchnorm_folding_keeps_the_features():
    path = PACKAGED / "FDSiamfc_30.pth"
    plain, fused = load_alexnet(path, fuse=False), load_alexnet(path, fuse=True)
    x = torch.rand(1, 3, 135, 151, generator=torch.Generator().manual_seed(0)) * 255
    with torch.inference_mode():
        a, b = plain(x), fused(x)
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-4 * float(a.abs().max()))


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_alexnet(tmp_path / "nope.pth")


def test_garbage_file_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(InputError, match=r"bad\.pth"):
        load_alexnet(bad)


def test_wrong_checkpoints_are_input_errors(tmp_path):
    state = AlexNet((8, 16, 24, 24, 16)).state_dict()
    ok = tmp_path / "ok.pth"
    torch.save({f"backbone.{k}": v for k, v in state.items()}, ok)
    assert load_alexnet(ok).widths == (8, 16, 24, 24, 16)

    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(InputError, match="not a siamfc-pytorch AlexNet"):
        load_alexnet(other)

    wrong = dict(state)
    wrong["conv3.0.weight"] = torch.zeros(24, 16, 5, 5)  # 5x5 where 3x3 belongs
    bad_shape = tmp_path / "shape.pth"
    torch.save(wrong, bad_shape)
    with pytest.raises(InputError, match=r"conv3\.0\.weight"):
        load_alexnet(bad_shape)

    missing = {k: v for k, v in state.items() if not k.startswith("conv4.1")}
    no_bn = tmp_path / "missing.pth"
    torch.save(missing, no_bn)
    with pytest.raises(InputError, match=r"missing tensor conv4\.1"):
        load_alexnet(no_bn)
