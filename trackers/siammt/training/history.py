"""The logs of a training run: `loss.csv` (one row per step, appended as it goes, so an
interrupted run keeps its history), `val.csv` (one row per epoch, on held-out sequences) and a
PNG plot of both, redrawn after every epoch."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

STEP_FIELDS = ("epoch", "step", "loss", "positive_maps", "negative_maps", "lr", "seconds")
VAL_FIELDS = ("epoch", "loss", "positive_maps", "negative_maps", "peak_hits", "neighbour_hits")
LOG_FILE = "loss.csv"
VAL_FILE = "val.csv"
PLOT_FILE = "loss.png"
PLOT_SIZE = (7.0, 4.0)  # inches
PLOT_DPI = 110
PLOT_TOP_PERCENTILE = 99  # the y axis ends above this percentile of the step losses


class CsvLog:
    """A CSV of `fields` rows keyed by a 1-based `epoch`. On resume the rows of epochs after
    `keep_epochs` (the resumed state's count) are dropped, so the log matches the weights."""

    def __init__(self, path: Path, fields: Sequence[str], keep_epochs: int = 0) -> None:
        self.path, self.fields = path, tuple(fields)
        rows = self.read() if keep_epochs > 0 and path.is_file() else []
        rows = [r for r in rows if int(r["epoch"]) <= keep_epochs]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, **row: float) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow({k: row[k] for k in self.fields})

    def read(self) -> list[dict[str, str]]:
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))

    def epoch_means(self, column: str = "loss") -> dict[int, float]:
        """Mean of `column` per epoch."""
        values: dict[int, list[float]] = {}
        for r in self.read():
            values.setdefault(int(r["epoch"]), []).append(float(r[column]))
        return {e: float(np.mean(v)) for e, v in sorted(values.items())}


def plot(steps: CsvLog, val: CsvLog | None = None) -> Path:
    """Draw `loss.png` beside the step log: every step, each epoch's mean, and the held-out
    loss per epoch (epoch 0: before training)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = steps.read()
    fig, ax = plt.subplots(figsize=PLOT_SIZE)
    if rows:
        epochs = np.array([int(r["epoch"]) for r in rows])
        loss = np.array([float(r["loss"]) for r in rows])
        per_epoch = max(1, int(np.bincount(epochs).max()))
        x = epochs - 1 + (np.array([int(r["step"]) for r in rows]) + 1) / per_epoch
        ax.plot(x, loss, lw=0.6, alpha=0.4, label="training step")
        means = steps.epoch_means()
        ax.plot(list(means), list(means.values()), "o-", label="training, epoch mean")
        finite = loss[np.isfinite(loss)]
        if len(finite) and math.isfinite(float(finite.max())):
            ax.set_ylim(0, float(np.percentile(finite, PLOT_TOP_PERCENTILE)) * 1.1)
    if val is not None and val.read():
        held = val.epoch_means()
        ax.plot(list(held), list(held.values()), "s--", label="held-out")
    ax.set_xlabel("epoch")
    ax.set_ylabel("balanced logistic loss")
    ax.legend()
    fig.tight_layout()
    out = steps.path.with_name(PLOT_FILE)
    fig.savefig(out, dpi=PLOT_DPI)
    plt.close(fig)
    return out
