"""Tracking given boxes with no detector: `Pipeline(None, tracker)`, `add_targets`, and
`mot-run --detector none --init FILE` (`targets.py`, `motchallenge.read_target_boxes`)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, small_sequence

from mot_pipeline.bench.mvot import MvotParams, simulate, target_segments
from mot_pipeline.boxes import iou_matrix
from mot_pipeline.cli.run import main
from mot_pipeline.config import load_config
from mot_pipeline.errors import InputError
from mot_pipeline.motchallenge import read_mot_file, read_target_boxes
from mot_pipeline.pipeline import Pipeline, PipelineConfig
from mot_pipeline.sources import open_sources
from mot_pipeline.targets import TargetsConfig
from trackers import create

FRAME = np.zeros((48, 64, 3), np.uint8)
BOX_TOLERANCE = 2e-3  # px: result files round left, top, width and height to 1e-3
# TUD-Stadtmitte, first FOLLOW_FRAMES frames: three people of frame 1 (walking in the open)
# followed by SiamMT from their gt boxes (default threshold: a lost one counts 0). Measured mean
# IoU with gt over frames 2..40: 0.754 (CPU, f32); the bound leaves room for other machines.
FOLLOW_FRAMES = 40
FOLLOW_IDS = (1, 4, 5)
FOLLOW_MIN_MEAN_IOU = 0.65
MVOT_FRAMES = 30  # of the bundled TUD-Campus sample


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    code = main([*map(str, args), "--quiet", "--threads", "1"])
    out, err = capsys.readouterr()
    return code, out, err


def cropped_sequence(src: Path, tmp_path: Path, frames: int) -> Path:
    """The first `frames` frames of MOTChallenge sequence `src` (images, gt, seqinfo.ini)."""
    seq = tmp_path / src.name
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    for i in range(1, frames + 1):
        shutil.copy(src / "img1" / f"{i:06d}.jpg", seq / "img1")
    rows = (src / "gt" / "gt.txt").read_text().splitlines()
    (seq / "gt" / "gt.txt").write_text(
        "".join(r + "\n" for r in rows if int(r.split(",")[0]) <= frames)
    )
    info = (src / "seqinfo.ini").read_text().splitlines()
    info = [f"seqLength={frames}" if line.startswith("seqLength") else line for line in info]
    (seq / "seqinfo.ini").write_text("\n".join(info) + "\n")
    return seq


def frame_one_rows(seq: Path, ids: tuple[int, ...] | None = None) -> str:
    """gt.txt's frame-1 rows (all their columns), as `awk -F, '$1==1'` gives them."""
    rows = [r for r in (seq / "gt" / "gt.txt").read_text().splitlines() if r.split(",")[0] == "1"]
    return "".join(r + "\n" for r in rows if ids is None or int(r.split(",")[1]) in ids)


# -- the init file ------------------------------------------------------------------------------


def test_reader_converts_rows_to_zero_based_boxes(tmp_path):
    path = tmp_path / "init.txt"
    path.write_text("1,7,11,21,30,40,1,-1,-1,-1\n1, 8, 1, 1, 5, 5\n\n3 7 12.5 22 30 40\n")
    by_frame = read_target_boxes(path, num_frames=5)
    assert sorted(by_frame) == [0, 2]
    ids, boxes = by_frame[0]
    assert ids.tolist() == [7, 8] and ids.dtype == np.int64 and boxes.dtype == np.float32
    # left 11 (1-based) -> x1 10; x2 = x1 + width.
    np.testing.assert_array_equal(boxes, [[10, 20, 40, 60], [0, 0, 5, 5]])
    ids, boxes = by_frame[2]
    assert ids.tolist() == [7]
    np.testing.assert_array_equal(boxes, [[11.5, 21, 41.5, 61]])


MALFORMED = [
    ("", "no target boxes"),
    ("1,1,10,10,20\n", "line 1: 5 columns, a target row needs at least 6"),
    ("1,1,10,10,20,30\n1,2,10,x,20,30\n", "line 2: non-numeric value 'x'"),
    ("1,1,10,10,0,30\n", "line 1: width and height must be > 0"),
    ("1,1,10,10,20,30\n1,1,50,50,20,30\n", "line 2: duplicate id 1 in frame 1"),
    ("1,1,10,10,20,30\n99,2,10,10,20,30\n", "line 2: frame 99 is past the sequence's 6 frames"),
    ("0,1,10,10,20,30\n", "line 1: frame must be >= 1"),
    ("1,-1,10,10,20,30\n", "line 1: id must be >= 1"),
    ("1.5,1,10,10,20,30\n", "line 1: frame must be an integer"),
]


