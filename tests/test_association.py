import numpy as np
import pytest

from association import CascadeConfig, TrackGroups, assign, make_affinity, match_cascade
from mot_pipeline.types import Detections


def test_assign_maximises_total_affinity():
    # Greedy would take (0,0)=0.9 and leave (1,1)=0.1; the optimum is 0.8 + 0.7.
    aff = np.array([[0.9, 0.8], [0.7, 0.1]])
    a = assign(aff, 0.05)
    assert sorted(map(tuple, a.matches)) == [(0, 1), (1, 0)]
    assert a.unmatched_rows.size == 0 and a.unmatched_cols.size == 0


def test_assign_gates_low_affinity():
    aff = np.array([[0.9, 0.0], [0.0, 0.29]])
    a = assign(aff, 0.3)
    assert a.matches.tolist() == [[0, 0]]
    assert a.unmatched_rows.tolist() == [1] and a.unmatched_cols.tolist() == [1]


def test_assign_exact_threshold_is_matched():
    assert assign(np.array([[0.5]]), 0.5).matches.tolist() == [[0, 0]]


@pytest.mark.parametrize("shape", [(0, 3), (2, 0), (0, 0)])
def test_assign_empty_sides(shape):
    a = assign(np.zeros(shape), 0.1)
    assert a.matches.shape == (0, 2)
    assert a.unmatched_rows.tolist() == list(range(shape[0]))
    assert a.unmatched_cols.tolist() == list(range(shape[1]))


def test_rectangular_assignment():
    aff = np.array([[0.1, 0.9, 0.2]])
    a = assign(aff, 0.05)
    assert a.matches.tolist() == [[0, 1]] and a.unmatched_cols.tolist() == [0, 2]


def test_fused_affinity_weights():
    tb = np.array([[0, 0, 10, 10]], np.float32)
    db = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    fused = make_affinity("fused_iou", detection_weight=1.0, motion_weight=1.0)
    out = fused(tb, np.array([0.5]), db, np.array([0.8, 1.0]))
    np.testing.assert_allclose(out, [[1.0 * 0.5 * 0.8, (50 / 150) * 0.5 * 1.0]], rtol=1e-6)
    plain = make_affinity("iou")(tb, np.array([0.5]), db, np.array([0.8, 1.0]))
    np.testing.assert_allclose(plain, [[1.0, 1 / 3]], rtol=1e-6)
    with pytest.raises(KeyError):
        make_affinity("nope")


def _groups(tracked, tentative):
    return TrackGroups(np.array(tracked, bool), np.array(tentative, bool))


def test_cascade_low_score_detection_keeps_tracked_track():
    tracks = np.array([[0, 0, 10, 20], [100, 0, 110, 20]], np.float32)
    dets = Detections([[1, 0, 11, 20], [100, 1, 110, 21]], [0.9, 0.15])
    r = match_cascade(tracks, np.ones(2), _groups([1, 1], [0, 0]), dets)
    assert sorted(map(tuple, r.matches)) == [(0, 0), (1, 1)]
    assert r.unmatched_tracks.size == 0 and r.unmatched_high.size == 0


def test_cascade_lost_tracks_ignore_low_scores_and_tentatives_come_last():
    tracks = np.array([[0, 0, 10, 20], [100, 0, 110, 20], [200, 0, 210, 20]], np.float32)
    # Track 1 is lost: its low-score detection must not revive it. Track 2 is tentative and
    # only gets what confirmed tracks left.
    dets = Detections([[100, 0, 110, 20], [200, 0, 210, 20], [0, 0, 10, 20]], [0.15, 0.9, 0.9])
    r = match_cascade(tracks, np.ones(3), _groups([1, 0, 0], [0, 0, 1]), dets)
    assert sorted(map(tuple, r.matches)) == [(0, 2), (2, 1)]
    assert r.unmatched_tracks.tolist() == [1]
    assert r.unmatched_high.size == 0


def test_cascade_empty_sides():
    empty_tracks = np.zeros((0, 4), np.float32)
    dets = Detections([[0, 0, 10, 10], [5, 5, 9, 9]], [0.9, 0.05])
    r = match_cascade(empty_tracks, np.zeros(0), _groups([], []), dets)
    assert r.matches.shape == (0, 2) and r.unmatched_high.tolist() == [0]
    tracks = np.array([[0, 0, 10, 10]], np.float32)
    r = match_cascade(tracks, np.ones(1), _groups([1], [0]), Detections.empty())
    assert r.matches.shape == (0, 2) and r.unmatched_tracks.tolist() == [0]


def test_cascade_gating_config():
    tracks = np.array([[0, 0, 10, 10]], np.float32)
    dets = Detections([[6, 0, 16, 10]], [1.0])  # IoU 4/16 = 0.25
    loose = match_cascade(tracks, np.ones(1), _groups([1], [0]), dets)
    strict = match_cascade(
        tracks, np.ones(1), _groups([1], [0]), dets, CascadeConfig(min_affinity_first=0.3)
    )
    assert loose.matches.tolist() == [[0, 0]] and strict.matches.size == 0


