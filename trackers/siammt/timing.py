"""Per-stage wall time of one propagate, for `mot-bench speed --stages` (off by default)."""

from __future__ import annotations

import time

import torch


class StageTimer:
    """Accumulates wall time (ms) per stage when enabled, synchronising CUDA first."""

    def __init__(self, enabled: bool, device: torch.device) -> None:
        self.enabled = enabled
        self.cuda = device.type == "cuda"
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter() if enabled else 0.0

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap to `stage`."""
        if not self.enabled:
            return
        if self.cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - self._t) * 1e3
        self._t = now
