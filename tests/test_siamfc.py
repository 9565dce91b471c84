"""The SiamFC baselines: image crops, per-object == batched, protocol, a known shift."""

from pathlib import Path

import numpy as np
import pytest

from mot_pipeline.boxes import xyxy_to_cxcywh
from trackers import MotionEstimator, create
from trackers.siammt.config import SiamFCConfig
from trackers.siammt.siamfc import (
    SiamFCEstimator,
    SiamFCMultiInputEstimator,
    crop_and_resize,
)

cv2 = pytest.importorskip("cv2")

SEQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "mot" / "TUD-Stadtmitte"


@pytest.fixture(scope="module")
def frames():
    if not (SEQ / "img1").is_dir():
        pytest.skip(f"shared data not found at {SEQ}")
    return [cv2.imread(str(SEQ / "img1" / f"{f:06d}.jpg")) for f in range(1, 5)]


BOXES = np.array(
    [[356.0, 81.0, 429.0, 327.0], [180.0, 94.0, 256.0, 321.0], [512.0, 110.0, 549.0, 232.0]],
    np.float32,
)


def test_crop_and_resize_samples_the_right_points():
    # A float image whose value is its x pixel index: a crop sample at continuous x reads x - 0.5.
    img = np.tile(np.arange(200, dtype=np.float32), (100, 1))
    img = np.dstack([img, img, img])
    out = crop_and_resize(img, np.array([100.0, 50.0]), 40.0, 8, (0, 0, 0))
    q = np.arange(8)
    expected = 100.0 + (q + 0.5 - 4) * 5.0 - 0.5  # c + (q + 0.5 - out / 2) * side / out
    np.testing.assert_allclose(out[3, :, 0], expected, atol=1e-3)
    # Outside the image: the border colour (SiamFC pads with the frame's mean colour).
    border = crop_and_resize(img, np.array([5.0, 5.0]), 40.0, 8, (7, 7, 7))
    assert (border[0, 0] == 7).all()


def test_per_object_equals_batched(frames):
    single, multi = SiamFCEstimator(), SiamFCMultiInputEstimator()
    ids = np.array([4, 2, 6])
    for est in (single, multi):
        est.add(frames[0], BOXES, ids)
    for f in frames[1:]:
        a, sa = single.propagate(f)
        b, sb = multi.propagate(f)
        np.testing.assert_allclose(a, b, atol=1e-3)
        np.testing.assert_allclose(sa, sb, atol=1e-5)


@pytest.mark.parametrize("cls", [SiamFCEstimator, SiamFCMultiInputEstimator])
def test_protocol(frames, cls):
    est = cls()
    assert isinstance(est, MotionEstimator) and est.Config is SiamFCConfig
    out, scores = est.propagate(frames[0])
    assert out.shape == (0, 4) and scores.shape == (0,)
    est.add(frames[0], BOXES, np.array([1, 2, 3]))
    out, scores = est.propagate(frames[1])
    assert out.dtype == np.float32 and out.shape == (3, 4)
    assert ((scores >= 0) & (scores <= 1)).all()
    est.remove(np.array([2]))
    est.add(frames[1], BOXES[1:2], np.array([2]))
    assert est.ids.tolist() == [1, 3, 2]
    with pytest.raises(ValueError):
        est.add(frames[1], BOXES[:2], np.array([1]))
    est.reset()
    assert est.ids.size == 0


def test_follows_a_known_shift(frames):
    shift = np.array([-12.0, 3.0])
    m = np.array([[1.0, 0, shift[0]], [0, 1.0, shift[1]]])
    moved = cv2.warpAffine(frames[0], m, frames[0].shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    est = create("siamfc-mi")
    est.add(frames[0], BOXES[:1], np.array([1]))
    out, scores = est.propagate(moved)
    got = xyxy_to_cxcywh(out)[0, :2] - xyxy_to_cxcywh(BOXES[:1])[0, :2]
    # SiamFC's resolution: one score-map cell is 8 crop px (~19 frame px for this person).
    np.testing.assert_allclose(got, shift, atol=0.25 * est.cell[0])
    assert scores[0] > 0.5
