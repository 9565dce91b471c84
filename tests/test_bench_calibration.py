"""`mot-bench calibrate`: the Platt fit, the AUC and the on-target labels on hand-computed
cases; the calibrated score in the trackers; the sub-command end to end on a tiny sequence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import small_sequence

from mot_pipeline.bench import calibration as cal
from mot_pipeline.cli.bench import main
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.response import probability


def test_auc_hand_computed():
    # positives 0.35, 0.8 against negatives 0.1, 0.4: 0.35 beats one, 0.8 both -> 3 / 4
    assert cal.auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], bool)) == 0.75
    assert cal.auc(np.array([1.0, 1.0]), np.array([1, 0], bool)) == 0.5  # a tie counts half
    assert cal.auc(np.array([2.0, 1.0]), np.array([0, 1], bool)) == 0.0
    assert math.isnan(cal.auc(np.array([1.0, 2.0]), np.array([1, 1], bool)))


def test_fit_platt_recovers_a_logistic_model():
    rng = np.random.default_rng(0)
    logits = rng.uniform(-10, 20, 200_000)
    p = 1 / (1 + np.exp(-(0.2 * logits - 1.5)))
    fit = cal.fit_platt(logits, rng.random(len(p)) < p)
    assert fit.scale == pytest.approx(0.2, abs=0.005) and fit.bias == pytest.approx(-1.5, abs=0.05)


def test_fit_platt_separable_and_one_sided():
    # separable data: the loss keeps falling as the scale grows; the fit must stay finite
    fit = cal.fit_platt(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([0, 0, 1, 1], bool))
    assert np.isfinite([fit.scale, fit.bias]).all() and fit.scale > 0
    assert fit.probability(np.array([2.0]))[0] > 0.99
    with pytest.raises(cal.InputError, match="both"):
        cal.fit_platt(np.array([1.0, 2.0]), np.array([1, 1], bool))


def test_raw_logits_invert_the_score():
    logits = np.array([-12.0, -3.0, 0.0, 2.2, 7.5, 15.0], np.float32)
    back = cal.raw_logits(probability(logits))
    assert np.allclose(back[:-1], logits[:-1], atol=1e-3)
    assert abs(back[-1] - 15.0) < 0.5  # float32 scores near 1 keep less of the logit
    assert cal.raw_logits(np.array([1.0]))[0] == cal.LOGIT_LIMIT  # a saturated score


def test_calibrated_probability():
    z = np.array([0.0, 5.0], np.float32)
    assert np.allclose(probability(z, 0.5, -1.0), 1 / (1 + np.exp(-(0.5 * z - 1.0))))
    assert np.array_equal(probability(z), probability(z, 1.0, 0.0))  # identity by default
    assert probability(z).dtype == np.float32
    with pytest.raises(ValueError, match="score_scale"):
        SiamMTConfig(score_scale=0.0)


def test_labeller_follows_the_target_of_the_last_detection():
    a, b = [0, 0, 10, 20], [30, 0, 40, 20]
    objects = {
        0: (np.array([7, 8]), np.array([a, b], np.float32)),
        1: (np.array([7, 8]), np.array([[1, 0, 11, 20], b], np.float32)),
        2: (np.array([8]), np.array([b], np.float32)),  # object 7 is gone
    }
    lab = cal.TargetLabeller(objects)
    ids = np.array([1, 2, 3])
    # frame 0: track 1 detected on object 7, track 2 on object 8, track 3 on nothing
    boxes0 = np.array([a, b, [60, 60, 70, 80]], np.float32)
    rows, labels = lab.frame(0, ids, boxes0, np.array([True, True, True]))
    assert len(rows) == 0 and lab.target == {1: 7, 2: 8, 3: -1}
    # frame 1: track 1 still on 7 (IoU 0.82); track 2 drifted onto object 7's box; track 3
    # has no target, wherever it is
    boxes1 = np.array([[1, 0, 11, 20], [1, 0, 11, 20], [30, 0, 40, 20]], np.float32)
    rows, labels = lab.frame(1, ids, boxes1, np.array([False, False, False]))
    assert rows.tolist() == [0, 1, 2] and labels.tolist() == [True, False, False]
    # frame 2: object 7 left the gt: track 1 is on no target
    rows, labels = lab.frame(2, ids[:1], boxes1[:1], np.array([False]))
    assert labels.tolist() == [False]


def test_reliability_bins_and_summary():
    samples = cal.Samples(
        np.array([0.0, 1.0, 2.0, 3.0]),
        np.array([1, 1, 2, 1], np.int8),
        np.array([0, 1, 0, 1], bool),
        np.zeros(4, np.int64),
        np.full(4, 5),
    )
    rows = cal.reliability(samples, cal.Platt(), bins=2)
    assert [r["count"] for r in rows] == [2, 2]
    assert [r["on_target"] for r in rows] == [0.5, 0.5]
    assert rows[0]["net"] == pytest.approx((0.5 + 1 / (1 + math.exp(-1))) / 2)
    parts = {r["part"]: r for r in cal.summary(samples, cal.Platt())["rows"]}
    assert parts["tracked"]["samples"] == 3 and parts["lost"]["samples"] == 1
    assert parts["all"]["auc"] == 0.75 and parts["k=5"]["samples"] == 4


def test_calibrate_tiny(tmp_path, capsys):
    seq = small_sequence(tmp_path, 12)
    out = tmp_path / "out"
    args = ["calibrate", seq, "-k", "5", "--threads", "1", "-o", out, "--quiet",
            "--cache", tmp_path / "cache"]  # fmt: skip
    code = main(list(map(str, args)))
    _, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads((out / "calibration.json").read_text())
    assert np.isfinite([report["fit"]["scale"], report["fit"]["bias"]]).all()
    assert report["settings"]["detect_every"] == [5]
    parts = {r["part"]: r for r in report["rows"]}
    # 12 frames at k = 5: detector frames 0, 5, 10; the rest are propagated samples
    assert parts["all"]["samples"] > 0 and 0.0 < parts["all"]["on_target"] < 1.0
    assert "score_scale" in (out / "calibration.md").read_text()


def test_calibrate_refuses_a_tracker_without_a_score(tmp_path, capsys):
    preset = tmp_path / "kalman.yaml"
    preset.write_text("tracker: kalman\n")
    seq = small_sequence(tmp_path, 6)
    code = main(["calibrate", str(seq), "--config", str(preset), "-o", str(tmp_path / "o"), "-q"])
    _, err = capsys.readouterr()
    assert code == 2 and "no score to calibrate" in err and "Traceback" not in err
