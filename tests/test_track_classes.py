"""Tracks keep a class: votes against one-frame flips, within-class association, per-class
track buffers; synthetic detections with known motion and classes."""

import typing

import numpy as np
import pytest
from helpers import SAMPLE

from association import CascadeConfig, TrackGroups, match_cascade
from mot_pipeline import Detections, Pipeline
from mot_pipeline.lifecycle import Lifecycle, LifecycleConfig
from mot_pipeline.pipeline import PipelineConfig
from mot_pipeline.track_classes import ClassVotes, resolve_class_keys
from mot_pipeline.types import UNKNOWN_CLASS, Tracks
from trackers import create

FRAME = np.zeros((240, 320, 3), np.uint8)
PERSON, BICYCLE, SUITCASE = 0, 1, 28


class ClassedDetector:
    """Objects moving at constant velocity, each with a class; `flips` maps a frame to
    {object index: class reported on that frame instead}."""

    names: typing.ClassVar = {PERSON: "person", BICYCLE: "bicycle", SUITCASE: "suitcase"}

    def __init__(self, starts, velocities, classes, flips=None, score=0.9):
        self.starts = np.asarray(starts, np.float32)
        self.velocities = np.asarray(velocities, np.float32)
        self.classes, self.flips, self.score = np.asarray(classes), flips or {}, score

    def truth(self, t: int) -> np.ndarray:
        return self.starts + self.velocities * t

    def __call__(self, frame, frame_index=0):
        classes = self.classes.copy()
        for i, c in self.flips.get(frame_index, {}).items():
            classes[i] = c
        boxes = self.truth(frame_index)
        return Detections(boxes, np.full(len(boxes), self.score), classes)


def owners(result, det) -> dict[int, int]:
    """Track id -> the index of the scripted object nearest its box."""
    truth = det.truth(result.frame_index)
    return {
        int(i): int(np.abs(truth - box).sum(axis=1).argmin())
        for i, box in zip(result.tracks.ids, result.tracks.boxes, strict=True)
    }


def crossing() -> ClassedDetector:
    """A person and a bicycle cross: at the middle frames their boxes overlap almost fully."""
    return ClassedDetector(
        [[20, 60, 60, 160], [260, 66, 300, 166]], [[6, 0, 6, 0], [-6, 0, -6, 0]], [0, 1]
    )


def test_a_single_flipped_detection_never_changes_the_class():
    votes = ClassVotes(min_hits=2)
    votes.append(np.array([PERSON]), np.array([0.5]))
    votes.vote(np.array([0]), np.array([BICYCLE]), np.array([0.9]))  # 0.9 > 0.5, one hit
    assert votes.classes.tolist() == [PERSON]
    votes.vote(np.array([0]), np.array([BICYCLE]), np.array([0.9]))  # 1.8 > 0.5, two hits
    assert votes.classes.tolist() == [BICYCLE]
    votes.vote(np.array([0]), np.array([PERSON]), np.array([0.9]))  # 1.4 < 1.8
    assert votes.classes.tolist() == [BICYCLE]


def test_unknown_class_takes_the_first_known_one_and_rows_follow_keep():
    votes = ClassVotes(min_hits=3)
    votes.append(np.array([UNKNOWN_CLASS, SUITCASE]), np.array([1.0, 0.4]))
    votes.vote(np.array([0]), np.array([PERSON]), np.array([0.3]))
    assert votes.classes.tolist() == [PERSON, SUITCASE]
    votes.keep(np.array([1]))
    assert votes.classes.tolist() == [SUITCASE]


def test_cascade_never_matches_across_classes_unless_allowed():
    boxes = np.array([[0, 0, 10, 10], [100, 0, 110, 10]], np.float32)
    dets = Detections(boxes, [0.9, 0.9], [BICYCLE, PERSON])
    groups = TrackGroups(np.ones(2, bool), np.zeros(2, bool))
    scores = np.ones(2, np.float32)
    classes = np.array([PERSON, PERSON])
    strict = match_cascade(boxes, scores, groups, dets, track_classes=classes)
    assert strict.matches.tolist() == [[1, 1]] and strict.unmatched_tracks.tolist() == [0]
    agnostic = CascadeConfig(cross_class_factor=1.0)
    loose = match_cascade(boxes, scores, groups, dets, agnostic, track_classes=classes)
    assert sorted(loose.matches.tolist()) == [[0, 0], [1, 1]]
    unknown = np.array([UNKNOWN_CLASS, PERSON])
    assert len(match_cascade(boxes, scores, groups, dets, track_classes=unknown).matches) == 2
    with pytest.raises(ValueError, match="cross_class_factor"):
        CascadeConfig(cross_class_factor=1.5)


def test_penalty_prefers_the_same_class_when_boxes_tie():
    track = np.array([[0, 0, 10, 10]], np.float32)
    dets = Detections(np.array([[0, 0, 10, 10], [0, 0, 10, 10.5]]), [0.9, 0.9], [BICYCLE, PERSON])
    groups = TrackGroups(np.ones(1, bool), np.zeros(1, bool))
    config = CascadeConfig(cross_class_factor=0.5)
    result = match_cascade(track, np.ones(1), groups, dets, config, track_classes=np.array([0]))
    assert result.matches.tolist() == [[0, 1]]


