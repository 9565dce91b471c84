"""Every registered motion estimator goes through the same protocol checks."""

import numpy as np
import pytest

from trackers import REGISTRY, MotionEstimator, PriorBoxes, ReportThreshold, create
from trackers.motion_prior import MotionPriorConfig
from trackers.siammt.config import SiamFCConfig


def _build(name: str) -> MotionEstimator:
    """A registered estimator by name, or "siamfc-mi+prior": the baseline in the motion prior
    (any appearance tracker can use it)."""
    if name == "siamfc-mi+prior":
        return create("siamfc-mi", SiamFCConfig(motion=MotionPriorConfig()))
    return create(name)


CASES = [*sorted(REGISTRY), "siamfc-mi+prior"]
APPEARANCE = {"siammt", "siamfc", "siamfc-mi", "siamfc-mi+prior"}  # scores are probabilities
FRAME = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
BOXES = np.array([[20, 30, 60, 110], [150, 40, 190, 130], [250, 100, 290, 200]], np.float32)


@pytest.fixture(params=CASES)
def estimator(request) -> MotionEstimator:
    estimator = _build(request.param)
    estimator.case = request.param  # type: ignore[attr-defined]
    return estimator


def test_is_a_motion_estimator(estimator):
    assert isinstance(estimator, MotionEstimator)


def test_empty_propagate(estimator):
    boxes, scores = estimator.propagate(FRAME)
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    assert estimator.ids.shape == (0,)


def test_add_propagate_order_and_shapes(estimator):
    estimator.add(FRAME, BOXES, np.array([7, 3, 9]))
    boxes, scores = estimator.propagate(FRAME)
    assert estimator.ids.tolist() == [7, 3, 9]
    assert boxes.shape == (3, 4) and boxes.dtype == np.float32
    assert scores.shape == (3,) and np.isfinite(scores).all()
    # Same frame again: every estimator should stay close to where the targets are.
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    np.testing.assert_allclose(centres, (BOXES[:, :2] + BOXES[:, 2:]) / 2, atol=8)


def test_remove_and_reinitialise(estimator):
    estimator.add(FRAME, BOXES, np.array([1, 2, 3]))
    estimator.remove(np.array([2, 42]))
    assert estimator.ids.tolist() == [1, 3]
    moved = BOXES[[0]] + np.float32(5)
    estimator.add(FRAME, moved, np.array([1]))  # correction keeps the order
    estimator.add(FRAME, BOXES[[1]], np.array([4]))
    boxes, _ = estimator.propagate(FRAME)
    assert estimator.ids.tolist() == [1, 3, 4]
    assert len(boxes) == 3


def test_reset_forgets_everything(estimator):
    estimator.add(FRAME, BOXES, np.array([1, 2, 3]))
    estimator.reset()
    boxes, _ = estimator.propagate(FRAME)
    assert boxes.shape == (0, 4) and estimator.ids.size == 0


def test_mismatched_lengths_rejected(estimator):
    with pytest.raises(ValueError):
        estimator.add(FRAME, BOXES, np.array([1, 2]))


def test_duplicate_ids_and_non_finite_boxes_rejected(estimator):
    with pytest.raises(ValueError, match="duplicate"):
        estimator.add(FRAME, BOXES[:2], np.array([4, 4]))
    bad = BOXES.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        estimator.add(FRAME, bad, np.arange(len(bad)))


def test_prior_boxes_follow_ids():
    """Estimators with `prior_boxes` give one finite box per live track after `propagate`."""
    checked = []
    for name in CASES:
        estimator = _build(name)
        if not isinstance(estimator, PriorBoxes):
            continue
        estimator.add(FRAME, BOXES, np.array([7, 3, 9]))
        estimator.remove(np.array([3]))
        estimator.propagate(FRAME)
        prior = estimator.prior_boxes
        assert prior is not None and prior.shape == (2, 4) and np.isfinite(prior).all()
        # Nothing moves in a still frame: the prior stays on the boxes, in the order of `ids`.
        np.testing.assert_allclose(prior, BOXES[[0, 2]], atol=1e-3)
        checked.append(name)
    assert {"siammt", "siamfc-mi+prior"} <= set(checked)


@pytest.mark.parametrize("name", sorted(APPEARANCE))
def test_appearance_trackers_refuse_frames_that_are_not_bgr_uint8(name):
    """They read pixels: a float frame (e.g. scaled to 0..1) would be tracked wrongly."""
    estimator = _build(name)
    with pytest.raises(ValueError, match="BGR uint8"):
        estimator.add(FRAME.astype(np.float32) / 255, BOXES, np.array([1, 2, 3]))
    estimator.add(FRAME, BOXES, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="BGR uint8"):
        estimator.propagate(FRAME[..., 0])


def test_report_threshold_only_where_scores_are_probabilities(estimator):
    """SiamMT and the SiamFC baselines score a box by the net's probability and give the
    pipeline a threshold on it; Kalman's and hold's scores are not on that scale."""
    appearance = estimator.case in APPEARANCE
    assert isinstance(estimator, ReportThreshold) == appearance
    if appearance:
        assert 0.0 < estimator.min_report_score < 1.0
