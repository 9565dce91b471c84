"""mot-train's data, read from files into the plain objects training takes
(`trackers.siammt.training.pairs.SequenceGt`): the engine knows the file formats and runs the
pipeline, the trainer only sees arrays and a frame reader.

`load_sequence` reads a MOTChallenge sequence folder with gt/gt.txt through the engine's readers
(the one place that knows the format and its 1-based offset) and decodes frames with
`sources.read_image`.

`pseudo_label` makes ground truth from unlabeled video, so SiamMT can adapt to a user's own camera
without labels. The project's own pipeline runs at detect_every 1 (every box a detection); only
confident stretches of its tracks are kept: boxes the detector scored at least `min_score` on the
frame they are reported, consecutive frames only, consecutive boxes overlapping by `min_iou` (a
jump suggests an identity switch), at least `min_length` frames long. Each stretch becomes one id
of a MOTChallenge sequence (frames as images, gt/gt.txt, seqinfo.ini) that `load_sequence` reads
like any other. Confident but incomplete: people the detector missed are not annotated, so a pair
scored against them counts them as background; the `min_score` threshold trades that against
wrong boxes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mot_pipeline.boxes import iou_matrix
from mot_pipeline.errors import InputError
from mot_pipeline.fileio import atomic_write_text
from mot_pipeline.motchallenge import (
    GT_STYLE_MOT16,
    UNUSED,
    MotRows,
    SequenceInfo,
    format_gt_rows,
    format_seqinfo,
    read_mot_file,
)
from mot_pipeline.sources import KIND_MOT, KIND_VIDEO, open_sources, read_image
from trackers.siammt.training.config import PseudoConfig, SamplerConfig
from trackers.siammt.training.pairs import NO_CLASS, GtRows, SequenceGt, usable_rows

PERSON_CLASS = 1  # MOT16's pedestrian
FULLY_VISIBLE = 1.0


@dataclass(frozen=True)
class ImageFiles:
    """A sequence's frame reader for training: 0-based frame -> BGR uint8 (`read_image`)."""

    paths: tuple[Path, ...]

    def __call__(self, index: int) -> np.ndarray:
        return read_image(self.paths[index])


def gt_rows(rows: MotRows) -> GtRows:
    """MOTChallenge gt rows as training's plain arrays: the consider flag (the score column)
    > 0 as `considered`, the absent class column as `NO_CLASS`."""
    classes = np.where(rows.classes == UNUSED, NO_CLASS, rows.classes)
    return GtRows(rows.frames, rows.ids, rows.boxes, rows.scores > 0, classes, rows.visibility)


def load_sequence(path: str | Path, config: SamplerConfig) -> SequenceGt:
    """A MOTChallenge sequence folder with gt/gt.txt; `InputError` naming it otherwise."""
    path = Path(path)
    if not path.exists():
        raise InputError("training data not found", path)
    sources = open_sources(path)
    if len(sources) != 1 or sources[0].kind != KIND_MOT:
        raise InputError("not a MOTChallenge sequence folder (seqinfo.ini, img1/)", path)
    src = sources[0]
    if src.gt_path is None:
        raise InputError("no gt/gt.txt to train on", path)
    mot = read_mot_file(src.gt_path, "gt")
    rows = gt_rows(mot.select(mot.frames < src.length))
    return SequenceGt(
        src.name,
        rows,
        usable_rows(rows, config),
        ImageFiles(tuple(src.image_paths)),
        src.width,
        src.height,
    )


