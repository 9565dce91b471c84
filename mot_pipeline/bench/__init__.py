"""`mot-bench`: speed (`speed`), accuracy against detection interval (`accuracy`), the
paper's tracking-quality protocol (`mvot`) and derived test sequences (`variants`). Each
sub-module has an API the CLI calls.

Only light helpers live here (no torch at import): a description of the machine, so that no
number is written without the hardware it was measured on, an atomic JSON writer, and the
sequences with ground truth under some paths.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")


def cpu_name() -> str:
    """The CPU model as the OS names it ("AMD EPYC ..."), or the platform's best guess."""
    try:
        for line in CPUINFO.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """Where a benchmark ran: results depend on it, so every output file carries it."""
    import torch

    from mot_pipeline.threads import available_cpus

    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "cpus_available": available_cpus(),
        "threads": torch.get_num_threads(),
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def annotated_sources(
    paths: Sequence[str | Path], purpose: str, frame_rate: float | None = None
) -> list[Any]:
    """The `sources.Sequence`s under `paths`; `InputError` naming the first one without
    ground truth ("no ground truth (gt/gt.txt) to <purpose>")."""
    from mot_pipeline.errors import InputError
    from mot_pipeline.sources import open_sources

    sources = [s for p in paths for s in open_sources(p, frame_rate=frame_rate)]
    for s in sources:
        if s.gt_path is None:
            raise InputError(f"no ground truth (gt/gt.txt) to {purpose}", s.path)
    return sources


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented JSON, atomically (benchmark outputs are derived: replaced)."""
    from mot_pipeline.evaluation import jsonable
    from mot_pipeline.fileio import atomic_write_text

    text = json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(path, text, overwrite=True)


def check_methods(methods: Any) -> None:
    """InputError naming the unknown ones among `methods` (motion estimator names)."""
    from mot_pipeline.errors import InputError
    from trackers import REGISTRY

    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise InputError(f"unknown method(s) {unknown}; choose from {', '.join(sorted(REGISTRY))}")


def tracker_kwargs(
    name: str, device: str | None = None, **wanted: Any
) -> tuple[type, dict[str, Any], dict[str, str]]:
    """The estimator class `name` and the config fields to set: `device` where its Config has
    one, and each `wanted` field only where it exists (returned under its actual name).

    `wanted` maps a purpose to (candidate field names, value), e.g.
    `partial=(("partial_extraction", "partial"), False)`; the third return value maps each
    purpose to the field that was found, so outputs can say what was set.
    """
    import dataclasses

    from trackers import estimator_class

    cls = estimator_class(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)} if hasattr(cls, "Config") else set()
    kwargs: dict[str, Any] = {}
    used: dict[str, str] = {}
    if device is not None and "device" in fields:
        kwargs["device"] = device
    for purpose, (candidates, value) in wanted.items():
        for field in candidates:
            if field in fields:
                kwargs[field] = value
                used[purpose] = field
                break
    return cls, kwargs, used
