"""CPU thread count for torch and OpenCV, set once the models are loaded.

Loading models changes it behind our back: importing ultralytics sets `OMP_NUM_THREADS=1` when
unset and its device selection calls `torch.set_num_threads(cpu_count - 1)`, i.e. one thread on
a two-core machine. The pipeline therefore calls `set_threads` after building its plugins.
"""

from __future__ import annotations

import operator
import os
import sys

# libgomp (torch's OpenMP runtime on Linux) keeps idle threads spinning ~300,000 iterations after
# each parallel op. The detector and the int8 backbones run in OpenVINO's own thread pool right
# after torch ops and, on a few cores, wait for those spinning threads; a short spin frees the
# cores and keeps torch's back-to-back ops fast (docs/DECISIONS.md, "OpenMP spin between torch
# and OpenVINO").
OPENMP_SPIN_COUNT = "10000"
OPENMP_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def set_threads(n: int | None = None) -> int:
    """Use `n` threads (None: every available CPU) for torch ops and OpenCV; returns `n`."""
    if n is None:
        n = available_cpus()
    if isinstance(n, bool) or operator.index(n) < 1:  # index(): ints only, numpy ints too
        raise ValueError(f"thread count must be a positive integer, got {n!r}")
    n = operator.index(n)
    import cv2
    import torch

    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    return n


def short_openmp_spin() -> bool:
    """Set libgomp's spin count (`GOMP_SPINCOUNT`, this process and its children) unless the
    user set it or a wait policy. Only before torch is imported: libgomp reads it once, when it
    loads. True if it was set."""
    if "torch" in sys.modules or any(name in os.environ for name in OPENMP_SETTINGS):
        return False
    os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_COUNT
    return True
