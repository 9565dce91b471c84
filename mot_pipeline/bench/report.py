"""The one report writer of `mot-bench`: every benchmark ends in `write`, which puts its
report (JSON, with the machine it ran on), its markdown table and its plots in the output
folder, each file atomically.

A benchmark number means nothing without the hardware it was measured on, so the report
skeleton (`new_report`) always carries `machine_info`; the files are derived data, so existing
ones are replaced, and a reader never sees a half-written one. Plots are drawn (matplotlib)
only when asked for.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
MISSING = "-"  # a table cell without a value


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
    """Where a benchmark ran: results depend on it, so every report carries it."""
    import torch

    from mot_pipeline.threads import OPENMP_SETTINGS, available_cpus

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
        **{name.lower(): os.environ.get(name) for name in OPENMP_SETTINGS},
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def new_report(
    benchmark: str, command: str | None, machine: Mapping[str, Any], settings: dict, **tables: Any
) -> dict[str, Any]:
    """The JSON report: which benchmark, the command line, the machine, the settings, then
    its tables (`rows`, ...) in the order given."""
    return {
        "benchmark": benchmark,
        "command": command,
        "machine": dict(machine),
        "settings": settings,
        **tables,
    }


def cell(value: Any, fmt: str) -> str:
    """`value` formatted for a table; `MISSING` for None and non-finite numbers."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return format(value, fmt)


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and math.isfinite(value)


def pareto_front(points: Sequence[Sequence[Any]]) -> list[bool]:
    """Which of `points` (tuples of numbers, every coordinate: higher is better) no other point
    dominates, i.e. is at least as good in every coordinate and better in one. A point with a
    missing (None) or non-finite coordinate is neither on the front nor dominates; equal
    points are all on it."""
    valid = [all(_finite(v) for v in p) for p in points]

    def dominated(p: Sequence[Any]) -> bool:
        return any(
            ok and all(a >= b for a, b in zip(q, p, strict=True)) and tuple(q) != tuple(p)
            for q, ok in zip(points, valid, strict=True)
        )

    return [ok and not dominated(p) for p, ok in zip(points, valid, strict=True)]


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[str]], header: str = "") -> str:
    """A markdown table of already formatted cells, after `header` (if any) and a blank line."""
    lines = [header, ""] if header else []
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def markdown_header(lead: str, command: str | None) -> str:
    """What a markdown table is about (`lead`), then the command that made it."""
    return lead + (f"\n\nCommand: `{command}`" if command else "")


Figure = Callable[[], Any]  # draws a matplotlib Figure, or returns None: nothing to plot


def write(
    output: str | Path,
    report: Mapping[str, Any],
    *,
    markdown: str | None = None,
    figures: Mapping[str, Figure] | None = None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Write `output/<benchmark>.json` (`report`), `output/<benchmark>.md` (`markdown`, if
    given) and each of `figures` (file name -> drawing function) as PNG; returns the paths
    written and logs the report files."""
    from mot_pipeline.evaluation import jsonable
    from mot_pipeline.fileio import atomic_write_text

    output = Path(output)
    stem = report["benchmark"]
    text = json.dumps(jsonable(report), indent=2, allow_nan=False) + "\n"
    written = [atomic_write_text(output / f"{stem}.json", text, overwrite=True)]
    if markdown is not None:
        written.append(atomic_write_text(output / f"{stem}.md", markdown, overwrite=True))
    log(f"written: {', '.join(map(str, written))}")
    for name, draw in (figures or {}).items():
        figure = draw()
        if figure is not None:
            written.append(_save_png(figure, output / name))
    return written


def _save_png(figure: Any, path: Path) -> Path:
    from mot_pipeline.fileio import atomic_write

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return atomic_write(path, lambda f: f.write(buffer.getvalue()), overwrite=True)