@pytest.mark.parametrize(("content", "fragment"), MALFORMED)
def test_malformed_init_file_is_a_one_line_error(tmp_path, capsys, content, fragment):
    seq = small_sequence(tmp_path)  # 6 frames
    init = tmp_path / "init.txt"
    init.write_text(content)
    with pytest.raises(InputError, match=r"init\.txt"):
        read_target_boxes(init, 6)
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys, seq, "--detector", "none", "--init", init, "--tracker", "hold", "-o", out
    )
    assert_one_line_error(code, err, str(init), fragment)
    assert not list(out.glob("*.txt"))


def test_missing_init_file(tmp_path, capsys):
    seq = small_sequence(tmp_path)
    code, _, err = run_cli(
        capsys, seq, "--detector", "none", "--init", tmp_path / "nope.txt", "-o", tmp_path / "o"
    )
    assert_one_line_error(code, err, "nope.txt", "file not found")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--detector", "none"], "--detector none needs the boxes to follow: --init FILE"),
        (["--detector", "public", "--init", "INIT"], "are for --detector none (not public)"),
        (["--init", "INIT"], "are for --detector none (not yolo11n)"),
        (
            ["--detector", "none", "--init", "INIT", "--classes", "car"],
            "--detector none has none (given boxes have no class)",
        ),
    ],
)
def test_detector_none_and_init_come_together(tmp_path, capsys, args, fragment):
    seq = small_sequence(tmp_path)
    init = tmp_path / "init.txt"
    init.write_text(frame_one_rows(seq))
    args = [str(init) if a == "INIT" else a for a in args]
    code, _, err = run_cli(capsys, seq, *args, "--tracker", "hold", "-o", tmp_path / "out")
    assert_one_line_error(code, err, fragment)


def test_init_takes_one_input(tmp_path, capsys):
    first = small_sequence(tmp_path / "a")
    second = small_sequence(tmp_path / "b")
    (second / "seqinfo.ini").write_text(
        (second / "seqinfo.ini").read_text().replace("name=TUD-Campus", "name=Other")
    )
    second = second.rename(tmp_path / "b" / "Other")
    init = tmp_path / "init.txt"
    init.write_text(frame_one_rows(first))
    code, _, err = run_cli(
        capsys, first, second, "--detector", "none", "--init", init, "-o", tmp_path / "out"
    )
    assert_one_line_error(code, err, "--init gives boxes for one sequence or video, got 2")


def test_yaml_targets_section_and_flags_merge(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("detector: none\npipeline:\n  targets:\n    lost_score: 0.5\n")
    config = load_config(preset, pipeline={"targets": {"refind": True}})
    assert config.detector == "none"
    assert config.pipeline.targets == TargetsConfig(lost_score=0.5, refind=True)
    with pytest.raises(InputError, match="refind"):
        load_config(None, pipeline={"targets": {"refind": 1}})


# -- the lifecycle of given targets, on scripted scores -----------------------------------------


class Scripted:
    """Boxes stay where they were given; the score of id i on frame t is `script[i][t]` (1
    where not scripted). `min_report_score` as `trackers.ReportThreshold`."""

    min_report_score = 0.5

    def __init__(self, script: dict[int, dict[int, float]] | None = None) -> None:
        self.script = script or {}
        self.reset()

    @property
    def ids(self) -> np.ndarray:
        return np.asarray(list(self._boxes), np.int64)

    def reset(self) -> None:
        self._boxes: dict[int, np.ndarray] = {}

    def add(self, frame, boxes, ids, frame_index=None) -> None:
        for i, b in zip(np.asarray(ids).tolist(), boxes, strict=True):
            self._boxes[i] = np.asarray(b, np.float32)

    def remove(self, ids) -> None:
        for i in np.asarray(ids).tolist():
            self._boxes.pop(i, None)

    def propagate(self, frame, frame_index=None):
        ids = list(self._boxes)
        scores = [self.script.get(i, {}).get(frame_index, 1.0) for i in ids]
        return np.stack(list(self._boxes.values())), np.asarray(scores, np.float32)


BOXES = np.float32([[4, 4, 20, 30], [30, 10, 50, 40]])
# id 1 drops below the threshold on frame 2 and comes back on frame 3.
DIP = {1: {2: 0.3, 3: 0.8}}


def reported(pipe: Pipeline, frames: int) -> list[dict[int, float]]:
    out = []
    for _ in range(frames):
        tracks = pipe.step(FRAME).tracks
        out.append(
            dict(
                zip(
                    tracks.ids.tolist(),
                    np.round(tracks.scores.astype(float), 3).tolist(),
                    strict=True,
                )
            )
        )
    return out


BOTH, ONLY_2 = {1: 1, 2: 1}, {2: 1}


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        # The tracker's own threshold (0.5): id 1 is lost at frame 2 and ends.
        (TargetsConfig(), [BOTH, BOTH, ONLY_2, ONLY_2, ONLY_2]),
        # Re-find: hidden while below, reported again once its score is back.
        (TargetsConfig(refind=True), [BOTH, BOTH, ONLY_2, {1: 0.8, 2: 1}, BOTH]),
        # A threshold of its own; negative: never lost.
        (TargetsConfig(lost_score=0.9), [BOTH, BOTH, ONLY_2, ONLY_2, ONLY_2]),
        (TargetsConfig(lost_score=-1), [BOTH, BOTH, {1: 0.3, 2: 1}, {1: 0.8, 2: 1}, BOTH]),
    ],
)
def test_lost_below_the_threshold_and_refound(targets, expected):
    tracker = Scripted(DIP)
    pipe = Pipeline(None, tracker, PipelineConfig(targets=targets))
    assert pipe.add_targets(BOXES, np.array([1, 2])).tolist() == [1, 2]
    assert reported(pipe, 5) == expected
    assert sorted(tracker.ids.tolist()) == sorted(expected[-1])  # an ended target is gone


