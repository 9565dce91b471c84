"""`mot-bench`: the three sub-commands on tiny settings, the detection cache, the speed budget,
and the VOT-style metrics on hand-computed cases."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, SAMPLE, SHARED, small_sequence

from mot_pipeline.bench import accuracy, mvot, report, speed, tracker_config, variants
from mot_pipeline.bench import report as report_mod
from mot_pipeline.cli.bench import main
from mot_pipeline.motchallenge import MotRows


def bench(capsys, *args) -> tuple[int, str, str]:
    code = main([*map(str, args), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def png_ok(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------------------------
# speed
# --------------------------------------------------------------------------------------------


def test_speed_tiny(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = bench(
        capsys, "speed", "--resolution", "vga", "--objects", "1", "2", "--methods", "kalman",
        "hold", "--frames", "2", "--warmup", "1", "--source", SAMPLE, "--threads", "1", "-o", out,
        "--no-detector",
    )  # fmt: skip
    assert code == 0, err
    report = load(out / speed.SPEED_FILE)
    rows = report["rows"]
    # --no-detector: no detector is built or timed, and no row has a ratio to one.
    assert report["settings"]["detector"] is None and "detector_rows" not in report
    assert "detector_ms" not in report["summary"]
    assert not any("ratio_to_detector" in r or "detector_ms" in r for r in rows)
    assert [(r["method"], r["N"]) for r in rows] == [
        ("kalman", 1), ("kalman", 2), ("hold", 1), ("hold", 2)
    ]  # fmt: skip
    for r in rows:
        assert r["resolution"] == "vga" and (r["width"], r["height"]) == (640, 480)
        assert r["fps"] > 0 and r["ms_per_frame"] > 0
        assert r["frames_measured"] == 2 and not r["capped"] and not r["skipped"]
        assert r["threads"] == 1 and r["device"] == "cpu" and r["torch"] and r["cpu"]
        assert r["ms_per_stage"] is None  # neither reports stages
    assert report["settings"]["budget_s"] == 20.0 and "capped" in report["settings"]["cap_rule"]
    assert report["machine"]["threads"] == 1
    assert png_ok(out / speed.FPS_PLOT)
    assert not (out / speed.STAGE_PLOT).exists()  # no method with stage times


def test_speed_bad_source(tmp_path, capsys):
    code, _, err = bench(capsys, "speed", "--methods", "hold", "--source", tmp_path / "nope",
                         "-o", tmp_path / "o")  # fmt: skip
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("mot-bench: error: ")
    assert "nope" in lines[0] and not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["speed", "accuracy", "mvot", "variants"])
def test_output_that_is_a_file(tmp_path, capsys, command):
    """Every subcommand refuses, as one line before any work, an --output that is a file or
    lies below one."""
    seq = small_sequence(tmp_path, 3)
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    for out in (taken, taken / "sub"):
        args = [seq] if command != "speed" else ["--methods", "hold"]
        code, _, err = bench(capsys, command, *args, "-o", out)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("mot-bench: error: ")
        assert f"{taken}: not a directory" in lines[0]
    assert taken.read_text() == "not a directory"


def test_synthetic_boxes_inside_and_nested():
    for width, height in speed.RESOLUTIONS.values():
        boxes = speed.synthetic_boxes(150, width, height, seed=3)
        assert boxes.dtype == np.float32 and boxes.shape == (150, 4)
        assert (boxes[:, :2] >= 0).all()
        assert (boxes[:, 2] <= width).all() and (boxes[:, 3] <= height).all()
        h = boxes[:, 3] - boxes[:, 1]
        scale = height / speed.REFERENCE_HEIGHT
        assert h.min() >= speed.BOX_HEIGHT_PX[0] * scale - 1e-3
        assert h.max() <= speed.BOX_HEIGHT_PX[1] * scale + 1e-3
        np.testing.assert_array_equal(speed.synthetic_boxes(10, width, height, 3), boxes[:10])


def test_cover_resize_keeps_aspect():
    image = np.zeros((480, 640, 3), np.uint8)
    image[:, 80:560] = 255  # a centred 4:3 -> 16:9 crop keeps this band's proportions
    out = speed.cover_resize(image, 1280, 720)
    assert out.shape == (720, 1280, 3)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StagedEstimator:
    """A hold estimator that costs `cost` fake seconds per propagate, reports the stages of
    the last one in `stage_ms` (as SiamMT does with `profile` on) and records the frame
    indices it is given."""

    def __init__(self, clock: FakeClock, cost: float = 1.0) -> None:
        from trackers.hold import HoldEstimator

        self.inner, self.clock, self.cost = HoldEstimator(), clock, cost
        self.stage_ms: dict[str, float] = {}
        self.calls: list[tuple[str, int | None]] = []

    @property
    def ids(self):
        return self.inner.ids

    def reset(self):
        self.inner.reset()
        self.calls.clear()

    def add(self, frame, boxes, ids, frame_index=None):
        self.calls.append(("add", frame_index))
        self.inner.add(frame, boxes, ids, frame_index)

    def remove(self, ids):
        self.inner.remove(ids)

    def propagate(self, frame, frame_index=None):
        self.calls.append(("propagate", frame_index))
        self.clock.now += self.cost
        shares = (("backbone", 0.5), ("resize", 0.1), ("xcorr", 0.4))
        self.stage_ms = {stage: 1e3 * share * self.cost for stage, share in shares}
        return self.inner.propagate(frame, frame_index)


def test_measure_point_budget_and_stages():
    clock = FakeClock()
    est = StagedEstimator(clock, cost=1.0)
    frames = [np.zeros((8, 8, 3), np.uint8)] * 12
    boxes = np.asarray([[1, 1, 4, 4]], np.float32)
    # Budget 3.5 s: warm-up 1 s, timed frames of 1 s each; after 2 timed frames (3 s spent)
    # a third would end at 4 s > 3.5 s, so it stops: capped with 2 frames.
    point = speed.measure_point(est, frames, boxes, 10, 1, 3.5, clock=clock)
    assert point.times == [1.0, 1.0] and point.capped
    # Every frame its own index: nothing reused between calls, one feature pass per frame.
    assert est.calls == [("add", 0), ("propagate", 1), ("propagate", 2), ("propagate", 3)]
    # Stage names are mapped onto STAGES; the warm-up frame is not counted.
    assert point.stages == pytest.approx({"features": 1.2, "xcorr": 0.8})
    row = speed._row(
        "m", "vga", 1, point, speed.SpeedConfig(), {"threads": 1, "torch": "x", "cpu": "y"}
    )
    assert row["ms_per_frame"] == pytest.approx(1000.0) and row["fps"] == pytest.approx(1.0)
    assert list(row["ms_per_stage"]) == ["features", "xcorr", speed.OTHER_STAGE]
    assert row["ms_per_stage"]["features"] == pytest.approx(600.0)
    assert row["ms_per_stage"][speed.OTHER_STAGE] == pytest.approx(0.0, abs=1e-9)
    # Within budget: all frames.
    point = speed.measure_point(est, frames, boxes, 5, 2, 100.0, clock=clock)
    assert len(point.times) == 5 and not point.capped


def test_speed_skips_larger_n_after_the_budget(tmp_path, monkeypatch):
    """A method whose time grows with N is capped at some N and skipped beyond it."""
    from trackers.hold import HoldEstimator

    class Slow(HoldEstimator):
        def propagate(self, frame, frame_index=None):
            time.sleep(0.01 * len(self.ids))
            return super().propagate(frame, frame_index)

    from trackers.hold import HoldConfig

    monkeypatch.setattr(
        speed, "build_estimator", lambda m, c: speed.Subject(m, HoldConfig(), Slow(), {})
    )
    config = speed.SpeedConfig(
        resolutions=("vga",), objects=(1, 20, 40), methods=("slow",), frames=3, warmup=1,
        budget_s=0.5, threads=1, sources={"vga": SAMPLE}, detector=None,
    )  # fmt: skip
    report = speed.run(config, tmp_path, log=lambda _: None, plots=False)
    by_n = {r["N"]: r for r in report["rows"]}
    assert by_n[1]["frames_measured"] == 3 and not by_n[1]["capped"]
    assert by_n[20]["capped"] and 1 <= by_n[20]["frames_measured"] < 3
    assert by_n[40]["skipped"] and by_n[40]["fps"] is None and by_n[40]["frames_measured"] == 0


def test_summary_marginal_cost_and_ratios():
    def row(method, n, ms):
        return {"method": method, "resolution": "vga", "N": n, "ms_per_frame": ms}

    rows = [row("siammt", 1, 10.0), row("siammt", 100, 19.9), row("siamfc-mi", 1, 20.0),
            row("siamfc-mi", 100, 398.0), row("kalman", 1, 0.1)]  # fmt: skip
    summary = speed.summarize(rows)
    per = {s["method"]: s for s in summary["per_method"]}
    assert per["siammt"]["marginal_ms_per_object"] == pytest.approx(0.1)
    assert per["siammt"]["time_ratio_100_over_1"] == pytest.approx(1.99)
    assert per["siamfc-mi"]["marginal_ms_per_object"] == pytest.approx(378.0 / 99)
    assert per["kalman"]["marginal_ms_per_object"] is None  # N=100 not measured
    assert summary["siammt_speedup_over_siamfc-mi_at_100"]["vga"] == pytest.approx(20.0)


def test_tracker_config_sets_only_existing_fields():
    from trackers.kalman import KalmanConfig

    config, chosen = tracker_config("kalman", device="cuda", partial=False, profile=True)
    assert config == KalmanConfig() and chosen == {}
    base = KalmanConfig(std_aspect=0.5)  # a given config keeps its own values
    assert tracker_config("kalman", base, device="cuda") == (base, {})


def test_report_tables():
    assert report.cell(None, ".1f") == report.cell(math.nan, ".1f") == report.MISSING
    assert report.cell(0.25, ".3f") == "0.250"
    table = report.markdown_table(["a", "b"], [["1", "2"]], "Title")
    assert table == "Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert report.markdown_header("Lead.", None) == "Lead."
    assert report.markdown_header("Lead.", "mot-bench x") == "Lead.\n\nCommand: `mot-bench x`"


def _siammt_importable() -> bool:
    try:
        import trackers

        trackers.create("siammt")
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _siammt_importable(), reason="siammt estimator not importable")
def test_speed_siammt_smoke(tmp_path, capsys):
    config, chosen = tracker_config("siammt", device="cpu", partial=False, profile=True)
    assert chosen == {"device": "cpu", "partial": False, "profile": True}
    assert (config.device, config.partial, config.profile) == ("cpu", False, True)
    out = tmp_path / "out"
    code, _, err = bench(
        capsys, "speed", "--resolution", "vga", "--objects", "1", "3", "--methods", "siammt",
        "--frames", "1", "--warmup", "0", "--source", SAMPLE, "--threads", "1", "-o", out,
        "--no-detector",
    )  # fmt: skip
    assert code == 0, err
    report = load(out / speed.SPEED_FILE)
    assert report["settings"]["partial"] is False
    fields_set = report["settings"]["config_fields_set"]["siammt"]
    assert fields_set == {"partial": "partial", "profile": "profile"}
    # One resize factor for every N: what the automatic policy picks for all 3 targets.
    scale = report["settings"]["frame_scale"]["siammt"]["vga"]
    subject = speed.build_estimator("siammt", speed.SpeedConfig())
    frame = speed.load_frames(SAMPLE, 640, 480, 1)[0]
    boxes = speed.synthetic_boxes(3, 640, 480)
    assert speed.automatic_frame_scale(subject, frame, boxes) == scale
    fixed = subject.with_frame_scale(scale)
    fixed.add(frame, boxes[:1], np.asarray([1], np.int64))  # one box: the factor stays
    assert fixed.frame_scale == scale
    for r in report["rows"]:
        assert r["fps"] > 0
        if r["ms_per_stage"] is not None:  # stage names mapped onto the paper's
            assert "features" in r["ms_per_stage"]
            assert not set(r["ms_per_stage"]) & set(speed.STAGE_ALIASES)
    if report["rows"][0]["ms_per_stage"] is not None:
        assert png_ok(out / speed.STAGE_PLOT)


# --------------------------------------------------------------------------------------------
# accuracy
# --------------------------------------------------------------------------------------------


def test_accuracy_tiny_and_cache(tmp_path, capsys, monkeypatch):
    import mot_pipeline.runner as runner

    seq = small_sequence(tmp_path, 10)
    cache, out = tmp_path / "cache", tmp_path / "out"
    calls = []
    real_build = runner.make_detector

    def counting_build(config, source=None, alias=None):
        detector = real_build(config, source, alias)

        def detect(frame, frame_index=None):
            calls.append(frame_index)
            time.sleep(0.005)  # a measurable detection time to be cached
            return detector(frame, frame_index=frame_index)

        return detect

    monkeypatch.setattr(runner, "make_detector", counting_build)
    args = ["accuracy", seq, "--methods", "kalman", "hold", "--detect-every", "1", "5",
            "--detector", "public", "--cache", cache, "--threads", "1", "-o", out]  # fmt: skip
    code, _, err = bench(capsys, *args)
    assert code == 0, err
    assert sorted(calls) == list(range(10))  # k=1 needs every frame, each detected once
    report = load(out / accuracy.ACCURACY_JSON)
    rows = report["rows"]
    assert [(r["method"], r["detect_every"]) for r in rows] == [
        ("kalman", 1), ("kalman", 5), ("hold", 1), ("hold", 5)
    ]  # fmt: skip
    front = report_mod.pareto_front([(r["MOTA"], r["fps_e2e"]) for r in rows])
    assert [r["on_front"] for r in rows] == front and any(front)
    for r in rows:
        assert -1.0 <= r["MOTA"] <= 1.0 and 0.0 <= r["IDF1"] <= 1.0 and 0.0 <= r["HOTA"] <= 1.0
        assert r["IDSW"] >= 0 and r["frames"] == 10
        assert r["detector_frames"] == (10 if r["detect_every"] == 1 else 2)
        assert r["fps_e2e"] > 0 and r["fps_e2e"] <= r["fps"]
        assert r["detect_s"] >= 0.005 * r["detector_frames"]  # original detection time counted
    assert len(report["sequence_rows"]) == 4
    assert report["settings"]["cache_frames_detected"] == 10
    md = (out / accuracy.ACCURACY_MD).read_text()
    assert md.count("| kalman |") == 2 and md.count("| hold |") == 2
    assert "| fps | fps e2e | front |" in md and md.count(" yes |") == sum(front)
    assert png_ok(out / accuracy.ACCURACY_PLOT)
    assert (out / accuracy.RESULTS_DIR / "kalman-k5" / "TUD-Campus.txt").is_file()

    # Second run: everything from the cache, the detector is never built nor called.
    def no_detector(*_a, **_k):
        raise AssertionError("detector built although everything is cached")

    monkeypatch.setattr(runner, "make_detector", no_detector)
    calls.clear()
    code, _, err = bench(capsys, *args)
    assert code == 0, err
    again = load(out / accuracy.ACCURACY_JSON)
    assert calls == [] and again["settings"]["cache_frames_detected"] == 0
    assert again["settings"]["cache_frames_hit"] == 10
    for a, b in zip(rows, again["rows"], strict=True):
        assert (a["MOTA"], a["IDF1"], a["HOTA"]) == (b["MOTA"], b["IDF1"], b["HOTA"])
        assert b["detect_s"] >= 0.005 * b["detector_frames"]  # cached time still counted


def test_accuracy_equals_mot_run_public(tmp_path, capsys):
    """Same settings, same scores as mot-run (public detections: fast)."""
    from mot_pipeline.cli.run import main as mot_run

    seq = small_sequence(tmp_path, 30)
    code = mot_run([str(seq), "-k", "5", "--tracker", "kalman", "--detector", "public",
                    "-o", str(tmp_path / "run"), "--quiet", "--threads", "1"])  # fmt: skip
    assert code == 0
    expected = load(tmp_path / "run" / "metrics.json")["overall"]
    code, _, err = bench(capsys, "accuracy", seq, "--methods", "kalman", "-k", "5",
                         "--detector", "public", "--cache", tmp_path / "c", "-o",
                         tmp_path / "b", "--threads", "1")  # fmt: skip
    assert code == 0, err
    (row,) = load(tmp_path / "b" / accuracy.ACCURACY_JSON)["rows"]
    for key in ("MOTA", "IDF1", "HOTA", "IDSW", "FP", "FN"):
        assert row[key] == expected[key], key


@pytest.mark.slow
def test_accuracy_equals_mot_run_yolo_stadtmitte(tmp_path, capsys):
    """Default detector (YOLO11n INT8), kalman, k=5 on TUD-Stadtmitte: exactly mot-run's."""
    seq = SHARED / "data" / "mot" / "TUD-Stadtmitte"
    if not seq.is_dir():
        pytest.skip(f"shared sequence not found at {seq}")
    from mot_pipeline.cli.run import main as mot_run

    code = mot_run([str(seq), "-k", "5", "--tracker", "kalman", "-o", str(tmp_path / "run"),
                    "--quiet"])  # fmt: skip
    assert code == 0
    expected = load(tmp_path / "run" / "metrics.json")["overall"]
    code, _, err = bench(capsys, "accuracy", seq, "--methods", "kalman", "-k", "5", "--cache",
                         tmp_path / "c", "-o", tmp_path / "b")  # fmt: skip
    assert code == 0, err
    (row,) = load(tmp_path / "b" / accuracy.ACCURACY_JSON)["rows"]
    assert row["MOTA"] == expected["MOTA"] and row["IDF1"] == expected["IDF1"]
    assert row["HOTA"] == expected["HOTA"] and row["IDSW"] == expected["IDSW"]


