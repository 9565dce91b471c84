"""A run's track files: the MOTChallenge `.txt` and the class-carrying `.csv` / `.jsonl`.

MOTChallenge results cannot carry a class: TrackEval's MotChallenge2DBox refuses a whole file
with a class above 1 ("only valid for pedestrian class") and scores every row against the
pedestrian ground truth. So the `.txt` holds the tracks MOTChallenge scores, persons (and tracks
of unknown class: given boxes), with the class column -1 as always; every track of every class,
with its class id and name, goes to the other formats (docs/DECISIONS.md, "Classes in result
files"). Rows of all formats are the same: one per track and frame, sorted by frame then id,
without boxes that are not finite or have no area once rounded.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from mot_pipeline import motchallenge
from mot_pipeline.boxes import xywh_to_xyxy, xyxy_to_xywh
from mot_pipeline.fileio import atomic_write_text, check_writable
from mot_pipeline.types import FrameResult, Tracks

Format = Literal["mot", "csv", "jsonl"]
MOT: Format = "mot"
SUFFIXES: dict[str, str] = {"mot": ".txt", "csv": ".csv", "jsonl": ".jsonl"}
CLASS_FORMAT: Format = "csv"  # added by default when the run keeps classes besides person
DECIMALS = motchallenge.BOX_DECIMALS  # boxes and scores, as in the .txt
CSV_COLUMNS = ("frame", "id", "class_id", "class_name", "score", "x1", "y1", "x2", "y2", "detected")


@dataclass(frozen=True)
class OutputConfig:
    """`formats`: the track files to write per sequence (`--format`); MOTChallenge `.txt`
    (`mot`) is always among them, since evaluation, `--zip` and `mot-eval` read it. None: `mot`,
    plus `csv` when the run keeps any class besides person (so no class goes unwritten)."""

    formats: tuple[Format, ...] | None = None

    def __post_init__(self) -> None:
        if self.formats is None:
            return
        unknown = [f for f in self.formats if f not in SUFFIXES]
        if unknown or not self.formats:
            raise ValueError(f"formats must be some of {', '.join(SUFFIXES)}, got {unknown or []}")
        object.__setattr__(self, "formats", tuple(dict.fromkeys([MOT, *self.formats])))


def formats(config: OutputConfig, only_person: bool) -> tuple[str, ...]:
    """The formats a run writes (see `OutputConfig`)."""
    if config.formats is not None:
        return config.formats
    return (MOT,) if only_person else (MOT, CLASS_FORMAT)


def file_names(alias: str, chosen: Iterable[str]) -> list[str]:
    """The track files of one sequence name in `chosen` formats."""
    return [f"{alias}{SUFFIXES[f]}" for f in chosen]


def benchmark_view(result: FrameResult, keep: frozenset[int]) -> FrameResult:
    """`result` with only the tracks whose class is in `keep` (what the `.txt` holds)."""
    t = result.tracks
    mask = np.isin(t.classes, list(keep))
    if mask.all():
        return result
    tracks = Tracks(t.ids[mask], t.boxes[mask], t.scores[mask], t.detected[mask], t.classes[mask])
    return replace(result, tracks=tracks)


@dataclass(frozen=True, eq=False)
class TrackRows:
    """Every track of every frame as rows (0-based frames, xyxy boxes), sorted by frame then id,
    without boxes the `.txt` would leave out."""

    frames: np.ndarray
    ids: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    detected: np.ndarray

    @classmethod
    def from_results(cls, results: Sequence[FrameResult]) -> TrackRows:
        parts = [(np.full(len(r.tracks), r.frame_index), r.tracks) for r in results]
        cat = np.concatenate

        def join(name: str, empty: np.ndarray) -> np.ndarray:
            return cat([empty, *(getattr(t, name) for _, t in parts)])

        frames = cat([np.zeros(0, np.int64), *(f for f, _ in parts)])
        boxes = cat([np.zeros((0, 4), np.float32), *(t.boxes for _, t in parts)])
        wh = np.round(xyxy_to_xywh(boxes).astype(np.float64)[:, 2:], DECIMALS)
        valid = np.isfinite(boxes).all(axis=1) & (wh > 0).all(axis=1)
        ids = join("ids", np.zeros(0, np.int64))
        order = np.lexsort((ids, frames))
        order = order[valid[order]]
        return cls(
            frames[order],
            ids[order],
            join("classes", np.zeros(0, np.int64))[order],
            join("scores", np.zeros(0, np.float32))[order],
            boxes[order],
            join("detected", np.zeros(0, bool))[order],
        )

    def __len__(self) -> int:
        return len(self.frames)

    def mot_rows(self) -> motchallenge.MotRows:
        """As result rows with the track classes, boxes rounded as the `.txt` stores them (so
        that per-class scores match the official ones computed from the file)."""
        xywh = xyxy_to_xywh(self.boxes).astype(np.float64)
        xywh[:, :2] += motchallenge.MOT_OFFSET
        xywh = np.round(xywh, DECIMALS)
        xywh[:, :2] -= motchallenge.MOT_OFFSET
        n = len(self)
        return motchallenge.MotRows(
            self.frames, self.ids, xywh_to_xyxy(xywh), self.scores, self.classes, np.ones(n)
        )

    def records(self, names: Mapping[int, str]) -> Iterable[tuple]:
        """(frame, id, class id, class name or None, score or None, x1, y1, x2, y2, detected)
        per row, numbers rounded as written."""
        boxes = np.round(self.boxes.astype(np.float64), DECIMALS).tolist()
        for f, i, c, s, box, d in zip(
            self.frames.tolist(),
            self.ids.tolist(),
            self.classes.tolist(),
            self.scores.astype(np.float64).tolist(),
            boxes,
            self.detected.tolist(),
            strict=True,
        ):
            score = round(s, DECIMALS) if math.isfinite(s) else None
            yield (f, i, c, names.get(c), score, *box, bool(d))


def format_csv(rows: TrackRows, names: Mapping[int, str]) -> str:
    """CSV with a header (`CSV_COLUMNS`); unknown class name and score are empty, detected 1/0."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f, i, c, name, score, x1, y1, x2, y2, d in rows.records(names):
        nums = (f"{v:.{DECIMALS}f}" for v in (x1, y1, x2, y2))
        score_text = "" if score is None else f"{score:.{DECIMALS}f}"
        writer.writerow((f, i, c, name or "", score_text, *nums, int(d)))
    return out.getvalue()


