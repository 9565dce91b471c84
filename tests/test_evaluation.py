"""Scores: hand-computed cases, the official MOT15/MOT16+ rules, and agreement with TrackEval."""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import MOT_DIR

from mot_pipeline.boxes import iou_matrix
from mot_pipeline.errors import InputError
from mot_pipeline.evaluation import (
    METRIC_KEYS,
    SequencePair,
    evaluate,
    evaluate_sequence,
    format_table,
    preprocess_sequence,
    write_metrics_json,
)
from mot_pipeline.motchallenge import (
    MotRows,
    SequenceInfo,
    read_mot_file,
    read_seqinfo,
    write_result_rows,
)

TOL = 1e-6


def _read(tmp_path: Path, kind: str, lines: list[str], name: str | None = None) -> MotRows:
    path = tmp_path / (name or f"{kind}.txt")
    path.write_text("".join(f"{ln}\n" for ln in lines))
    return read_mot_file(path, kind)


def _seq(name: str) -> Path:
    seq = MOT_DIR / name
    if not (seq / "gt" / "gt.txt").is_file():
        pytest.skip(f"shared sequence {name} not available")
    return seq


def _as_result(rows: MotRows) -> MotRows:
    return MotRows(rows.frames, rows.ids, rows.boxes, rows.scores, np.full(len(rows), -1),
                   rows.visibility, kind="result")  # fmt: skip


def _link_detections(det: MotRows, min_iou: float = 0.3) -> MotRows:
    """Made-up ids for public detections: greedy IoU linking to the previous frame."""
    ids = np.zeros(len(det), np.int64)
    next_id, prev = 1, np.zeros(0, np.int64)
    for _, idx in sorted(det.frame_groups().items()):
        iou = iou_matrix(det.boxes[prev], det.boxes[idx])
        taken: set[int] = set()
        for j, row in enumerate(idx):
            i = int(np.argmax(iou[:, j])) if len(prev) else -1
            if i >= 0 and iou[i, j] > min_iou and i not in taken:
                taken.add(i)
                ids[row] = ids[prev[i]]
            else:
                ids[row], next_id = next_id, next_id + 1
        prev = idx
    return MotRows(det.frames, ids, det.boxes, det.scores, det.classes, det.visibility)


def _perturb(gt: MotRows, seed: int = 0) -> MotRows:
    """A plausible tracker output from targets: jitter, dropped rows, swapped ids, clutter."""
    rng = np.random.default_rng(seed)
    t = gt.select((gt.scores != 0) & (rng.uniform(size=len(gt)) > 0.1))
    wh = t.boxes[:, 2:] - t.boxes[:, :2]
    boxes = t.boxes + rng.normal(0, 0.12, size=(len(t), 4)) * np.tile(wh, 2)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    ids = t.ids.copy()
    # Swap the labels of the two longest tracks after the middle of their common frames.
    labels, counts = np.unique(ids, return_counts=True)
    first, second = labels[np.argsort(-counts, kind="stable")][:2]
    common = np.intersect1d(t.frames[ids == first], t.frames[ids == second])
    late = t.frames > np.median(common)
    ids[late & (t.ids == first)], ids[late & (t.ids == second)] = second, first
    n_fp = len(t) // 10
    xy = rng.uniform(0, 300, size=(n_fp, 2))
    clutter = np.concatenate([xy, xy + rng.uniform(20, 80, size=(n_fp, 2))], axis=1)
    frames = np.concatenate([t.frames, rng.choice(np.unique(t.frames), n_fp)])
    ids = np.concatenate([ids, 10_000 + np.arange(n_fp)])
    boxes = np.concatenate([boxes, clutter])
    ones = np.ones(len(frames))
    return MotRows(frames, ids, boxes, ones, -ones, ones, kind="result")


