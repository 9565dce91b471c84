"""`mot-bench variants`: derived MOTChallenge sequences, to check a setting beyond the sequences
it was tuned on.

With four annotated sequences, every design choice is measured on the data it was chosen
from. Two transforms make sequences the tracker has not seen, with exact ground truth:
- "flip": every frame mirrored left-right. The detector sees new images (its boxes are not
  simply mirrored), people walk the other way, and who occludes whom at which frame edge
  changes.
- "half": every second frame, at half the frame rate: twice the motion between frames, and a
  detection interval k spans twice the time.
Ground truth is transformed with the frames (boxes mirrored in 0-based pixel coordinates;
frames renumbered); a MOT15 gt keeps its consider flag but not its world coordinates, which no
metric here uses.
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

KINDS = ("flip", "half")
HALF_STEP = 2  # "half" keeps frames 0, 2, 4, ...


def flip_rows(rows: MotRows, width: int) -> MotRows:
    """Boxes mirrored left-right in a frame `width` px wide (pixel i covers [i, i + 1))."""
    boxes = rows.boxes.copy()
    boxes[:, [0, 2]] = width - rows.boxes[:, [2, 0]]
    return replace(rows, boxes=boxes)


def half_rows(rows: MotRows) -> MotRows:
    """The rows of every `HALF_STEP`-th frame, renumbered 0, 1, 2, ..."""
    kept = rows.select(rows.frames % HALF_STEP == 0)
    return replace(kept, frames=kept.frames // HALF_STEP)


def _variant(kind: str, info: SequenceInfo, gt: MotRows) -> tuple[SequenceInfo, MotRows]:
    """The variant's seqinfo (its length is set once written) and ground truth."""
    name = f"{info.name}-{kind}"
    if kind == "flip":
        return replace(info, name=name), flip_rows(gt, info.width)
    return replace(info, name=name, frame_rate=info.frame_rate / HALF_STEP), half_rows(gt)


def make_variants(
    paths: Iterable[str | Path],
    output: str | Path,
    kinds: Sequence[str] = KINDS,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Write `output/<name>-<kind>/` for every sequence under `paths` (MOTChallenge layout,
    with gt) and every kind; existing variants are replaced, each only once complete."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown variant kind(s) {unknown}; choose from {KINDS}")
    sources = annotated_sources(paths, "transform")  # only MOTChallenge sequences have it
    output = Path(output)
    written = []
    for source in sources:
        info = motchallenge.read_seqinfo(source.path)
        gt = motchallenge.read_mot_file(source.gt_path, "gt")
        for kind in dict.fromkeys(kinds):
            new_info, new_gt = _variant(kind, info, gt)
            dest, frames = _write(source, new_info, new_gt, kind, output)
            written.append(dest)
            log(f"{source.name} -> {dest} ({frames} frames)")
    return written


def _write(
    source: Source, info: SequenceInfo, gt: MotRows, kind: str, output: Path
) -> tuple[Path, int]:
    """Build the sequence in a hidden folder beside its target, then move it into place.
    "half" copies the kept image files as they are; "flip" decodes, mirrors and re-encodes."""
    dest = output / info.name
    tmp = output / f".{info.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        images = tmp / info.im_dir
        images.mkdir(parents=True)
        if kind == "half":
            kept = source.image_paths[::HALF_STEP]
            for count, path in enumerate(kept, 1):
                shutil.copyfile(path, images / f"{count:06d}{info.im_ext}")
            count = len(kept)
        else:
            count = 0
            for count, (_, frame) in enumerate(source.frames(), 1):
                path = images / f"{count:06d}{info.im_ext}"
                if not cv2.imwrite(str(path), np.ascontiguousarray(frame[:, ::-1])):
                    raise InputError("could not write image", path)
        (tmp / "gt").mkdir()
        (tmp / "gt" / "gt.txt").write_text(motchallenge.format_gt_rows(gt))
        (tmp / "seqinfo.ini").write_text(motchallenge.format_seqinfo(replace(info, length=count)))
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest, count
