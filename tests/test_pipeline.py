"""The frame loop on synthetic sequences with known motion."""

import numpy as np
import pytest

from mot_pipeline import Detections, Pipeline
from mot_pipeline.pipeline import PipelineConfig
from trackers import create

FRAME = np.zeros((240, 320, 3), np.uint8)


class ScriptedDetector:
    """Exact boxes of people moving at constant velocity; some frames can be blanked."""

    def __init__(self, starts, velocity, score=0.9, blank=()):
        self.starts, self.velocity = np.asarray(starts, np.float32), np.float32(velocity)
        self.score, self.blank, self.calls = score, set(blank), []

    def truth(self, t: int) -> np.ndarray:
        return self.starts + self.velocity * t

    def __call__(self, frame, frame_index=None):
        self.calls.append(frame_index)
        if frame_index in self.blank:
            return Detections.empty()
        boxes = self.truth(frame_index)
        return Detections(boxes, np.full(len(boxes), self.score))


STARTS = [[10, 20, 40, 100], [200, 30, 230, 110]]
VEL = [2, 0.5, 2, 0.5]


@pytest.mark.parametrize("tracker", ["kalman", "hold"])
def test_detector_runs_every_k_and_every_frame_is_reported(tracker):
    det = ScriptedDetector(STARTS, VEL)
    pipe = Pipeline(det, create(tracker), PipelineConfig(detect_every=5))
    results = list(pipe.run([FRAME] * 21))
    assert det.calls == [0, 5, 10, 15, 20]
    assert [r.frame_index for r in results] == list(range(21))
    assert all(r.tracks.ids.tolist() == [1, 2] for r in results)
    assert [r.detector_ran for r in results] == [t % 5 == 0 for t in range(21)]
    assert all(r.tracks.detected.all() == r.detector_ran for r in results)
    assert pipe.timing.frames == 21 and pipe.timing.fps > 0


def test_kalman_beats_hold_between_detections():
    errors = {}
    for tracker in ("kalman", "hold"):
        det = ScriptedDetector(STARTS, VEL)
        results = list(
            Pipeline(det, create(tracker), PipelineConfig(detect_every=5)).run([FRAME] * 40)
        )
        errors[tracker] = np.mean(
            [np.abs(r.tracks.boxes - det.truth(r.frame_index)).mean() for r in results[20:]]
        )
    assert errors["kalman"] < 0.5 < errors["hold"]


def test_track_survives_a_missed_detection_at_low_frame_rate():
    # 7 fps, k = 10: ByteTrack's scaled buffer (7 frames) would drop the track before the
    # next detection; ours keeps the id.
    det = ScriptedDetector(STARTS[:1], [0.5, 0, 0.5, 0], blank={10})
    config = PipelineConfig(detect_every=10, lag=0)
    pipe = Pipeline(det, create("kalman"), config=config, frame_rate=7)
    results = list(pipe.run([FRAME] * 31))
    assert results[0].tracks.ids.tolist() == [1]
    assert results[10].tracks.ids.size == 0  # lost: not reported online
    assert results[20].tracks.ids.tolist() == [1] and results[30].tracks.ids.tolist() == [1]
    # Held back one interval, the frames while lost are reported once the track is found.
    det.calls.clear()
    pipe = Pipeline(det, create("kalman"), PipelineConfig(detect_every=10), frame_rate=7)
    results = list(pipe.run([FRAME] * 31))
    assert all(r.tracks.ids.tolist() == [1] for r in results)


def test_reset_restarts_ids_and_step_works_on_a_stream():
    det = ScriptedDetector(STARTS, VEL)
    pipe = Pipeline(det, create("kalman"), PipelineConfig(detect_every=2))
    for _ in range(3):
        last = pipe.step(FRAME)
    assert last.frame_index == 2 and last.tracks.ids.tolist() == [1, 2]
    pipe.reset()
    det.calls.clear()
    assert pipe.step(FRAME).tracks.ids.tolist() == [1, 2] and det.calls == [0]