def _trackeval_reference(
    tmp_path: Path, sequences: dict[str, tuple[Path, Path, int]], benchmark: str
) -> dict:
    """Run TrackEval's own file-based MOTChallenge evaluation (loader + preprocessing +
    HOTA/CLEAR/Identity). `sequences`: name -> (gt file, result file, length)."""
    import trackeval

    gt_root, tr_root = tmp_path / "te_gt", tmp_path / "te_trackers"
    for name, (gt_file, result_file, length) in sequences.items():
        (gt_root / name / "gt").mkdir(parents=True)
        shutil.copy(gt_file, gt_root / name / "gt" / "gt.txt")
        (gt_root / name / "seqinfo.ini").write_text(f"[Sequence]\nseqLength={length}\n")
        (tr_root / "t" / "data").mkdir(parents=True, exist_ok=True)
        shutil.copy(result_file, tr_root / "t" / "data" / f"{name}.txt")
    dataset_config = {
        "GT_FOLDER": str(gt_root),
        "TRACKERS_FOLDER": str(tr_root),
        "OUTPUT_FOLDER": str(tmp_path / "te_out"),
        "BENCHMARK": benchmark,
        "SKIP_SPLIT_FOL": True,
        "SEQ_INFO": dict.fromkeys(sequences),
        "PRINT_CONFIG": False,
    }
    eval_config = {
        "USE_PARALLEL": False,
        "PRINT_RESULTS": False,
        "PRINT_CONFIG": False,
        "TIME_PROGRESS": False,
        "OUTPUT_SUMMARY": False,
        "OUTPUT_DETAILED": False,
        "PLOT_CURVES": False,
        "LOG_ON_ERROR": None,
    }
    quiet = {"PRINT_CONFIG": False}
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = trackeval.Evaluator(eval_config)
        dataset = trackeval.datasets.MotChallenge2DBox(dataset_config)
        metrics = [
            trackeval.metrics.HOTA(),
            trackeval.metrics.CLEAR(quiet),
            trackeval.metrics.Identity(quiet),
        ]
        results, _ = evaluator.evaluate([dataset], metrics)
    per_seq = results["MotChallenge2DBox"]["t"]
    return {k: v["pedestrian"] for k, v in per_seq.items()}


def _assert_matches_trackeval(ours: dict, ref: dict) -> None:
    assert ours["MOTA"] == pytest.approx(ref["CLEAR"]["MOTA"], abs=TOL)
    assert ours["IDF1"] == pytest.approx(ref["Identity"]["IDF1"], abs=TOL)
    assert ours["HOTA"] == pytest.approx(float(np.mean(ref["HOTA"]["HOTA"])), abs=TOL)
    assert ours["MOTP"] == pytest.approx(ref["CLEAR"]["MOTP"], abs=1e-5)  # float32 boxes
    assert (ours["IDSW"], ours["FP"], ours["FN"]) == (
        ref["CLEAR"]["IDSW"],
        ref["CLEAR"]["CLR_FP"],
        ref["CLEAR"]["CLR_FN"],
    )


# ------------------------------------------------------------------------- hand-computed cases

# MOT15-style gt: two targets, 10x10 px, A at left 1 and B at left 101, frames 1-3.
HAND_GT = [
    "1,1,1,1,10,10,1,-1,-1,-1",
    "1,2,101,1,10,10,1,-1,-1,-1",
    "2,1,1,1,10,10,1,-1,-1,-1",
    "2,2,101,1,10,10,1,-1,-1,-1",
    "3,1,1,1,10,10,1,-1,-1,-1",
    "3,2,101,1,10,10,1,-1,-1,-1",
]
HAND_RESULT = [
    "1,10,2,1,10,10",  # on A, 1 px right: IoU = 90 / 110 = 9/11
    "1,20,101,1,10,10",  # on B
    "2,10,1,1,10,10",
    "2,20,101,1,10,10",
    "2,30,201,1,10,10",  # nothing there: FP
    "3,30,1,1,10,10",  # gt 1 now covered by id 30: IDSW; gt 2 uncovered: FN
]


