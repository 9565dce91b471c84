"""The loss log of a training run: one CSV row per step (appended as it goes, so an interrupted
run keeps its history) and a PNG plot redrawn after every epoch."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

FIELDS = ("epoch", "step", "loss", "positive_maps", "negative_maps", "lr", "seconds")
LOG_FILE = "loss.csv"
PLOT_FILE = "loss.png"
PLOT_SIZE = (7.0, 4.0)  # inches
PLOT_DPI = 110


class LossLog:
    """`output/loss.csv`. On resume the rows of epochs after `keep_epochs` (the resumed
    state's count) are dropped, so the log matches the weights."""

    def __init__(self, output: Path, keep_epochs: int = 0) -> None:
        self.path = output / LOG_FILE
        rows = self.read() if keep_epochs > 0 and self.path.is_file() else []
        rows = [r for r in rows if int(r["epoch"]) <= keep_epochs]
        output.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, **row: float) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, FIELDS).writerow({k: row[k] for k in FIELDS})

    def read(self) -> list[dict[str, str]]:
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))

    def epoch_means(self) -> dict[int, float]:
        """Mean loss per (1-based) epoch."""
        sums: dict[int, list[float]] = {}
        for r in self.read():
            sums.setdefault(int(r["epoch"]), []).append(float(r["loss"]))
        return {e: float(np.mean(v)) for e, v in sorted(sums.items())}

    def plot(self) -> Path:
        """Draw `loss.png` beside the CSV: every step, and each epoch's mean."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        rows = self.read()
        fig, ax = plt.subplots(figsize=PLOT_SIZE)
        if rows:
            epochs = np.array([int(r["epoch"]) for r in rows])
            loss = np.array([float(r["loss"]) for r in rows])
            steps_per_epoch = max(1, int(np.bincount(epochs).max()))
            x = epochs - 1 + (np.array([int(r["step"]) for r in rows]) + 1) / steps_per_epoch
            ax.plot(x, loss, lw=0.6, alpha=0.4, label="step")
            means = self.epoch_means()
            ax.plot(list(means), list(means.values()), "o-", label="epoch mean")
            finite = loss[np.isfinite(loss)]
            if len(finite) and math.isfinite(float(finite.max())):
                ax.set_ylim(0, float(np.percentile(finite, 99)) * 1.1)
        ax.set_xlabel("epoch")
        ax.set_ylabel("balanced logistic loss")
        ax.legend()
        fig.tight_layout()
        out = self.path.with_name(PLOT_FILE)
        fig.savefig(out, dpi=PLOT_DPI)
        plt.close(fig)
        return out