def test_accuracy_bad_input(tmp_path, capsys):
    seq = small_sequence(tmp_path, 3)
    code, _, err = bench(capsys, "accuracy", seq, "--methods", "nope", "-o", tmp_path / "o")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("mot-bench: error: ")
    assert "nope" in lines[0] and not (tmp_path / "o" / accuracy.ACCURACY_JSON).exists()
    (seq / "gt" / "gt.txt").unlink()
    code, _, err = bench(capsys, "accuracy", seq, "--methods", "hold", "--detector", "public",
                         "-o", tmp_path / "o")  # fmt: skip
    assert code == 2 and "ground truth" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------
# mvot
# --------------------------------------------------------------------------------------------


def gt_rows(tracks: dict[int, dict[int, list[float]]], style: str = "mot15") -> MotRows:
    """MotRows of kind gt from {id: {frame: xyxy}}."""
    frames, ids, boxes = [], [], []
    for i, per_frame in tracks.items():
        for f, b in per_frame.items():
            frames.append(f)
            ids.append(i)
            boxes.append(b)
    n = len(frames)
    return MotRows(np.asarray(frames), np.asarray(ids), np.asarray(boxes, np.float32),
                   np.ones(n), np.full(n, -1), np.ones(n), kind="gt", style=style)  # fmt: skip


