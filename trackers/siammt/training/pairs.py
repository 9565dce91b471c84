"""Training samples from sequences with ground truth (paper Sec. 3.3, 4.1).

A sample is a frame pair of one sequence, the exemplar frame and the search frame at most
`max_gap` frames apart, and a *group* of people annotated in both: an anchor drawn uniformly
over all usable (sequence, frame, id) rows, plus up to `targets_per_frame - 1` neighbours, the
people nearest to it in the search frame whose centre lies inside (`neighbour_radius` times) the
anchor's search area. Every person of the group gives a positive pair (its exemplar against its
search area); exemplar i against the search area of neighbour j is a negative for whatever sits
at the centre, with i's own cell positive if i appears in j's area (`labels.disc_centres`):
exactly the confusion between people walking close together. Pairs of different samples are the
paper's negative pairs (frames that do not show the exemplar's person).

Positives never cross ids or sequences: a group holds one sequence, and a person's exemplar and
search area come from the same id of it. gt rows with consider flag 0, other classes (MOT16-style
gt), visibility below `min_visibility` or height below `min_height` are never exemplars; where
such a row is the exemplar's person in a search frame the pair is ignored rather than negative.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mot_pipeline.errors import InputError
from mot_pipeline.types import group_by_frame
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.crop import cell_size
from trackers.siammt.training.config import SamplerConfig
from trackers.siammt.training.labels import SearchTruth

NO_CLASS = -1  # `GtRows.classes` where the ground truth has no class column (MOT15-style)


@dataclass(frozen=True, eq=False)
class GtRows:
    """Ground-truth rows as plain arrays, whatever file they came from (the engine's
    `mot_pipeline.training_data` reads MOTChallenge): 0-based `frames`, `ids`, `boxes` (N, 4)
    xyxy frame px, `considered` (False: a row to ignore), `classes` (`NO_CLASS`: unknown) and
    `visibility` in [0, 1]."""

    frames: np.ndarray
    ids: np.ndarray
    boxes: np.ndarray
    considered: np.ndarray
    classes: np.ndarray
    visibility: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "considered", np.asarray(self.considered, bool))
        n = len(self.frames)
        if np.shape(self.boxes) != (n, 4):
            raise ValueError(f"GtRows.boxes must be ({n}, 4), got {np.shape(self.boxes)}")
        for name in ("ids", "considered", "classes", "visibility"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"GtRows.{name} has {len(getattr(self, name))} rows, not {n}")


@dataclass(frozen=True, eq=False)
class SequenceGt:
    """One sequence's ground truth for sampling: `rows`, `usable` per row (see `usable_rows`),
    and `read_frame`, which decodes a 0-based frame as BGR uint8 (injected, so training knows
    no file layout)."""

    name: str
    rows: GtRows
    usable: np.ndarray
    read_frame: Callable[[int], np.ndarray]
    width: int
    height: int


def usable_rows(rows: GtRows, config: SamplerConfig) -> np.ndarray:
    """Rows that may be exemplars and positives: considered, of a person class (where the gt
    has classes), visible enough and tall enough."""
    height = rows.boxes[:, 3] - rows.boxes[:, 1]
    person = (rows.classes == NO_CLASS) | np.isin(rows.classes, config.classes)
    return (
        rows.considered
        & person
        & (rows.visibility >= config.min_visibility)
        & (height >= config.min_height)
    )


@dataclass(frozen=True, eq=False)
class PairGroup:
    """One sample: sequence `sequence`, frames `frame_z` (exemplars) and `frame_x` (search),
    the group's `ids` (anchor first) and their boxes in both frames (xyxy, frame px), and what
    the search frame shows (`truth`, for the labels of every pair scored against it)."""

    sequence: int
    frame_z: int
    frame_x: int
    ids: np.ndarray
    boxes_z: np.ndarray
    boxes_x: np.ndarray
    truth: SearchTruth


class PairSampler:
    """Draws `PairGroup`s from sequences with ground truth (see the module docstring)."""

    def __init__(
        self, sequences: Sequence[SequenceGt], config: SamplerConfig, siammt: SiamMTConfig
    ) -> None:
        self.sequences = list(sequences)
        self.config, self.siammt = config, siammt
        self._frames = [group_by_frame(s.rows.frames) for s in self.sequences]  # rows by frame
        self._id_frames = [self._usable_frames_by_id(s) for s in self.sequences]
        self._anchors = self._find_anchors()
        if len(self._anchors) == 0:
            names = ", ".join(s.name for s in self.sequences) or "none"
            raise InputError(
                f"no usable person seen twice within max_gap={config.max_gap} frames in: {names}"
            )

    def __len__(self) -> int:
        """Anchor rows to draw from."""
        return len(self._anchors)

    @staticmethod
    def _usable_frames_by_id(seq: SequenceGt) -> dict[int, np.ndarray]:
        rows = seq.rows
        ids = rows.ids[seq.usable]
        frames = rows.frames[seq.usable]
        return {int(i): np.sort(frames[ids == i]) for i in np.unique(ids)}

    def _partners(self, seq: int, pid: int, frame: int) -> np.ndarray:
        """Frames where `pid` is usable, between min_gap and max_gap frames from `frame`."""
        frames = self._id_frames[seq][pid]
        gap = np.abs(frames - frame)
        return frames[(gap >= self.config.min_gap) & (gap <= self.config.max_gap)]

    def _find_anchors(self) -> np.ndarray:
        out = []
        for s, seq in enumerate(self.sequences):
            for r in np.flatnonzero(seq.usable):
                f, pid = int(seq.rows.frames[r]), int(seq.rows.ids[r])
                if len(self._partners(s, pid, f)):
                    out.append((s, r))
        return np.asarray(out, np.int64).reshape(-1, 2)

    def sample(self, rng: np.random.Generator) -> PairGroup:
        """One group: anchor, partner frame, neighbours."""
        s, r = self._anchors[rng.integers(len(self._anchors))]
        seq = self.sequences[s]
        frame_x, anchor = int(seq.rows.frames[r]), int(seq.rows.ids[r])
        partners = self._partners(s, anchor, frame_x)
        frame_z = int(partners[rng.integers(len(partners))])
        rows_x = self._frames[s][frame_x]
        rows_z = self._frames[s][frame_z]
        ids = self._group(seq, rows_z, rows_x, r)
        boxes_z = _boxes_of(seq.rows, rows_z, ids)
        boxes_x = _boxes_of(seq.rows, rows_x, ids)
        considered = rows_x[seq.rows.considered[rows_x]]
        b = seq.rows.boxes[considered]
        truth = SearchTruth(
            s,
            seq.rows.ids[considered].copy(),
            (b[:, :2] + b[:, 2:]) / 2,
            seq.usable[considered].copy(),
        )
        return PairGroup(s, frame_z, frame_x, ids, boxes_z, boxes_x, truth)

    def _group(self, seq: SequenceGt, rows_z: np.ndarray, rows_x: np.ndarray, anchor_row: int):
        """The anchor's id, then the ids of its nearest eligible neighbours in the search frame."""
        c = self.config
        anchor = int(seq.rows.ids[anchor_row])
        in_z = set(seq.rows.ids[rows_z[seq.usable[rows_z]]].tolist())
        cand = rows_x[seq.usable[rows_x] & (seq.rows.ids[rows_x] != anchor)]
        cand = cand[np.isin(seq.rows.ids[cand], list(in_z))]
        if c.targets_per_frame == 1 or len(cand) == 0:
            return np.asarray([anchor], np.int64)
        boxes = seq.rows.boxes[np.concatenate([[anchor_row], cand])]
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        cells = self._cells(boxes)
        reach = c.neighbour_radius * self.siammt.search_cells / 2 * cells[0]
        offset = np.abs(centres[1:] - centres[0]).max(axis=1)
        ratio = np.maximum(cells[1:] / cells[0], cells[0] / cells[1:])
        ok = (offset <= reach) & (ratio <= c.max_size_ratio)
        order = np.argsort(offset[ok], kind="stable")[: c.targets_per_frame - 1]
        return np.concatenate([[anchor], seq.rows.ids[cand[ok][order]]]).astype(np.int64)

    def _cells(self, boxes: np.ndarray) -> np.ndarray:
        """Frame px per score-map cell of boxes (K, 4) xyxy, as the tracker computes it."""
        c = self.siammt
        wh = (boxes[:, 2:] - boxes[:, :2]).astype(np.float64)
        return cell_size(wh, c.context, c.exemplar_px, c.exemplar_cells, c.field_of_view)


def _boxes_of(rows: GtRows, frame_rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Boxes (len(ids), 4) of `ids` among `frame_rows` (each id present once)."""
    index = {int(rows.ids[r]): r for r in frame_rows}
    return rows.boxes[[index[int(i)] for i in ids]].astype(np.float64)
