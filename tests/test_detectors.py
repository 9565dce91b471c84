"""Detectors: public detections (hand-built tables) and the embedded YOLO on real frames."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import REPO, SHARED

from detectors import Detector, config_class, create
from detectors.public import DEFAULT_MIN_SCORE, PublicConfig, PublicDetections
from detectors.yolo import YoloConfig, YoloDetector
from mot_pipeline.boxes import iou_matrix, xywh_to_xyxy
from mot_pipeline.errors import InputError
from mot_pipeline.types import Detections

TUD_CAMPUS = SHARED / "data" / "mot" / "TUD-Campus"

FRAME = np.zeros((100, 200, 3), np.uint8)  # H=100, W=200


# ---------------------------------------------------------------------------------------------
# PublicDetections
# ---------------------------------------------------------------------------------------------


def _table() -> dict[int, Detections]:
    return {
        0: Detections(
            [
                [10, 10, 30, 50],  # kept
                [-20, 5, 40, 60],  # kept, clipped to x1 = 0
                [150, 80, 260, 140],  # kept, clipped to 200 x 100
                [50, 50, 60, 70],  # score below the threshold
                [250, 10, 300, 40],  # entirely right of the frame: empty after clipping
                [70, 20, 70.5, 60],  # 0.5 px wide
            ],
            [20.0, 15.0, 99.0, 14.9, 50.0, 60.0],
        ),
        3: Detections([[1, 2, 3, 4]], [-0.5]),
    }


def test_public_filters_clips_and_drops_empty_boxes() -> None:
    det = PublicDetections(_table())
    out = det(FRAME, frame_index=0)
    np.testing.assert_allclose(
        out.boxes, [[10, 10, 30, 50], [0, 5, 40, 60], [150, 80, 200, 100]], rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(out.scores, [20.0, 15.0, 99.0])
    assert out.boxes.dtype == np.float32
    assert isinstance(det, Detector)


def test_public_threshold_and_missing_frames() -> None:
    table = _table()
    assert DEFAULT_MIN_SCORE == 15.0
    assert len(PublicDetections(table)(FRAME, 3)) == 0  # score -0.5 < 15
    keep_all = PublicDetections(table, min_score=float("-inf"))
    assert len(keep_all(FRAME, 3)) == 1
    assert len(keep_all(FRAME, 0)) == 4  # all scores, still no empty boxes
    assert len(keep_all(FRAME, 7)) == 0  # a frame without detections
    assert len(PublicDetections({})(FRAME, 0)) == 0


def test_public_needs_frame_index() -> None:
    with pytest.raises(ValueError, match="frame_index"):
        PublicDetections(_table())(FRAME)
    with pytest.raises(ValueError, match="nan"):
        PublicDetections(_table(), min_score=float("nan"))


def test_public_on_real_det_file() -> None:
    """Rows parsed by hand from TUD-Campus det.txt: the threshold keeps exactly score >= 15."""
    det_file = TUD_CAMPUS / "det" / "det.txt"
    if not det_file.is_file():
        pytest.skip("shared MOT data not found")
    rows = np.loadtxt(det_file, delimiter=",")
    rows = rows[rows[:, 0] == 1]
    boxes = xywh_to_xyxy(rows[:, 2:6]) - 1  # MOTChallenge pixels are 1-based
    frame = cv2.imread(str(TUD_CAMPUS / "img1" / "000001.jpg"))
    out = PublicDetections({0: Detections(boxes, rows[:, 6])})(frame, 0)
    assert len(out) == int((rows[:, 6] >= DEFAULT_MIN_SCORE).sum()) > 0
    assert (out.boxes[:, 2] <= frame.shape[1]).all() and (out.boxes[:, 3] <= frame.shape[0]).all()


def test_registry_and_factory() -> None:
    assert config_class("public") is PublicConfig
    det = create("public", PublicConfig(min_score=0.0), by_frame=_table())
    assert isinstance(det, PublicDetections) and det.min_score == 0.0
    with pytest.raises(KeyError, match="unknown detector"):
        config_class("nope")
    with pytest.raises(InputError, match="model not found"):
        create(str(REPO / "no-such-model.pt"))


# ---------------------------------------------------------------------------------------------
# YoloDetector
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yolo():
    return YoloDetector()


def test_yolo_finds_the_people_of_tud_campus(yolo) -> None:
    if not TUD_CAMPUS.is_dir():
        pytest.skip("shared MOT data not found")
    frame = cv2.imread(str(TUD_CAMPUS / "img1" / "000001.jpg"))
    out = yolo(frame, frame_index=0)
    assert out.boxes.dtype == np.float32 and out.boxes.shape[1] == 4
    assert (out.classes == 0).all()
    assert (out.scores >= yolo.config.conf).all()
    assert (out.boxes[:, [0, 2]] <= frame.shape[1]).all()
    gt = np.loadtxt(TUD_CAMPUS / "gt" / "gt.txt", delimiter=",")
    gt = gt[gt[:, 0] == 1]
    gt_boxes = xywh_to_xyxy(gt[:, 2:6]) - 1
    matched = (iou_matrix(gt_boxes, out.boxes).max(axis=1) >= 0.5).sum()
    assert len(gt) == 6 and matched >= 5  # all 6 on the reference machine


def test_yolo_blank_frame_and_bad_frames(yolo) -> None:
    assert len(yolo(np.zeros((48, 64, 3), np.uint8))) == 0
    with pytest.raises(ValueError, match="uint8"):
        yolo(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match="BGR"):
        yolo(np.zeros((48, 64), np.uint8))


def test_yolo_config_is_exposed_and_validated(yolo) -> None:
    assert YoloDetector.Config is YoloConfig
    assert yolo.config == YoloConfig()
    assert yolo.names[0] == "person"
    assert YoloConfig(classes=[0, 2]).classes == (0, 2)  # YAML lists become tuples
    with pytest.raises(ValueError, match="conf"):
        YoloConfig(conf=1.5)
    with pytest.raises(ValueError, match="iou"):
        YoloConfig(iou=0.0)


def test_yolo_restores_environment() -> None:
    before = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "YOLO_OFFLINE", "YOLO_VERBOSE")}
    YoloDetector(YoloDetector.Config(model="yolov8n"))
    after = {k: os.environ.get(k) for k in before}
    assert after == before


@pytest.mark.parametrize("kind", ["missing", "text", "empty_dir", "junk_pt", "bad_openvino"])
def test_yolo_bad_model_paths(tmp_path: Path, kind: str) -> None:
    path = (
        tmp_path
        / {
            "missing": "nothing.pt",
            "text": "notes.txt",
            "empty_dir": "empty_openvino_model",
            "junk_pt": "junk.pt",
            "bad_openvino": "bad_openvino_model",
        }[kind]
    )
    if kind in ("text", "junk_pt"):
        path.write_text("this is not a model\n")
    elif kind == "empty_dir":
        path.mkdir()
    elif kind == "bad_openvino":
        path.mkdir()
        (path / "model.xml").write_text("<net/>")
    with pytest.raises(InputError) as info:
        YoloDetector(YoloDetector.Config(model=str(path)))
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert info.value.path == path


def test_yolo_unknown_class_id() -> None:
    with pytest.raises(InputError, match=r"no class id 99 .*ids 0-79"):
        YoloDetector(YoloDetector.Config(classes=(0, 99)))
    with pytest.raises(InputError, match=r"unknown class 'bycicle' .*\(80 classes: bicycle, "):
        YoloDetector(YoloDetector.Config(classes=("person", "bycicle")))


def test_yolo_classes_by_name_report_model_ids() -> None:
    """Names resolve against the model's own; detections carry the model's class ids."""
    yolo = YoloDetector(YoloDetector.Config(classes=("Bicycle", "person", "1")))
    assert yolo.classes == (1, 0)
    frame = cv2.imread(str(REPO / "samples" / "TUD-Campus" / "img1" / "000001.jpg"))
    dets = yolo(frame)
    assert len(dets) and set(dets.classes.tolist()) <= {0, 1}
    assert YoloDetector(YoloDetector.Config(classes="all")).classes == tuple(range(80))


def test_yolo_stays_offline_and_writes_only_its_settings(tmp_path: Path) -> None:
    """A fresh interpreter: no socket use at all, nothing written outside the cache dir."""
    cwd, cache = tmp_path / "cwd", tmp_path / "cache"
    cwd.mkdir()
    script = textwrap.dedent(
        """
        import json, socket, sys
        import numpy as np
        calls = []
        def refuse(*args, **kwargs):
            calls.append(repr(args[:2]))
            raise OSError("network disabled in this test")
        socket.getaddrinfo = refuse
        socket.create_connection = refuse
        socket.socket.connect = refuse
        from detectors.yolo import YoloDetector
        lazy = "ultralytics" not in sys.modules and "torch" not in sys.modules
        det = YoloDetector()
        det(np.zeros((480, 640, 3), np.uint8))
        print(json.dumps({"calls": calls, "lazy_import": lazy}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    env.update(PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(cache), HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"calls": [], "lazy_import": True}
    assert list(cwd.iterdir()) == []
    assert (cache / "mot-pipeline" / "Ultralytics" / "settings.json").is_file()
