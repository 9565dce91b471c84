"""`mot-bench variants`: derived MOTChallenge sequences, to check a setting beyond the sequences
it was tuned on.

With four annotated sequences, every design choice is measured on the data it was chosen
from. Four transforms make sequences the tracker has not seen, with exact ground truth:
- "flip": every frame mirrored left-right. The detector sees new images (its boxes are not
  simply mirrored), people walk the other way, and who occludes whom at which frame edge
  changes.
- "half": every second frame, at half the frame rate: twice the motion between frames, and a
  detection interval k spans twice the time.
- "reverse": the frames in reverse order. Entries become exits and occlusions unfold the other
  way round; a track starts where it used to end, from different first detections.
- "small": every frame at half its width and height (area resampling). Targets are half as
  tall, so the tracker resizes frames differently, and the detector sees blurrier people.
- "offset1" .. "offset4" (not made by default): the sequence without its first 1 .. 4 frames.
  A detector run every k frames then sees other frames than on the original (another
  detection phase): the same people and motion, different detections and association events.
  It shows how much a per-sequence score depends on which frames happened to be detected.
Ground truth is transformed with the frames (boxes mirrored or scaled in 0-based pixel
coordinates; frames renumbered); a MOT15 gt keeps its consider flag but not its world
coordinates, which no metric here uses.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from mot_pipeline import motchallenge
from mot_pipeline.bench import annotated_sources
from mot_pipeline.errors import InputError
from mot_pipeline.motchallenge import MotRows, SequenceInfo
from mot_pipeline.sources import Sequence as Source

KINDS = ("flip", "half", "reverse", "small")
OFFSETS = {f"offset{n}": n for n in range(1, 5)}  # kind -> frames dropped from the start
OFFSET_KINDS = tuple(OFFSETS)
HALF_STEP = 2  # "half" keeps frames 0, 2, 4, ...
SMALL_SCALE = 0.5  # "small" frames are this fraction of the original width and height


def flip_rows(rows: MotRows, width: int) -> MotRows:
    """Boxes mirrored left-right in a frame `width` px wide (pixel i covers [i, i + 1))."""
    boxes = rows.boxes.copy()
    boxes[:, [0, 2]] = width - rows.boxes[:, [2, 0]]
    return replace(rows, boxes=boxes)


def half_rows(rows: MotRows) -> MotRows:
    """The rows of every `HALF_STEP`-th frame, renumbered 0, 1, 2, ..."""
    kept = rows.select(rows.frames % HALF_STEP == 0)
    return replace(kept, frames=kept.frames // HALF_STEP)


def reverse_rows(rows: MotRows, length: int) -> MotRows:
    """The rows of a sequence of `length` frames played backwards (frame f -> length - 1 - f)."""
    return replace(rows, frames=length - 1 - rows.frames)


def offset_rows(rows: MotRows, dropped: int) -> MotRows:
    """The rows of a sequence without its first `dropped` frames, renumbered from 0."""
    kept = rows.select(rows.frames >= dropped)
    return replace(kept, frames=kept.frames - dropped)


def scale_rows(rows: MotRows, sx: float, sy: float) -> MotRows:
    """Boxes of frames resized by (sx, sy): 0-based corners scale exactly."""
    return replace(rows, boxes=rows.boxes * np.array([sx, sy, sx, sy], np.float32))


def _small_size(info: SequenceInfo) -> tuple[int, int]:
    return max(1, round(info.width * SMALL_SCALE)), max(1, round(info.height * SMALL_SCALE))


def _variant(
    kind: str, info: SequenceInfo, gt: MotRows, length: int
) -> tuple[SequenceInfo, MotRows]:
    """The variant's seqinfo (its length is set once written) and ground truth, for a source
    of `length` frames."""
    new = replace(info, name=f"{info.name}-{kind}")
    if kind == "flip":
        return new, flip_rows(gt, info.width)
    if kind == "half":
        return replace(new, frame_rate=info.frame_rate / HALF_STEP), half_rows(gt)
    if kind == "reverse":
        return new, reverse_rows(gt, length)
    if kind in OFFSETS:
        return new, offset_rows(gt, OFFSETS[kind])
    width, height = _small_size(info)
    scaled = scale_rows(gt, width / info.width, height / info.height)
    return replace(new, width=width, height=height), scaled


def make_variants(
    paths: Iterable[str | Path],
    output: str | Path,
    kinds: Sequence[str] = KINDS,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Write `output/<name>-<kind>/` for every sequence under `paths` (MOTChallenge layout,
    with gt) and every kind; existing variants are replaced, each only once complete."""
    unknown = sorted(set(kinds) - set(KINDS + OFFSET_KINDS))
    if unknown:
        raise ValueError(f"unknown variant kind(s) {unknown}; choose from {KINDS + OFFSET_KINDS}")
    sources = annotated_sources(paths, "transform")  # only MOTChallenge sequences have it
    longest_drop = max((OFFSETS.get(kind, 0) for kind in kinds), default=0)
    for source in sources:  # before anything is written
        if longest_drop >= len(source.image_paths):
            frames = len(source.image_paths)
            raise InputError(f"{frames} frames: too few for offset{longest_drop}", source.path)
    output = Path(output)
    written = []
    for source in sources:
        info = motchallenge.read_seqinfo(source.path)
        gt = motchallenge.read_mot_file(source.gt_path, "gt")
        for kind in dict.fromkeys(kinds):
            new_info, new_gt = _variant(kind, info, gt, len(source.image_paths))
            dest, frames = _write(source, new_info, new_gt, kind, output)
            written.append(dest)
            log(f"{source.name} -> {dest} ({frames} frames)")
    return written


def _write(
    source: Source, info: SequenceInfo, gt: MotRows, kind: str, output: Path
) -> tuple[Path, int]:
    """Build the sequence in a hidden folder beside its target, then move it into place."""
    dest = output / info.name
    tmp = output / f".{info.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        count = _write_images(source, kind, info, tmp / info.im_dir)
        (tmp / "gt").mkdir()
        (tmp / "gt" / "gt.txt").write_text(motchallenge.format_gt_rows(gt))
        (tmp / "seqinfo.ini").write_text(motchallenge.format_seqinfo(replace(info, length=count)))
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest, count


def _write_images(source: Source, kind: str, info: SequenceInfo, images: Path) -> int:
    """The variant's frames as 000001... in `images`; returns how many. "half", "reverse" and
    "offsetN" copy the image files as they are; "flip" and "small" decode, transform and
    re-encode."""
    images.mkdir(parents=True)
    copied = _copied_frames(kind)
    if copied is not None:
        kept = source.image_paths[copied]
        for count, path in enumerate(kept, 1):
            shutil.copyfile(path, images / f"{count:06d}{info.im_ext}")
        return len(kept)
    count = 0
    for count, (_, frame) in enumerate(source.frames(), 1):
        if kind == "flip":
            out = np.ascontiguousarray(frame[:, ::-1])
        else:
            out = cv2.resize(frame, (info.width, info.height), interpolation=cv2.INTER_AREA)
        path = images / f"{count:06d}{info.im_ext}"
        if not cv2.imwrite(str(path), out):
            raise InputError("could not write image", path)
    return count


def _copied_frames(kind: str) -> slice | None:
    """The source frames a kind keeps unchanged, in order; None where it re-encodes them."""
    if kind == "half":
        return slice(None, None, HALF_STEP)
    if kind == "reverse":
        return slice(None, None, -1)
    if kind in OFFSETS:
        return slice(OFFSETS[kind], None)
    return None