def test_hand_computed_clear_and_identity(tmp_path: Path) -> None:
    gt = _read(tmp_path, "gt", HAND_GT)
    result = _read(tmp_path, "result", HAND_RESULT)
    m = evaluate_sequence(gt, result)
    # 6 targets; TP 5, FP 1, FN 1, IDSW 1 -> MOTA = 1 - (1 + 1 + 1) / 6 = 0.5.
    assert (m["FP"], m["FN"], m["IDSW"], m["num_frames"]) == (1, 1, 1, 3)
    assert m["MOTA"] == pytest.approx(0.5, abs=TOL)
    # Identity: best one-to-one id map is 1<->10 (frames 1, 2) and 2<->20 (frames 1, 2):
    # IDTP 4 of 6 gt and 6 predicted boxes -> IDF1 = 2 * 4 / (6 + 6) = 2/3.
    assert m["IDF1"] == pytest.approx(2 / 3, abs=TOL)
    # MOTP: mean IoU of the 5 matches = (9/11 + 4) / 5.
    assert m["MOTP"] == pytest.approx((9 / 11 + 4) / 5, abs=TOL)
    assert m["Recall"] == pytest.approx(5 / 6, abs=TOL)
    assert m["Precision"] == pytest.approx(5 / 6, abs=TOL)
    assert list(m)[: len(METRIC_KEYS)] == list(METRIC_KEYS)
    assert all(isinstance(m[k], int) for k in ("IDSW", "FP", "FN", "num_frames"))


def test_hand_computed_hota(tmp_path: Path) -> None:
    # gt 1 on A (frames 1-2) is covered by id 1 then id 2; gt 2 on B by id 3 throughout;
    # every box exact, so all 19 alpha thresholds agree and DetA = 1.
    gt = _read(tmp_path, "gt", HAND_GT[:4])
    result = _read(
        tmp_path, "result", ["1,1,1,1,10,10", "1,3,101,1,10,10", "2,2,1,1,10,10", "2,3,101,1,10,10"]
    )
    info = SequenceInfo("HAND", 25.0, length=5, width=200, height=100)
    m = evaluate_sequence(gt, result, info)
    # AssA: the TPs of (1,1) and (1,2) each score 1 / (2 + 1 - 1) = 1/2, the two of (2,3)
    # score 2 / (2 + 2 - 2) = 1 -> AssA = (1/2 + 1/2 + 1 + 1) / 4 = 3/4; HOTA = sqrt(3/4).
    assert m["DetA"] == pytest.approx(1.0, abs=TOL)
    assert m["AssA"] == pytest.approx(0.75, abs=TOL)
    assert m["HOTA"] == pytest.approx(math.sqrt(0.75), abs=TOL)
    # MOTA = 1 - 1 IDSW / 4; IDF1 = 2 * (1 + 2) / (4 + 4).
    assert m["MOTA"] == pytest.approx(0.75, abs=TOL)
    assert m["IDF1"] == pytest.approx(0.75, abs=TOL)
    assert m["num_frames"] == 5  # seqinfo's length, empty frames included


def test_rows_beyond_seqinfo_length_are_rejected(tmp_path: Path) -> None:
    gt = _read(tmp_path, "gt", HAND_GT)
    result = _read(tmp_path, "result", [*HAND_RESULT, "9,10,1,1,10,10"], name="late.txt")
    info = SequenceInfo("HAND", 25.0, length=3, width=200, height=100)
    with pytest.raises(InputError, match=r"late\.txt: has rows for frame 9 but HAND has 3"):
        evaluate_sequence(gt, result, info)


def test_empty_result_scores_all_targets_missed(tmp_path: Path) -> None:
    gt = _read(tmp_path, "gt", HAND_GT)
    m = evaluate_sequence(gt, _read(tmp_path, "result", []))
    assert (m["FN"], m["FP"], m["IDSW"]) == (6, 0, 0)
    assert m["MOTA"] == pytest.approx(0.0) and m["HOTA"] == pytest.approx(0.0)


# ------------------------------------------------------------------------ official rules

# MOT16/17/20-style gt (9 columns: flag, class, visibility); boxes are left,top,w,h.
TARGET_A, TARGET_B = "11,11,40,90", "201,51,40,100"
STATIC_C, DISTRACTOR_D = "301,201,40,90", "401,51,30,80"
ZERO_PED_E, CAR_F, NON_MOT_G = "501,201,40,100", "51,301,120,60", "251,351,80,60"


