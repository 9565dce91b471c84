"""The benchmarks' figures (matplotlib, Agg, imported only when a figure is drawn).

Figures are built without pyplot, so drawing changes no global matplotlib state; `report.write`
saves them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Row = Mapping[str, Any]
DPI = 120
SUBPLOT_SIZE = (5.5, 4.2)  # inches per panel
CAPPED_NOTE = "hollow markers: capped by the time budget"


def _figure(panels: int) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(SUBPLOT_SIZE[0] * panels, SUBPLOT_SIZE[1]), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    return fig, axes


def speed_fps(rows: Sequence[Row], detector_rows: Sequence[Row] = ()) -> Any:
    """Paper Fig. 9: fps against the number of targets, log-log, one panel per resolution;
    the detector's fps at that resolution (if timed) as a dashed horizontal line."""
    resolutions = list(dict.fromkeys(r["resolution"] for r in rows))
    detector = {d["resolution"]: d for d in detector_rows}
    fig, axes = _figure(len(resolutions))
    for ax, res in zip(axes, resolutions, strict=True):
        sub = [r for r in rows if r["resolution"] == res and r["fps"] is not None]
        if res in detector:
            d = detector[res]
            name = Path(str(d["detector"])).name  # a model path: its file name
            ax.axhline(d["fps"], color="black", linestyle="--", label=f"detector {name}")
        for method in dict.fromkeys(r["method"] for r in sub):
            pts = sorted((r for r in sub if r["method"] == method), key=lambda r: r["N"])
            line = ax.plot([r["N"] for r in pts], [r["fps"] for r in pts], "-o", label=method)[0]
            capped = [r for r in pts if r["capped"]]
            if capped:
                ax.plot(
                    [r["N"] for r in capped],
                    [r["fps"] for r in capped],
                    "o",
                    markerfacecolor="white",
                    color=line.get_color(),
                )
        width, height = _size(rows, res)
        ax.set_title(f"MT-{res.upper()} ({width}x{height})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tracked objects N")
        ax.set_ylabel("frames per second")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(
            title=CAPPED_NOTE if any(r["capped"] for r in sub) else None,
            fontsize=8,
            title_fontsize=7,
        )
    return fig


def _size(rows: Sequence[Row], resolution: str) -> tuple[int, int]:
    r = next(r for r in rows if r["resolution"] == resolution)
    return int(r["width"]), int(r["height"])


def speed_stages(rows: Sequence[Row], method: str = "siammt") -> Any:
    """Paper Fig. 10: stacked ms per frame per stage for `method`, against N; None (nothing
    drawn) when `method` reported no stage times."""
    sub = [r for r in rows if r["method"] == method and r.get("ms_per_stage")]
    if not sub:
        return None
    resolutions = list(dict.fromkeys(r["resolution"] for r in sub))
    stages = list(dict.fromkeys(k for r in sub for k in r["ms_per_stage"]))
    fig, axes = _figure(len(resolutions))
    for ax, res in zip(axes, resolutions, strict=True):
        pts = sorted((r for r in sub if r["resolution"] == res), key=lambda r: r["N"])
        positions = list(range(len(pts)))
        bottom = [0.0] * len(pts)
        for stage in stages:
            values = [r["ms_per_stage"].get(stage, 0.0) for r in pts]
            ax.bar(positions, values, bottom=bottom, label=stage)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_xticks(positions, [str(r["N"]) for r in pts])
        width, height = _size(sub, res)
        ax.set_title(f"{method}: time per stage, MT-{res.upper()} ({width}x{height})")
        ax.set_xlabel("tracked objects N")
        ax.set_ylabel("ms per frame")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def accuracy_tradeoff(
    rows: Sequence[Row], metrics: Sequence[str] = ("MOTA", "IDF1", "HOTA")
) -> Any:
    """Accuracy against end-to-end fps, one line per method over its detect-every values
    (each point labelled k=K): the trade-off a user picks a setting from. Each panel draws
    its Pareto front (higher metric and higher fps, over all methods) as a black line through
    the settings on it, ringed; in the MOTA panel these are the rows' `on_front`."""
    fig, axes = _figure(len(metrics))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for ax, metric in zip(axes, metrics, strict=True):
        plotted = [r for r in rows if r.get(metric) is not None and r.get("fps_e2e") is not None]
        for method in methods:
            pts = sorted(
                (r for r in plotted if r["method"] == method), key=lambda r: r["detect_every"]
            )
            if pts:
                _method_line(ax, method, pts, metric)
        _front_line(ax, plotted, metric)
        ax.set_xscale("log")
        ax.set_xlabel("end-to-end fps (decode + detect + track)")
        ax.set_ylabel(f"{metric} (%)")
        ax.set_title(f"{metric} against speed")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def _method_line(ax: Any, method: str, pts: Sequence[Row], metric: str) -> None:
    """One method's points over k, each labelled k=K."""
    xs = [r["fps_e2e"] for r in pts]
    ys = [100.0 * r[metric] for r in pts]
    ax.plot(xs, ys, "-o", label=method)
    for r, x, y in zip(pts, xs, ys, strict=True):
        ax.annotate(
            f"k={r['detect_every']}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7
        )


def _front_line(ax: Any, rows: Sequence[Row], metric: str) -> None:
    """The Pareto front of `rows` in (fps_e2e, metric): a line through its points, ringed."""
    from mot_pipeline.bench.report import pareto_front

    on = pareto_front([(r[metric], r["fps_e2e"]) for r in rows])
    front = sorted((r["fps_e2e"], 100.0 * r[metric]) for r, o in zip(rows, on, strict=True) if o)
    if not front:
        return
    xs, ys = zip(*front, strict=True)
    ax.plot(xs, ys, "-", color="black", linewidth=1, alpha=0.6, zorder=1)
    ax.plot(
        xs,
        ys,
        "o",
        markersize=11,
        markerfacecolor="none",
        markeredgecolor="black",
        label="Pareto front (higher is better)",
    )
