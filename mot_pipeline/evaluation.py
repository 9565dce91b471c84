"""MOTChallenge scores: CLEAR-MOT and IDF1 (motmetrics), HOTA (TrackEval), official rules.

The official preprocessing (which gt rows are targets, which tracker boxes are ignored) is
implemented once in `preprocess_sequence`, following TrackEval's
`MotChallenge2DBox.get_preprocessed_seq_data`, and both libraries score the same preprocessed
frames, so MOTA, IDF1 and HOTA always agree on what counted:

* MOT15 ground truth (10 columns): rows with consider flag 0 are dropped; nothing else.
* MOT16/17/20 ground truth (9 columns): per frame, tracker boxes are Hungarian-matched
  (IoU >= 0.5) against *all* gt boxes; those matched to a distractor class (person on vehicle,
  static person, distractor, reflection; in MOT20 also non-MOT vehicle) are removed. Then only
  gt rows of class pedestrian with flag 1 remain targets.

motmetrics does the CLEAR accounting and the global IDF1 assignment, TrackEval's HOTA class the
HOTA; the per-frame CLEAR correspondences themselves follow TrackEval's rule (`_clear_distances`)
because motmetrics' own matcher differs from the official one on real sequences.

Metric values are fractions (MOTA 0.5 = 50 %); MOTP is the mean IoU of matched pairs, as
TrackEval and the MOTChallenge site report it (motmetrics' own `motp` is 1 - IoU).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from mot_pipeline.boxes import iou_matrix
from mot_pipeline.classes import MOT_PEDESTRIAN, mot_class
from mot_pipeline.errors import InputError
from mot_pipeline.fileio import atomic_write_text
from mot_pipeline.motchallenge import GT_STYLE_MOT16, MotRows, SequenceInfo

IOU_THRESHOLD = 0.5
EPS = float(np.finfo(float).eps)  # TrackEval's tolerance on thresholds
CONTINUATION_BONUS = 1000.0  # > any sum of IoUs in a frame's matching (TrackEval's value)
PEDESTRIAN = MOT_PEDESTRIAN  # MOT16/17/20 gt class 1
# person_on_vehicle, static_person, distractor, reflection (MOT16 paper, TrackEval's list)
DISTRACTOR_CLASSES = (2, 7, 8, 12)
MOT20_DISTRACTOR_CLASSES = (*DISTRACTOR_CLASSES, 6)  # + non_mot_vehicle
MOT20_PREFIX = "MOT20"
OVERALL = "OVERALL"
METRIC_KEYS = ("MOTA", "IDF1", "HOTA", "MOTP", "IDSW", "FP", "FN", "num_frames")

# motmetrics metric name -> our key; CLEAR ones from the CLEAR accumulator, identity ones
# from the identity accumulator (int metrics are cast to int).
_MM_CLEAR_FLOAT = {"mota": "MOTA", "recall": "Recall", "precision": "Precision"}
_MM_ID_FLOAT = {"idf1": "IDF1", "idp": "IDP", "idr": "IDR"}
_MM_INT = {
    "num_switches": "IDSW",
    "num_false_positives": "FP",
    "num_misses": "FN",
    "num_frames": "num_frames",
    "mostly_tracked": "MT",
    "mostly_lost": "ML",
    "num_fragmentations": "Frag",
    "num_objects": "num_gt",
    "num_unique_objects": "num_gt_ids",
    "num_predictions": "num_predictions",
}
_HOTA_FIELDS = ("HOTA", "DetA", "AssA", "LocA")

Metrics = dict[str, Any]
Report = dict[str, Any]


@dataclass(frozen=True, eq=False)
class SequencePair:
    """One sequence to score. `mot20=None` infers the MOT20 distractor list from the name."""

    name: str
    gt: MotRows
    result: MotRows
    info: SequenceInfo | None = None
    mot20: bool | None = None


@dataclass(frozen=True, eq=False)
class PreprocessedSequence:
    """Per-frame targets and tracker boxes after the official rules, in TrackEval's layout.

    Ids are relabelled to 0..n-1 (HOTA indexes arrays by id); `similarity[t]` is the IoU of
    gt (rows) and tracker boxes (columns) of frame t.
    """

    name: str
    num_frames: int
    gt_ids: tuple[np.ndarray, ...]
    tracker_ids: tuple[np.ndarray, ...]
    similarity: tuple[np.ndarray, ...]
    num_gt_ids: int
    num_tracker_ids: int
    num_ignored: int  # tracker boxes removed because they matched a distractor

    @property
    def num_gt_dets(self) -> int:
        return sum(len(ids) for ids in self.gt_ids)

    @property
    def num_tracker_dets(self) -> int:
        return sum(len(ids) for ids in self.tracker_ids)

    def trackeval_data(self) -> dict[str, Any]:
        """The dict TrackEval's metrics' `eval_sequence` take."""
        return {
            "seq": self.name,
            "num_timesteps": self.num_frames,
            "num_gt_ids": self.num_gt_ids,
            "num_tracker_ids": self.num_tracker_ids,
            "num_gt_dets": self.num_gt_dets,
            "num_tracker_dets": self.num_tracker_dets,
            "gt_ids": list(self.gt_ids),
            "tracker_ids": list(self.tracker_ids),
            "similarity_scores": list(self.similarity),
        }


def _relabel(per_frame: list[np.ndarray]) -> tuple[tuple[np.ndarray, ...], int]:
    """Map ids to 0..n-1 in sorted order (as TrackEval does)."""
    unique = np.unique(np.concatenate([*per_frame, np.zeros(0, np.int64)]))
    return tuple(np.searchsorted(unique, ids).astype(np.int64) for ids in per_frame), len(unique)


def sequence_length(gt: MotRows, result: MotRows, info: SequenceInfo | None) -> int:
    """Frames to score: seqinfo's length, else the ground truth's last frame.

    Rows past that length mean the file belongs to another sequence (or is broken), so they
    raise `InputError` rather than being silently dropped, or, without a seqinfo.ini, scored
    over every frame up to theirs (a stray row at frame 1e9 would allocate without bound).
    """
    if info is None:
        if result.num_frames > gt.num_frames:
            raise InputError(
                f"has rows for frame {result.num_frames} but the ground truth ends at frame "
                f"{gt.num_frames} (no seqinfo.ini gives the sequence length)",
                result.path,
            )
        return gt.num_frames
    for rows in (gt, result):
        if rows.num_frames > info.length:
            raise InputError(
                f"has rows for frame {rows.num_frames} but {info.name} has {info.length} frames",
                rows.path,
            )
    return info.length


def preprocess_sequence(
    gt: MotRows,
    result: MotRows,
    num_frames: int,
    name: str = "sequence",
    distractor_classes: Iterable[int] = DISTRACTOR_CLASSES,
    target_class: int = PEDESTRIAN,
    use_flag: bool = True,
) -> PreprocessedSequence:
    """Apply the official MOTChallenge rules (see the module docstring) to one sequence.

    `target_class` and `use_flag` serve per-class scoring (`evaluate_per_class`): MOT16/17/20
    gt rows of another class are the targets, and their consider flag, 0 on every
    non-pedestrian row of those benchmarks, is not read."""
    if gt.kind != "gt":
        raise ValueError(f"gt must be read with kind='gt', got {gt.kind!r}")
    distractors = np.asarray(tuple(distractor_classes), dtype=np.int64)
    mot16 = gt.style == GT_STYLE_MOT16
    gt_groups, tr_groups = gt.frame_groups(), result.frame_groups()
    gt_ids: list[np.ndarray] = []
    tr_ids: list[np.ndarray] = []
    sims: list[np.ndarray] = []
    num_ignored = 0
    none = np.zeros(0, np.int64)
    for t in range(num_frames):
        gi = gt_groups.get(t, none)
        ti = tr_groups.get(t, none)
        for rows, idx in ((gt, gi), (result, ti)):
            if len(np.unique(rows.ids[idx])) != len(idx):
                raise ValueError(f"{name}: {rows.kind} has a repeated id in frame {t}")
        sim = iou_matrix(gt.boxes[gi], result.boxes[ti]).astype(np.float64)
        keep_tr = np.ones(len(ti), dtype=bool)
        if mot16 and len(distractors) and len(gi) and len(ti):
            scores = np.where(sim >= IOU_THRESHOLD - EPS, sim, 0.0)
            rows, cols = linear_sum_assignment(-scores)
            matched = scores[rows, cols] > EPS
            rows, cols = rows[matched], cols[matched]
            keep_tr[cols[np.isin(gt.classes[gi][rows], distractors)]] = False
            num_ignored += int((~keep_tr).sum())
        is_target = gt.scores[gi] != 0 if use_flag else np.ones(len(gi), bool)
        if mot16:
            is_target &= gt.classes[gi] == target_class
        gt_ids.append(gt.ids[gi][is_target])
        tr_ids.append(result.ids[ti][keep_tr])
        sims.append(np.ascontiguousarray(sim[is_target][:, keep_tr]))
    gt_labels, num_gt_ids = _relabel(gt_ids)
    tr_labels, num_tr_ids = _relabel(tr_ids)
    return PreprocessedSequence(
        name=name,
        num_frames=num_frames,
        gt_ids=gt_labels,
        tracker_ids=tr_labels,
        similarity=tuple(sims),
        num_gt_ids=num_gt_ids,
        num_tracker_ids=num_tr_ids,
        num_ignored=num_ignored,
    )


def _id_distances(seq: PreprocessedSequence) -> list[np.ndarray]:
    """Per-frame distances (1 - IoU) of every pair that may match; NaN below IoU 0.5."""
    return [np.where(sim >= IOU_THRESHOLD - EPS, 1.0 - sim, np.nan) for sim in seq.similarity]


def _clear_distances(seq: PreprocessedSequence) -> list[np.ndarray]:
    """Per-frame distances restricted to the pairs the official CLEAR matching picks.

    The rule (TrackEval's CLEAR): in each frame, pairs that continue the previous frame's
    match get a bonus that outweighs any IoU, then the Hungarian algorithm maximises total IoU
    over pairs with IoU >= 0.5. "Previous frame" is the last frame where both sides had boxes.
    motmetrics' own matcher differs (it revives a correspondence from any earlier frame and
    prefers more matches over higher IoU), which changes IDSW/FP/FN on real sequences; with one
    finite entry per row/column it can only take these matches, and does the accounting.
    """
    prev_match = np.full(seq.num_gt_ids, -1, dtype=np.int64)  # tracker label; -1 = none
    out: list[np.ndarray] = []
    for g, h, sim in zip(seq.gt_ids, seq.tracker_ids, seq.similarity, strict=True):
        dist = np.full(sim.shape, np.nan)
        if len(g) and len(h):
            score = CONTINUATION_BONUS * (h[None, :] == prev_match[g][:, None]) + sim
            score[sim < IOU_THRESHOLD - EPS] = 0.0
            rows, cols = linear_sum_assignment(-score)
            matched = score[rows, cols] > EPS
            rows, cols = rows[matched], cols[matched]
            dist[rows, cols] = 1.0 - sim[rows, cols]
            prev_match[:] = -1
            prev_match[g[rows]] = h[cols]
        out.append(dist)
    return out


def _accumulate(seq: PreprocessedSequence, distances: list[np.ndarray]) -> Any:
    """A motmetrics accumulator over every frame of `seq`."""
    import motmetrics as mm  # heavy (pandas): imported only when scoring

    acc = mm.MOTAccumulator(auto_id=False)
    for t, (g, h, dist) in enumerate(zip(seq.gt_ids, seq.tracker_ids, distances, strict=True)):
        acc.update(g, h, dist, frameid=t)
    return acc


def _finite(value: Any) -> float:
    v = float(value)
    return v if math.isfinite(v) else math.nan


def _metrics(
    clear: Any, ident: Any, hota: Mapping[str, Any], num_ids: int, num_ignored: int
) -> Metrics:
    """One metrics dict from motmetrics' CLEAR and identity rows and TrackEval's HOTA result."""
    out: Metrics = {
        "MOTA": _finite(clear["mota"]),
        "IDF1": _finite(ident["idf1"]),
        "HOTA": float(np.mean(hota["HOTA"])),
        "MOTP": _finite(1.0 - clear["motp"]),
    }
    for src, dst in _MM_INT.items():
        out[dst] = int(clear[src])
    for src, dst in _MM_CLEAR_FLOAT.items():
        out.setdefault(dst, _finite(clear[src]))
    for src, dst in _MM_ID_FLOAT.items():
        out.setdefault(dst, _finite(ident[src]))
    for field in _HOTA_FIELDS[1:]:
        out[field] = float(np.mean(hota[field]))
    out["num_ids"] = num_ids
    out["num_ignored"] = num_ignored
    return {**{k: out[k] for k in METRIC_KEYS}, **out}


def _as_pair(p: SequencePair | tuple[Any, ...]) -> SequencePair:
    return p if isinstance(p, SequencePair) else SequencePair(*p)


def _checked(pairs: Iterable[SequencePair | tuple[Any, ...]]) -> list[SequencePair]:
    items = [_as_pair(p) for p in pairs]
    names = [p.name for p in items]
    if not items:
        raise ValueError("nothing to evaluate")
    if len(set(names)) != len(names):
        raise ValueError(f"sequence names must be unique: {names}")
    return items


def _distractors(pair: SequencePair) -> tuple[int, ...]:
    mot20 = pair.name.upper().startswith(MOT20_PREFIX) if pair.mot20 is None else pair.mot20
    return MOT20_DISTRACTOR_CLASSES if mot20 else DISTRACTOR_CLASSES


def evaluate(pairs: Iterable[SequencePair | tuple[Any, ...]]) -> Report:
    """Score several sequences: `{"sequences": {name: metrics}, "overall": metrics}`.

    `pairs` holds `SequencePair`s or tuples `(name, gt, result[, info[, mot20]])`. Overall
    CLEAR/IDF1 come from motmetrics' OVERALL (counts summed over sequences), overall HOTA from
    TrackEval's `combine_sequences`.
    """
    items = _checked(pairs)
    # Every sequence's frame range is checked before any is scored.
    lengths = [sequence_length(p.gt, p.result, p.info) for p in items]
    return score(
        [
            preprocess_sequence(p.gt, p.result, num_frames, p.name, _distractors(p))
            for p, num_frames in zip(items, lengths, strict=True)
        ]
    )


def score(sequences: list[PreprocessedSequence]) -> Report:
    """CLEAR/IDF1 (motmetrics) and HOTA (TrackEval) of preprocessed sequences, as `evaluate`."""
    import motmetrics as mm
    from trackeval.metrics import HOTA

    names = [seq.name for seq in sequences]
    hota_metric = HOTA()
    clear_accs, id_accs, hota_res, num_ids, ignored = [], [], {}, {}, {}
    for seq in sequences:
        clear_accs.append(_accumulate(seq, _clear_distances(seq)))
        id_accs.append(_accumulate(seq, _id_distances(seq)))
        hota_res[seq.name] = hota_metric.eval_sequence(seq.trackeval_data())
        num_ids[seq.name], ignored[seq.name] = seq.num_tracker_ids, seq.num_ignored

    host = mm.metrics.create()
    clear = host.compute_many(
        clear_accs,
        metrics=[*_MM_CLEAR_FLOAT, "motp", *_MM_INT],
        names=names,
        generate_overall=True,
    )
    ident = host.compute_many(
        id_accs, metrics=list(_MM_ID_FLOAT), names=names, generate_overall=True
    )
    per_sequence = {
        n: _metrics(clear.loc[n], ident.loc[n], hota_res[n], num_ids[n], ignored[n]) for n in names
    }
    overall = _metrics(
        clear.loc[OVERALL],
        ident.loc[OVERALL],
        hota_metric.combine_sequences(hota_res),
        sum(num_ids.values()),
        sum(ignored.values()),
    )
    return {"sequences": per_sequence, "overall": overall}


def evaluate_per_class(
    pairs: Iterable[SequencePair | tuple[Any, ...]], tracked: Mapping[int, str]
) -> dict[str, Report]:
    """Scores per tracked class (`tracked`: the detector's class id -> name; the result rows'
    `classes` are those ids), for each class with a MOT16/17/20 gt class
    (`classes.MOT_CLASS_BY_NAME`) and over the sequences whose gt has a class column.

    Person: the official rule on the person tracks (pedestrians with flag 1 are targets, tracks
    on persons on vehicles, static persons, distractors and reflections are ignored). Car,
    bicycle, motorcycle: every gt row of the class is a target (the benchmarks flag all of them
    0) and nothing is ignored; a track of another class never counts for it.
    """
    items = [p for p in _checked(pairs) if p.gt.style == GT_STYLE_MOT16]
    lengths = [sequence_length(p.gt, p.result, p.info) for p in items]
    reports: dict[str, Report] = {}
    for class_id, name in tracked.items():
        target = mot_class(name)
        if target is None or not items:
            continue
        official = target == PEDESTRIAN
        sequences = []
        for p, num_frames in zip(items, lengths, strict=True):
            rows = p.result.select(p.result.classes == class_id)
            distractors = _distractors(p) if official else ()
            sequences.append(
                preprocess_sequence(
                    p.gt, rows, num_frames, p.name, distractors, target, use_flag=official
                )
            )
        reports[name] = score(sequences)
    return reports


def evaluate_sequence(
    gt: MotRows,
    result: MotRows,
    info: SequenceInfo | None = None,
    name: str | None = None,
    mot20: bool | None = None,
) -> Metrics:
    """Score one sequence; the name (default: seqinfo's, else the result file's stem) only
    matters for recognising MOT20."""
    if name is None:
        name = info.name if info else (result.path.stem if result.path else "sequence")
    return evaluate([SequencePair(name, gt, result, info, mot20)])["sequences"][name]


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------

_PERCENT = ("MOTA", "IDF1", "HOTA", "MOTP")
_COUNTS = (("IDSW", "IDSW"), ("FP", "FP"), ("FN", "FN"), ("Frames", "num_frames"))
_OPTIONAL_RATES = ("fps", "fps_e2e")  # added by the runner when it timed the run


def _cell(value: Any, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if percent:
        return f"{100.0 * value:.1f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def format_table(report: Report) -> str:
    """An aligned text table: one row per sequence and OVERALL; scores in percent. A report
    with `per_class` scores (`evaluate_per_class`) adds each class's overall row."""
    rows = [*report["sequences"].items(), (OVERALL, report["overall"])]
    per_class = [(f"class {c}", r["overall"]) for c, r in report.get("per_class", {}).items()]
    rows += per_class
    rates = [k for k in _OPTIONAL_RATES if any(k in m for _, m in rows)]
    header = ["Sequence", *_PERCENT, *(h for h, _ in _COUNTS), *rates]
    body = [
        [
            name,
            *(_cell(m.get(k), percent=True) for k in _PERCENT),
            *(_cell(m.get(k)) for _, k in _COUNTS),
            *(_cell(m.get(k)) for k in rates),
        ]
        for name, m in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    sep = "-" * len(line(header))
    first = len(body) - len(per_class)  # rows up to OVERALL
    lines = [line(header), sep, *(line(r) for r in body[: first - 1]), sep, line(body[first - 1])]
    if per_class:
        lines += [sep, *(line(r) for r in body[first:])]
    return "\n".join(lines)


def jsonable(value: Any) -> Any:
    """Plain JSON values: NaN/inf (e.g. MOTA without any target) become null, numpy scalars and
    arrays become numbers and lists, anything else unknown its string."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def write_metrics_json(report: Report, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write the report as JSON, atomically. An existing file is replaced (the default: callers
    such as `mot-run` refuse it up front) or, with `overwrite=False`, refused (`InputError`)."""
    text = json.dumps(jsonable(report), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(path, text, overwrite=overwrite)
