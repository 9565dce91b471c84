"""Thread counts: set_threads, and that loading/running YOLO does not silently change them;
libgomp's spin count, set by the command lines before torch loads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import torch

from detectors.yolo import YoloDetector
from mot_pipeline import threads
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


def test_short_openmp_spin_only_before_torch_and_unless_the_user_chose(monkeypatch) -> None:
    for name in threads.OPENMP_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert not threads.short_openmp_spin()  # torch is loaded here: too late to matter
    assert "GOMP_SPINCOUNT" not in os.environ
    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh command-line process
    assert threads.short_openmp_spin()
    assert os.environ["GOMP_SPINCOUNT"] == threads.OPENMP_SPIN_COUNT
    for name, value in (("GOMP_SPINCOUNT", "5"), ("OMP_WAIT_POLICY", "PASSIVE")):
        monkeypatch.setenv(name, value)
        assert not threads.short_openmp_spin()
        assert os.environ[name] == value
        monkeypatch.delenv(name)


@pytest.mark.parametrize(("cli", "command"), [("run", []), ("bench", ["accuracy"])])
def test_the_command_lines_set_the_spin_count_before_torch_loads(cli, command, tmp_path) -> None:
    """A top-level torch import in a command line's module would make the setting a no-op.
    Each runs on a missing input: exit 2."""
    argv = [*command, str(tmp_path / "none")]
    code = (
        "import os, sys\n"
        f"from mot_pipeline.cli.{cli} import main\n"
        "assert 'torch' not in sys.modules\n"
        f"code = main({argv!r})\n"
        "print(code, os.environ.get('GOMP_SPINCOUNT'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in threads.OPENMP_SETTINGS}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split()[-2:] == ["2", threads.OPENMP_SPIN_COUNT]