def _mot17_gt() -> list[str]:
    rows = []
    for f in range(1, 5):
        rows += [f"{f},1,{TARGET_A},1,1,1.0", f"{f},2,{TARGET_B},1,1,0.8"]
        rows += [f"{f},3,{STATIC_C},0,7,1.0", f"{f},5,{ZERO_PED_E},0,1,0.3"]
        rows += [f"{f},6,{CAR_F},0,3,1.0"]
        if f <= 2:
            rows.append(f"{f},4,{DISTRACTOR_D},0,8,1.0")
        else:
            rows.append(f"{f},7,{NON_MOT_G},0,6,1.0")
    return rows


def _boxes_on(box: str, tid: int, frames: range) -> list[str]:
    return [f"{f},{tid},{box},0.9,-1,-1,-1" for f in frames]


def test_mot17_targets_and_distractors_as_result_score_perfectly(tmp_path: Path) -> None:
    gt = _read(tmp_path, "gt", _mot17_gt())
    lines = _boxes_on(TARGET_A, 1, range(1, 5)) + _boxes_on(TARGET_B, 2, range(1, 5))
    lines += _boxes_on(STATIC_C, 3, range(1, 5)) + _boxes_on(DISTRACTOR_D, 4, range(1, 3))
    m = evaluate_sequence(gt, _read(tmp_path, "result", lines))
    assert (m["MOTA"], m["IDF1"], m["HOTA"]) == pytest.approx((1.0, 1.0, 1.0), abs=TOL)
    assert (m["FP"], m["FN"], m["num_gt"], m["num_ignored"]) == (0, 0, 8, 6)


def test_box_on_distractor_is_not_a_false_positive(tmp_path: Path) -> None:
    gt = _read(tmp_path, "gt", _mot17_gt())
    targets = _boxes_on(TARGET_A, 1, range(1, 5)) + _boxes_on(TARGET_B, 2, range(1, 5))
    near_c = "305,201,40,90"  # IoU 36/44 with the static person: matched, so ignored
    off_c = "321,201,40,90"  # IoU 20/60 < 0.5: not matched, so a false positive
    on = evaluate_sequence(
        gt, _read(tmp_path, "result", targets + _boxes_on(near_c, 9, range(1, 5)))
    )
    assert (on["FP"], on["num_ignored"], on["MOTA"]) == (0, 4, pytest.approx(1.0))
    off = evaluate_sequence(
        gt, _read(tmp_path, "result", targets + _boxes_on(off_c, 9, range(1, 5)))
    )
    assert (off["FP"], off["num_ignored"]) == (4, 0)
    assert off["MOTA"] == pytest.approx(1 - 4 / 8, abs=TOL)


def test_zero_marked_pedestrian_and_car_boxes_count_as_false_positives(tmp_path: Path) -> None:
    # TrackEval only ignores boxes on distractor classes; a box on a zero-marked pedestrian or
    # a car matches no target once those gt rows are dropped, so it is a false positive.
    gt = _read(tmp_path, "gt", _mot17_gt())
    lines = _boxes_on(TARGET_A, 1, range(1, 5)) + _boxes_on(ZERO_PED_E, 5, range(1, 5))
    lines += _boxes_on(CAR_F, 6, range(1, 3))
    m = evaluate_sequence(gt, _read(tmp_path, "result", lines))
    assert (m["FP"], m["FN"], m["num_ignored"]) == (6, 4, 0)


def test_non_mot_vehicle_is_a_distractor_only_in_mot20(tmp_path: Path) -> None:
    gt = _read(tmp_path, "gt", _mot17_gt())
    lines = _boxes_on(TARGET_A, 1, range(1, 5)) + _boxes_on(TARGET_B, 2, range(1, 5))
    result = _read(tmp_path, "result", lines + _boxes_on(NON_MOT_G, 7, range(3, 5)))
    assert evaluate_sequence(gt, result, name="MOT17-02-FRCNN")["FP"] == 2
    mot20 = evaluate_sequence(gt, result, name="MOT20-01")
    assert (mot20["FP"], mot20["num_ignored"]) == (0, 2)


