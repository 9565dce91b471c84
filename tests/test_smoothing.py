"""Fixed-lag output: hand-made snapshots with known answers, and the pipeline end to end."""

import numpy as np
import pytest
from test_pipeline import FRAME, STARTS, VEL, ScriptedDetector

from mot_pipeline import Detections, Pipeline
from mot_pipeline.lifecycle import TrackSnapshot
from mot_pipeline.pipeline import PipelineConfig
from mot_pipeline.smoothing import FixedLagSmoother
from mot_pipeline.types import FrameResult, Tracks
from trackers import create

BOX = [10.0, 20.0, 40.0, 100.0]


def snap(ids, boxes, detected, visible):
    n = len(ids)
    return TrackSnapshot(
        np.asarray(ids, np.int64),
        np.asarray(boxes, np.float32).reshape(n, 4),
        np.full(n, 0.5, np.float32),
        np.asarray(detected, bool),
        np.asarray(visible, bool),
    )


def push(smoother, t, s, detector_ran):
    v = s.visible
    tracks = Tracks(s.ids[v], s.boxes[v], s.scores[v], s.detected[v])
    return smoother.push(FrameResult(t, tracks, Detections.empty() if detector_ran else None), s)


def test_frames_between_two_detections_are_interpolated():
    sm = FixedLagSmoother(lag=5)
    out = push(sm, 0, snap([1], [BOX], [True], [True]), True)
    wobbly = [[3, 0, 3, 0], [-4, 1, -4, 1], [9, 0, 9, 0], [0, -2, 0, -2]]
    for t in range(1, 5):  # the estimator wobbles; the person walks 10 px right and grows
        out += push(sm, t, snap([1], [np.add(BOX, wobbly[t - 1])], [False], [True]), False)
    moved = np.add(BOX, [10, 0, 10, 5])
    out += push(sm, 5, snap([1], [moved], [True], [True]), True)
    out += sm.flush()
    assert [r.frame_index for r in out] == list(range(6))
    expected = [np.add(BOX, [2 * t, 0, 2 * t, t]) for t in range(6)]
    np.testing.assert_allclose([r.tracks.boxes[0] for r in out], expected, atol=1e-5)
    assert [bool(r.tracks.detected[0]) for r in out] == [True, False, False, False, False, True]


def test_confirmed_track_backfills_its_tentative_and_lost_frames():
    # (detected, visible online, detector ran) per frame: tentative at 0, confirmed at 2,
    # missed (LOST) at 4, found again at 6.
    script = [
        (True, False, True),
        (False, False, False),
        (True, True, True),
        (False, True, False),
        (False, False, True),
        (False, False, False),
        (True, True, True),
    ]
    sm, out = FixedLagSmoother(lag=4), []
    for t, (detected, visible, ran) in enumerate(script):
        out += push(sm, t, snap([7], [BOX], [detected], [visible]), ran)
    out += sm.flush()
    assert [r.tracks.ids.tolist() for r in out] == [[7]] * 7


def test_unconfirmed_or_unfound_tracks_stay_hidden_and_old_frames_are_final():
    sm = FixedLagSmoother(lag=2)
    out = push(sm, 0, snap([3], [BOX], [True], [False]), True)
    out += push(sm, 1, snap([3], [BOX], [False], [False]), False)
    out += push(sm, 2, snap([], np.zeros((0, 4)), [], []), True)  # the false start is dropped
    assert [r.frame_index for r in out] == [0]  # frame t - lag once frame t is in
    out += sm.flush()
    assert [len(r.tracks) for r in out] == [0, 0, 0]
    # A detection beyond the lag revises only the frames still held.
    sm = FixedLagSmoother(lag=1)
    out = push(sm, 0, snap([1], [BOX], [True], [True]), True)
    for t in range(1, 4):
        out += push(sm, t, snap([1], [BOX], [False], [True]), False)
    moved = np.add(BOX, [8, 0, 8, 0])
    out += push(sm, 4, snap([1], [moved], [True], [True]), True) + sm.flush()
    shifts = [r.tracks.boxes[0, 0] - BOX[0] for r in out]
    np.testing.assert_allclose(shifts, [0, 0, 0, 6, 8], atol=1e-5)


def test_lag_zero_is_online_and_bad_input_is_refused():
    sm = FixedLagSmoother(lag=0)
    assert len(push(sm, 0, snap([1], [BOX], [True], [True]), True)) == 1
    with pytest.raises(ValueError, match="after frame 0"):
        push(sm, 2, snap([1], [BOX], [False], [True]), False)
    with pytest.raises(ValueError):
        FixedLagSmoother(lag=-1)
    with pytest.raises(ValueError):
        PipelineConfig(lag=-1)
    with pytest.raises(ValueError, match="2 boxes for 1 tracks"):
        one = np.ones(1, bool)
        TrackSnapshot(np.ones(1), np.zeros((2, 4)), np.ones(1), one, one)


@pytest.mark.parametrize("tracker", ["kalman", "hold"])
def test_pipeline_lag_zero_equals_step_and_lag_reports_new_people_sooner(tracker):
    # A second person appears at frame 5; online, their track is confirmed at frame 10.
    class LateSecond(ScriptedDetector):
        def __call__(self, frame, frame_index=None):
            d = super().__call__(frame, frame_index)
            return d if frame_index >= 5 else d.select(np.array([0]))

    def run(lag):
        det = LateSecond(STARTS, VEL)
        config = PipelineConfig(detect_every=5, lag=lag)
        return det, list(Pipeline(det, create(tracker), config=config).run([FRAME] * 21))

    det, online = run(0)
    stepped = Pipeline(LateSecond(STARTS, VEL), create(tracker), PipelineConfig(detect_every=5))
    for r in online:
        s = stepped.step(FRAME)
        assert r.frame_index == s.frame_index and r.tracks.ids.tolist() == s.tracks.ids.tolist()
        np.testing.assert_array_equal(r.tracks.boxes, s.tracks.boxes)
    assert [2 in r.tracks.ids for r in online] == [t >= 10 for t in range(21)]
    det, lagged = run(None)  # one detection interval
    assert [r.frame_index for r in lagged] == list(range(21))
    assert [2 in r.tracks.ids for r in lagged] == [t >= 5 for t in range(21)]
    # Between detections the revised boxes are at least as close to the truth.
    err = {
        name: np.mean(
            [np.abs(r.tracks.boxes[0] - det.truth(r.frame_index)[0]).mean() for r in rs[1:]]
        )
        for name, rs in (("online", online), ("lagged", lagged))
    }
    assert err["lagged"] <= err["online"] + 1e-6
    if tracker == "hold":  # constant velocity: the linear revision is exact
        assert err["lagged"] < 1e-4 < err["online"]
