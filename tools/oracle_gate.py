"""Upper bound of gating association by a track score: `mot-bench accuracy` for SiamMT where
the score that `CascadeConfig.min_appearance_score` (0.5) compares is not the net's but the
truth from gt, so the appearance box of a track counts only where it is right:

    python tools/oracle_gate.py OUT on-target SEQ...    # its box has IoU >= 0.5 with its target
    python tools/oracle_gate.py OUT not-drifted SEQ...  # it overlaps no other person more

A track's target is the one `mot-bench calibrate` gives it (`calibration.TargetLabeller`: the
gt object its last detection matched). `on-target` is the event a calibrated score estimates;
`not-drifted` is the case issue 18 names, a box that drifted onto a neighbour. If even the
truth does not help association, no score can (docs/DECISIONS.md, "SiamMT: a calibrated
score"). The pipeline's `match_cascade` and `step` are wrapped for the run only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import mot_pipeline.bench.accuracy as accuracy
import mot_pipeline.pipeline as pipeline_module
from mot_pipeline import motchallenge
from mot_pipeline.bench.calibration import ON_TARGET_IOU, TargetLabeller, gt_objects
from mot_pipeline.config import load_config

GATE = 0.5  # the oracle scores are 0 or 1
LABELS = ("on-target", "not-drifted")


def oracle_scores(label: str, labeller: TargetLabeller, frame_index: int, ids, boxes):
    """1 where the track's box is right by `label`, else 0; tracks without a target: 1 for
    `not-drifted` (there is no one to drift from), 0 for `on-target` (no target to be on)."""
    ious, column = labeller.overlaps(frame_index, ids, boxes)
    scores = np.full(len(ids), 1.0 if label == "not-drifted" else 0.0, np.float32)
    has = column >= 0
    if has.any():
        own = ious[has, column[has]]
        scores[has] = own >= ON_TARGET_IOU if label == "on-target" else own >= ious[has].max(1)
    return scores


@contextlib.contextmanager
def oracle(label: str) -> Iterator[None]:
    """Within: every `mot-bench accuracy` run gates association by the oracle scores."""
    state: dict = {}
    track_unit, cascade, step = (
        accuracy._track_unit,
        pipeline_module.match_cascade,
        pipeline_module.Pipeline.step,
    )

    def track_unit_with_gt(unit, *args):
        gt = motchallenge.read_mot_file(unit.source.gt_path, "gt")
        state["labeller"] = TargetLabeller(gt_objects(gt))
        return track_unit(unit, *args)

    def step_noting_targets(self, frame):
        state["pipeline"] = self
        result = step(self, frame)
        life = self.lifecycle
        detected = life.snapshot().detected
        state["labeller"].frame(self.frame_index - 1, life.ids, life.boxes, detected)
        return result

    def gated_cascade(track_boxes, track_scores, groups, detections, config=None, *a, **k):
        pipe = state["pipeline"]
        ids = pipe.lifecycle.ids
        scores = oracle_scores(label, state["labeller"], pipe.frame_index, ids, track_boxes)
        config = dataclasses.replace(config, min_appearance_score=GATE)
        return cascade(track_boxes, scores, groups, detections, config, *a, **k)

    accuracy._track_unit = track_unit_with_gt
    pipeline_module.match_cascade = gated_cascade
    pipeline_module.Pipeline.step = step_noting_targets
    try:
        yield
    finally:
        accuracy._track_unit = track_unit
        pipeline_module.match_cascade = cascade
        pipeline_module.Pipeline.step = step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("output", type=Path)
    p.add_argument("label", choices=LABELS)
    p.add_argument("paths", nargs="+")
    p.add_argument("--config", help="a mot-run preset (default: the defaults)")
    p.add_argument("-k", "--detect-every", nargs="+", type=int, default=[5, 10])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    config = accuracy.AccuracyConfig(
        run=load_config(args.config),
        methods=("siammt",),
        detect_every=tuple(args.detect_every),
        threads=args.threads,
    )
    with oracle(args.label):
        accuracy.run(args.paths, args.output, config, progress=False, plots=False)


if __name__ == "__main__":
    main()
