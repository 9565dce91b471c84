"""One long sequence as overlapping chunks tracked in parallel, stitched into one result.

A chunk is frames [start, stop) of a sequence, tracked as a sequence of its own (frame 0 is
`start`, ids from 1, no ground truth). Consecutive chunks overlap by at least `overlap` frames
and every chunk starts on a multiple of the detection interval, so the detector runs on the
same frames as in a single run.

Stitching (`stitch_files`) works on the chunks' track files: the tracks of two consecutive
chunks are matched over their overlap (Hungarian on their mean IoU over the overlap frames of
the shorter of the two, gated at `min_iou`); a matched track keeps the id it had in the earlier
chunk, any other gets a new one, never used before. Each frame comes from one chunk only: up to
the overlap's middle from the earlier chunk (its tracks have history there), from the middle
on from the later one. The ids are matched once per sequence, on its richest file (.csv or
.jsonl: every class; else the .txt), and every file of it (.txt, .csv, .jsonl) is written with
them, so a track has one id in all. What this costs in IDF1 against one run:
docs/DECISIONS.md, "Scale out".
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mot_pipeline.boxes import iou_matrix
from mot_pipeline.errors import InputError
from mot_pipeline.exports import CSV_COLUMNS, MOT, TrackRows
from mot_pipeline.sources import KIND_VIDEO, UNKNOWN_LENGTH, Sequence, video_frames
from mot_pipeline.types import UNKNOWN_CLASS

DEFAULT_OVERLAP = 30  # frames; 1 s at 30 fps, 6 detector frames at k = 5
DEFAULT_MIN_IOU = 0.5  # mean IoU over the overlap for two chunks' tracks to be one person
MIN_COMMON_FRAMES = 2  # frames two chunks' tracks must share to be matched (not a brush past)
MOT_OFFSET = 1  # result files count frames from 1
# A det.txt or result line: the frame, then the rest of the line as written.
_FIRST_FIELD = re.compile(r"\s*([^,\s]+)(.*)", re.DOTALL)


@dataclass(frozen=True)
class ChunkConfig:
    """Chunks of `frames` frames overlapping by `overlap` (`--chunk-frames`,
    `--chunk-overlap`); tracks are joined across chunks at a mean IoU of `min_iou`."""

    frames: int
    overlap: int = DEFAULT_OVERLAP
    min_iou: float = DEFAULT_MIN_IOU

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise InputError(f"--chunk-frames must be >= 2, got {self.frames}")
        if not 1 <= self.overlap < self.frames:
            raise InputError(
                f"--chunk-overlap must be >= 1 and below --chunk-frames ({self.frames}), "
                f"got {self.overlap}"
            )
        if not 0 < self.min_iou <= 1:
            raise ValueError(f"min_iou must be in (0, 1], got {self.min_iou}")


def plan(length: int, config: ChunkConfig, detect_every: int = 1) -> list[tuple[int, int]]:
    """The [start, stop) frame ranges that cover `length` frames; one range when the sequence
    fits in one chunk. Starts are multiples of `detect_every` (each overlap grows by up to
    `detect_every - 1` frames for it)."""
    if length == UNKNOWN_LENGTH:
        raise InputError("cannot split a video into chunks: it does not say how many frames")
    step = config.frames - config.overlap
    if step < detect_every:
        raise InputError(
            f"--chunk-frames minus --chunk-overlap ({step}) must be at least the detection "
            f"interval ({detect_every})"
        )
    spans, start = [], 0
    while True:
        stop = min(start + config.frames, length)
        spans.append((start, stop))
        if stop >= length:
            return spans
        start += step - step % detect_every


@dataclass(frozen=True, eq=False)
class VideoRange(Sequence):
    """Frames [start, start + length) of a video: seeks to `start` rather than decoding
    everything before it (OpenCV's FFmpeg backend seeks to the keyframe before and decodes
    forward to the frame)."""

    start: int = 0

    def frames(
        self, skip_bad: bool = False, warn: Callable[[str], None] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        yield from video_frames(self.path, self.length, skip_bad, warn or _ignore, self.start)


def _ignore(message: str) -> None:
    """No `warn` given: the runner, which reads chunks, always passes one."""


def frame_range(source: Sequence, start: int, stop: int, det_dir: Path | None = None) -> Sequence:
    """Frames [start, stop) of `source` as a sequence of its own (frame 0 is `start`), without
    ground truth. With `det_dir`, its public detections (det.txt) are cut to the range and
    renumbered into files there."""
    if not 0 <= start < stop or (source.length != UNKNOWN_LENGTH and stop > source.length):
        raise ValueError(f"frames [{start}, {stop}) are not in {source.name} ({source.length})")
    fields = {f.name: getattr(source, f.name) for f in dataclasses.fields(source) if f.init}
    fields.update(length=stop - start, gt_path=None)
    if source.kind == KIND_VIDEO:
        fields["start"] = getattr(source, "start", 0) + start
        return VideoRange(**fields)
    fields["image_paths"] = source.image_paths[start:stop]
    if det_dir is not None:
        fields["det_paths"] = {
            alias: _cut_detections(path, start, stop, det_dir / alias / "det.txt")
            for alias, path in source.det_paths.items()
            if path is not None
        }
    return dataclasses.replace(source, **fields)


def _cut_detections(path: Path, start: int, stop: int, target: Path) -> Path:
    """`path`'s rows of (0-based) frames [start, stop), renumbered from frame 1, as `target`."""
    kept = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        match = _FIRST_FIELD.match(line)
        if match is None:
            continue
        frame = int(float(match[1])) - MOT_OFFSET
        if start <= frame < stop:
            kept.append(f"{frame - start + MOT_OFFSET}{match[2]}\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(kept))
    return target


# --------------------------------------------------------------------------------------------
# Stitching: parse each file's rows, match ids once per sequence, write every file with them
# --------------------------------------------------------------------------------------------

# A row split: frame as written, id, xyxy box, the row's text after the id, and its class id
# (`UNKNOWN_CLASS` in the .txt, which has none).
Row = tuple[int, int, list[float], str, int]
_CSV_BOX = slice(CSV_COLUMNS.index("x1"), CSV_COLUMNS.index("y2") + 1)
_CSV_CLASS = CSV_COLUMNS.index("class_id")
# exports.format_jsonl writes frame and id first, as json.dumps spells them.
_JSONL_HEAD = re.compile(r'\{"frame": (-?\d+), "id": (-?\d+)(.*)', re.DOTALL)


def _split_mot(line: str) -> Row:
    frame, track, tail = line.split(",", 2)
    left, top, width, height = (float(v) for v in tail.split(",", 4)[:4])
    return int(frame), int(track), [left, top, left + width, top + height], tail, UNKNOWN_CLASS


def _split_csv(line: str) -> Row:
    frame, track, tail = line.split(",", 2)
    fields = next(csv.reader([line]))  # a class name may be quoted
    box = [float(v) for v in fields[_CSV_BOX]]
    return int(frame), int(track), box, tail, int(fields[_CSV_CLASS])


def _split_jsonl(line: str) -> Row:
    match = _JSONL_HEAD.fullmatch(line)
    if match is None:
        raise ValueError(f"a .jsonl row that does not start with frame and id: {line[:80]}")
    row = json.loads(line)
    return int(match[1]), int(match[2]), row["box"], match[3], int(row["class_id"])


@dataclass(frozen=True)
class _Layout:
    """How one kind of track file (exports.py) writes a row: the number a chunk's first frame
    has, whether a header line comes first, and how a row splits into frame, id, box and the
    rest, and joins again with new ones (the rest as written: scores and boxes keep their text)."""

    first_frame: int
    header: bool
    split: Callable[[str], Row]
    join: Callable[[int, int, str], str]


def _join_csv(frame: int, track: int, tail: str) -> str:
    return f"{frame},{track},{tail}\n"


def _join_jsonl(frame: int, track: int, tail: str) -> str:
    return f'{{"frame": {frame}, "id": {track}{tail}\n'


LAYOUTS: dict[str, _Layout] = {
    MOT: _Layout(MOT_OFFSET, False, _split_mot, _join_csv),
    "csv": _Layout(0, True, _split_csv, _join_csv),
    "jsonl": _Layout(0, False, _split_jsonl, _join_jsonl),
}
# Whose ids every file of a sequence follows: csv and jsonl hold every class, the .txt only
# the benchmark's (persons), so a mapping from it would leave other tracks without an id.
RICHEST_FIRST = ("csv", "jsonl", MOT)


@dataclass(frozen=True, eq=False)
class _Rows:
    """One chunk's rows of one file: absolute 0-based frames, the chunk's ids, xyxy boxes, each
    row's text after the id (kept exactly as written), class ids, and the header line ("" if
    none)."""

    frames: np.ndarray
    ids: np.ndarray
    boxes: np.ndarray
    tails: list[str]
    classes: np.ndarray
    header: str = ""

    @classmethod
    def parse(cls, text: str, start: int, layout: _Layout) -> _Rows:
        lines = text.splitlines()
        header = f"{lines.pop(0)}\n" if layout.header and lines else ""
        frames, ids, boxes, tails, classes = [], [], [], [], []
        for line in lines:
            if not line.strip():
                continue
            frame, track, box, tail, class_id = layout.split(line)
            frames.append(frame - layout.first_frame + start)
            ids.append(track)
            boxes.append(box)
            tails.append(tail)
            classes.append(class_id)
        xyxy = np.asarray(boxes, np.float64).reshape(-1, 4)
        frames_, ids_ = np.asarray(frames, np.int64), np.asarray(ids, np.int64)
        return cls(frames_, ids_, xyxy, tails, np.asarray(classes, np.int64), header)

    def within(self, lo: int, hi: int) -> np.ndarray:
        return np.flatnonzero((self.frames >= lo) & (self.frames < hi))


def _overlap_scores(a: _Rows, b: _Rows, lo: int, hi: int) -> tuple[list, list, np.ndarray]:
    """Track ids of `a` and `b` seen in frames [lo, hi) and, per pair, the mean IoU over the
    frames of the one seen less there (a frame without the other's box counts 0): a track
    that starts or ends inside the overlap is judged on its own frames. Frames where the two
    have different known classes add nothing (a bicycle does not continue its rider's track).
    Pairs with fewer than `MIN_COMMON_FRAMES` frames together score 0."""
    rows_a, rows_b = a.within(lo, hi), b.within(lo, hi)
    ids_a, ids_b = sorted(set(a.ids[rows_a].tolist())), sorted(set(b.ids[rows_b].tolist()))
    col_a, col_b = {t: i for i, t in enumerate(ids_a)}, {t: i for i, t in enumerate(ids_b)}
    total = np.zeros((len(ids_a), len(ids_b)))
    both = np.zeros_like(total)
    seen_a, seen_b = np.zeros(len(ids_a)), np.zeros(len(ids_b))
    for frame in range(lo, hi):
        ra, rb = rows_a[a.frames[rows_a] == frame], rows_b[b.frames[rows_b] == frame]
        ia = [col_a[t] for t in a.ids[ra].tolist()]
        ib = [col_b[t] for t in b.ids[rb].tolist()]
        seen_a[ia] += 1
        seen_b[ib] += 1
        both[np.ix_(ia, ib)] += 1
        ca, cb = a.classes[ra][:, None], b.classes[rb][None, :]
        agree = (ca == cb) | (ca == UNKNOWN_CLASS) | (cb == UNKNOWN_CLASS)
        total[np.ix_(ia, ib)] += iou_matrix(a.boxes[ra], b.boxes[rb]) * agree
    shorter = np.minimum(seen_a[:, None], seen_b[None, :])
    scores = np.divide(total, shorter, out=np.zeros_like(total), where=shorter > 0)
    return ids_a, ids_b, np.where(both >= MIN_COMMON_FRAMES, scores, 0.0)


@dataclass(frozen=True)
class Stitching:
    """One sequence's stitching, matched once on its richest file and applied to each of its
    files (and its `TrackRows`), so that a track has one id in all of them: the chunks' spans,
    `cuts` (chunk i writes frames [cuts[i], cuts[i + 1])) and each chunk's ids -> ids written."""

    spans: list[tuple[int, int]]
    cuts: list[int]
    ids: list[dict[int, int]]

    @classmethod
    def match(cls, chunks: list[_Rows], spans: list[tuple[int, int]], min_iou: float) -> Stitching:
        """Ids by the module docstring's rule: a track matched in the overlap keeps the id it
        had in the earlier chunk, others get a new one, numbered in order of first appearance."""
        from association.assign import assign

        cuts = [0] + [(spans[i + 1][0] + spans[i][1]) // 2 for i in range(len(spans) - 1)]
        cuts.append(spans[-1][1])
        maps: list[dict[int, int]] = []
        to_global: dict[int, int] = {}  # the previous chunk's ids -> ids written
        next_id = 1
        for i, rows in enumerate(chunks):
            inherited: dict[int, int] = {}
            if i > 0:
                lo, hi = spans[i][0], spans[i - 1][1]  # the overlap
                ids_a, ids_b, score = _overlap_scores(chunks[i - 1], rows, lo, hi)
                for r, c in assign(score, min_iou).matches.tolist():
                    if ids_a[r] in to_global:
                        inherited[ids_b[c]] = to_global[ids_a[r]]
            mine: dict[int, int] = {}
            for track in rows.ids[rows.within(cuts[i], cuts[i + 1])].tolist():
                if track not in mine:
                    mine[track] = inherited.get(track) or next_id
                    next_id = max(next_id, mine[track] + 1)
            maps.append(mine)
            # Tracks of this chunk first seen after its cut can still carry over: keep the ids
            # of those matched, the rest get theirs when they are written.
            to_global = {**inherited, **mine}
        return cls(list(spans), cuts, maps)

    def text(self, chunks: list[_Rows], layout: _Layout) -> str:
        """One file from its chunks' rows: each frame from its chunk, frames absolute, ids
        stitched, rows sorted by frame, then id, the first chunk's header on top."""
        rows: list[tuple[int, int, str]] = []
        for i, part in enumerate(chunks):
            for row in part.within(self.cuts[i], self.cuts[i + 1]):
                track = int(part.ids[row])
                if track not in self.ids[i]:
                    raise ValueError(f"chunk {i}: track {track} is not in the file ids came from")
                rows.append((int(part.frames[row]), self.ids[i][track], part.tails[row]))
        rows.sort(key=lambda row: row[:2])
        lines = (layout.join(f + layout.first_frame, t, tail) for f, t, tail in rows)
        return chunks[0].header + "".join(lines)

    def tracks(self, parts: list[TrackRows]) -> TrackRows | None:
        """The chunks' `TrackRows` (frames from 0 in each chunk) as one, for per-class scores;
        None when the ids were matched on a file without some of their tracks (the .txt)."""
        names = [f.name for f in dataclasses.fields(TrackRows)]
        columns: dict[str, list[np.ndarray]] = {n: [] for n in names}
        for i, (part, (start, _)) in enumerate(zip(parts, self.spans, strict=True)):
            frames = part.frames + start
            keep = np.flatnonzero((frames >= self.cuts[i]) & (frames < self.cuts[i + 1]))
            local = part.ids[keep].tolist()
            if not self.ids[i].keys() >= set(local):
                return None
            for n in names:
                columns[n].append(getattr(part, n)[keep])
            columns["frames"][-1] = frames[keep]
            columns["ids"][-1] = np.asarray([self.ids[i][t] for t in local], np.int64)
        joined = {n: np.concatenate(c) for n, c in columns.items()}
        order = np.lexsort((joined["ids"], joined["frames"]))
        return TrackRows(**{n: c[order] for n, c in joined.items()})


def stitch_files(
    texts: Mapping[str, list[str]], spans: list[tuple[int, int]], min_iou: float = DEFAULT_MIN_IOU
) -> tuple[dict[str, str], Stitching]:
    """One sequence's files from their chunks' (`texts[fmt][i]`: the `fmt` file, a key of
    `LAYOUTS`, of frames `spans[i]`), all with the ids matched on the richest of them
    (`RICHEST_FIRST`); the stitched text by format, and the stitching."""
    parsed = {
        fmt: [_Rows.parse(t, s, LAYOUTS[fmt]) for t, (s, _) in zip(chunks, spans, strict=True)]
        for fmt, chunks in texts.items()
    }
    richest = next(fmt for fmt in RICHEST_FIRST if fmt in parsed)
    stitching = Stitching.match(parsed[richest], spans, min_iou)
    return {fmt: stitching.text(rows, LAYOUTS[fmt]) for fmt, rows in parsed.items()}, stitching


def stitch(texts: list[str], spans: list[tuple[int, int]], min_iou: float = DEFAULT_MIN_IOU) -> str:
    """One MOTChallenge result text from its chunks' (`texts[i]` is the result of frames
    `spans[i]`, numbered from 1 within the chunk): frames absolute, ids consistent across
    chunks (module docstring), rows sorted by frame, then id."""
    return stitch_files({MOT: texts}, spans, min_iou)[0][MOT]