def moving_box(frames: int, speed_px: float = 10.0) -> dict[int, list[float]]:
    """A 20 x 20 box moving right by `speed_px` per frame: a shift of 10 px gives IoU
    (10 * 20) / (2 * 400 - 200) = 1/3, a shift of 20 px gives 0."""
    return {f: [speed_px * f, 0.0, speed_px * f + 20.0, 20.0] for f in range(frames)}


def blank_frames(n: int):
    return ((t, np.full((40, 400, 3), t, np.uint8)) for t in range(n))


def test_mvot_hold_hand_computed():
    from trackers.hold import HoldEstimator

    segments = mvot.target_segments(gt_rows({7: moving_box(10)}))
    assert len(segments) == 1 and segments[0].object_id == 7 and len(segments[0].frames) == 10
    params = mvot.MvotParams(burn_in=0)
    tally = mvot.simulate(HoldEstimator(), blank_frames(10), segments, params)
    # Init at 0; frame 1 IoU 1/3; frame 2 IoU 0: failure, re-init at 2 + 5 = 7; frame 8 IoU
    # 1/3; frame 9 IoU 0: failure (re-init at 14 is past the end).
    m = tally.metrics()
    assert m["failures"] == 2 and m["scored_pairs"] == 2 and m["pairs"] == 10
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["robustness"] == pytest.approx(math.exp(-30 * 2 / 10))
    assert m["processed_frames"] == 10 and m["skipped_frames"] == 0
    # VOT's burn-in leaves out frames 1 and 8 (one frame after each init): nothing scored.
    tally = mvot.simulate(HoldEstimator(), blank_frames(10), segments, mvot.MvotParams(burn_in=1))
    assert tally.failures == 2 and tally.scored == 0 and tally.metrics()["accuracy"] is None


