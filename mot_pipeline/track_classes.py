"""Each track's class, kept stable against detectors that flip it for a frame.

Detectors disagree with themselves: a person pushing a bicycle, a child, a suitcase at a
person's side get another class now and then (FastMOT's users report a flip breaking the id,
FastMOT #75). A track's class is therefore a vote over its matched detections: each casts its
score for its class, and the track takes another class only once that class has at least
`min_hits` detections and more summed score than the current one. A single flipped detection
never changes it. Within-class association (`association/cascade.py`) mostly keeps other
classes' detections away; the vote matters where cross-class matching is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from detectors import classes as selection
from mot_pipeline.types import UNKNOWN_CLASS


class ClassVotes:
    """Per-track class votes, rows aligned with the lifecycle's track arrays."""

    def __init__(self, min_hits: int) -> None:
        if min_hits < 1:
            raise ValueError(f"class_min_hits must be >= 1, got {min_hits}")
        self.min_hits = min_hits
        self.classes = np.zeros(0, np.int64)
        # Per track: class -> (summed score, detections).
        self._votes: list[dict[int, tuple[float, int]]] = []

    def append(self, classes: np.ndarray, scores: np.ndarray) -> None:
        """Start tracks with one detection each."""
        self._votes += [{int(c): (float(s), 1)} for c, s in zip(classes, scores, strict=True)]
        self.classes = np.concatenate([self.classes, np.asarray(classes, np.int64)])

    def vote(self, rows: np.ndarray, classes: np.ndarray, scores: np.ndarray) -> None:
        """Count the detections matched to track `rows`; switch a track's class where the rule
        (module docstring) says so."""
        for row, cls, score in zip(rows.tolist(), classes.tolist(), scores.tolist(), strict=True):
            votes = self._votes[row]
            total, hits = votes.get(cls, (0.0, 0))
            votes[cls] = (total + score, hits + 1)
            current = int(self.classes[row])
            if cls == current:
                continue
            if current == UNKNOWN_CLASS or (
                hits + 1 >= self.min_hits and votes[cls][0] > votes.get(current, (0.0, 0))[0]
            ):
                self.classes[row] = cls

    def keep(self, rows: np.ndarray) -> None:
        self._votes = [self._votes[r] for r in rows.tolist()]
        self.classes = self.classes[rows]


def resolve_class_keys(
    by_class: Mapping[str | int, int], names: Mapping[int, str] | None
) -> dict[int, int]:
    """`by_class` keyed by class id: keys may be ids or the detector's class names (`names`,
    id -> name, matched as `--classes` matches them); ValueError naming a key that is neither.
    Without names only ids are known."""
    resolved: dict[int, int] = {}
    for key, value in by_class.items():
        (normal,) = selection.normalize([key]) or (None,)
        if normal is None:
            raise ValueError(f"class {key!r}: name one class, not every class")
        if isinstance(normal, int) and names is None:
            resolved[normal] = value
        elif names is None:
            raise ValueError(f"class {key!r}: the detector's class names are not known")
        else:
            (resolved_id,) = selection.resolve([key], names, "the detector")
            resolved[resolved_id] = value
    return resolved