def format_jsonl(rows: TrackRows, names: Mapping[int, str]) -> str:
    """One JSON object a line: frame, id, class_id, class_name (null: unknown), score, box
    [x1, y1, x2, y2], detected."""
    lines = []
    for f, i, c, name, score, x1, y1, x2, y2, d in rows.records(names):
        record = {"frame": f, "id": i, "class_id": c, "class_name": name, "score": score}
        record |= {"box": [x1, y1, x2, y2], "detected": d}
        lines.append(json.dumps(record, allow_nan=False) + "\n")
    return "".join(lines)


FORMATTERS = {"csv": format_csv, "jsonl": format_jsonl}


class TrackWriter:
    """Collects a sequence's `FrameResult`s and writes its track files in `formats`, each under
    every name in `aliases` inside `folder`, once the block ends without an exception.

    `names`: the detector's class id -> name; `keep`: the classes the `.txt` holds
    (`classes.benchmark_classes`). `rows` holds every track once written.
    """

    def __init__(
        self,
        folder: Path,
        aliases: Sequence[str],
        formats: Sequence[str],
        names: Mapping[int, str],
        keep: frozenset[int],
    ) -> None:
        self.folder, self.aliases, self.formats = folder, list(aliases), list(formats)
        self.names, self.keep = dict(names), keep
        self.rows: TrackRows | None = None
        self._results: list[FrameResult] = []
        for alias in self.aliases:
            for name in file_names(alias, self.formats):
                check_writable(folder / name, False)

    def add(self, result: FrameResult) -> None:
        self._results.append(result)

    def close(self) -> None:
        mot_paths = [self.folder / f"{a}{SUFFIXES[MOT]}" for a in self.aliases]
        view = [benchmark_view(r, self.keep) for r in self._results]
        motchallenge.write_results(mot_paths, view)
        self.rows = TrackRows.from_results(self._results)
        for fmt in self.formats:
            if fmt == MOT:
                continue
            text = FORMATTERS[fmt](self.rows, self.names)
            for alias in self.aliases:
                atomic_write_text(self.folder / f"{alias}{SUFFIXES[fmt]}", text)

    def __enter__(self) -> TrackWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