def test_mvot_segments_targets_and_gaps():
    # Object 1 absent for 3 frames (kept as one segment with max_gap 3, split with 2);
    # object 2 a single frame (dropped); MOT16 style: class 2 (non-pedestrian) is not a target.
    track = {f: [0, 0, 10, 10] for f in (0, 1, 2, 6, 7)}
    rows = gt_rows({1: track, 2: {4: [0, 0, 5, 5]}})
    assert [len(s.frames) for s in mvot.target_segments(rows, max_gap=3)] == [5]
    assert [len(s.frames) for s in mvot.target_segments(rows, max_gap=2)] == [3, 2]
    mot16 = MotRows(
        rows.frames,
        rows.ids,
        rows.boxes,
        rows.scores,
        np.where(rows.ids == 1, 2, 1),
        rows.visibility,
        kind="gt",
        style="mot16",
    )
    assert mvot.target_segments(mot16) == []


class OracleEstimator:
    """Reports the gt box of the frame (its index is the pixel value) and costs `cost` fake
    seconds per propagate: a perfect but slow tracker. Records (call, frame, frame_index)."""

    def __init__(self, boxes: dict[int, list[float]], clock: FakeClock, cost: float) -> None:
        self.boxes, self.clock, self.cost = boxes, clock, cost
        self.calls: list[tuple[str, int, int | None]] = []
        self.reset()

    @property
    def ids(self):
        return self._ids.copy()

    def reset(self):
        self._ids = np.zeros(0, np.int64)

    def add(self, frame, boxes, ids, frame_index=None):
        self.calls.append(("add", int(frame[0, 0, 0]), frame_index))
        self._ids = np.union1d(self._ids, np.asarray(ids, np.int64))

    def remove(self, ids):
        self._ids = np.setdiff1d(self._ids, np.asarray(ids, np.int64))

    def propagate(self, frame, frame_index=None):
        self.calls.append(("propagate", int(frame[0, 0, 0]), frame_index))
        self.clock.now += self.cost
        t = int(frame[0, 0, 0])
        return np.asarray([self.boxes[t]] * len(self._ids), np.float32), np.ones(len(self._ids))