def test_lifecycle_threshold_stands_in_for_an_unset_lost_score():
    from mot_pipeline.lifecycle import LifecycleConfig

    config = PipelineConfig(lifecycle=LifecycleConfig(min_report_score=0.2))
    pipe = Pipeline(None, Scripted(DIP), config)
    pipe.add_targets(BOXES, np.array([1, 2]))
    assert [sorted(r) for r in reported(pipe, 4)] == [[1, 2]] * 4


def test_given_frame_reports_the_box_as_detected_and_later_frames_propagate():
    pipe = Pipeline(None, Scripted())
    pipe.add_targets(BOXES, [3, 9])
    first, second = pipe.step(FRAME), pipe.step(FRAME)
    assert first.detections is None and not first.detector_ran
    np.testing.assert_array_equal(first.tracks.boxes, BOXES)
    assert first.tracks.detected.all() and not second.tracks.detected.any()
    assert (first.tracks.classes == -1).all()  # given boxes have no class


def test_targets_added_later_take_the_next_free_ids_and_a_live_id_is_corrected():
    tracker = Scripted()
    pipe = Pipeline(None, tracker)
    pipe.add_targets(BOXES[:1], [5])
    pipe.add_targets(BOXES[1:], frame_index=2)  # no ids: after the largest given (5)
    moved = BOXES[:1] + 7
    pipe.add_targets(moved, [5], frame_index=3)  # a correction of a followed target
    results = [pipe.step(FRAME).tracks for _ in range(4)]
    assert [r.ids.tolist() for r in results] == [[5], [5], [5, 6], [5, 6]]
    np.testing.assert_array_equal(results[3].boxes[0], moved[0])
    assert results[3].detected.tolist() == [True, False]


def test_no_lag_without_a_detector_and_run_keeps_targets_added_before_it():
    pipe = Pipeline(None, Scripted(), PipelineConfig(detect_every=5, lag=3))
    assert pipe.lag == 0
    pipe.add_targets(BOXES)
    assert [r.frame_index for r in pipe.push(FRAME)] == [0]
    pipe.reset()  # forgets scheduled boxes too
    pipe.add_targets(BOXES, frame_index=1)
    results = list(pipe.run([FRAME] * 3))
    assert [r.tracks.ids.tolist() for r in results] == [[], [1, 2], [1, 2]]


@pytest.mark.parametrize(
    ("boxes", "ids", "frame_index", "message"),
    [
        (BOXES, [1, 1], None, "unique"),
        (BOXES, [0, 1], None, ">= 1"),
        (BOXES, [1], None, "1 ids for 2 boxes"),
        (BOXES, [1.5, 2], None, "integers"),
        (BOXES[:, ::-1], None, None, "x2 > x1"),
        (np.float32([[0, 0, np.nan, 4]]), None, None, "finite"),
        (BOXES, None, -1, "past"),
    ],
)
def test_add_targets_refuses_bad_input(boxes, ids, frame_index, message):
    pipe = Pipeline(None, Scripted())
    with pytest.raises(ValueError, match=message):
        pipe.add_targets(boxes, ids, frame_index)


def test_add_targets_needs_a_pipeline_without_detector():
    pipe = Pipeline(lambda frame, frame_index=None: None, Scripted())
    with pytest.raises(ValueError, match="without a detector"):
        pipe.add_targets(BOXES)


def test_an_id_given_twice_for_one_frame_is_refused():
    pipe = Pipeline(None, Scripted())
    pipe.add_targets(BOXES[:1], [1])
    with pytest.raises(ValueError, match="given twice"):
        pipe.add_targets(BOXES[1:], [1])


