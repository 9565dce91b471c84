"""CPU thread count for torch and OpenCV, set once the models are loaded.

Loading models changes it behind our back: importing ultralytics sets `OMP_NUM_THREADS=1` when
unset and its device selection calls `torch.set_num_threads(cpu_count - 1)`, i.e. one thread on
a two-core machine. The pipeline therefore calls `set_threads` after building its plugins.
"""

from __future__ import annotations

import operator
import os


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
