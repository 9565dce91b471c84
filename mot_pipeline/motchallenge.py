"""MOTChallenge files: seqinfo.ini, det/gt/result text files, submission archives.

This is the only module that knows MOTChallenge's 1-based frame numbers and pixel coordinates;
everything it returns is 0-based (frames and boxes, see `boxes.py`).
"""

from __future__ import annotations

import configparser
import math
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Literal

import numpy as np

from mot_pipeline.boxes import as_boxes, xywh_to_xyxy, xyxy_to_xywh
from mot_pipeline.errors import InputError
from mot_pipeline.fileio import atomic_write, atomic_write_text, check_writable
from mot_pipeline.types import Detections, FrameResult, group_by_frame


@dataclass(frozen=True)
class SequenceInfo:
    """The `[Sequence]` section of a seqinfo.ini."""

    name: str
    frame_rate: float
    length: int
    width: int
    height: int
    im_dir: str = "img1"
    im_ext: str = ".jpg"


def read_seqinfo(seq_dir: str | Path) -> SequenceInfo:
    """Parse `seq_dir/seqinfo.ini`; a missing or malformed file, or a frame rate, length or
    image size that is not a positive finite number, raises `InputError`."""
    path = Path(seq_dir) / "seqinfo.ini"
    if not path.is_file():
        raise InputError("not a MOTChallenge sequence (no seqinfo.ini)", Path(seq_dir))
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8-sig"), source=str(path))
        sec = parser["Sequence"]
        info = SequenceInfo(
            name=sec.get("name", Path(seq_dir).name),
            frame_rate=float(sec["frameRate"]),
            length=int(sec["seqLength"]),
            width=int(sec["imWidth"]),
            height=int(sec["imHeight"]),
            im_dir=sec.get("imDir", "img1"),
            im_ext=sec.get("imExt", ".jpg"),
        )
    except (KeyError, ValueError, configparser.Error) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"malformed seqinfo.ini ({first_line})", path) from None
    except OSError as err:
        raise InputError(f"cannot read ({err.strerror or err})", path) from None
    if not (math.isfinite(info.frame_rate) and info.frame_rate > 0):
        raise InputError(f"frameRate must be a positive number, got {info.frame_rate}", path)
    for key, value in (
        ("seqLength", info.length),
        ("imWidth", info.width),
        ("imHeight", info.height),
    ):
        if value <= 0:
            raise InputError(f"{key} must be positive, got {value}", path)
    return info


# --------------------------------------------------------------------------------------------
# Text files (det.txt, gt.txt, tracker results)
# --------------------------------------------------------------------------------------------

MotKind = Literal["det", "gt", "result"]
KINDS: tuple[str, ...] = ("det", "gt", "result")
GT_STYLE_MOT15 = "mot15"  # 10 columns: ..., consider flag, world x, y, z
GT_STYLE_MOT16 = "mot16"  # 9 columns: ..., consider flag, class, visibility (MOT16/17/20)
GT_COLUMNS = {9: GT_STYLE_MOT16, 10: GT_STYLE_MOT15}
MIN_COLUMNS = {"det": 7, "gt": 9, "result": 6, "target": 6}  # "target": `read_target_boxes`
# Column indices of the MOTChallenge text format (0-based within a row).
COL_FRAME, COL_ID, COL_LEFT, COL_TOP, COL_WIDTH, COL_HEIGHT, COL_CONF = range(7)
COL_CLASS, COL_VISIBILITY = 7, 8
# The first MOTChallenge frame and pixel are 1, ours are 0.
MOT_OFFSET = 1
MOT_CLASS_IDS = range(1, 14)  # pedestrian (1) ... crowd (13), as in the MOT16 paper
BOX_DECIMALS = 3  # 1/1000 px: the round trip stays well under 1e-2 px
SCORE_DECIMALS = 3
UNUSED = -1  # MOTChallenge's placeholder for absent columns (class, world coordinates)
# Boxes and scores are stored as float32; a larger magnitude would become inf.
MAX_FLOAT32 = float(np.finfo(np.float32).max)
# Frames and ids are integers read through float64, exact up to 2**53; beyond, they are garbage.
MAX_INTEGER = 2**53