def test_cascade_prior_boxes_rescue_confirmed_tracks_only():
    # Track 0 (tracked) and track 1 (lost) drifted 30 px right of their people; their motion
    # priors sit on the detections. Track 2 is tentative: its prior is not consulted.
    tracks = np.array([[30, 0, 40, 20], [130, 0, 140, 20], [230, 0, 240, 20]], np.float32)
    prior = np.array([[0, 0, 10, 20], [100, 0, 110, 20], [200, 0, 210, 20]], np.float32)
    dets = Detections([[0, 0, 10, 20], [100, 0, 110, 20], [200, 0, 210, 20]], [0.9] * 3)
    groups = _groups([1, 0, 0], [0, 0, 1])
    without = match_cascade(tracks, np.ones(3), groups, dets)
    assert without.matches.size == 0
    with_prior = match_cascade(tracks, np.ones(3), groups, dets, prior_boxes=prior)
    assert sorted(map(tuple, with_prior.matches)) == [(0, 0), (1, 1)]
    assert with_prior.unmatched_tracks.tolist() == [2]
    # The better of the two boxes wins: a prior far off does not undo a good match.
    far = prior + 500
    same = match_cascade(prior, np.ones(3), groups, dets, prior_boxes=far)
    assert sorted(map(tuple, same.matches)) == [(0, 0), (1, 1), (2, 2)]
    with pytest.raises(ValueError, match="prior_boxes"):
        match_cascade(tracks, np.ones(3), groups, dets, prior_boxes=prior[:2])


def test_cascade_low_score_detection_at_the_border_needs_the_prior_too():
    """Track 0 stuck at the left edge (its person walked out: the prior is beyond the frame),
    track 1 at the same distance from the edge but inside: a low-score partial detection at
    each. Only the track at the border is refused, and only with prior and frame size."""
    tracks = np.array([[0, 50, 20, 150], [100, 50, 120, 150]], np.float32)
    prior = np.array([[-30, 50, -10, 150], [130, 50, 150, 150]], np.float32)
    dets = Detections([[0, 50, 18, 150], [100, 50, 118, 150]], [0.2, 0.2])
    groups = _groups([1, 1], [0, 0])
    size = (640, 480)
    edge = match_cascade(tracks, np.ones(2), groups, dets, prior_boxes=prior, frame_size=size)
    assert edge.matches.tolist() == [[1, 1]] and edge.unmatched_tracks.tolist() == [0]
    for kwargs in (
        {"prior_boxes": prior},  # no frame size: the rule is off
        {"frame_size": size},  # no prior: nothing to agree with
        {"prior_boxes": prior, "frame_size": size, "config": CascadeConfig(edge_agreement=False)},
    ):
        res = match_cascade(tracks, np.ones(2), groups, dets, **kwargs)
        assert sorted(map(tuple, res.matches)) == [(0, 0), (1, 1)]
    # A prior that agrees lets the border track keep its low-score detection.
    agree = match_cascade(tracks, np.ones(2), groups, dets, prior_boxes=tracks, frame_size=size)
    assert sorted(map(tuple, agree.matches)) == [(0, 0), (1, 1)]
    # The right and bottom borders count as well.
    corner = np.array([[620, 380, 640, 480]], np.float32)
    res = match_cascade(
        corner,
        np.ones(1),
        _groups([1], [0]),
        Detections([[622, 380, 640, 480]], [0.2]),
        prior_boxes=corner + np.float32([40, 0, 40, 0]),
        frame_size=size,
    )
    assert res.matches.size == 0


def test_cascade_untrusted_appearance_boxes_give_way_to_the_prior():
    """Track 0's appearance box drifted onto the neighbour's detection 1; its prior overlaps
    its own detection 0 (IoU 0.6). Trusted, the drifted box wins (IoU 1); scored below
    `min_appearance_score` it is not used, in pass 1 nor pass 2; tentative tracks keep theirs."""
    app = np.array([[30, 0, 40, 20]], np.float32)
    prior = np.array([[2.5, 0, 12.5, 20]], np.float32)  # IoU with [0, 0, 10, 20]: 7.5 / 12.5
    dets = Detections([[0, 0, 10, 20], [30, 0, 40, 20]], [0.9, 0.9])
    gate = CascadeConfig(min_appearance_score=0.5)
    tracked = _groups([1], [0])

    def matched(scores, config=None, groups=tracked, detections=dets):
        res = match_cascade(app, np.array(scores), groups, detections, config, prior_boxes=prior)
        return res.matches.tolist()

    assert matched([0.3]) == [[0, 1]]  # default: the gate is off
    assert matched([0.8], gate) == [[0, 1]]
    assert matched([0.3], gate) == [[0, 0]]
    low = Detections([[30, 0, 40, 20]], [0.2])  # pass 2: IoU with the prior box only
    assert matched([0.8], gate, detections=low) == [[0, 0]]
    assert matched([0.3], gate, detections=low) == []
    assert matched([0.3], gate, groups=_groups([0], [1])) == [[0, 1]]  # tentative
