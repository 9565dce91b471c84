"""The motion prior around a scripted appearance estimator: which measurements it uses (logit,
gate, crowding), what it reports, and that it wraps any `Appearance`."""

import numpy as np
import pytest

from trackers import MotionEstimator, PriorBoxes, ReportThreshold
from trackers.motion_prior import Appearance, MotionPrior, MotionPriorConfig, with_motion_prior
from trackers.track_ids import validated

FRAME = np.zeros((200, 300, 3), np.uint8)
CELL = 4.0  # frame px per score-map cell of every scripted target


class ScriptedAppearance:
    """Moves every target by `step` px (x, y) per propagate, with peak logit `logit`; the score
    at the search centre is `centre_score`."""

    def __init__(self, step=(0.0, 0.0), logit: float = 5.0, centre_score: float = 0.25) -> None:
        self.step, self.logit, self.centre_score = np.asarray(step, np.float32), logit, centre_score
        self.min_report_score = 0.9
        self.calls = 0  # propagate calls
        self.reset()

    @property
    def ids(self) -> np.ndarray:
        return self._ids.copy()

    @property
    def cell(self) -> np.ndarray:
        return np.full(len(self._ids), CELL)

    def reset(self) -> None:
        self._ids, self._boxes = np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
        self.last_logits = self.last_centre_scores = np.zeros(0, np.float32)

    def add(self, frame, boxes, ids, frame_index=None) -> None:
        boxes, ids = validated(boxes, ids)
        for box, i in zip(boxes, ids, strict=True):
            rows = np.flatnonzero(self._ids == i)
            if len(rows):
                self._boxes[rows[0]] = box
            else:
                self._ids = np.append(self._ids, i)
                self._boxes = np.concatenate([self._boxes, box[None]])

    def remove(self, ids) -> None:
        keep = ~np.isin(self._ids, ids)
        self._ids, self._boxes = self._ids[keep], self._boxes[keep]

    def propagate(self, frame, frame_index=None):
        self.calls += 1
        self._boxes = self._boxes + np.tile(self.step, 2)
        n = len(self._ids)
        self.last_logits = np.full(n, self.logit, np.float32)
        self.last_centre_scores = np.full(n, self.centre_score, np.float32)
        return self.boxes(), np.full(n, 0.99, np.float32)

    def place(self, boxes) -> None:
        self._boxes = boxes.astype(np.float32)

    def boxes(self) -> np.ndarray:
        return self._boxes.copy()


BOX = np.array([[100.0, 50.0, 140.0, 150.0]], np.float32)


def _tracked(appearance, config=None, boxes=BOX) -> MotionPrior:
    prior = MotionPrior(appearance, config or MotionPriorConfig())
    prior.add(FRAME, boxes, np.arange(1, len(boxes) + 1), 0)
    return prior


def test_wraps_any_appearance_estimator():
    appearance = ScriptedAppearance()
    assert isinstance(appearance, Appearance)
    prior = with_motion_prior(appearance, MotionPriorConfig())
    assert isinstance(prior, MotionEstimator) and isinstance(prior, PriorBoxes)
    assert isinstance(prior, ReportThreshold) and prior.min_report_score == 0.9
    assert with_motion_prior(appearance, None) is appearance


def test_a_plausible_measurement_moves_the_box_towards_it():
    prior = _tracked(ScriptedAppearance(step=(3.0, 0.0)))
    boxes, scores = prior.propagate(FRAME, 1)
    shift = boxes[0, 0] - BOX[0, 0]
    assert prior.last_accepted.tolist() == [True] and 0.0 < shift <= 3.0
    assert scores[0] == np.float32(0.99)  # the peak's score: the measurement was used


@pytest.mark.parametrize(
    ("appearance", "config"),
    [
        (ScriptedAppearance(step=(60.0, 0.0)), None),  # 15 cells in one frame: beyond the gate
        (ScriptedAppearance(step=(3.0, 0.0), logit=-1.0), None),  # below min_logit 0
        (ScriptedAppearance(step=(3.0, 0.0)), MotionPriorConfig(min_logit=6.0)),
    ],
)
def test_implausible_or_weak_measurements_are_dropped(appearance, config):
    """Without a usable measurement the box is the filter's prediction (no velocity yet: it
    stays), and its score is the appearance's score at the search centre."""
    prior = _tracked(appearance, config)
    boxes, scores = prior.propagate(FRAME, 1)
    assert prior.last_accepted.tolist() == [False]
    np.testing.assert_allclose(boxes, BOX, atol=1e-4)
    assert scores[0] == np.float32(0.25)


