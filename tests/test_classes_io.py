"""Classes on the way in (`--classes`, `yolo.classes`) and out (the .txt, csv/jsonl, video
labels, per-class scores): issue 20."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from helpers import REPO, small_sequence

from detectors import classes as selection
from detectors.public import NAMES as PUBLIC_NAMES
from detectors.public import PublicDetections
from detectors.yolo import WEIGHTS_DIR
from mot_pipeline import classes, evaluation, exports, runner
from mot_pipeline.cli.run import main
from mot_pipeline.config import RunConfig, load_config
from mot_pipeline.errors import InputError
from mot_pipeline.motchallenge import GT_STYLE_MOT16, MotRows, read_mot_file
from mot_pipeline.render import TrackRenderer, track_label
from mot_pipeline.types import UNKNOWN_CLASS, Detections, FrameResult, Tracks

COCO = {0: "person", 1: "bicycle", 2: "car", 9: "traffic light", 28: "suitcase"}
PERSON, CAR = 0, 2
MOT_PED, MOT_CAR, MOT_STATIC = 1, 3, 7


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([*map(str, args), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------
# Selection: names, ids, all
# ---------------------------------------------------------------------------------------------


def test_names_ids_and_all_resolve_against_the_model_names():
    assert selection.resolve(["Bicycle", "0", 2, "traffic_light"], COCO, "m") == (1, 0, 2, 9)
    assert selection.resolve(["person", 0], COCO, "m") == (0,)  # one class once
    assert selection.resolve([], COCO, "m") == tuple(sorted(COCO))
    assert selection.normalize("all") == () and selection.normalize(["all"]) == ()
    assert selection.normalize(("person", 3)) == ("person", 3)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(["all", "person"], "cannot be combined"), ([1.5], "name or an id"), ([""], "empty")],
)
def test_bad_selections(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        selection.normalize(value)


def test_unknown_name_lists_close_and_valid_names_on_one_line():
    with pytest.raises(ValueError) as info:
        selection.resolve(["bycicle"], COCO, "detector yolo11n")
    message = str(info.value)
    assert "\n" not in message and "unknown class 'bycicle' for detector yolo11n" in message
    assert "(5 classes: bicycle, person, car" in message and "or all" in message
    with pytest.raises(ValueError, match="no class id 99"):
        selection.resolve([99], COCO, "m")


def test_model_names_come_from_the_exported_metadata(tmp_path):
    names = selection.model_names(WEIGHTS_DIR / "yolo11n_int8_openvino_model")
    assert names is not None and len(names) == 80 and names[28] == "suitcase"
    assert selection.model_names(tmp_path / "model.pt") is None
    assert selection.model_names(tmp_path) is None  # a folder without metadata


def test_run_config_selection_is_checked_before_loading_anything():
    default = RunConfig()
    assert classes.only_person(default)
    several = load_config(yolo={"classes": ["person", "bicycle", "suitcase"]})
    assert not classes.only_person(several)
    assert classes.selected(several, classes.detector_names(several)) == {
        0: "person",
        1: "bicycle",
        28: "suitcase",
    }
    with pytest.raises(InputError, match=r"^--classes / yolo.classes: unknown class 'bycicle'"):
        classes.check(load_config(yolo={"classes": ["bycicle"]}))
    public = load_config(detector="public", yolo={"classes": ["car"]})
    with pytest.raises(InputError, match="for public detections"):
        classes.check(public)
    assert classes.only_person(load_config(detector="public", yolo={"classes": "all"}))
    assert PublicDetections({}).names == PUBLIC_NAMES == {0: "person"}


def test_yaml_classes_accept_names_ids_and_all(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("yolo:\n  classes: [person, 2, Suitcase]\noutput:\n  formats: [jsonl]\n")
    config = load_config(path)
    assert config.yolo.classes == ("person", 2, "suitcase")
    assert config.output.formats == ("mot", "jsonl")  # the .txt is always written
    path.write_text("yolo:\n  classes: all\n")
    assert load_config(path).yolo.classes == ()
    path.write_text("yolo:\n  classes: [person, all]\n")
    with pytest.raises(InputError, match=r"c.yaml:yolo: classes: 'all' keeps every class"):
        load_config(path)


def test_cli_unknown_class_is_one_line_exit_2_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys, REPO / "samples" / "TUD-Campus", "--classes", "bycicle", "-o", out
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "unknown class 'bycicle'" in err and "bicycle" in err
    assert not out.exists()
    seq = REPO / "samples" / "TUD-Campus"
    code, _, err = run_cli(capsys, seq, "--detector", "public", "--classes", "car", "-o", out)
    assert code == 2 and "public detections (1 class: person" in err and not out.exists()


# ---------------------------------------------------------------------------------------------
# Result files
# ---------------------------------------------------------------------------------------------


def _results() -> list[FrameResult]:
    """Two frames: a person (detected, then propagated), a car, and a given box (unknown)."""
    boxes = [[10, 20, 50, 120], [100, 100, 180, 150], [200, 10, 230, 40]]
    first = Tracks([1, 2, 3], boxes, [0.9, 0.8, 0.7], [True, True, False], [0, 2, -1])
    moved = np.asarray(boxes, np.float32) + 2
    second = Tracks([1, 2, 3], moved, [0.55, float("nan"), 0.6], [False, True, False], [0, 2, -1])
    return [FrameResult(0, first), FrameResult(1, second)]


def test_txt_holds_person_and_unknown_tracks_and_other_formats_every_class(tmp_path):
    keep = classes.benchmark_classes(COCO)
    with exports.TrackWriter(tmp_path, ["SEQ"], ("mot", "csv", "jsonl"), COCO, keep) as w:
        for r in _results():
            w.add(r)
    txt = (tmp_path / "SEQ.txt").read_text().splitlines()
    assert txt == [
        "1,1,11.000,21.000,40.000,100.000,0.900,-1,-1,-1",
        "1,3,201.000,11.000,30.000,30.000,0.700,-1,-1,-1",
        "2,1,13.000,23.000,40.000,100.000,0.550,-1,-1,-1",
        "2,3,203.000,13.000,30.000,30.000,0.600,-1,-1,-1",
    ]
    with open(tmp_path / "SEQ.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [tuple(r.values()) for r in rows[:3]] == [
        ("0", "1", "0", "person", "0.900", "10.000", "20.000", "50.000", "120.000", "1"),
        ("0", "2", "2", "car", "0.800", "100.000", "100.000", "180.000", "150.000", "1"),
        ("0", "3", "-1", "", "0.700", "200.000", "10.000", "230.000", "40.000", "0"),
    ]
    assert rows[4]["score"] == ""  # a NaN score
    lines = [json.loads(x) for x in (tmp_path / "SEQ.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and lines[1] == {
        "frame": 0,
        "id": 2,
        "class_id": 2,
        "class_name": "car",
        "score": 0.8,
        "box": [100.0, 100.0, 180.0, 150.0],
        "detected": True,
    }
    assert lines[2]["class_name"] is None and lines[4]["score"] is None


def test_track_writer_writes_nothing_on_an_exception(tmp_path):
    with (
        pytest.raises(RuntimeError),
        exports.TrackWriter(tmp_path, ["A", "B"], ("mot", "csv"), COCO, frozenset({0})) as writer,
    ):
        writer.add(_results()[0])
        raise RuntimeError("interrupted")
    assert not list(tmp_path.iterdir())


def test_formats_default_adds_csv_only_when_other_classes_are_tracked():
    config = exports.OutputConfig()
    assert exports.formats(config, only_person=True) == ("mot",)
    assert exports.formats(config, only_person=False) == ("mot", "csv")
    assert exports.formats(exports.OutputConfig(("mot",)), only_person=False) == ("mot",)
    with pytest.raises(ValueError, match="formats must be some of"):
        exports.OutputConfig(("xml",))


def test_public_run_with_formats_keeps_the_txt_and_publishes_all_at_once(tmp_path, capsys):
    seq = small_sequence(tmp_path)
    plain, both = tmp_path / "plain", tmp_path / "both"
    for out, extra in ((plain, []), (both, ["--format", "csv", "jsonl"])):
        code, _, err = run_cli(
            capsys, seq, "--detector", "public", "--tracker", "hold", "-o", out, *extra
        )
        assert code == 0, err
    txt = (both / "TUD-Campus.txt").read_bytes()
    assert txt == (plain / "TUD-Campus.txt").read_bytes()
    assert sorted(p.name for p in plain.iterdir()) == ["TUD-Campus.txt", "metrics.json"]
    with open(both / "TUD-Campus.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    jsonl = (both / "TUD-Campus.jsonl").read_text().splitlines()
    mot = read_mot_file(both / "TUD-Campus.txt", "result")
    assert len(rows) == len(jsonl) == len(mot) > 0
    assert {r["class_name"] for r in rows} == {"person"}
    assert int(rows[0]["frame"]) == int(mot.frames.min())  # both 0-based once read
    # --overwrite without the csv removes the older run's csv: no folder mixes two runs
    code, _, err = run_cli(
        capsys, seq, "--detector", "public", "--tracker", "hold", "-o", both, "--overwrite"
    )
    assert code == 0, err
    assert sorted(p.name for p in both.iterdir()) == ["TUD-Campus.txt", "metrics.json"]


def test_failed_sequence_leaves_no_class_files(tmp_path, capsys):
    seq = small_sequence(tmp_path)
    (seq / "img1" / "000005.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    args = ["--detector", "public", "--tracker", "hold", "--check-frames", "none"]
    code, _, _ = run_cli(capsys, seq, "-o", out, *args, "--format", "csv", "jsonl")
    assert code == 2
    assert sorted(p.name for p in out.iterdir()) == ["failures.txt"]


# ---------------------------------------------------------------------------------------------
# Video labels
# ---------------------------------------------------------------------------------------------


def test_labels_carry_class_name_and_id():
    assert track_label(3, 0, COCO) == "person 3"
    assert track_label(3, 5, COCO) == "c5 3"
    assert track_label(3, UNKNOWN_CLASS, COCO) == "3"
    assert track_label(4, 2, COCO, 0.5) == "car 4 0.50"
    image = np.zeros((120, 200, 3), np.uint8)
    tracks = Tracks([3], [[40, 50, 120, 110]], [0.9], [True], [2])
    named = TrackRenderer(names=COCO).draw(image, tracks, 0)
    plain = TrackRenderer().draw(image, tracks, 0)
    label_rows = slice(30, 50)  # the label sits above the box
    assert (named[label_rows] != plain[label_rows]).any()


# ---------------------------------------------------------------------------------------------
# Per-class scores
# ---------------------------------------------------------------------------------------------

FRAMES = 5
PED_BOX, CAR_BOX, STATIC_BOX = [10, 10, 50, 110], [200, 50, 300, 100], [400, 10, 440, 110]


def _gt() -> MotRows:
    """MOT16-style gt: a pedestrian (flag 1), a car and a static person (flag 0, as MOT17)."""
    objects = [(1, PED_BOX, 1, MOT_PED), (2, CAR_BOX, 0, MOT_CAR), (3, STATIC_BOX, 0, MOT_STATIC)]
    rows = [(f, i, box, flag, cls) for f in range(FRAMES) for i, box, flag, cls in objects]
    frames, ids, boxes, flags, cls = (list(x) for x in zip(*rows, strict=True))
    return MotRows(frames, ids, boxes, flags, cls, np.ones(len(rows)), "gt", GT_STYLE_MOT16)


def _result(tracks: list[tuple[int, list[int], int]]) -> MotRows:
    """Rows of (id, box, detector class) on every frame."""
    rows = [(f, i, box, c) for f in range(FRAMES) for i, box, c in tracks]
    frames, ids, boxes, cls = (list(x) for x in zip(*rows, strict=True))
    n = len(rows)
    return MotRows(frames, ids, boxes, np.ones(n), cls, np.ones(n), "result")


def test_perfect_tracks_score_one_per_class_and_static_persons_are_ignored():
    result = _result([(10, PED_BOX, PERSON), (11, CAR_BOX, CAR), (12, STATIC_BOX, PERSON)])
    report = evaluation.evaluate_per_class([("S", _gt(), result)], {PERSON: "person", CAR: "car"})
    person, car = report["person"]["overall"], report["car"]["overall"]
    assert (person["MOTA"], person["IDF1"], person["FP"], person["num_ignored"]) == (1, 1, 0, 5)
    assert person["HOTA"] == pytest.approx(1.0)
    assert (car["MOTA"], car["IDF1"], car["FP"], car["FN"]) == (1, 1, 0, 0)
    assert car["HOTA"] == pytest.approx(1.0)
    # person = the official protocol on the person tracks
    official = evaluation.evaluate([("S", _gt(), result.select(result.classes == PERSON))])
    assert person == official["overall"]


def test_a_car_track_on_a_pedestrian_does_not_count_for_person():
    result = _result([(10, PED_BOX, CAR), (11, CAR_BOX, CAR)])
    report = evaluation.evaluate_per_class([("S", _gt(), result)], {PERSON: "person", CAR: "car"})
    person, car = report["person"]["overall"], report["car"]["overall"]
    assert (person["MOTA"], person["FN"], person["FP"]) == (0, FRAMES, 0)
    # for car: track 11 is right, track 10 a false positive on every frame
    assert (car["MOTA"], car["FP"], car["FN"]) == (0, FRAMES, 0)
    assert car["IDF1"] == pytest.approx(2 / 3)


def test_classes_without_gt_class_or_mot15_gt_are_not_scored():
    result = _result([(10, PED_BOX, PERSON)])
    assert evaluation.evaluate_per_class([("S", _gt(), result)], {28: "suitcase"}) == {}
    gt = _gt()
    mot15 = MotRows(
        gt.frames, gt.ids, gt.boxes, gt.scores, -np.ones(15), np.ones(15), "gt", "mot15"
    )
    assert evaluation.evaluate_per_class([("S", mot15, result)], {0: "person", 2: "car"}) == {}


class _GtDetector:
    """Detects what the gt holds: pedestrians as persons, cars as cars."""

    def __init__(self, gt: MotRows) -> None:
        self.gt = gt
        self.names = {PERSON: "person", CAR: "car"}

    def __call__(self, frame, frame_index=None) -> Detections:
        rows = self.gt.frame(frame_index)
        classes_ = np.where(rows.classes == MOT_CAR, CAR, PERSON)
        keep = np.isin(rows.classes, (MOT_PED, MOT_CAR))
        return Detections(rows.boxes[keep], np.full(keep.sum(), 0.9), classes_[keep])


def test_run_with_two_classes_reports_per_class_scores(tmp_path, monkeypatch):
    """A MOT16-style sequence with a parked car: the .txt and the official scores keep persons
    only, metrics.json and the table add per-class scores, the csv carries both classes."""
    seq = small_sequence(tmp_path)
    mot15 = (seq / "gt" / "gt.txt").read_text().splitlines()
    ped = [",".join([*row.split(",")[:7], str(MOT_PED), "1"]) for row in mot15]
    car = [f"{f},99,300,300,120,60,0,{MOT_CAR},1" for f in range(1, 7)]
    (seq / "gt" / "gt.txt").write_text("\n".join(ped + car) + "\n")
    gt16 = read_mot_file(seq / "gt" / "gt.txt", "gt")
    monkeypatch.setattr(runner, "make_detector", lambda *a, **k: _GtDetector(gt16))
    config = load_config(tracker="kalman", yolo={"classes": ["person", "car"]})
    logged: list[str] = []
    report = runner.run([seq], tmp_path / "out", config, progress=False, log=logged.append)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "TUD-Campus.csv",
        "TUD-Campus.txt",
        "metrics.json",
    ]
    with open(out / "TUD-Campus.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["class_name"] for r in rows} == {"person", "car"}
    persons = sum(r["class_name"] == "person" for r in rows)
    assert len(read_mot_file(out / "TUD-Campus.txt", "result")) == persons
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["per_class"]) == {"person", "car"}
    assert metrics["per_class"]["car"]["overall"]["MOTA"] == 1.0
    official = {k: v for k, v in metrics["overall"].items() if k not in ("fps", "fps_e2e")}
    assert metrics["per_class"]["person"]["overall"] == official  # same rows, same rule
    assert metrics["overall"]["FP"] == 0  # the car track is not in the .txt
    assert "class car" in logged[-1] and report.metrics is not None


def test_table_lists_per_class_rows():
    result = _result([(10, PED_BOX, PERSON), (11, CAR_BOX, CAR)])
    report = evaluation.evaluate([("S", _gt(), result.select(result.classes == PERSON))])
    report["per_class"] = evaluation.evaluate_per_class(
        [("S", _gt(), result)], {PERSON: "person", CAR: "car"}
    )
    lines = evaluation.format_table(report).splitlines()
    assert lines[-2].startswith("class person") and lines[-1].startswith("class car")
    assert lines[-3].startswith("-") and lines[-4].startswith("OVERALL")
