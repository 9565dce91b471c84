import numpy as np
import pytest

from association import CascadeResult
from mot_pipeline.boxes import inside_fraction
from mot_pipeline.lifecycle import Lifecycle, LifecycleConfig, TrackState
from mot_pipeline.types import Detections

E = np.zeros(0, np.int64)


def _result(matches=(), unmatched_tracks=(), unmatched_high=()):
    return CascadeResult(
        np.asarray(matches, np.int64).reshape(-1, 2),
        np.asarray(unmatched_tracks, np.int64),
        np.asarray(unmatched_high, np.int64),
    )


def test_max_age_scales_with_frame_rate_and_never_below_one_gap():
    cfg = LifecycleConfig(track_buffer=30, reference_frame_rate=30)
    assert Lifecycle(cfg, 30, 1).max_age == 30
    assert Lifecycle(cfg, 7, 1).max_age == 7
    assert Lifecycle(cfg, 7, 10).max_age == 10  # must survive one missed detection
    assert Lifecycle(LifecycleConfig(track_buffer=0), 1, 1).max_age == 1


def test_first_frame_confirms_everything_later_needs_score_or_hits():
    life = Lifecycle(LifecycleConfig(confirm_score=0.6, min_hits=2), 30, 5)
    dets = Detections([[0, 0, 10, 10], [50, 0, 60, 10]], [0.9, 0.3])
    up = life.detected(0, _result(unmatched_high=[0, 1]), dets)
    assert up.ids.tolist() == [1, 2] and (life.states == TrackState.TRACKED).all()
    assert life.report().ids.tolist() == [1, 2]

    dets = Detections([[100, 0, 110, 10], [200, 0, 210, 10]], [0.9, 0.3])
    life.detected(
        5,
        _result(matches=[[0, 0], [1, 1]][:0], unmatched_tracks=[0, 1], unmatched_high=[0, 1]),
        dets,
    )
    # Track 3 (score 0.9) is confirmed at once; track 4 (0.3) waits, invisible.
    assert life.report().ids.tolist() == [3]
    assert life.states[life.ids == 4][0] == TrackState.TENTATIVE
    # Track 4 matched again: confirmed.
    life.detected(10, _result(matches=[[3, 0]], unmatched_tracks=[0, 1, 2]), dets)
    assert 4 in life.report().ids.tolist()


def test_unmatched_tentative_is_dropped_and_lost_expires_after_max_age():
    life = Lifecycle(LifecycleConfig(track_buffer=10, reference_frame_rate=10), 10, 5)
    assert life.max_age == 10
    dets = Detections([[0, 0, 10, 10]], [0.9])
    life.detected(0, _result(unmatched_high=[0]), dets)  # id 1, tracked
    low = Detections([[50, 0, 60, 10]], [0.3])
    life.detected(5, _result(unmatched_tracks=[0], unmatched_high=[0]), low)  # id 2 tentative
    assert life.states.tolist() == [TrackState.LOST, TrackState.TENTATIVE]
    assert life.report().ids.size == 0  # lost tracks are not reported
    up = life.detected(10, _result(unmatched_tracks=[0, 1]), Detections.empty())
    assert up.removed.tolist() == [2]  # tentative missed once; id 1 still within 10 frames
    up = life.detected(15, _result(unmatched_tracks=[0]), Detections.empty())
    assert up.removed.tolist() == [1] and life.ids.size == 0


def test_lost_track_is_recovered_with_its_id():
    life = Lifecycle(LifecycleConfig(), 30, 5)
    life.detected(0, _result(unmatched_high=[0]), Detections([[0, 0, 10, 10]], [0.9]))
    life.detected(5, _result(unmatched_tracks=[0]), Detections.empty())
    up = life.detected(10, _result(matches=[[0, 0]]), Detections([[2, 0, 12, 10]], [0.8]))
    assert up.ids.tolist() == [1] and life.report().ids.tolist() == [1]
    np.testing.assert_allclose(up.boxes, [[2, 0, 12, 10]])