def test_mot15_zero_flag_rows_are_dropped_and_nothing_else(tmp_path: Path) -> None:
    seq = _seq("KITTI-17")
    gt = read_mot_file(seq / "gt" / "gt.txt", "gt")
    info = read_seqinfo(seq)
    targets = gt.select(gt.scores != 0)
    m = evaluate_sequence(gt, _as_result(targets), info)
    assert (m["MOTA"], m["IDF1"], m["HOTA"], m["MOTP"]) == pytest.approx((1, 1, 1, 1), abs=TOL)
    assert m["num_gt"] == len(targets) == int((gt.scores == 1).sum())
    # The whole file as a result: the zero-flag boxes are not ignored in MOT15, so each one
    # is a false positive (as in TrackEval, which skips distractor handling for MOT15).
    everything = evaluate_sequence(gt, _as_result(gt), info)
    assert (everything["FP"], everything["FN"]) == (int((gt.scores == 0).sum()), 0)


@pytest.mark.parametrize("name", ["TUD-Campus", "PETS09-S2L1"])
def test_gt_as_result_scores_one_on_real_sequences(name: str) -> None:
    seq = _seq(name)
    gt = read_mot_file(seq / "gt" / "gt.txt", "gt")
    m = evaluate_sequence(gt, _as_result(gt.select(gt.scores != 0)), read_seqinfo(seq))
    assert (m["MOTA"], m["IDF1"], m["HOTA"]) == pytest.approx((1.0, 1.0, 1.0), abs=TOL)
    assert (m["FP"], m["FN"], m["IDSW"]) == (0, 0, 0)


# ------------------------------------------------------------------ agreement with TrackEval


def test_motmetrics_scores_equal_trackeval_metrics_on_the_same_data() -> None:
    from trackeval.metrics import CLEAR, Identity

    seq = _seq("TUD-Campus")
    gt = read_mot_file(seq / "gt" / "gt.txt", "gt")
    result = _link_detections(read_mot_file(seq / "det" / "det.txt", "det"))
    info = read_seqinfo(seq)
    m = evaluate_sequence(gt, result, info)
    data = preprocess_sequence(gt, result, info.length, info.name).trackeval_data()
    clear = CLEAR({"PRINT_CONFIG": False}).eval_sequence(data)
    identity = Identity({"PRINT_CONFIG": False}).eval_sequence(data)
    assert m["MOTA"] == pytest.approx(clear["MOTA"], abs=TOL)
    assert m["IDF1"] == pytest.approx(identity["IDF1"], abs=TOL)
    assert m["MOTP"] == pytest.approx(clear["MOTP"], abs=TOL)
    assert (m["IDSW"], m["FP"], m["FN"]) == (clear["IDSW"], clear["CLR_FP"], clear["CLR_FN"])
    assert m["IDSW"] > 0 and m["FP"] > 0 and m["FN"] > 0  # a case that exercises everything


def test_mot15_sequences_match_trackeval_end_to_end(tmp_path: Path) -> None:
    campus, kitti = _seq("TUD-Campus"), _seq("KITTI-17")
    result_dir = tmp_path / "results"
    campus_gt = read_mot_file(campus / "gt" / "gt.txt", "gt")
    kitti_gt = read_mot_file(kitti / "gt" / "gt.txt", "gt")
    det = read_mot_file(campus / "det" / "det.txt", "det")
    write_result_rows(result_dir / "TUD-Campus.txt", _link_detections(det))
    write_result_rows(result_dir / "KITTI-17.txt", _perturb(kitti_gt))
    pairs = [
        SequencePair(
            s.name, gt, read_mot_file(result_dir / f"{s.name}.txt", "result"), read_seqinfo(s)
        )
        for s, gt in ((campus, campus_gt), (kitti, kitti_gt))
    ]
    report = evaluate(pairs)
    ref = _trackeval_reference(
        tmp_path,
        {p.name: (MOT_DIR / p.name / "gt" / "gt.txt", p.result.path, p.info.length) for p in pairs},
        benchmark="MOT15",
    )
    for p in pairs:
        _assert_matches_trackeval(report["sequences"][p.name], ref[p.name])
        assert report["sequences"][p.name]["IDSW"] > 0
    _assert_matches_trackeval(report["overall"], ref["COMBINED_SEQ"])
    seqs = report["sequences"].values()
    for key in ("FP", "FN", "IDSW", "num_frames", "num_gt"):
        assert report["overall"][key] == sum(m[key] for m in seqs)


