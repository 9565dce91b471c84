"""Thread counts: set_threads, and that loading/running YOLO does not silently change them."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

from detectors.yolo import YoloDetector
from mot_pipeline.threads import available_cpus, set_threads


@pytest.fixture(autouse=True)
def _restore_threads():
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def test_set_threads_sets_torch_and_opencv() -> None:
    assert set_threads(2) == 2
    assert torch.get_num_threads() == 2
    assert cv2.getNumThreads() == 2
    assert set_threads(np.int64(1)) == 1
    assert torch.get_num_threads() == 1


def test_set_threads_default_is_every_available_cpu() -> None:
    assert set_threads(None) == available_cpus() >= 1
    assert torch.get_num_threads() == available_cpus()


@pytest.mark.parametrize("bad", [0, -1, True])
def test_set_threads_rejects_non_positive(bad) -> None:
    with pytest.raises(ValueError, match="positive"):
        set_threads(bad)


def test_set_threads_rejects_non_integers() -> None:
    with pytest.raises(TypeError):
        set_threads(1.5)  # type: ignore[arg-type]


def test_yolo_keeps_the_thread_count() -> None:
    """ultralytics' device selection calls torch.set_num_threads(cpu_count - 1); the detector
    puts the count back after loading and after each call, and set_threads wins afterwards."""
    set_threads(2)
    detector = YoloDetector()
    assert torch.get_num_threads() == 2
    detector(np.zeros((480, 640, 3), np.uint8))
    assert torch.get_num_threads() == 2
    set_threads(1)
    detector(np.zeros((480, 640, 3), np.uint8))
    assert torch.get_num_threads() == 1
    set_threads(2)

    seen: list[int] = []

    def worker() -> None:
        torch.ones(64, 64) @ torch.ones(64, 64)
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [2]