def confident_stretches(
    frames: np.ndarray,
    ids: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    detected: np.ndarray,
    config: PseudoConfig,
) -> np.ndarray:
    """New ids (0: dropped) for per-frame track rows: rows that are detections scored at least
    `min_score`, in stretches of consecutive frames of one track whose consecutive boxes
    overlap by at least `min_iou`, kept if `min_length` frames long."""
    out = np.zeros(len(frames), np.int64)
    keep = detected & (scores >= config.min_score)
    next_id = 1
    for tid in np.unique(ids[keep]):
        rows = np.flatnonzero(keep & (ids == tid))
        rows = rows[np.argsort(frames[rows], kind="stable")]
        cut = np.ones(len(rows), bool)  # True where a new stretch starts
        for k in range(1, len(rows)):
            a, b = rows[k - 1], rows[k]
            overlap = iou_matrix(boxes[a : a + 1], boxes[b : b + 1])[0, 0]
            cut[k] = frames[b] != frames[a] + 1 or overlap < config.min_iou
        starts = np.flatnonzero(cut)
        for s, e in zip(starts, [*starts[1:], len(rows)], strict=True):
            if e - s >= config.min_length:
                out[rows[s:e]] = next_id
                next_id += 1
    return out


def _track(
    video: Path, folder: Path, config: PseudoConfig, log: Callable[[str], None], threads: int | None
):
    """Run the pipeline over `video`, writing its frames as images; returns rows and info."""
    from mot_pipeline.config import RunConfig, tracker_config
    from mot_pipeline.pipeline import Pipeline, PipelineConfig
    from mot_pipeline.runner import make_detector
    from mot_pipeline.threads import set_threads
    from trackers import create

    sources = open_sources(video)
    if len(sources) != 1 or sources[0].kind != KIND_VIDEO:
        raise InputError("not a video file", video)
    source = sources[0]
    run = RunConfig(tracker=config.tracker, detector=config.detector)
    pipeline = Pipeline(
        make_detector(run),
        create(run.tracker, tracker_config(run)),
        PipelineConfig(detect_every=1, lag=0),
        frame_rate=source.frame_rate,
    )
    set_threads(threads)  # after the models: loading YOLO resets torch's thread count
    images = folder / "img1"
    images.mkdir(parents=True, exist_ok=True)
    parts, shape, count = [], None, 0
    for index, frame in source.frames():
        if config.max_frames is not None and index >= config.max_frames:
            break
        if not cv2.imwrite(str(images / f"{index + 1:06d}{config.image_ext}"), frame):
            raise InputError("cannot write frame image", images)
        t = pipeline.step(frame).tracks
        parts.append((np.full(len(t), index), t.ids, t.boxes, t.scores, t.detected))
        shape, count = frame.shape, index + 1
    if count < 2:
        raise InputError("video has fewer than 2 frames", video)
    log(f"pseudo-labels: tracked {count} frames of {video}")
    info = SequenceInfo(
        video.stem, source.frame_rate, count, shape[1], shape[0], images.name, config.image_ext
    )
    return [np.concatenate(p) for p in zip(*parts, strict=True)], info


def pseudo_label(
    video: str | Path,
    root: str | Path,
    config: PseudoConfig,
    log: Callable[[str], None] = print,
    threads: int | None = None,
) -> Path:
    """`root/<video name>/`, a MOTChallenge sequence with pseudo ground truth for `video`
    (reused if an earlier run already wrote it); `threads` as `mot-run --threads`."""
    video = Path(video)
    folder = Path(root) / video.stem
    gt_path = folder / "gt" / "gt.txt"
    if gt_path.is_file() and (folder / "seqinfo.ini").is_file():
        log(f"pseudo-labels: reusing {folder}")
        return folder
    (frames, ids, boxes, scores, detected), info = _track(video, folder, config, log, threads)
    new_ids = confident_stretches(frames, ids, boxes, scores, detected, config)
    kept = new_ids > 0
    if not kept.any():
        raise InputError("no confident track stretch to train on (see pseudo: thresholds)", video)
    n = int(kept.sum())
    rows = MotRows(
        frames[kept],
        new_ids[kept],
        boxes[kept],
        np.ones(n),
        np.full(n, PERSON_CLASS),
        np.full(n, FULLY_VISIBLE),
        kind="gt",
        style=GT_STYLE_MOT16,
    )
    log(f"pseudo-labels: {int(new_ids.max())} track stretches, {n} boxes -> {gt_path}")
    atomic_write_text(folder / "seqinfo.ini", format_seqinfo(info), overwrite=True)
    atomic_write_text(gt_path, format_gt_rows(rows), overwrite=True)
    return folder