def test_zero_detections_and_bad_boxes_are_handled():
    class Messy:
        def __call__(self, frame, frame_index=None):
            if frame_index == 0:
                return Detections.empty()
            return Detections(
                [[-50, -50, 30, 60], [100, 100, 100, 150], [400, 10, 500, 90]], [0.9, 0.9, 0.9]
            )

    results = list(Pipeline(Messy(), create("kalman")).run([FRAME] * 3))
    assert results[0].tracks.ids.size == 0
    # Clipped to the frame; the zero-width box and the box fully outside are dropped.
    np.testing.assert_allclose(results[1].tracks.boxes, [[0, 0, 30, 60]])


class Doubled:
    """Every detection of `detector` reported twice (as a det.txt with each row repeated)."""

    def __init__(self, detector, interleave):
        self.detector, self.interleave = detector, interleave

    def __call__(self, frame, frame_index=None):
        d = self.detector(frame, frame_index=frame_index)
        index = (
            np.repeat(np.arange(len(d)), 2) if self.interleave else np.tile(np.arange(len(d)), 2)
        )
        return d.select(index)


@pytest.mark.parametrize("interleave", [False, True])
@pytest.mark.parametrize(("tracker", "every"), [("kalman", 1), ("kalman", 5), ("hold", 3)])
def test_exact_duplicate_detections_make_one_track(tracker, every, interleave):
    runs = []
    for doubled in (False, True):
        det = ScriptedDetector(STARTS, VEL, blank={6})
        detector = Doubled(det, interleave) if doubled else det
        runs.append(
            list(Pipeline(detector, create(tracker), PipelineConfig(every)).run([FRAME] * 25))
        )
    once, twice = runs
    assert all(r.tracks.ids.tolist() == [1, 2] for r in once[7:])
    for a, b in zip(once, twice, strict=True):
        np.testing.assert_array_equal(a.tracks.ids, b.tracks.ids)
        np.testing.assert_array_equal(a.tracks.boxes, b.tracks.boxes)
        np.testing.assert_array_equal(a.tracks.scores, b.tracks.scores)
        np.testing.assert_array_equal(a.tracks.detected, b.tracks.detected)
        assert (a.detections is None) == (b.detections is None)
        if a.detections is not None:
            np.testing.assert_array_equal(a.detections.boxes, b.detections.boxes)


def test_duplicates_keep_the_highest_score_and_only_exact_ones_merge():
    class Fixed:
        def __call__(self, frame, frame_index=None):
            boxes = [
                [200, 30, 230, 110],
                [10, 20, 40, 100],
                [10, 20, 40, 100],  # same box, higher score: kept
                [200, 30, 230, 110],  # same box and score as the first: the first is kept
                [10, 20, 40, 100.5],  # not the same box
                [-50, 0, 30, 60],  # both clip to (0, 0, 30, 60) but differ as reported
                [-40, 0, 30, 60],
            ]
            return Detections(boxes, [0.8, 0.6, 0.9, 0.8, 0.7, 0.5, 0.4], [0, 1, 2, 3, 4, 5, 6])

    result = Pipeline(Fixed(), create("kalman")).step(FRAME)
    assert result.detections.classes.tolist() == [0, 2, 4, 5, 6]
    assert result.detections.scores.tolist() == pytest.approx([0.8, 0.9, 0.7, 0.5, 0.4])


def test_detect_every_must_be_positive():
    with pytest.raises(ValueError, match="detect_every"):
        PipelineConfig(detect_every=0)


