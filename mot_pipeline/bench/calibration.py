"""`mot-bench calibrate`: does a SiamFC-family tracker's score say whether a propagated box is
still on its target, and the Platt scaling that turns its peak logit into that probability.

Samples: the pipeline runs exactly as in `mot-bench accuracy` (the preset, cached detections,
every k). After each frame, every live track whose box is not this frame's detection gives
one sample: the raw peak logit behind its score, its state (tracked, lost, tentative) and a
label, 1 when its box overlaps the gt box of its target by IoU >= 0.5. A track's target is
the gt object its detection matched (Hungarian on IoU, at least 0.5) at the last detector
frame that corrected it; a track whose detection matched no object has none (label 0). Gt
objects: MOT15 rows with consider flag 1, MOT16+ pedestrians with flag 1 (`mvot`'s rule).

Fit: a logistic regression of the label on the logit (Platt scaling), p = sigmoid(score_scale *
logit + score_bias), over the samples of all sequences and intervals; SiamMT's config takes
the two numbers (`SiamParams.score_scale`, `score_bias`). The report gives, per state, the
AUC of the logit (0.5: the score ranks on-target boxes no better than chance, and no
calibration can make it a useful gate) and a reliability table by logit decile, the net's own
sigmoid beside the fitted one. Measurements: docs/DECISIONS.md ("SiamMT: a calibrated score").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mot_pipeline.bench.report import markdown_header, markdown_table
from mot_pipeline.config import RunConfig
from mot_pipeline.errors import InputError

ON_TARGET_IOU = 0.5  # a box on its target: MOTA's match threshold
DEFAULT_DETECT_EVERY = (5, 10)
RELIABILITY_BINS = 10
LOGIT_LIMIT = 30.0  # a float32 probability cannot say more; keeps the fit finite
STATE_NAMES = {0: "tentative", 1: "tracked", 2: "lost"}


@dataclass(frozen=True)
class CalibrateConfig:
    """The run (preset), the intervals to sample at, threads and detection cache."""

    run: RunConfig = field(default_factory=RunConfig)
    detect_every: tuple[int, ...] = DEFAULT_DETECT_EVERY
    threads: int | None = None
    cache_dir: str | Path | None = None

    def __post_init__(self) -> None:
        if not self.detect_every or min(self.detect_every) < 1:
            raise InputError(f"detect-every values must be >= 1, got {list(self.detect_every)}")


@dataclass(frozen=True, eq=False)
class Samples:
    """One row per (propagated track, frame): raw logit, state, on-target label, and which
    sequence and interval it came from."""

    logits: np.ndarray
    states: np.ndarray
    labels: np.ndarray
    sequence: np.ndarray
    detect_every: np.ndarray

    @staticmethod
    def concat(parts: Sequence[Samples]) -> Samples:
        names = [f.name for f in dataclasses.fields(Samples)]
        return Samples(*(np.concatenate([getattr(p, n) for p in parts]) for n in names))

    def select(self, mask: np.ndarray) -> Samples:
        return Samples(*(getattr(self, f.name)[mask] for f in dataclasses.fields(self)))


@dataclass(frozen=True)
class Platt:
    """p = sigmoid(scale * logit + bias)."""

    scale: float = 1.0
    bias: float = 0.0

    def probability(self, logits: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.scale * np.asarray(logits, np.float64) + self.bias)))


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> Platt:
    """The (scale, bias) of least logistic loss: Newton steps on the two parameters, halved
    while the loss does not fall (plain Newton overshoots on saturated logits)."""
    x = np.clip(np.asarray(logits, np.float64), -LOGIT_LIMIT, LOGIT_LIMIT)
    y = np.asarray(labels, np.float64)
    if len(x) == 0 or y.min() == y.max():
        raise InputError("calibration needs both on-target and off-target samples")
    design = np.stack([x, np.ones_like(x)], axis=1)

    def loss(w: np.ndarray) -> float:
        z = design @ w
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    w = np.array([1.0, 0.0])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        grad = design.T @ (p - y) / len(x)
        hess = (design * (p * (1 - p))[:, None]).T @ design / len(x) + 1e-9 * np.eye(2)
        step, current = np.linalg.solve(hess, grad), loss(w)
        while loss(w - step) > current and np.abs(step).max() > 1e-12:
            step = step / 2
        w = w - step
        if np.abs(step).max() < 1e-10:
            break
    return Platt(float(w[0]), float(w[1]))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties count half): the chance that a random on-target sample
    scores above a random off-target one; nan without both kinds."""
    labels = np.asarray(labels, bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]  # average rank of each tie group
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(p: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    y = np.asarray(labels, np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def reliability(samples: Samples, fit: Platt, bins: int = RELIABILITY_BINS) -> list[dict]:
    """Per logit quantile bin: its range, count, on-target rate, and the mean probability of
    the net's own sigmoid and of the fit (a calibrated score matches the rate)."""
    x = np.clip(samples.logits, -LOGIT_LIMIT, LOGIT_LIMIT)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for b in range(len(edges) - 1):
        m = which == b
        if m.any():
            rows.append(
                {
                    "logit_from": float(edges[b]),
                    "logit_to": float(edges[b + 1]),
                    "count": int(m.sum()),
                    "on_target": float(samples.labels[m].mean()),
                    "net": float(Platt().probability(x[m]).mean()),
                    "fitted": float(fit.probability(x[m]).mean()),
                }
            )
    return rows


def summary(samples: Samples, fit: Platt) -> dict[str, Any]:
    """Counts, on-target rate, AUC and log losses, overall and per state and interval."""

    def part(s: Samples) -> dict[str, Any]:
        x = np.clip(s.logits, -LOGIT_LIMIT, LOGIT_LIMIT)
        return {
            "samples": len(x),
            "on_target": float(s.labels.mean()) if len(x) else math.nan,
            "auc": auc(x, s.labels),
            "log_loss_net": log_loss(Platt().probability(x), s.labels) if len(x) else math.nan,
            "log_loss_fitted": log_loss(fit.probability(x), s.labels) if len(x) else math.nan,
        }

    rows = [{"part": "all", **part(samples)}]
    for code, name in STATE_NAMES.items():
        rows.append({"part": name, **part(samples.select(samples.states == code))})
    for k in np.unique(samples.detect_every).tolist():
        rows.append({"part": f"k={k}", **part(samples.select(samples.detect_every == k))})
    return {"rows": rows}


def gt_objects(gt: Any) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """0-based frame -> (object ids, their xyxy boxes) of the gt rows that count as targets."""
    from mot_pipeline.bench.mvot import PEDESTRIAN
    from mot_pipeline.motchallenge import GT_STYLE_MOT16

    keep = gt.scores != 0
    if gt.style == GT_STYLE_MOT16:
        keep &= gt.classes == PEDESTRIAN
    frames, ids, boxes = gt.frames[keep] - 1, gt.ids[keep], gt.boxes[keep].astype(np.float32)
    return {int(f): (ids[frames == f], boxes[frames == f]) for f in np.unique(frames)}


class TargetLabeller:
    """Follows which gt object each track is on (set where a detection corrects it) and
    labels the other live tracks of a frame: on target or not."""

    def __init__(self, objects: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        self.objects = objects
        self.target: dict[int, int] = {}  # track id -> gt object id, -1: none

    def frame(self, frame_index: int, ids, boxes, detected) -> tuple[np.ndarray, np.ndarray]:
        """For this frame's live tracks (`detected`: their box is this frame's detection),
        the rows of the others and their labels."""
        from association.assign import assign
        from mot_pipeline.boxes import iou_matrix

        gt_ids, gt_boxes = self._gt(frame_index)
        rows = np.flatnonzero(detected)
        iou = iou_matrix(boxes[rows], gt_boxes)
        self.target.update({int(ids[r]): -1 for r in rows})
        for r, g in assign(iou, ON_TARGET_IOU).matches:
            self.target[int(ids[rows[r]])] = int(gt_ids[g])
        rest = np.flatnonzero(~detected)
        ious, column = self.overlaps(frame_index, ids[rest], boxes[rest])
        has = column >= 0
        labels = np.zeros(len(rest), bool)
        labels[has] = ious[has, column[has]] >= ON_TARGET_IOU
        return rest, labels

    def overlaps(self, frame_index: int, ids, boxes) -> tuple[np.ndarray, np.ndarray]:
        """IoU of each track's box with every gt object of the frame (N, G), and the column
        of each track's target (-1: it has none, or its target is not in this frame)."""
        from mot_pipeline.boxes import iou_matrix

        gt_ids, gt_boxes = self._gt(frame_index)
        columns = {int(g): j for j, g in enumerate(gt_ids)}  # gt ids are unique per frame
        column = [columns.get(self.target.get(int(i), -1), -1) for i in ids]
        return iou_matrix(boxes, gt_boxes), np.array(column, np.int64)

    def _gt(self, frame_index: int) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.zeros(0, np.int64), np.zeros((0, 4), np.float32))
        return self.objects.get(frame_index, empty)


def raw_logits(scores: np.ndarray) -> np.ndarray:
    """The logit behind an uncalibrated score sigmoid(logit), within +-LOGIT_LIMIT. A float32
    score keeps it to 1e-3 up to |logit| 8 and to ~0.2 at 15: negligible against the fitted
    scales (~0.2)."""
    p = np.clip(np.asarray(scores, np.float64), 1e-300, 1.0)
    logit = np.log(p) - np.log1p(-np.minimum(p, 1 - 1e-16))
    return np.clip(logit, -LOGIT_LIMIT, LOGIT_LIMIT)


def sample_unit(unit: Any, detections: Any, tracker: Any, run_config: RunConfig, code: int):
    """Run the pipeline over one sequence from cached detections; its `Samples`."""
    from detectors.public import PublicDetections
    from mot_pipeline import motchallenge
    from mot_pipeline.pipeline import Pipeline

    labeller = TargetLabeller(gt_objects(motchallenge.read_mot_file(unit.source.gt_path, "gt")))
    detector = PublicDetections(detections.by_frame, min_score=-math.inf)
    pipeline = Pipeline(detector, tracker, run_config.pipeline, frame_rate=unit.source.frame_rate)
    parts: list[tuple[np.ndarray, ...]] = []
    for index, frame in unit.source.frames():
        pipeline.step(frame)
        life = pipeline.lifecycle
        detected = life.snapshot().detected
        rows, labels = labeller.frame(index, life.ids, life.boxes, detected)
        parts.append((raw_logits(life.scores[rows]), life.states[rows].astype(np.int8), labels))
    logits, states, labels = (np.concatenate(p) for p in zip(*parts, strict=True))
    n, k = len(logits), run_config.pipeline.detect_every
    return Samples(logits, states, labels, np.full(n, code), np.full(n, k))


def uncalibrated(run: RunConfig) -> Any:
    """The preset's tracker config with the net's own score (scale 1, bias 0); InputError when
    the tracker has no score calibration (not a SiamFC-family tracker)."""
    from mot_pipeline.bench import config_fields
    from mot_pipeline.config import tracker_config

    config = tracker_config(run)
    if not {"score_scale", "score_bias"} <= config_fields(config):
        raise InputError(f"tracker {run.tracker} has no score to calibrate (siammt, siamfc do)")
    return dataclasses.replace(config, score_scale=1.0, score_bias=0.0)


def collect(paths: Sequence[str | Path], config: CalibrateConfig, progress: bool, log) -> tuple:
    """Every sequence under `paths` at every interval: the samples and the sequence names."""
    import trackers
    from mot_pipeline.bench import detcache, progress_bar
    from mot_pipeline.bench.accuracy import _cached_detections, _units, run_config_for
    from mot_pipeline.bench.report import cpu_name
    from mot_pipeline.threads import set_threads

    base, ks = config.run, sorted(set(config.detect_every))
    units = _units(paths, base)
    tracker = trackers.create(base.tracker, uncalibrated(base))
    threads = set_threads(config.threads)
    cache = detcache.DetectionCache(config.cache_dir)
    detections = _cached_detections(units, base, ks, cache, threads, cpu_name(), progress)
    log(f"detections: {cache.hits} frames from the cache, {cache.misses} detected")
    parts = []
    with progress_bar(len(ks) * sum(u.source.length for u in units), progress) as bar:
        for k in ks:
            run_config = run_config_for(base, base.tracker, k)
            for code, unit in enumerate(units):
                bar.set_description(f"k={k} {unit.name}")
                parts.append(sample_unit(unit, detections[unit.name], tracker, run_config, code))
                bar.update(unit.source.length)
    return Samples.concat(parts), [u.name for u in units], threads


def run(
    paths: Sequence[str | Path],
    output: str | Path,
    config: CalibrateConfig,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Collect, fit, and write calibration.json and calibration.md; return the report."""
    from mot_pipeline.bench.report import machine_info, new_report, write

    samples, names, threads = collect(paths, config, progress, log)
    fit = fit_platt(samples.logits, samples.labels)
    settings = {
        "sequences": names,
        "tracker": config.run.tracker,
        "tracker_options": dict(config.run.tracker_options),
        "detect_every": sorted(set(config.detect_every)),
        "threads": threads,
        "label": f"IoU >= {ON_TARGET_IOU} with the gt box of the track's target",
    }
    report = new_report("calibration", command, machine_info(), settings)
    report |= {"fit": dataclasses.asdict(fit), **summary(samples, fit)}
    report["reliability"] = reliability(samples, fit)
    header = markdown_header(
        f"Sequences: {', '.join(names)}; {config.run.tracker}; "
        f"{report['machine']['cpu']}, {threads} threads.",
        command,
    )
    text = format_markdown(report)
    log(text.rstrip())
    write(output, report, markdown=header + "\n\n" + text, log=log)
    return report


def format_markdown(report: dict[str, Any]) -> str:
    """The fit as preset lines, the summary table and the reliability table."""
    fit = report["fit"]
    use = "(tracker_options of the preset)"
    if fit["scale"] <= 0:
        use = "(a higher logit is not more often on target here: no calibration applies)"
    lines = [
        f"Fitted: score_scale {fit['scale']:.4f}, score_bias {fit['bias']:.4f} {use}\n",
        markdown_table(
            ["samples", "n", "on target", "AUC", "log loss net", "log loss fitted"],
            (
                [
                    r["part"],
                    str(r["samples"]),
                    f"{r['on_target']:.3f}",
                    f"{r['auc']:.3f}",
                    f"{r['log_loss_net']:.3f}",
                    f"{r['log_loss_fitted']:.3f}",
                ]
                for r in report["rows"]
                if r["samples"]
            ),
        ),
        markdown_table(
            ["logit", "n", "on target", "net p", "fitted p"],
            (
                [
                    f"{r['logit_from']:.2f} .. {r['logit_to']:.2f}",
                    str(r["count"]),
                    f"{r['on_target']:.3f}",
                    f"{r['net']:.3f}",
                    f"{r['fitted']:.3f}",
                ]
                for r in report["reliability"]
            ),
        ),
    ]
    return "\n".join(lines)