def test_mot17_rules_match_trackeval_end_to_end(tmp_path: Path) -> None:
    gt = _read(tmp_path, "gt", _mot17_gt())
    lines = _boxes_on(TARGET_A, 1, range(1, 3)) + _boxes_on(TARGET_A, 8, range(3, 5))  # IDSW
    lines += _boxes_on("205,55,40,100", 2, range(1, 4))  # B, jittered; missed in frame 4
    lines += _boxes_on("305,201,40,90", 3, range(1, 5))  # static person: ignored
    lines += _boxes_on(DISTRACTOR_D, 4, range(1, 3))  # distractor: ignored
    lines += _boxes_on(ZERO_PED_E, 5, range(2, 5)) + _boxes_on(NON_MOT_G, 7, range(3, 5))
    lines += _boxes_on("601,401,30,30", 9, range(1, 5))  # clutter
    result = _read(tmp_path, "result", lines)
    m = evaluate_sequence(gt, result, name="MOT17-99-SYN")
    ref = _trackeval_reference(
        tmp_path, {"MOT17-99-SYN": (gt.path, result.path, 4)}, benchmark="MOT17"
    )["MOT17-99-SYN"]
    _assert_matches_trackeval(m, ref)
    # FP: E (3) + G (2, not a distractor outside MOT20) + clutter (4); FN: B in frame 4.
    assert (m["FP"], m["FN"], m["IDSW"], m["num_ignored"]) == (9, 1, 1, 6)


# ----------------------------------------------------------------------------- reporting


def test_table_and_json(tmp_path: Path) -> None:
    gt = _read(tmp_path, "gt", HAND_GT)
    result = _read(tmp_path, "result", HAND_RESULT)
    report = evaluate([("seq-a", gt, result), ("b", gt, _as_result(gt))])
    report["sequences"]["b"]["fps"] = 12.345
    table = format_table(report)
    lines = table.splitlines()
    assert lines[0].split() == [
        "Sequence", "MOTA", "IDF1", "HOTA", "MOTP", "IDSW", "FP", "FN", "Frames", "fps",
    ]  # fmt: skip
    assert len({len(ln) for ln in lines}) == 1  # aligned
    row_a = next(ln for ln in lines if ln.startswith("seq-a")).split()
    assert row_a[1:3] == ["50.0", "66.7"] and row_a[5:9] == ["1", "1", "1", "3"]
    assert row_a[-1] == "-"
    assert next(ln for ln in lines if ln.startswith("b ")).split()[1] == "100.0"
    assert lines[-1].startswith("OVERALL")
    # MOTA over both: 1 - 3 errors / 12 targets.
    assert lines[-1].split()[1] == f"{100 * (1 - 3 / 12):.1f}"

    report["overall"]["MOTA"] = float("nan")  # e.g. no target at all
    path = write_metrics_json(report, tmp_path / "out" / "metrics.json")
    data = json.loads(path.read_text())
    assert set(data) == {"sequences", "overall"} and data["overall"]["MOTA"] is None
    assert data["sequences"]["seq-a"]["IDF1"] == pytest.approx(2 / 3)
    assert set(METRIC_KEYS) <= set(data["sequences"]["b"])
    write_metrics_json(report, path)  # metrics are derived data: replaced without asking
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]
    path.write_text("earlier\n")
    with pytest.raises(InputError, match="exists; pass --overwrite"):
        write_metrics_json(report, path, overwrite=False)
    assert path.read_text() == "earlier\n"


def test_sequence_names_must_be_unique(tmp_path: Path) -> None:
    gt = _read(tmp_path, "gt", HAND_GT)
    with pytest.raises(ValueError, match="unique"):
        evaluate([("a", gt, _as_result(gt)), ("a", gt, _as_result(gt))])


def test_repeated_id_in_a_frame_is_refused() -> None:
    boxes = [[0, 0, 10, 10], [20, 0, 30, 10]]
    gt = MotRows([0, 0], [1, 2], boxes, [1, 1], [-1, -1], [1, 1], kind="gt", style="mot15")
    result = MotRows([0, 0], [5, 5], boxes, [1, 1], [-1, -1], [1, 1])
    with pytest.raises(ValueError, match="repeated id in frame 0"):
        evaluate_sequence(gt, result, name="dup")
