"""φ's inference backends agree (features to stated tolerances, boxes on a real sequence), and
the OpenVINO model cache rebuilds what it cannot trust."""

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import MOT_DIR, SAMPLE

from mot_pipeline.boxes import iou_matrix
from trackers.siammt import backbone, backends, model_cache
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.tracker import SiamMT

pytest.importorskip("openvino")
cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("ov-cache"))


@pytest.fixture(scope="module")
def region() -> torch.Tensor:
    """A 400 x 311 region of a real frame as (1, 3, H, W) uint8 channels-last (BGR)."""
    frame = cv2.imread(str(SAMPLE / "img1" / "000001.jpg"))
    crop = np.ascontiguousarray(frame[20 : 20 + 311, 100 : 100 + 400])
    return (
        torch.from_numpy(crop).permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)
    )


TORCH_F32 = SiamMTConfig(backend="torch", precision="f32")  # the reference


def _features(config: SiamMTConfig, region: torch.Tensor) -> torch.Tensor:
    phi = backends.make_backbone(config)
    return phi(region.to(phi.input_dtype))


@pytest.mark.parametrize(("precision", "tolerance"), [("f32", 1e-4), ("bf16", 0.03)])
def test_openvino_features_match_torch(cache, region, precision, tolerance):
    """Mean relative difference to torch float32 features of the same region."""
    reference = _features(TORCH_F32, region)
    config = SiamMTConfig(backend="openvino", precision=precision, cache_dir=cache)
    got = _features(config, region)
    assert got.shape == reference.shape and got.dtype == torch.float32
    error = (got - reference).abs().mean() / reference.abs().mean()
    assert error < tolerance


@pytest.mark.parametrize("weights", [None, "FDSiamfc_15"])  # the default; the lean preset's
def test_int8_features_stay_close(cache, region, weights):
    pytest.importorskip("nncf")
    reference = _features(SiamMTConfig(weights=weights, backend="torch", precision="f32"), region)
    config = SiamMTConfig(weights=weights, backend="openvino", precision="int8", cache_dir=cache)
    got = _features(config, region)
    assert got.shape == reference.shape
    error = (got - reference).abs().mean() / reference.abs().mean()
    assert error < 0.1


def test_openvino_tracks_like_torch_on_a_real_sequence(cache):
    seq = MOT_DIR / "TUD-Stadtmitte"
    if not (seq / "gt" / "gt.txt").is_file():
        pytest.skip(f"shared data not found at {seq}")
    gt = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",")
    first = gt[(gt[:, 0] == 1) & (gt[:, 6] != 0)]
    boxes = first[:, 2:6].astype(np.float32)
    boxes[:, :2] -= 1
    boxes[:, 2:] += boxes[:, :2]
    ids = first[:, 1].astype(np.int64)
    trackers = [
        SiamMT(SiamMTConfig(motion=None)),
        SiamMT(SiamMTConfig(motion=None, backend="openvino", cache_dir=cache)),
    ]
    frames = [cv2.imread(str(seq / "img1" / f"{f:06d}.jpg")) for f in range(1, 9)]
    for t in trackers:
        t.add(frames[0], boxes, ids, 0)
    for index, frame in enumerate(frames[1:], start=1):
        (a, sa), (b, sb) = (t.propagate(frame, index) for t in trackers)
        assert np.diag(iou_matrix(a, b)).min() > 0.98
        np.testing.assert_allclose(sa, sb, atol=1e-3)