def test_mvot_realtime_hand_computed():
    track = moving_box(12)
    segments = mvot.target_segments(gt_rows({1: track}))
    clock = FakeClock()
    oracle = OracleEstimator(track, clock, cost=0.25)
    tally = mvot.simulate(oracle, blank_frames(12), segments, mvot.MvotParams(burn_in=0),
                          realtime_fps=10.0, clock=clock)  # fmt: skip
    # Frames arrive every 0.1 s, a propagate takes 0.25 s. 0: init (free). 1: propagate,
    # busy until 0.35 -> IoU 1. 2: skipped (frame 3 is the latest at 0.35), stale box IoU 1/3.
    # 3: busy until 0.6, IoU 1. 4: skipped, IoU 1/3. 5: skipped, IoU 0 -> failure, re-init
    # at 10. 6-9: processed, nothing to track. 10: re-init. 11: IoU 1.
    m = tally.metrics()
    assert m["failures"] == 1
    assert m["skipped_frames"] == 3 and m["processed_frames"] == 9
    assert m["scored_pairs"] == 5 and m["accuracy"] == pytest.approx((3 + 2 / 3) / 5)
    assert m["robustness"] == pytest.approx(math.exp(-30 / 12))
    assert all(t == index for _, t, index in oracle.calls)  # each call names its frame
    # Offline, the same tracker never skips nor fails.
    clock.now = 0.0
    tally = mvot.simulate(oracle, blank_frames(12), segments, mvot.MvotParams(burn_in=0),
                          clock=clock)  # fmt: skip
    assert tally.failures == 0 and tally.metrics()["accuracy"] == pytest.approx(1.0)