class DriftingEstimator:
    """Kalman boxes pushed `drift` px further right every frame since the last correction, as
    an appearance tracker dragged onto a neighbour would be; `prior_boxes` are the Kalman
    boxes themselves."""

    def __init__(self, drift: float, with_prior: bool) -> None:
        self._kf, self.drift, self.with_prior = create("kalman"), drift, with_prior
        self.prior_boxes, self._frames = None, 0

    ids = property(lambda self: self._kf.ids)

    def add(self, frame, boxes, ids, frame_index=None):
        self._kf.add(frame, boxes, ids)
        self._frames = 0

    def remove(self, ids):
        self._kf.remove(ids)

    def reset(self):
        self._kf.reset()

    def propagate(self, frame, frame_index=None):
        boxes, scores = self._kf.propagate(frame)
        self.prior_boxes = boxes if self.with_prior else None
        self._frames += 1
        return boxes + self.drift * self._frames * np.float32([1, 0, 1, 0]), scores


def test_estimator_prior_boxes_keep_a_drifting_track():
    reported = {}
    for with_prior in (False, True):
        det = ScriptedDetector(STARTS[:1], VEL)
        pipe = Pipeline(det, DriftingEstimator(8.0, with_prior), PipelineConfig(detect_every=5))
        reported[with_prior] = [r.tracks.ids.tolist() for r in pipe.run([FRAME] * 21)]
    # 40 px of drift by the next detection: the track misses it and later detections start
    # tracks that never get a second hit.
    assert reported[False][0] == [1] and reported[False][-1] == []
    assert reported[True] == [[1]] * 21


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (np.zeros((240, 320), np.uint8), "shape (240, 320)"),
        (np.zeros((240, 320, 3), np.float32), "float32"),
        ([[0, 0, 0]], "list"),
    ],
)
def test_step_refuses_frames_that_are_not_bgr_uint8(frame, fragment):
    pipe = Pipeline(ScriptedDetector(STARTS, VEL), create("kalman"))
    with pytest.raises(ValueError, match="BGR uint8") as err:
        pipe.step(frame)
    assert fragment in str(err.value)


def test_frame_size_is_fixed_until_reset():
    """Track boxes are in the first frame's pixels: a stream that changes size mid-way is
    refused, not tracked in the wrong coordinates; `reset` starts a new stream."""
    pipe = Pipeline(ScriptedDetector(STARTS, VEL), create("kalman"))
    pipe.step(FRAME)
    with pytest.raises(ValueError, match="320x240; call reset"):
        pipe.step(np.zeros((480, 640, 3), np.uint8))
    pipe.reset()
    assert pipe.step(np.zeros((480, 640, 3), np.uint8)).frame_index == 0


class _Unsure:
    """`hold` that scores every propagated box 0.3 and asks for 0.5 to report it."""

    min_report_score = 0.5

    def __init__(self):
        self._hold = create("hold")

    def __getattr__(self, name):
        return getattr(self._hold, name)

    def propagate(self, frame, frame_index=None):
        boxes, scores = self._hold.propagate(frame)
        return boxes, np.full_like(scores, 0.3)


@pytest.mark.parametrize(("configured", "hidden"), [(None, True), (0.2, False), (0.0, False)])
def test_report_threshold_is_the_trackers_unless_configured(configured, hidden):
    """Online, a propagated track scored below the tracker's `min_report_score` is hidden
    (detector frames always show it); a threshold in the lifecycle config wins."""
    from mot_pipeline.lifecycle import LifecycleConfig

    config = PipelineConfig(
        detect_every=3, lag=0, lifecycle=LifecycleConfig(min_report_score=configured)
    )
    pipe = Pipeline(ScriptedDetector(STARTS, VEL), _Unsure(), config=config)
    shown = [len(r.tracks) for r in pipe.run([FRAME] * 7)]
    assert shown == ([2, 0, 0, 2, 0, 0, 2] if hidden else [2] * 7)
    kalman = Pipeline(
        ScriptedDetector(STARTS, VEL), create("kalman"), PipelineConfig(detect_every=3)
    )
    assert kalman.lifecycle.config.min_report_score == 0.0
