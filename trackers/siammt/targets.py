"""Per-target state shared by SiamMT and the SiamFC baselines.

Both keep, in `ids` order, each target's centre, size, sample-grid cell (frame px per score-map
cell) and cached exemplar features; `add` re-initialises known ids in place and appends new
ones, `remove` keeps the rest. One class so the two trackers cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import torch

from trackers.track_ids import rows_of


class Targets:
    """Live targets: `ids` (M,), `centre` (M, 2), `size` (M, 2), `cell` (M,) in frame px, and
    `exemplars` (M, cells, C) on the estimator's device."""

    def __init__(self, exemplar_cells: int, channels: int, device: torch.device) -> None:
        self.device = device
        self.ids = np.zeros(0, np.int64)
        self.centre = np.zeros((0, 2))
        self.size = np.zeros((0, 2))
        self.cell = np.zeros(0)
        self.exemplars = torch.zeros((0, exemplar_cells, channels), device=device)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each of `ids` (all must be live)."""
        return rows_of(self.ids, ids)

    def put(
        self,
        ids: np.ndarray,
        centre: np.ndarray,
        size: np.ndarray,
        cell: np.ndarray,
        exemplars: torch.Tensor,
    ) -> np.ndarray:
        """Re-initialise the live ones of `ids` in place, append the others; returns the mask
        of `ids` that were live."""
        known = np.isin(ids, self.ids)
        if known.any():
            rows = self.rows(ids[known])
            self.centre[rows], self.size[rows], self.cell[rows] = (
                centre[known],
                size[known],
                cell[known],
            )
            self.exemplars[self._index(rows)] = exemplars[self._index(np.flatnonzero(known))]
        new = ~known
        if new.any():
            self.ids = np.concatenate([self.ids, ids[new]])
            self.centre = np.concatenate([self.centre, centre[new]])
            self.size = np.concatenate([self.size, size[new]])
            self.cell = np.concatenate([self.cell, cell[new]])
            self.exemplars = torch.cat(
                [self.exemplars, exemplars[self._index(np.flatnonzero(new))]]
            )
        return known

    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where `mask` is True."""
        self.ids, self.centre = self.ids[mask], self.centre[mask]
        self.size, self.cell = self.size[mask], self.cell[mask]
        self.exemplars = self.exemplars[self._index(np.flatnonzero(mask))]

    def place(self, boxes: np.ndarray, min_size: float) -> None:
        """Move every target to xyxy `boxes` (M, 4), sizes at least `min_size`; the caller
        updates `cell`."""
        boxes = boxes.astype(np.float64)
        self.centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        self.size = np.maximum(boxes[:, 2:] - boxes[:, :2], min_size)

    def boxes(self) -> np.ndarray:
        """Current boxes (M, 4) xyxy float32, in `ids` order."""
        half = self.size / 2
        return np.concatenate([self.centre - half, self.centre + half], axis=1).astype(np.float32)

    def _index(self, rows: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(rows, device=self.device)
