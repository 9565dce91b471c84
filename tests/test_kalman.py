"""Kalman filter on synthetic constant-velocity tracks with known motion."""

import numpy as np
import pytest

from trackers.kalman import KalmanConfig, KalmanEstimator

VELOCITY = np.array([3.0, -1.5, 3.0, -1.5], np.float32)  # px/frame, both corners
START = np.array([[100, 200, 140, 300], [400, 50, 430, 120]], np.float32)


@pytest.mark.parametrize("state", ["cxcyah", "cxcywh"])
@pytest.mark.parametrize("every", [1, 5])
def test_learns_constant_velocity_and_extrapolates(state, every):
    k = KalmanEstimator(KalmanConfig(state=state))
    k.add(None, START, [1, 2])
    for t in range(1, 61):
        boxes, _ = k.propagate(None)
        if t % every == 0:
            k.add(None, START + VELOCITY * t, [1, 2])
    np.testing.assert_allclose(k.velocities(), np.tile(VELOCITY[:2], (2, 1)), atol=0.05)
    for _ in range(10):  # ten frames with no detection
        boxes, scores = k.propagate(None)
    np.testing.assert_allclose(boxes, START + VELOCITY * 70, atol=1.0)
    assert (np.diff(scores) == 0).all() and 0 < scores[0] < 1


def test_stationary_box_stays_put_and_confidence_resets_on_update():
    k = KalmanEstimator()
    k.add(None, START[:1], [5])
    boxes, s1 = k.propagate(None)
    np.testing.assert_allclose(boxes, START[:1], atol=1e-4)
    _, s2 = k.propagate(None)
    assert s2[0] < s1[0]
    k.add(None, START[:1], [5])
    _, s3 = k.propagate(None)
    assert s3[0] == pytest.approx(s1[0])


def test_update_moves_towards_measurement_not_past_it():
    k = KalmanEstimator()
    k.add(None, START[:1], [1])
    k.propagate(None)
    k.add(None, START[:1] + 10, [1])
    box = k.boxes()[0]
    assert (box > START[0]).all() and (box <= START[0] + 10 + 1e-3).all()


def _shrinking(config: KalmanConfig) -> KalmanEstimator:
    """A track that learnt, from 10 detections, a box shrinking 5 px a frame."""
    k = KalmanEstimator(config)
    box = np.array([[100, 100, 160, 300]], np.float32)
    shrink = np.array([0, 0, 0, -5.0], np.float32)
    k.add(None, box, [1])
    for t in range(1, 11):
        k.propagate(None)
        k.add(None, box + shrink * t, [1])
    return k


@pytest.mark.parametrize("state", ["cxcyah", "cxcywh"])
def test_size_velocity_is_limited_so_boxes_never_collapse(state):
    """Then 300 frames without detections: the prediction shrinks by at most `max_size_rate` a
    frame and stays a box; without the limit it would have passed through zero height."""
    config = KalmanConfig(state=state)
    k = _shrinking(config)
    heights = []
    for _ in range(300):
        boxes, _ = k.propagate(None)
        heights.append(boxes[0, 3] - boxes[0, 1])
    heights = np.array(heights)
    rate = config.max_size_rate
    assert (heights[1:] >= heights[:-1] * (1 - rate) - 1e-3).all() and heights[-1] > 0.1
    unlimited = _shrinking(KalmanConfig(state=state, max_size_rate=None))
    for _ in range(300):
        unlimited.propagate(None)
    assert unlimited._kf.mean[0, 3] < 0  # the failure the limit prevents


def test_negative_size_rate_is_refused():
    with pytest.raises(ValueError, match="max_size_rate"):
        KalmanEstimator(KalmanConfig(max_size_rate=-0.1))