def test_collapsed_motion_score_hides_propagated_track():
    life = Lifecycle(LifecycleConfig(min_report_score=0.5), 30, 5)
    life.detected(
        0, _result(unmatched_high=[0, 1]), Detections([[0, 0, 10, 10], [20, 0, 30, 10]], [0.9, 0.9])
    )
    life.propagated(
        np.array([2, 1]),
        np.array([[21, 0, 31, 10], [1, 0, 11, 10]], np.float32),
        np.array([0.2, 0.9], np.float32),
    )
    rep = life.report()
    assert rep.ids.tolist() == [1] and not rep.detected.any()
    np.testing.assert_allclose(rep.boxes, [[1, 0, 11, 10]])  # aligned by id, not by order


def test_lost_tracks_predicted_outside_the_frame_are_ended():
    life = Lifecycle(LifecycleConfig(), 30, 5)
    dets = Detections([[90, 0, 100, 10], [0, 0, 10, 10], [40, 40, 50, 50]], [0.9] * 3)
    life.detected(0, _result(unmatched_high=[0, 1, 2]), dets)  # ids 1, 2, 3 tracked
    life.detected(5, _result(matches=[[1, 1]], unmatched_tracks=[0, 2]), dets)  # 1, 3 lost
    # Predicted: id 1 walked out to the right, id 2 (tracked) too, id 3 stays inside.
    moved = np.array([[101, 0, 111, 10], [-20, 0, -10, 10], [40, 40, 50, 50]], np.float32)
    life.propagated(np.array([1, 2, 3]), moved, np.ones(3))
    assert life.end_departed(100, 100).tolist() == [1]  # only a lost track is ended
    assert life.ids.tolist() == [2, 3] and life.prior_boxes is None
    # The motion-only prior decides where the estimator gives one.
    life.detected(10, _result(unmatched_tracks=[0, 1]), Detections.empty())  # 2, 3 lost
    prior = np.array([[-20, 0, -10, 10], [40, 40, 50, 50]], np.float32)
    life.propagated(np.array([2, 3]), moved[[2, 2]], np.ones(2), prior)
    assert life.end_departed(100, 100).tolist() == [2]
    assert life.ids.tolist() == [3] and life.prior_boxes.tolist() == [[40, 40, 50, 50]]
    off = Lifecycle(LifecycleConfig(end_lost_outside=False), 30, 5)
    off.detected(0, _result(unmatched_high=[0]), dets)
    off.detected(5, _result(unmatched_tracks=[0]), Detections.empty())
    off.propagated(np.array([1]), moved[:1], np.ones(1))
    assert off.end_departed(100, 100).size == 0 and off.ids.tolist() == [1]


def test_inside_fraction_by_hand():
    boxes = np.array(
        [[10, 10, 20, 20], [-5, 0, 5, 10], [95, 90, 105, 110], [-30, 0, -10, 10], [5, 5, 5, 5]],
        np.float32,
    )
    # inside, half out left, a quarter inside at the bottom-right corner, all out, a point
    np.testing.assert_allclose(inside_fraction(boxes, 100, 100), [1, 0.5, 0.25, 0, 1])
    assert inside_fraction(np.array([[150, 5, 150, 5]], np.float32), 100, 100).tolist() == [0]


def test_lost_track_mostly_outside_is_ended_before_its_centre_leaves():
    """A person walking out: 55 % of the predicted box inside (centre still inside) ends the
    lost track at the default 0.6; 70 % inside does not."""
    dets = Detections([[80, 0, 100, 20], [0, 50, 20, 70]], [0.9, 0.9])
    moved = np.array([[89, 0, 109, 20], [-6, 50, 14, 70]], np.float32)  # 55 %, 70 % inside
    for config, ended, left in (
        (LifecycleConfig(), [1], [2]),
        (LifecycleConfig(lost_min_inside=0.75), [1, 2], []),
    ):
        life = Lifecycle(config, 30, 5)
        life.detected(0, _result(unmatched_high=[0, 1]), dets)
        life.detected(5, _result(unmatched_tracks=[0, 1]), Detections.empty())  # both lost
        life.propagated(np.array([1, 2]), moved, np.ones(2))
        assert life.end_departed(100, 100).tolist() == ended and life.ids.tolist() == left
    with pytest.raises(ValueError, match="lost_min_inside"):
        LifecycleConfig(lost_min_inside=1.5)