def test_crowded_tracks_follow_the_prediction_alone():
    """Two boxes overlapping by IoU 0.6 (> occlusion_iou 0.3): neither is measured; with the
    threshold raised above their overlap, both are."""
    pair = np.concatenate([BOX, BOX + np.array([10, 0, 10, 0], np.float32)])
    crowded = _tracked(ScriptedAppearance(step=(3.0, 0.0)), boxes=pair)
    crowded.propagate(FRAME, 1)
    assert crowded.last_accepted.tolist() == [False, False]
    apart = _tracked(
        ScriptedAppearance(step=(3.0, 0.0)), MotionPriorConfig(occlusion_iou=0.7), boxes=pair
    )
    apart.propagate(FRAME, 1)
    assert apart.last_accepted.tolist() == [True, True]


def test_without_fusion_the_appearance_boxes_pass_through_and_the_prior_stays():
    config = MotionPriorConfig(fuse=False)
    prior = _tracked(ScriptedAppearance(step=(60.0, 0.0)), config)
    boxes, scores = prior.propagate(FRAME, 1)
    np.testing.assert_allclose(boxes, BOX + np.array([60, 0, 60, 0]))
    assert scores[0] == np.float32(0.99)
    np.testing.assert_allclose(prior.prior_boxes, BOX, atol=1e-4)  # detection-only filter
    off = _tracked(ScriptedAppearance(), MotionPriorConfig(association_prior=False))
    off.propagate(FRAME, 1)
    assert off.prior_boxes is None


def test_remove_keeps_filter_rows_with_their_tracks():
    pair = np.concatenate([BOX, BOX + np.array([150, 0, 150, 0], np.float32)])
    prior = _tracked(ScriptedAppearance(step=(2.0, 0.0)), boxes=pair)
    prior.remove(np.array([1]))
    boxes, _ = prior.propagate(FRAME, 1)
    assert prior.ids.tolist() == [2] and boxes[0, 0] > pair[1, 0]
    np.testing.assert_allclose(prior.prior_boxes, pair[1:], atol=1e-4)


def test_appearance_every_skips_frames_the_prediction_carries_and_keeps_scores():
    """appearance_every 2: frames 1 and 3 are the filter's prediction alone, with the track's
    last score (1 for a box just set from a detection, then the frame-2 peak's 0.99)."""
    appearance = ScriptedAppearance(step=(3.0, 0.0))
    prior = _tracked(appearance, MotionPriorConfig(appearance_every=2))
    boxes, scores = prior.propagate(FRAME, 1)
    assert appearance.calls == 0 and scores.tolist() == [1.0]
    np.testing.assert_allclose(boxes, BOX, atol=1e-4)  # no velocity yet: it stays
    boxes2, scores2 = prior.propagate(FRAME, 2)
    assert appearance.calls == 1 and prior.last_accepted.tolist() == [True]
    assert scores2[0] == np.float32(0.99) and boxes2[0, 0] > BOX[0, 0]
    boxes3, scores3 = prior.propagate(FRAME, 3)
    assert appearance.calls == 1 and scores3[0] == np.float32(0.99)
    assert prior.last_accepted.tolist() == [False]
    assert boxes3[0, 0] > boxes2[0, 0]  # the velocity the measurement gave carries on
    np.testing.assert_allclose(appearance.boxes(), boxes3)  # the search follows


def test_appearance_every_scores_follow_add_and_remove():
    """A re-detected or new track's score is 1 on skipped frames; removing a track drops its
    row; without a frame index every frame is an appearance frame."""
    pair = np.concatenate([BOX, BOX + np.array([150, 0, 150, 0], np.float32)])
    appearance = ScriptedAppearance(logit=-1.0)  # measurements rejected: centre scores 0.25
    prior = _tracked(appearance, MotionPriorConfig(appearance_every=3), boxes=pair)
    _, scores = prior.propagate(FRAME, 3)
    assert scores.tolist() == [0.25, 0.25]
    prior.add(FRAME, pair[1:] + 2, np.array([2]), 3)
    prior.add(FRAME, BOX + 40, np.array([3]), 3)
    prior.remove(np.array([1]))
    _, scores = prior.propagate(FRAME, 4)
    assert prior.ids.tolist() == [2, 3] and scores.tolist() == [1.0, 1.0]
    prior.propagate(FRAME, None)
    assert appearance.calls == 2


def test_appearance_every_must_be_positive():
    with pytest.raises(ValueError, match="appearance_every"):
        MotionPriorConfig(appearance_every=0)
    with pytest.raises(ValueError, match="needs fuse"):  # else silently every frame
        MotionPriorConfig(appearance_every=2, fuse=False)