# -- real sequences -----------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """Torch on one thread: on the shared 2-core machine two threads run several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_init_follows_three_gt_boxes_on_tud_stadtmitte(mot_dir, tmp_path, capsys):
    seq = cropped_sequence(mot_dir / "TUD-Stadtmitte", tmp_path, FOLLOW_FRAMES)
    init = tmp_path / "init.txt"
    init.write_text(frame_one_rows(seq, FOLLOW_IDS))  # gt rows: extra columns ignored
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys, seq, "--detector", "none", "--init", init, "--no-eval", "-o", out
    )
    assert code == 0, err
    result = read_mot_file(out / f"{seq.name}.txt", "result")
    gt = read_mot_file(seq / "gt" / "gt.txt", "gt")
    assert set(result.ids.tolist()) == set(FOLLOW_IDS)  # the file's ids
    assert ((result.scores > 0) & (result.scores <= 1)).all()  # the estimator's scores
    first = result.frame(0)
    np.testing.assert_allclose(
        first.boxes,
        gt.frame(0).select(np.isin(gt.frame(0).ids, FOLLOW_IDS)).boxes,
        atol=BOX_TOLERANCE,
    )
    assert (first.scores == 1).all()
    ious = []
    for t in range(1, FOLLOW_FRAMES):
        for i in FOLLOW_IDS:
            g, r = (
                gt.select((gt.frames == t) & (gt.ids == i)),
                result.select((result.frames == t) & (result.ids == i)),
            )
            if len(g):  # a missing result row (lost) counts 0
                ious.append(iou_matrix(r.boxes, g.boxes)[0, 0] if len(r) else 0.0)
    assert np.mean(ious) > FOLLOW_MIN_MEAN_IOU, np.mean(ious)
    # Still followed at the last frame: the two that are in it.
    last = result.frame(FOLLOW_FRAMES - 1)
    assert set(last.ids.tolist()) >= {4, 5}


class Recorder:
    """An estimator that keeps what `propagate` returned, by (frame, id)."""

    def __init__(self, inner) -> None:
        self.inner, self.boxes = inner, {}

    ids = property(lambda self: self.inner.ids)

    def add(self, frame, boxes, ids, frame_index=None) -> None:
        self.inner.add(frame, boxes, ids, frame_index)

    def remove(self, ids) -> None:
        self.inner.remove(ids)

    def reset(self) -> None:
        self.inner.reset()
        self.boxes = {}

    def propagate(self, frame, frame_index=None):
        boxes, scores = self.inner.propagate(frame, frame_index)
        for i, b in zip(self.inner.ids.tolist(), boxes, strict=True):
            self.boxes[(frame_index, i)] = np.array(b)
        return boxes, scores


def test_init_from_gt_matches_mot_bench_mvot(tmp_path, capsys, one_thread):
    """`mot-run --detector none --init` (never lost) gives, box for box, what `mot-bench mvot`
    follows for the targets present from frame 1 to the end (no failure: failure_iou < 0), and
    so its accuracy too."""
    seq = small_sequence(tmp_path, MVOT_FRAMES)
    gt = read_mot_file(seq / "gt" / "gt.txt", "gt")
    whole = [s for s in target_segments(gt) if s.frames[0] == 0 and s.frames[-1] == MVOT_FRAMES - 1]
    assert len(whole) >= 3
    segments = [dataclasses.replace(s, id=s.object_id) for s in whole]  # the same ids
    ids = tuple(s.object_id for s in segments)
    params = MvotParams(failure_iou=-1.0)
    mvot = Recorder(create("siammt"))
    tally = simulate(mvot, open_sources(seq)[0].frames(), segments, params)
    assert tally.failures == 0

    init = tmp_path / "init.txt"
    init.write_text(frame_one_rows(seq, ids))
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys,
        seq,
        "--detector",
        "none",
        "--init",
        init,
        "--lost-score",
        "-1",
        "--no-eval",
        "-o",
        out,
    )
    assert code == 0, err
    result = read_mot_file(out / f"{seq.name}.txt", "result")
    assert len(result) == len(ids) * MVOT_FRAMES  # every target on every frame
    iou_sum, scored = 0.0, 0
    for t in range(1, MVOT_FRAMES):
        for i in ids:
            row = result.select((result.frames == t) & (result.ids == i))
            np.testing.assert_allclose(row.boxes[0], mvot.boxes[(t, i)], atol=BOX_TOLERANCE)
            if t > params.burn_in:
                iou_sum += iou_matrix(row.boxes, gt.select((gt.frames == t) & (gt.ids == i)).boxes)[
                    0, 0
                ]
                scored += 1
    assert scored == tally.scored
    assert iou_sum / scored == pytest.approx(tally.metrics()["accuracy"], abs=1e-3)