def test_mvot_same_frame_index_for_propagate_and_add():
    """A frame where one object is tracked and another starts: propagate and add get the
    frame's index, so an estimator may reuse that frame's features (one pass per frame)."""
    track = moving_box(6)
    segments = mvot.target_segments(gt_rows({1: track, 2: {f: track[f] for f in range(3, 6)}}))
    oracle = OracleEstimator(track, FakeClock(), cost=0.0)
    mvot.simulate(oracle, blank_frames(6), segments, mvot.MvotParams(burn_in=0))
    assert [c for c in oracle.calls if c[1] == 3] == [("propagate", 3, 3), ("add", 3, 3)]
    assert all(t == index for _, t, index in oracle.calls)


def test_mvot_tiny(tmp_path, capsys):
    seq = small_sequence(tmp_path, 12)
    out = tmp_path / "out"
    code, _, err = bench(capsys, "mvot", seq, "--methods", "kalman", "hold", "--threads", "1",
                         "-o", out)  # fmt: skip
    assert code == 0, err
    report = load(out / mvot.MVOT_JSON)
    rows = report["rows"]
    assert [(r["method"], r["mode"]) for r in rows] == [
        (m, mode) for m in ("kalman", "hold") for mode in ("offline", "rt20", "rt25")
    ]
    pairs = {r["pairs"] for r in rows}
    assert len(pairs) == 1 and pairs.pop() > 0
    for r in rows:
        assert r["accuracy"] is None or 0.0 <= r["accuracy"] <= 1.0
        assert 0.0 < r["robustness"] <= 1.0 and r["frames"] == 12 and r["objects"] > 0
        assert r["skipped_frames"] == 0  # far faster than 25 fps
    assert report["machine"]["cpu"] and report["settings"]["sensitivity"] == 30.0
    md = (out / mvot.MVOT_MD).read_text()
    assert md.count("| kalman |") == 3 and "robustness" in md


