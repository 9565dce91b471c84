"""`mot-bench`: speed (`speed`), accuracy against detection interval (`accuracy`), the
paper's tracking-quality protocol (`mvot`) and derived test sequences (`variants`). Each
benchmark is a sweep -> measure -> report, with an API the CLI calls; all of them write their
results through `report.write`.

Only light helpers live here (no torch at import), shared by the benchmarks: the sequences
with ground truth under some paths, the check of method names, and a tracker's config with
the bench's settings. A setting is applied by its exact field name, and only to trackers whose
config dataclass has that field: `device` (siammt, siamfc, siamfc-mi), `profile` (siammt:
per-stage times), `frame_scale` (siammt: fixed resize factor), `partial` (siammt: partial
feature extraction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any


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


def check_methods(methods: Any) -> None:
    """InputError naming the unknown ones among `methods` (motion estimator names)."""
    from mot_pipeline.errors import InputError
    from trackers import REGISTRY

    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise InputError(f"unknown method(s) {unknown}; choose from {', '.join(sorted(REGISTRY))}")


def config_fields(config: Any) -> set[str]:
    """The field names of a tracker config (dataclass or instance)."""
    return {f.name for f in dataclasses.fields(config)}


def tracker_config(
    name: str, base: Any = None, device: str | None = None, **values: Any
) -> tuple[Any, dict[str, Any]]:
    """Tracker `name`'s config (`base`, default: its defaults) with `device` (when given) and
    each of `values` set where the config has a field of that exact name; returns the config
    and the fields set. Build the tracker with `trackers.create(name, config)`."""
    import trackers

    config = base if base is not None else trackers.config_class(name)()
    wanted = {"device": device, **values} if device is not None else values
    fields = config_fields(config)
    chosen = {k: v for k, v in wanted.items() if k in fields}
    return dataclasses.replace(config, **chosen), chosen


def progress_bar(total: int, progress: bool) -> Any:
    """A tqdm bar over `total` frames, shown only with `progress` and cleared when done."""
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", disable=not progress, leave=False)