def test_a_broken_cache_entry_is_rebuilt(tmp_path, region):
    config = SiamMTConfig(backend="openvino", precision="f32", cache_dir=str(tmp_path))
    expected = _features(config, region)
    entry = model_cache.entry_dir(config, "f32")
    for damage in ("truncate", "manifest", "missing"):
        if damage == "truncate":
            data = (entry / "model.bin").read_bytes()
            (entry / "model.bin").write_bytes(data[: len(data) // 2])
        elif damage == "manifest":
            (entry / "manifest.json").write_text("{not json")
        else:
            (entry / "model.xml").unlink()
        assert not model_cache._intact(entry)
        torch.testing.assert_close(_features(config, region), expected)  # rebuilt, same model
        assert model_cache._intact(entry)
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # no temporary folders left


def test_cache_key_follows_weights_and_precision(tmp_path):
    config = SiamMTConfig(cache_dir=str(tmp_path))
    f32, bf16 = (model_cache.cache_key(config, p) for p in ("f32", "bf16"))
    assert f32 != bf16
    weights = tmp_path / "w.pth"
    weights.write_bytes(Path(backbone.DEFAULT_WEIGHTS).read_bytes() + b"\0")
    other = SiamMTConfig(weights=str(weights), cache_dir=str(tmp_path))
    assert model_cache.cache_key(other, "f32") != f32


def _amx(monkeypatch, amx: bool) -> None:
    monkeypatch.setattr(backends, "cpu_has_amx_bf16", lambda: amx)


@pytest.mark.parametrize("amx", [False, True])
def test_auto_is_float32_in_the_faster_backend_for_it(monkeypatch, amx):
    """Precision auto is f32 (the low precisions lose accuracy at k = 10); backend auto is the
    faster one for the precision: torch for f32, OpenVINO for int8, for bf16 OpenVINO only
    with AMX (measured on a Xeon with AMX and an AMD EPYC without)."""
    _amx(monkeypatch, amx)
    default = backends.resolve(SiamMTConfig())
    assert (default.backend, default.precision) == ("torch", "f32")
    assert default.reason.startswith("auto: f32: the only precision that keeps")
    assert default.describe().startswith("torch f32 (auto: ")
    int8 = backends.resolve(SiamMTConfig(precision="int8"))
    assert (int8.backend, int8.precision) == ("openvino", "int8")
    bf16 = backends.resolve(SiamMTConfig(precision="bf16"))
    assert bf16.backend == ("openvino" if amx else "torch")
    cuda = backends.resolve(SiamMTConfig(device="cuda"))
    assert (cuda.backend, cuda.precision) == ("torch", "f32")


def test_backend_choice_and_refusals():
    assert backends.resolve(SiamMTConfig(backend="torch", precision="f32")).reason == "set"
    assert backends.resolve(SiamMTConfig(backend="openvino")).precision == "f32"
    with pytest.raises(ValueError, match="int8"):
        backends.resolve(SiamMTConfig(backend="torch", precision="int8"))
    with pytest.raises(ValueError, match="CPU"):
        backends.resolve(SiamMTConfig(backend="openvino", device="cuda"))


def test_the_tracker_says_what_runs_its_backbone(monkeypatch):
    """`mot-run` logs `describe()` (trackers.Describe): the backend, precision and why."""
    import trackers
    from trackers.siammt.tracker import build

    est = build(TORCH_F32)
    assert isinstance(est, trackers.Describe)
    assert est.describe() == "siammt, backbone torch f32 (set), with a motion prior"
    auto = SiamMT(SiamMTConfig()).describe()
    assert auto.startswith("siammt, backbone torch f32 (auto: f32: the only precision")


def test_int8_without_nncf_is_one_line_before_any_conversion(monkeypatch, tmp_path):
    """No nncf: the InputError that says what to install, raised before the torch model is
    traced (tracing prints warnings that would precede the one line)."""
    import sys

    import openvino as ov

    from mot_pipeline.errors import InputError

    def traced(*args, **kwargs):
        raise AssertionError("converted before checking for nncf")

    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf -> ModuleNotFoundError
    monkeypatch.setattr(ov, "convert_model", traced)
    config = SiamMTConfig(backend="openvino", precision="int8", cache_dir=str(tmp_path))
    with pytest.raises(InputError, match="needs nncf"):
        model_cache.build(config, "int8")
