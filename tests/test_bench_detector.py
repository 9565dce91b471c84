"""`mot-bench speed` times the detector on the trackers' frames and gives each tracker's cost as
a ratio of it (issue 17), with a fake detector (no YOLO) except in the one real-model run."""

from __future__ import annotations

import importlib.util
import json
import time

import numpy as np
import pytest
import torch
from helpers import SAMPLE

from mot_pipeline.bench import speed
from mot_pipeline.cli.bench import main, parser


class FakeDetector:
    """Sleeps `cost_s` per call and records what it was given."""

    def __init__(self, cost_s: float = 0.01) -> None:
        self.cost_s = cost_s
        self.calls: list[tuple[int | None, tuple[int, ...]]] = []

    def __call__(self, frame: np.ndarray, frame_index: int | None = None):
        self.calls.append((frame_index, frame.shape))
        time.sleep(self.cost_s)
        return None


def _config(**overrides) -> speed.SpeedConfig:
    settings = {
        "resolutions": ("vga",),
        "objects": (1, 2),
        "methods": ("kalman", "hold"),
        "frames": 3,
        "warmup": 1,
        "threads": 1,
        "sources": {"vga": SAMPLE},
        "detector": "fake",
    }
    return speed.SpeedConfig(**{**settings, **overrides})


def test_detector_timed_on_the_trackers_frames_and_ratios(tmp_path):
    detector, built = FakeDetector(0.01), []

    def make_detector(name, device):
        built.append((name, device))
        torch.set_num_threads(2)  # as ultralytics does on load: set_threads must come after
        return detector

    lines: list[str] = []
    report = speed.run(
        _config(), tmp_path, log=lines.append, plots=False, make_detector=make_detector
    )
    assert built == [("fake", "cpu")]
    # The same frames as the trackers' propagate calls: warm-up 1, then 3 timed.
    assert detector.calls == [(i, (480, 640, 3)) for i in (1, 2, 3, 4)]
    (det,) = report["detector_rows"]
    assert det["detector"] == "fake" and det["resolution"] == "vga"
    assert det["frames_measured"] == 3 and not det["capped"]
    assert det["threads"] == 1 and report["machine"]["threads"] == 1  # not the loader's 2
    assert 10.0 <= det["ms_per_frame"] < 1000.0
    assert report["summary"]["detector"] == "fake"
    assert report["summary"]["detector_ms"] == {"vga": det["ms_per_frame"]}
    assert report["settings"]["detector"] == "fake" and "ratio_to_detector" in report["settings"]
    for row in report["rows"]:
        assert row["detector_ms"] == det["ms_per_frame"]
        assert row["ratio_to_detector"] == pytest.approx(row["ms_per_frame"] / det["ms_per_frame"])
        assert row["ratio_to_detector"] < 1.0  # kalman / hold are far cheaper than 10 ms
    # The table has an 'x det' column after each N; the summary states the detector's ms.
    table = speed.format_table(report["rows"])
    header = table.splitlines()[0]
    assert header.count(speed.RATIO_COLUMN) == 2 and header.index("N=1") < header.index("x det")
    kalman = next(line for line in table.splitlines() if line.startswith("kalman"))
    ratio_1 = report["rows"][0]["ratio_to_detector"]
    assert f"{ratio_1:.3g}" in kalman.split()
    assert any(f"detector fake vga: {det['ms_per_frame']:.2f} ms/frame" in s for s in lines)
    on_disk = json.loads((tmp_path / speed.SPEED_FILE).read_text())
    assert on_disk["detector_rows"][0]["ms_per_frame"] == pytest.approx(det["ms_per_frame"])


def test_add_ratios_by_hand():
    rows = [
        {"resolution": "vga", "ms_per_frame": 5.0},
        {"resolution": "hd", "ms_per_frame": 30.0},
        {"resolution": "hd", "ms_per_frame": None},  # a skipped point
    ]
    detector_rows = [
        {"resolution": "vga", "ms_per_frame": 20.0},
        {"resolution": "hd", "ms_per_frame": 40.0},
    ]
    speed.add_ratios(rows, detector_rows)
    assert [r["detector_ms"] for r in rows] == [20.0, 40.0, 40.0]
    assert [r["ratio_to_detector"] for r in rows] == [0.25, 0.75, None]


def test_detector_that_changes_threads_while_timed_is_refused(tmp_path):
    """Timing at another thread count than the trackers' would make the ratio meaningless."""

    def make_detector(name, device):
        def detect(frame, frame_index=None):
            torch.set_num_threads(2)

        return detect

    with pytest.raises(RuntimeError, match="threads"):
        speed.run(_config(), tmp_path, log=lambda _: None, plots=False, make_detector=make_detector)


def test_detector_budget_caps_its_frames(tmp_path):
    detector = FakeDetector(0.05)
    report = speed.run(
        _config(frames=10, warmup=0, budget_s=0.12, methods=("hold",), objects=(1,)),
        tmp_path,
        log=lambda _: None,
        plots=False,
        make_detector=lambda name, device: detector,
    )
    (det,) = report["detector_rows"]
    assert det["capped"] and 1 <= det["frames_measured"] < 10


def test_detector_options_parse():
    argv = ["speed", "-o", "x"]
    assert parser().parse_args(argv).detector == speed.DEFAULT_DETECTOR == "yolo11n"
    assert parser().parse_args([*argv, "--detector", "yolov8n"]).detector == "yolov8n"
    assert parser().parse_args([*argv, "--detector", "m/best.pt"]).detector == "m/best.pt"
    assert parser().parse_args([*argv, "--no-detector"]).detector is None
    with pytest.raises(SystemExit):
        parser().parse_args([*argv, "--no-detector", "--detector", "yolov8n"])


def test_public_detector_refused(tmp_path, capsys):
    code = main(["speed", "--methods", "hold", "--detector", "public", "-o", str(tmp_path), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "public" in err[0]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None, reason="no ultralytics")
def test_speed_default_detector_runs_at_the_requested_threads(tmp_path):
    """The embedded YOLO11n INT8 (mot-run's default), loaded before the thread count is set:
    ultralytics' loading resets torch's threads, the timing must not see that."""
    report = speed.run(
        _config(detector=speed.DEFAULT_DETECTOR, methods=("hold",), objects=(1,), frames=2,
                threads=2),
        tmp_path,
        log=lambda _: None,
        plots=False,
    )  # fmt: skip
    (det,) = report["detector_rows"]
    assert det["detector"] == "yolo11n" and det["threads"] == 2 and det["frames_measured"] == 2
    assert report["machine"]["threads"] == 2 and det["ms_per_frame"] > 0
    assert report["rows"][0]["ratio_to_detector"] > 0