# --------------------------------------------------------------------------------------------
# variants
# --------------------------------------------------------------------------------------------


def test_variant_rows_by_hand():
    rows = MotRows([0, 1, 2, 3, 4], [1] * 5, [[10, 20, 30, 40]] * 5, [1] * 5, [-1] * 5, [1] * 5)
    np.testing.assert_array_equal(variants.flip_rows(rows, 100).boxes[0], [70, 20, 90, 40])
    half = variants.half_rows(rows)
    assert half.frames.tolist() == [0, 1, 2] and len(half) == 3
    assert variants.reverse_rows(rows, 7).frames.tolist() == [6, 5, 4, 3, 2]
    small = variants.scale_rows(rows, 0.5, 0.25)
    np.testing.assert_array_equal(small.boxes[0], [5, 5, 15, 10])


def test_variants_write_transformed_sequences(tmp_path, capsys):
    import cv2

    from mot_pipeline.evaluation import evaluate
    from mot_pipeline.motchallenge import read_mot_file, read_seqinfo

    seq = small_sequence(tmp_path, frames=5)
    out = tmp_path / "variants"
    code, _, err = bench(capsys, "variants", seq, "-o", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        f"TUD-Campus-{kind}" for kind in ("flip", "half", "reverse", "small")
    ]
    info, gt = read_seqinfo(seq), read_mot_file(seq / "gt" / "gt.txt", "gt")

    flip = out / "TUD-Campus-flip"
    assert read_seqinfo(flip) == dataclasses.replace(info, name="TUD-Campus-flip")
    flipped = read_mot_file(flip / "gt" / "gt.txt", "gt")
    np.testing.assert_allclose(flipped.boxes, variants.flip_rows(gt, info.width).boxes, atol=1e-3)
    a = cv2.imread(str(flip / "img1" / "000003.jpg")).astype(float)
    b = cv2.imread(str(seq / "img1" / "000003.jpg"))[:, ::-1].astype(float)
    assert np.abs(a - b).mean() < 3  # mirrored, re-encoded as JPEG

    half = out / "TUD-Campus-half"
    assert read_seqinfo(half) == dataclasses.replace(
        info, name="TUD-Campus-half", frame_rate=info.frame_rate / 2, length=3
    )
    names = sorted(p.name for p in (half / "img1").iterdir())
    assert names == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert (half / "img1" / "000002.jpg").read_bytes() == (seq / "img1" / "000003.jpg").read_bytes()
    halved = read_mot_file(half / "gt" / "gt.txt", "gt")
    assert set(halved.frames.tolist()) == {0, 1, 2}

    reverse = out / "TUD-Campus-reverse"
    assert read_seqinfo(reverse) == dataclasses.replace(info, name="TUD-Campus-reverse")
    first, last = (reverse / "img1" / n for n in ("000001.jpg", "000005.jpg"))
    assert first.read_bytes() == (seq / "img1" / "000005.jpg").read_bytes()
    assert last.read_bytes() == (seq / "img1" / "000001.jpg").read_bytes()
    reversed_gt = read_mot_file(reverse / "gt" / "gt.txt", "gt")
    assert sorted(reversed_gt.frames.tolist()) == sorted((4 - gt.frames).tolist())

    small = out / "TUD-Campus-small"
    w, h = info.width // 2, info.height // 2  # TUD-Campus is 640 x 480
    assert read_seqinfo(small) == dataclasses.replace(
        info, name="TUD-Campus-small", width=w, height=h
    )
    image = cv2.imread(str(small / "img1" / "000002.jpg"))
    assert image.shape == (h, w, 3)
    original = cv2.imread(str(seq / "img1" / "000002.jpg"))
    shrunk = cv2.resize(original, (w, h), interpolation=cv2.INTER_AREA)
    assert np.abs(image.astype(float) - shrunk).mean() < 3
    scaled = read_mot_file(small / "gt" / "gt.txt", "gt")
    np.testing.assert_allclose(scaled.boxes, gt.boxes / 2, atol=1e-3)
    # Each variant's gt, fed back as a tracker's result, scores perfectly on it.
    for variant in (flip, half, reverse, small):
        g = read_mot_file(variant / "gt" / "gt.txt", "gt")
        as_result = MotRows(g.frames, g.ids, g.boxes, g.scores, -np.ones(len(g)), np.ones(len(g)))
        scores = evaluate([(variant.name, g, as_result, read_seqinfo(variant))])["overall"]
        assert scores["MOTA"] == pytest.approx(1.0) and scores["IDF1"] == pytest.approx(1.0)
    assert not list(out.glob(".*"))  # no temporary folders left


