"""Frame sources: what `mot-run` accepts as input, opened as a list of `Sequence`.

A path may be a MOTChallenge sequence (seqinfo.ini + img1/), a split folder of sequences (e.g.
MOT17/train), a video file, or a folder of images. Opening checks what can be checked cheaply
(files present, video decodable) so a bad input fails before a long run; frames are decoded
lazily, once, in order, by `Sequence.frames()`.

MOT17 ships every sequence three times (-DPM, -FRCNN, -SDP) with identical images and ground
truth and only the public detections differing. In a split folder they become one `Sequence`
whose `aliases` name all three, so a private-detector run decodes and tracks the images once
and the engine writes one result file per alias.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np

from mot_pipeline.errors import InputError
from mot_pipeline.motchallenge import read_seqinfo

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
# A JPEG starts with the start-of-image marker, whatever the file is called (a PNG named .jpg is
# decoded as the PNG it is).
JPEG_START_MARKER = b"\xff\xd8"
# libjpeg decodes a truncated or overwritten JPEG to an image with grey or garbled rows and only
# prints a warning on the C library's stderr: these are the warnings that mean damaged data.
LIBJPEG_DAMAGE = ("Corrupt JPEG data", "Premature end of JPEG file")
STDERR_FD = 2
# MOT frames are the raw pixels: an EXIF orientation tag must not rotate them.
IMREAD_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
CHECK_FRAMES = ("sample", "all", "none")  # `Sequence.check`: which frames to decode up front
DEFAULT_FRAME_RATE = 30.0  # image folders carry no frame rate; videos may report none
UNKNOWN_LENGTH = -1  # a video whose container does not say how many frames it has
MOT17_ALIAS = re.compile(r"^(MOT17-\d+)-(DPM|FRCNN|SDP)$")

KIND_MOT = "mot"
KIND_VIDEO = "video"
KIND_IMAGES = "images"


@dataclass(frozen=True, eq=False)
class Sequence:
    """One input sequence: its metadata, and its frames through `frames()`.

    `aliases` are the names results are written under: `(name,)` for a plain sequence, the
    three MOT17 variants for a grouped one. `det_paths` maps each alias to its det/det.txt (or
    None); `det_path` is that file for a single-alias sequence and None for a group, whose
    aliases differ exactly in their detections (use `det_path_for(alias)`).
    """

    name: str
    kind: str  # KIND_MOT, KIND_VIDEO or KIND_IMAGES
    path: Path  # the sequence folder, video file or image folder
    frame_rate: float
    width: int
    height: int
    length: int  # number of frames; UNKNOWN_LENGTH when a video does not say
    gt_path: Path | None = None
    det_paths: Mapping[str, Path | None] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    image_paths: tuple[Path, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        aliases = tuple(self.aliases) or (self.name,)
        object.__setattr__(self, "aliases", aliases)
        det_paths = {alias: self.det_paths.get(alias) for alias in aliases}
        object.__setattr__(self, "det_paths", MappingProxyType(det_paths))

    @property
    def det_path(self) -> Path | None:
        return self.det_paths[self.name] if self.aliases == (self.name,) else None

    def det_path_for(self, alias: str) -> Path | None:
        if alias not in self.det_paths:
            raise KeyError(f"{alias!r} is not an alias of {self.name} ({', '.join(self.aliases)})")
        return self.det_paths[alias]

    def frames(
        self, skip_bad: bool = False, warn: Callable[[str], None] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield `(frame_index, image)`: 0-based index, (H, W, 3) uint8 BGR, in order.

        A corrupt frame raises `InputError`, or with `skip_bad` is reported through `warn` and
        replaced by the previous frame (black for the first), so that numbering is kept and
        tracks carry over it. A video that ends before the frame count its header promises is
        an error, or a warning with `skip_bad`.
        """
        warn = warn or stderr_warning
        if self.kind == KIND_VIDEO:
            yield from video_frames(self.path, self.length, skip_bad, warn)
            return
        previous = np.zeros((self.height, self.width, 3), np.uint8)
        for index, path in enumerate(self.image_paths):
            try:
                image = self._image(path)
            except InputError as err:
                if not skip_bad:
                    raise
                warn(f"{err}; frame {index + 1} skipped, the previous frame stands in for it")
                image = previous
            previous = image
            yield index, image

    def _image(self, path: Path) -> np.ndarray:
        image = read_image(path)
        if image.shape[:2] != (self.height, self.width):
            h, w = image.shape[:2]
            raise InputError(f"image is {w}x{h}, the sequence is {self.width}x{self.height}", path)
        return image

    def check(self, mode: str = "sample") -> None:
        """Decode frames up front so that a corrupt one fails before any work: `"sample"` the
        first, middle and last image (a video was already opened), `"all"` every frame (a
        video: decoded to its end against its header's count), `"none"` nothing."""
        if mode not in CHECK_FRAMES:
            raise ValueError(f"mode must be one of {CHECK_FRAMES}, got {mode!r}")
        if mode == "none" or (self.kind == KIND_VIDEO and mode == "sample"):
            return
        if self.kind == KIND_VIDEO:
            for _ in self.frames():
                pass
            return
        paths = self.image_paths
        if mode == "sample":
            paths = tuple(dict.fromkeys((paths[0], paths[len(paths) // 2], paths[-1])))
        for path in paths:
            self._image(path)


def read_image(path: Path) -> np.ndarray:
    """Decode one image as BGR uint8, as stored (no EXIF rotation); the format is taken from
    the content, not the name. An unreadable, corrupt or truncated file -> InputError."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise InputError(f"cannot read image ({err.strerror or err})", path) from None
    if not data.size:
        raise InputError("empty image file", path)
    if data[: len(JPEG_START_MARKER)].tobytes() != JPEG_START_MARKER:
        image = cv2.imdecode(data, IMREAD_FLAGS)
    else:
        with _native_stderr() as messages:
            image = cv2.imdecode(data, IMREAD_FLAGS)
        damage = next((m for m in messages if m.startswith(LIBJPEG_DAMAGE)), None)
        if damage is not None:
            raise InputError(f"truncated or corrupt JPEG ({damage.rstrip('.')})", path)
    if image is None:
        raise InputError("unreadable or corrupt image", path)
    return image


@contextlib.contextmanager
def _native_stderr() -> Iterator[list[str]]:
    """Collect, into the yielded list once the block ends, what C libraries write to file
    descriptor 2 inside it: libjpeg reports damaged data only there, as a warning."""
    messages: list[str] = []
    sys.stderr.flush()
    saved = os.dup(STDERR_FD)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), STDERR_FD)
            try:
                yield messages
            finally:
                os.dup2(saved, STDERR_FD)
                sink.seek(0)
                messages.extend(sink.read().decode("utf-8", "replace").splitlines())
    finally:
        os.close(saved)


def stderr_warning(message: str) -> None:
    """Where a warning goes when the caller gave no `warn`."""
    print(f"warning: {message}", file=sys.stderr)


def video_frames(
    path: Path,
    promised: int,
    skip_bad: bool,
    warn: Callable[[str], None],
    start: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """The frames of a video, or with `start` only frames [start, start + promised) (a chunk,
    `chunks.py`: seeks rather than decoding what comes before), indexed from 0. Fewer frames
    than `promised` is an `InputError`, or a warning with `skip_bad`."""
    capture = cv2.VideoCapture(str(path))
    index = 0
    try:
        if not capture.isOpened():
            raise InputError("cannot open video", path)
        if start:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        while start is None or index < promised:
            ok, image = capture.read()
            if not ok:
                break
            yield index, image
            index += 1
    finally:
        capture.release()
    if promised != UNKNOWN_LENGTH and index < promised:
        first = start or 0
        span = (
            f"the {promised} frames its header promises"
            if start is None
            else f"frames {first + 1}-{first + promised}"
        )
        problem = f"decoded {index} of {span}"
        if not skip_bad:
            raise InputError(f"{problem} (corrupt or truncated video)", path)
        warn(f"{path}: {problem}; results end at frame {first + index}")


def open_sources(path: str | Path, frame_rate: float | None = None) -> list[Sequence]:
    """Open `path` as a list of sequences; `frame_rate` overrides every sequence's own.

    Bad input (missing path, a folder with neither images nor sequences, an unreadable video,
    a sequence with missing frames) raises `InputError` naming the offending path.
    """
    root = Path(path).expanduser()
    if frame_rate is not None and not (math.isfinite(frame_rate) and frame_rate > 0):
        raise InputError(f"frame rate must be a positive number, got {frame_rate}")
    if not root.exists():
        raise InputError("no such file or directory", root)
    try:
        sequences = _open(root)
    except OSError as err:  # permissions and the like, while listing folders
        raise InputError(f"cannot read ({err.strerror or err})", err.filename or root) from None
    if frame_rate is not None:
        sequences = [replace(seq, frame_rate=float(frame_rate)) for seq in sequences]
    return sequences


def _open(root: Path) -> list[Sequence]:
    if root.is_file():
        if root.suffix.lower() in VIDEO_SUFFIXES:
            return [_open_video(root)]
        kinds = ", ".join(sorted(VIDEO_SUFFIXES))
        raise InputError(f"not a video file or a folder (video types: {kinds})", root)
    if (root / "seqinfo.ini").is_file():
        return [_open_mot(root)]
    children = sorted(
        (c for c in root.iterdir() if c.is_dir() and (c / "seqinfo.ini").is_file()),
        key=lambda c: c.name,
    )
    if children:
        return _group_aliases([_open_mot(c) for c in children])
    images = sorted(
        (f for f in root.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and _visible_file(f)),
        key=lambda f: _natural_key(f.name),
    )
    if images:
        return [_open_images(root, tuple(images))]
    raise InputError("no images, video or MOTChallenge sequences (seqinfo.ini) found", root)


def _visible_file(path: Path) -> bool:
    return not path.name.startswith(".") and path.is_file()


def _natural_key(name: str) -> list[int | str]:
    """Sort key with numbers compared as numbers: frame2.png before frame10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _optional_file(path: Path) -> Path | None:
    return path if path.is_file() else None


def _open_mot(seq_dir: Path) -> Sequence:
    info = read_seqinfo(seq_dir)  # checks that rate, length and size are positive numbers
    image_dir = seq_dir / info.im_dir
    if not image_dir.is_dir():
        raise InputError("image folder missing (imDir in seqinfo.ini)", image_dir)
    ext = info.im_ext if info.im_ext.startswith(".") else f".{info.im_ext}"
    image_paths = tuple(image_dir / f"{i:06d}{ext}" for i in range(1, info.length + 1))
    for number, image_path in enumerate(image_paths, start=1):
        if not image_path.is_file():
            raise InputError(
                f"missing frame {number} of {info.length} (seqLength in seqinfo.ini)", image_path
            )
    name = seq_dir.resolve().name
    return Sequence(
        name=name,
        kind=KIND_MOT,
        path=seq_dir,
        frame_rate=info.frame_rate,
        width=info.width,
        height=info.height,
        length=info.length,
        gt_path=_optional_file(seq_dir / "gt" / "gt.txt"),
        det_paths={name: _optional_file(seq_dir / "det" / "det.txt")},
        image_paths=image_paths,
    )


def _open_video(path: Path) -> Sequence:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError("cannot open video (corrupt file or unsupported codec)", path)
        ok, image = capture.read()
        if not ok or image is None:
            raise InputError("video has no readable frames", path)
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    return Sequence(
        name=path.stem,
        kind=KIND_VIDEO,
        path=path,
        frame_rate=fps if math.isfinite(fps) and fps > 0 else DEFAULT_FRAME_RATE,
        width=image.shape[1],
        height=image.shape[0],
        length=count if count > 0 else UNKNOWN_LENGTH,
    )


def _open_images(folder: Path, images: tuple[Path, ...]) -> Sequence:
    height, width = read_image(images[0]).shape[:2]
    return Sequence(
        name=folder.resolve().name,
        kind=KIND_IMAGES,
        path=folder,
        frame_rate=DEFAULT_FRAME_RATE,
        width=width,
        height=height,
        length=len(images),
        image_paths=images,
    )


def _same_images(a: Sequence, b: Sequence) -> bool:
    """Cheap check that two MOT17 variants really share their frames."""
    return (
        (a.length, a.width, a.height, a.frame_rate) == (b.length, b.width, b.height, b.frame_rate)
        and a.image_paths[0].stat().st_size == b.image_paths[0].stat().st_size
        and a.image_paths[-1].stat().st_size == b.image_paths[-1].stat().st_size
    )


def _group_aliases(sequences: list[Sequence]) -> list[Sequence]:
    """Merge MOT17-XX-{DPM,FRCNN,SDP} into one sequence named MOT17-XX; keep the rest."""
    groups: dict[str, list[Sequence]] = {}
    for seq in sequences:
        match = MOT17_ALIAS.match(seq.name)
        groups.setdefault(match.group(1) if match else f"\0{seq.name}", []).append(seq)
    merged: list[Sequence] = []
    for base, members in groups.items():
        first = members[0]
        if len(members) == 1 or not all(_same_images(first, m) for m in members[1:]):
            merged.extend(members)
            continue
        merged.append(
            replace(
                first,
                name=base,
                gt_path=next((m.gt_path for m in members if m.gt_path), None),
                det_paths={m.name: m.det_path for m in members},
                aliases=tuple(m.name for m in members),
            )
        )
    return sorted(merged, key=lambda s: s.name)