@pytest.mark.parametrize("tracker", ["kalman", "hold"])
@pytest.mark.parametrize("every", [1, 3])
def test_two_classes_crossing_never_swap_ids(tracker, every):
    det = crossing()
    pipe = Pipeline(det, create(tracker), PipelineConfig(detect_every=every))
    results = list(pipe.run([FRAME] * 41))
    classes_of: dict[int, set[int]] = {}
    for r in results:
        for i, c in zip(r.tracks.ids.tolist(), r.tracks.classes.tolist(), strict=True):
            classes_of.setdefault(i, set()).add(c)
    assert classes_of == {1: {PERSON}, 2: {BICYCLE}}
    # Near the crossing the nearest-box test is ambiguous: judge ids by class instead.
    for r in results:
        assert dict(zip(r.tracks.ids.tolist(), r.tracks.classes.tolist(), strict=True)) == {
            1: PERSON,
            2: BICYCLE,
        }
    assert owners(results[0], det) == owners(results[-1], det) == {1: 0, 2: 1}


def test_class_agnostic_matching_would_swap_them():
    """The crossing above is hard: without classes the tracks can take each other's boxes.
    (Documents what within-class association protects against; kalman keeps them apart by
    motion, hold cannot.)"""
    det = crossing()
    config = PipelineConfig(detect_every=3, association=CascadeConfig(cross_class_factor=1.0))
    results = list(Pipeline(det, create("hold"), config).run([FRAME] * 41))
    assert owners(results[0], det) == {1: 0, 2: 1}
    assert owners(results[-1], det) == {1: 1, 2: 0}  # swapped


@pytest.mark.parametrize("factor", [0.0, 0.5, 1.0])
def test_a_one_frame_class_flip_does_not_end_the_track(factor):
    det = ClassedDetector([[20, 60, 60, 160]], [[2, 0, 2, 0]], [PERSON], flips={6: {0: BICYCLE}})
    config = PipelineConfig(detect_every=2, association=CascadeConfig(cross_class_factor=factor))
    results = list(Pipeline(det, create("kalman"), config).run([FRAME] * 15))
    assert all(r.tracks.ids.tolist() == [1] for r in results)
    assert all(r.tracks.classes.tolist() == [PERSON] for r in results)


def test_track_buffer_by_class_by_name_or_id():
    config = LifecycleConfig(track_buffer=30, track_buffer_by_class={"car": 90, 28: 15})
    life = Lifecycle(config, 30.0, 1, {2: "car", 28: "suitcase"})
    assert life.max_age == 30 and life.max_age_by_class == {2: 90, 28: 15}
    assert Lifecycle(LifecycleConfig(track_buffer_by_class={"Car": 9}), 30.0, 1, {2: "car"})
    with pytest.raises(ValueError, match="unknown class 'bus'"):
        Lifecycle(LifecycleConfig(track_buffer_by_class={"bus": 9}), 30.0, 1, {2: "car"})
    with pytest.raises(ValueError, match="track buffers"):
        LifecycleConfig(track_buffer_by_class={"car": -1})
    assert resolve_class_keys({"3": 5}, None) == {3: 5}


def test_per_class_buffer_ends_one_class_sooner():
    # Both objects vanish after frame 0; the suitcase's buffer (2 frames) ends it first.
    class Vanish(ClassedDetector):
        def __call__(self, frame, frame_index=0):
            return super().__call__(frame, 0) if frame_index == 0 else Detections.empty()

    det = Vanish([[20, 60, 60, 160], [200, 60, 240, 160]], [[0] * 4] * 2, [PERSON, SUITCASE])
    life = LifecycleConfig(track_buffer=10, track_buffer_by_class={"suitcase": 2})
    pipe = Pipeline(det, create("hold"), PipelineConfig(lag=0, lifecycle=life), frame_rate=30)
    for _ in range(5):
        pipe.step(FRAME)
    assert pipe.lifecycle.ids.tolist() == [1] and pipe.lifecycle.classes.tolist() == [PERSON]


def test_tracks_default_to_unknown_class_and_check_length():
    tracks = Tracks([1], [[0, 0, 1, 1]], [1.0])
    assert tracks.classes.tolist() == [UNKNOWN_CLASS]
    with pytest.raises(ValueError, match="classes"):
        Tracks([1], [[0, 0, 1, 1]], [1.0], classes=[1, 2])


def test_a_bad_class_in_track_buffer_by_class_is_one_line_before_any_work(tmp_path, capsys):
    from mot_pipeline.cli.run import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("pipeline:\n  lifecycle:\n    track_buffer_by_class: {bus: 60, carr: 9}\n")
    code = main([str(SAMPLE), "--config", str(cfg), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "track_buffer_by_class" in err and "'carr'" in err and "car" in err
    assert not (tmp_path / "out" / "TUD-Campus.txt").exists()