def _frozen(values: object, dtype: type) -> np.ndarray:
    arr = np.array(values, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class MotRows:
    """A parsed MOTChallenge text file, converted to 0-based frames and xyxy pixel boxes.

    `scores` is the confidence column; for ground truth it is the consider flag (1 = a target,
    0 = ignore). `classes` is -1 and `visibility` 1 where the file has no such column. `style`
    records the ground-truth flavour (`"mot15"` or `"mot16"`, None for det/result) because the
    official evaluation rules differ between them. Rows keep file order; arrays are read-only.
    """

    frames: np.ndarray
    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    visibility: np.ndarray
    kind: str = "result"
    style: str | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        boxes = as_boxes(self.boxes)
        n = len(boxes)
        object.__setattr__(self, "boxes", _frozen(boxes, np.float32))
        for name, dtype in (
            ("frames", np.int64),
            ("ids", np.int64),
            ("scores", np.float32),
            ("classes", np.int64),
            ("visibility", np.float32),
        ):
            arr = np.asarray(getattr(self, name), dtype=dtype).reshape(-1)
            if arr.shape[0] != n:
                raise ValueError(f"MotRows.{name} has {arr.shape[0]} entries for {n} boxes")
            object.__setattr__(self, name, _frozen(arr, dtype))
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @classmethod
    def empty(cls, kind: str = "result", path: Path | None = None) -> MotRows:
        z = np.zeros(0)
        return cls(z, z, np.zeros((0, 4)), z, z, z, kind=kind, path=path)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def num_frames(self) -> int:
        """Frames spanned from frame 0 to the last frame with a row (0 when empty)."""
        return int(self.frames.max()) + 1 if len(self) else 0

    def select(self, index: np.ndarray) -> MotRows:
        """Subset by boolean mask or integer index (keeps kind, style and path)."""
        return replace(
            self,
            frames=self.frames[index],
            ids=self.ids[index],
            boxes=self.boxes[index],
            scores=self.scores[index],
            classes=self.classes[index],
            visibility=self.visibility[index],
        )

    def frame(self, frame_index: int) -> MotRows:
        """The rows of one 0-based frame."""
        return self.select(self.frames == frame_index)

    def frame_groups(self) -> dict[int, np.ndarray]:
        """0-based frame -> row indices (file order), for per-frame loops without O(N·F) scans."""
        return group_by_frame(self.frames)


def _split_line(line: str) -> list[str]:
    """Comma or whitespace separated fields; one trailing comma is tolerated."""
    if "," not in line:
        return line.split()
    parts = [p.strip() for p in line.split(",")]
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def _parse_table(path: Path, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """All rows as a float64 (N, C) table (short rows padded with NaN) and their line numbers."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not data
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a MOTChallenge text file", path) from None
    except UnicodeDecodeError:
        raise InputError("not a text file", path) from None
    except OSError as err:
        raise InputError(f"cannot read ({err.strerror or err})", path) from None
    min_cols = MIN_COLUMNS[kind]
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = _split_line(line)
        if len(fields) < min_cols:
            raise InputError(
                f"line {line_number}: {len(fields)} columns, a {kind} row needs at least "
                f"{min_cols}",
                path,
            )
        try:
            values = [float(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not _is_float(f))
            raise InputError(f"line {line_number}: non-numeric value {bad!r}", path) from None
        if not all(math.isfinite(v) for v in values):
            raise InputError(f"line {line_number}: NaN or infinite value", path)
        if any(abs(v) > MAX_FLOAT32 for v in values):
            raise InputError(
                f"line {line_number}: value out of range (over {MAX_FLOAT32:.3g})", path
            )
        rows.append(values)
        line_numbers.append(line_number)
    width = max((len(r) for r in rows), default=min_cols)
    table = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    return table, np.asarray(line_numbers, dtype=np.int64)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fail_at(path: Path, lines: np.ndarray, bad: np.ndarray, problem: str) -> None:
    """Raise `InputError` naming the first line where `bad` is True."""
    if bad.any():
        raise InputError(f"line {int(lines[np.argmax(bad)])}: {problem}", path)


def _check_integral(path: Path, lines: np.ndarray, values: np.ndarray, what: str) -> None:
    _fail_at(path, lines, values != np.round(values), f"{what} must be an integer")


def _gt_style(path: Path, table: np.ndarray, lines: np.ndarray) -> str:
    """MOT15 (10 columns) or MOT16/17/20 (9 columns), decided for the whole file."""
    counts = (~np.isnan(table)).sum(axis=1)
    first = int(counts[0])
    if first not in GT_COLUMNS:
        raise InputError(
            f"line {int(lines[0])}: {first} columns; ground truth needs 9 (MOT16/17/20: flag, "
            "class, visibility) or 10 (MOT15: flag, world x, y, z)",
            path,
        )
    _fail_at(path, lines, counts != first, f"column count differs from line {lines[0]} ({first})")
    return GT_COLUMNS[first]


def read_mot_file(path: str | Path, kind: MotKind) -> MotRows:
    """Read a MOTChallenge det (`kind="det"`), ground-truth (`"gt"`) or tracker result file.

    Everything a user can get wrong raises `InputError` naming the file and line: non-numeric
    or non-finite values, too few columns, frame < 1, non-integer frame/id, and for gt and
    results a width/height <= 0 or a (frame, id) pair that occurs twice. Detections of zero
    size or outside the image are kept: detectors do produce them and the consumer filters.
    An empty det/result file is valid (no rows); an empty gt file is not.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = Path(path)
    table, lines = _parse_table(path, kind)
    n = len(table)
    if n == 0:
        if kind == "gt":
            raise InputError("ground-truth file has no rows", path)
        return MotRows.empty(kind, path)

    frames, ids = table[:, COL_FRAME], table[:, COL_ID]
    _check_integral(path, lines, frames, "frame")
    _fail_at(path, lines, frames < MOT_OFFSET, f"frame must be >= {MOT_OFFSET}")
    _check_integral(path, lines, ids, "id")
    for values, what in ((frames, "frame"), (ids, "id")):
        _fail_at(path, lines, np.abs(values) > MAX_INTEGER, f"{what} out of range")
    wh = table[:, [COL_WIDTH, COL_HEIGHT]]
    if kind != "det":
        _fail_at(path, lines, (wh <= 0).any(axis=1), "width and height must be > 0")

    style = None
    scores = np.ones(n)
    classes = np.full(n, UNUSED)
    visibility = np.ones(n)
    if kind == "gt":
        style = _gt_style(path, table, lines)
        scores = table[:, COL_CONF]
        _fail_at(path, lines, ~np.isin(scores, (0, 1)), "consider flag (column 7) must be 0 or 1")
        if style == GT_STYLE_MOT16:
            classes = table[:, COL_CLASS]
            _check_integral(path, lines, classes, "class")
            _fail_at(
                path,
                lines,
                ~np.isin(classes, np.asarray(MOT_CLASS_IDS)),
                f"class must be in {MOT_CLASS_IDS.start}..{MOT_CLASS_IDS.stop - 1}",
            )
            visibility = table[:, COL_VISIBILITY]
    elif kind == "det":
        scores = table[:, COL_CONF]
    else:
        has_conf = ~np.isnan(table[:, COL_CONF]) if table.shape[1] > COL_CONF else np.zeros(n, bool)
        if has_conf.any():
            scores = np.where(has_conf, table[:, COL_CONF], 1.0)
        if table.shape[1] > COL_CLASS:
            cls = table[:, COL_CLASS]
            # Column 8 is a class only where it holds an integer; otherwise (world x) unused.
            is_class = ~np.isnan(cls) & (cls == np.round(cls))
            classes = np.where(is_class, np.nan_to_num(cls), UNUSED)

    if kind != "det":
        _check_unique_pairs(path, lines, frames, ids)

    left_top = table[:, [COL_LEFT, COL_TOP]] - MOT_OFFSET
    boxes = xywh_to_xyxy(np.concatenate([left_top, wh], axis=1))
    return MotRows(
        frames=frames.astype(np.int64) - MOT_OFFSET,
        ids=ids.astype(np.int64),
        boxes=boxes,
        scores=scores,
        classes=np.asarray(classes).astype(np.int64),
        visibility=visibility,
        kind=kind,
        style=style,
        path=path,
    )


def _check_unique_pairs(path: Path, lines: np.ndarray, frames: np.ndarray, ids: np.ndarray) -> None:
    pairs = np.stack([frames, ids], axis=1)
    _, first, counts = np.unique(pairs, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        seen = np.zeros(len(pairs), bool)
        seen[first] = True
        dup = int(np.argmax(~seen))
        raise InputError(
            f"line {int(lines[dup])}: duplicate id {int(ids[dup])} in frame {int(frames[dup])}",
            path,
        )


def detections_by_frame(rows: MotRows, num_frames: int | None = None) -> dict[int, Detections]:
    """Public detections per 0-based frame.

    Frames without rows are absent unless `num_frames` is given, in which case every frame
    `0..num_frames-1` is present (empty where nothing was detected). Classes are 0 (all public
    MOTChallenge detections are people). Zero-size or off-image boxes are passed on as they are.
    """
    out: dict[int, Detections] = {}
    if num_frames is not None:
        out = {f: Detections.empty() for f in range(num_frames)}
    for frame, idx in rows.frame_groups().items():
        if num_frames is not None and frame >= num_frames:
            continue
        out[frame] = Detections(rows.boxes[idx], rows.scores[idx])
    return out


def read_detections(path: str | Path, num_frames: int | None = None) -> dict[int, Detections]:
    """`detections_by_frame(read_mot_file(path, "det"), num_frames)`."""
    return detections_by_frame(read_mot_file(path, "det"), num_frames)


def read_target_boxes(
    path: str | Path, num_frames: int | None = None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Boxes to follow without a detector (`mot-run --detector none --init FILE`): rows
    `frame, id, left, top, width, height`, 1-based as in MOT files, further columns ignored (so
    a gt.txt's rows work), on one or more frames. Returns 0-based frame -> (ids int64, boxes
    float32 xyxy), in file order. `InputError` naming the file (and line) for an empty file,
    too few columns, a non-numeric value, a frame < 1 or past `num_frames`, an id that is not an
    integer >= 1, a width or height <= 0, or an id twice on one frame."""
    path = Path(path)
    table, lines = _parse_table(path, "target")
    if len(table) == 0:
        raise InputError("no target boxes (empty file)", path)
    frames, ids = table[:, COL_FRAME], table[:, COL_ID]
    for values, what in ((frames, "frame"), (ids, "id")):
        _check_integral(path, lines, values, what)
        _fail_at(path, lines, values < MOT_OFFSET, f"{what} must be >= {MOT_OFFSET}")
        _fail_at(path, lines, values > MAX_INTEGER, f"{what} out of range")
    if num_frames is not None:
        past = frames > num_frames
        frame = int(frames[np.argmax(past)]) if past.any() else 0
        _fail_at(path, lines, past, f"frame {frame} is past the sequence's {num_frames} frames")
    wh = table[:, [COL_WIDTH, COL_HEIGHT]]
    _fail_at(path, lines, (wh <= 0).any(axis=1), "width and height must be > 0")
    _check_unique_pairs(path, lines, frames, ids)
    left_top = table[:, [COL_LEFT, COL_TOP]] - MOT_OFFSET
    boxes = as_boxes(xywh_to_xyxy(np.concatenate([left_top, wh], axis=1)))
    by_frame = group_by_frame(frames.astype(np.int64) - MOT_OFFSET)
    return {f: (ids[rows].astype(np.int64), boxes[rows]) for f, rows in by_frame.items()}


# --------------------------------------------------------------------------------------------
# Writing results (atomic, through `fileio`)
# --------------------------------------------------------------------------------------------


def rows_from_frame_results(frame_results: Iterable[FrameResult]) -> MotRows:
    """Collect pipeline output into result rows (0-based; frames must not repeat)."""
    parts: list[tuple[np.ndarray, ...]] = []
    seen: set[int] = set()
    for fr in frame_results:
        if fr.frame_index in seen:
            raise ValueError(f"frame {fr.frame_index} emitted twice")
        if fr.frame_index < 0:
            raise ValueError(f"negative frame index {fr.frame_index}")
        seen.add(fr.frame_index)
        t = fr.tracks
        parts.append((np.full(len(t), fr.frame_index), t.ids, t.boxes, t.scores))
    if not parts:
        return MotRows.empty("result")
    frames, ids, boxes, scores = (np.concatenate(p) for p in zip(*parts, strict=True))
    n = len(frames)
    return MotRows(frames, ids, boxes, scores, np.full(n, UNUSED), np.ones(n), kind="result")


def _sorted_mot_boxes(rows: MotRows) -> tuple[np.ndarray, np.ndarray]:
    """Row order (frame, then id) and the 1-based `left, top, width, height` of every row,
    rounded as written; rows whose box is not finite or rounds to a side of 0 are left out of
    the order."""
    xywh = xyxy_to_xywh(rows.boxes).astype(np.float64)
    xywh[:, :2] += MOT_OFFSET
    xywh = np.round(xywh, BOX_DECIMALS)
    keep = np.isfinite(xywh).all(axis=1) & (xywh[:, 2:] > 0).all(axis=1)
    order = np.lexsort((rows.ids, rows.frames))
    return order[keep[order]], xywh


def _mot_lines(rows: MotRows, order: np.ndarray, xywh: np.ndarray, tails: list[str]) -> str:
    b = BOX_DECIMALS
    return "".join(
        f"{f + MOT_OFFSET},{i},{x:.{b}f},{y:.{b}f},{w:.{b}f},{h:.{b}f},{tail}\n"
        for f, i, (x, y, w, h), tail in zip(
            rows.frames[order].tolist(),
            rows.ids[order].tolist(),
            xywh[order].tolist(),
            tails,
            strict=True,
        )
    )


def format_result_rows(rows: MotRows) -> tuple[str, int]:
    """MOTChallenge result text (`frame,id,left,top,width,height,conf,-1,-1,-1`, 1-based,
    sorted by frame then id) and the number of rows left out because their box is not finite or
    rounds to a width/height of 0 (such rows would make the file invalid for evaluators)."""
    order, xywh = _sorted_mot_boxes(rows)
    scores = np.nan_to_num(rows.scores.astype(np.float64), nan=0.0)
    tails = [f"{c:.{SCORE_DECIMALS}f},-1,-1,-1" for c in scores[order].tolist()]
    return _mot_lines(rows, order, xywh, tails), len(rows) - len(order)


def format_gt_rows(rows: MotRows) -> str:
    """Ground-truth text in the style it was read in (`rows.style`): MOT15 `...,flag,-1,-1,-1`
    (world coordinates are not kept), MOT16/17/20 `...,flag,class,visibility`; 1-based, sorted
    by frame then id. A box that cannot be written raises ValueError: ground truth stays whole."""
    if rows.kind != "gt" or rows.style not in GT_COLUMNS.values():
        raise ValueError("format_gt_rows needs ground-truth rows with a style")
    order, xywh = _sorted_mot_boxes(rows)
    if len(order) != len(rows):
        raise ValueError("ground truth with a box that is not finite or has no area")
    flags = rows.scores[order].tolist()
    if rows.style == GT_STYLE_MOT15:
        tails = [f"{c:g},-1,-1,-1" for c in flags]
    else:
        classes, visibility = rows.classes[order].tolist(), rows.visibility[order].tolist()
        extra = zip(flags, classes, visibility, strict=True)
        tails = [f"{c:g},{k},{v:g}" for c, k, v in extra]
    return _mot_lines(rows, order, xywh, tails)


def format_seqinfo(info: SequenceInfo) -> str:
    """A seqinfo.ini for `info`, as MOTChallenge writes it."""
    return (
        f"[Sequence]\nname={info.name}\nimDir={info.im_dir}\nframeRate={info.frame_rate:g}\n"
        f"seqLength={info.length}\nimWidth={info.width}\nimHeight={info.height}\n"
        f"imExt={info.im_ext}\n"
    )


def write_result_rows(
    paths: str | Path | Sequence[str | Path], rows: MotRows, overwrite: bool = False
) -> int:
    """Write `rows` as a MOTChallenge result to one path or several names (e.g. the MOT17
    DPM/FRCNN/SDP aliases of one sequence). All targets are checked before any is written.
    Returns the number of rows left out (see `format_result_rows`)."""
    targets = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    for p in targets:
        check_writable(p, overwrite)
    text, skipped = format_result_rows(rows)
    for p in targets:
        atomic_write_text(p, text, overwrite=overwrite)
    return skipped


def write_results(
    paths: str | Path | Sequence[str | Path],
    frame_results: Iterable[FrameResult],
    overwrite: bool = False,
) -> int:
    """Write pipeline output as a MOTChallenge result file (or several alias names); atomic,
    refuses to replace an existing file unless `overwrite`. Returns the rows left out."""
    targets = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    for p in targets:  # fail before consuming a (possibly long-running) frame iterator
        check_writable(p, overwrite)
    return write_result_rows(targets, rows_from_frame_results(frame_results), overwrite)


class ResultWriter:
    """Collects `FrameResult`s as the pipeline emits them and writes the file on `close()`.

    As a context manager it writes only when the block ends without an exception, so an
    interrupted run leaves no result file behind. Existing targets are refused up front.
    """

    def __init__(self, paths: str | Path | Sequence[str | Path], overwrite: bool = False) -> None:
        self.paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
        self.overwrite = overwrite
        self.skipped = 0
        self._results: list[FrameResult] = []
        self._closed = False
        for p in self.paths:
            check_writable(p, overwrite)

    def add(self, frame_result: FrameResult) -> None:
        if self._closed:
            raise RuntimeError("ResultWriter is closed")
        self._results.append(frame_result)

    def close(self) -> None:
        """Write all targets (once)."""
        if not self._closed:
            self._closed = True
            self.skipped = write_results(self.paths, self._results, self.overwrite)

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True


ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
ZIP_FILE_MODE = 0o100644  # a regular file, rw-r--r--
ZIP_COMPRESS_LEVEL = 6  # zlib's default, fixed here so that archives do not depend on it


def write_submission_zip(
    result_files: Iterable[str | Path], zip_path: str | Path, overwrite: bool = False
) -> Path:
    """Pack result files into a MOTChallenge submission archive (each file at the archive root,
    as the server expects). Atomic; duplicate file names or missing files raise `InputError`.

    Reproducible: the same file contents give a byte-identical archive whenever and wherever
    they are packed (members sorted by name, each with a fixed time, permissions and deflate
    level; nothing is taken from the files' metadata).
    """
    files = sorted((Path(p) for p in result_files), key=lambda p: p.name)
    names = [p.name for p in files]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"several result files named {', '.join(dup)}", zip_path)
    for p in files:
        if not p.is_file():
            raise InputError("result file not found", p)

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w") as zf:
            for p in files:
                info = zipfile.ZipInfo(p.name, date_time=ZIP_DATE_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so that the permissions below are read as such
                info.external_attr = ZIP_FILE_MODE << 16
                zf.writestr(info, p.read_bytes(), compresslevel=ZIP_COMPRESS_LEVEL)

    return atomic_write(zip_path, write, overwrite)
