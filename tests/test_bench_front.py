"""The accuracy/speed Pareto front (issue 17): `report.pareto_front` on hand-computed cases,
and the accuracy plot drawing it."""

from __future__ import annotations

import math

import pytest

from mot_pipeline.bench import plots
from mot_pipeline.bench.report import pareto_front


def test_pareto_front_hand_computed():
    # (MOTA, fps): higher is better in both.
    points = [
        (0.60, 10.0),  # best MOTA: on the front
        (0.55, 30.0),  # on: nothing is both >= 0.55 and >= 30 fps
        (0.50, 20.0),  # dominated by (0.55, 30)
        (0.40, 80.0),  # fastest: on
        (0.40, 50.0),  # dominated by (0.40, 80): equal MOTA, slower
        (0.55, 30.0),  # equal to an on-front point: both stay on
        (0.70, None),  # no fps: neither on nor dominating
        (math.nan, 100.0),  # no MOTA either
    ]
    assert pareto_front(points) == [True, True, False, True, False, True, False, False]


def test_pareto_front_edges():
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 1.0)]) == [True]
    assert pareto_front([(1.0, 1.0), (2.0, 2.0)]) == [False, True]
    assert pareto_front([(1.0, 2.0, 3.0), (1.0, 2.0, 4.0), (0.0, 9.0, 0.0)]) == [False, True, True]


def _row(method, k, mota, fps):
    return {"method": method, "detect_every": k, "MOTA": mota, "IDF1": mota, "HOTA": mota,
            "fps_e2e": fps}  # fmt: skip


def test_accuracy_plot_draws_the_front():
    rows = [
        _row("kalman", 1, 0.60, 10.0),
        _row("kalman", 5, 0.40, 80.0),
        _row("hold", 1, 0.50, 20.0),  # dominated by siammt k=2
        _row("siammt", 2, 0.55, 30.0),
    ]
    fig = plots.accuracy_tradeoff(rows, metrics=("MOTA",))
    (ax,) = fig.axes
    ringed = [line for line in ax.get_lines() if line.get_label().startswith("Pareto front")]
    assert len(ringed) == 1
    assert list(ringed[0].get_xdata()) == [10.0, 30.0, 80.0]  # by fps
    assert list(ringed[0].get_ydata()) == pytest.approx([60.0, 55.0, 40.0])  # MOTA in %
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["kalman", "hold", "siammt"] and labels[-1].startswith("Pareto front")