def test_offset_variants_drop_the_first_frames(tmp_path, capsys):
    """offsetN is the sequence from its frame N on (0-based), gt renumbered with it; not made
    unless asked for."""
    from mot_pipeline.motchallenge import read_mot_file, read_seqinfo

    seq = small_sequence(tmp_path, frames=5)
    out = tmp_path / "variants"
    code, _, err = bench(capsys, "variants", seq, "-o", out, "--kinds", "offset1", "offset3")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["TUD-Campus-offset1", "TUD-Campus-offset3"]
    gt = read_mot_file(seq / "gt" / "gt.txt", "gt")
    for dropped in (1, 3):
        variant = out / f"TUD-Campus-offset{dropped}"
        assert read_seqinfo(variant).length == 5 - dropped
        images = sorted((variant / "img1").iterdir())
        assert [p.name for p in images] == [f"{i:06d}.jpg" for i in range(1, 6 - dropped)]
        assert images[0].read_bytes() == (seq / "img1" / f"{dropped + 1:06d}.jpg").read_bytes()
        moved = read_mot_file(variant / "gt" / "gt.txt", "gt")
        kept = gt.frames >= dropped
        np.testing.assert_array_equal(moved.frames, gt.frames[kept] - dropped)
        np.testing.assert_array_equal(moved.ids, gt.ids[kept])
        np.testing.assert_allclose(moved.boxes, gt.boxes[kept], atol=1e-3)
    with pytest.raises(SystemExit) as exit_info:
        bench(capsys, "variants", seq, "-o", out, "--kinds", "offset5")
    assert exit_info.value.code == 2 and "offset5" in capsys.readouterr().err
    short = small_sequence(tmp_path / "short", frames=3)
    kinds = ("--kinds", "flip", "offset3")  # nothing is written, not even the flip
    code, _, err = bench(capsys, "variants", short, "-o", tmp_path / "none", *kinds)
    assert code == 2 and err.count("\n") == 1 and "too few for offset3" in err
    assert not (tmp_path / "none").exists()


def test_variants_need_ground_truth(tmp_path, capsys):
    seq = small_sequence(tmp_path, frames=2)
    (seq / "gt" / "gt.txt").unlink()
    code, _, err = bench(capsys, "variants", seq, "-o", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and "gt/gt.txt" in err
    assert not (tmp_path / "out").exists()


def test_gpu_check_script_is_valid(tmp_path):
    """`.ci/gpu-check` only runs where a session has a GPU, so a renamed flag would go unseen
    until then: its shell syntax, the `mot-bench` arguments it passes and the test it selects
    are checked here."""
    import re
    import shlex
    import subprocess

    from mot_pipeline.cli.bench import parser

    script = REPO / ".ci" / "gpu-check"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    text = script.read_text().replace("\\\n", " ")
    calls = [line.split(" bench ", 1)[1] for line in text.splitlines() if " bench " in line]
    assert len(calls) == 2
    for call in calls:
        argv = shlex.split(call.replace('"$out', f'"{tmp_path}'))
        args = parser().parse_args(argv)
        assert args.command == "speed" and str(tmp_path) in str(args.output)
    selected = re.search(r'-k "(\w+)"', text).group(1)
    tests = (REPO / "tests" / "test_siammt_tracker.py").read_text()
    assert re.search(rf"def test_\w*{selected}\w*\(", tests)
