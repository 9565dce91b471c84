"""Detector output cached on disk per (sequence, detector and its settings).

A sweep over motion estimators and detection intervals runs the same detector on the same
frames dozens of times; caching its output makes the sweep cost one detection pass. The cache
keeps each frame's original detection time too, so an end-to-end fps computed from cached
detections still pays for detection (see `accuracy.py`).

The key is a hash of everything the output depends on: the detector name, its full settings
(`YoloConfig` values, or the public det.txt file and score threshold), the model files' path,
and the sequence (resolved path, MOT17 alias, size, length, and size/mtime of its first and
last frame or video file). A cache file holds the frames detected so far; asking for more
frames detects only the missing ones. A cache file that cannot be read is ignored and rebuilt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mot_pipeline.types import Detections

CACHE_VERSION = 1
CACHE_SUBDIR = "detections"  # below `fileio.cache_root()`
SUFFIX = ".npz"
_ARRAYS = ("frames", "counts", "seconds", "boxes", "scores", "classes", "meta")


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/mot-pipeline/detections` (default `~/.cache/...`)."""
    from mot_pipeline.fileio import cache_root

    return cache_root() / CACHE_SUBDIR


def _stat(path: Path | None) -> list[Any] | None:
    if path is None or not path.exists():
        return None
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def source_description(source: Any, alias: str | None = None) -> dict[str, Any]:
    """What identifies a sequence's frames (a `sources.Sequence`)."""
    images = getattr(source, "image_paths", ())
    return {
        "path": str(Path(source.path).resolve()),
        "alias": alias or source.aliases[0],
        "size": [source.width, source.height],
        "length": source.length,
        "first": _stat(images[0]) if images else _stat(Path(source.path)),
        "last": _stat(images[-1]) if images else None,
    }


def detector_description(run_config: Any, source: Any = None, alias: str | None = None) -> dict:
    """What identifies a detector's output, from a `config.RunConfig`."""
    if run_config.detector == "public":
        det = source.det_path_for(alias or source.aliases[0]) if source is not None else None
        return {
            "detector": "public",
            "min_score": run_config.public.min_score,
            "det": _stat(det),
        }
    from detectors.yolo import resolve_model

    yolo = dataclasses.replace(run_config.yolo, model=run_config.detector)
    model = resolve_model(yolo.model)
    return {
        "detector": run_config.detector,
        "yolo": dataclasses.asdict(yolo),
        "model": _stat(model),
    }


def cache_key(detector: dict[str, Any], source: dict[str, Any]) -> str:
    text = json.dumps({"v": CACHE_VERSION, "detector": detector, "source": source}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class CachedDetections:
    """Detections per 0-based frame and the seconds the detector took on each."""

    by_frame: dict[int, Detections] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def detect_seconds(self, frames: Iterable[int]) -> float:
        return float(sum(self.seconds[f] for f in frames))


class DetectionCache:
    """A folder of `<key>.npz` files; `hits`/`misses` count frames served and detected."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        return self.root / f"{key}{SUFFIX}"

    def load(self, key: str) -> CachedDetections | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in _ARRAYS}
        except (OSError, ValueError, KeyError, EOFError):
            return None  # unreadable: rebuilt by the caller
        out = CachedDetections(meta=json.loads(str(arrays["meta"])))
        ends = np.cumsum(arrays["counts"])
        for frame, count, end, seconds in zip(
            arrays["frames"].tolist(),
            arrays["counts"].tolist(),
            ends.tolist(),
            arrays["seconds"].tolist(),
            strict=True,
        ):
            sl = slice(end - count, end)
            out.by_frame[frame] = Detections(
                arrays["boxes"][sl], arrays["scores"][sl], arrays["classes"][sl]
            )
            out.seconds[frame] = seconds
        return out

    def save(self, key: str, cached: CachedDetections) -> Path:
        from mot_pipeline.fileio import atomic_write

        frames = sorted(cached.by_frame)
        dets = [cached.by_frame[f] for f in frames]
        arrays = {
            "frames": np.asarray(frames, np.int64),
            "counts": np.asarray([len(d) for d in dets], np.int64),
            "seconds": np.asarray([cached.seconds[f] for f in frames], np.float64),
            "boxes": np.concatenate([d.boxes for d in dets] or [np.zeros((0, 4), np.float32)]),
            "scores": np.concatenate([d.scores for d in dets] or [np.zeros(0, np.float32)]),
            "classes": np.concatenate([d.classes for d in dets] or [np.zeros(0, np.int64)]),
            "meta": np.asarray(json.dumps(cached.meta)),
        }
        return atomic_write(self.path(key), lambda f: np.savez(f, **arrays), overwrite=True)

    def get(
        self,
        key: str,
        source: Any,
        frames: Iterable[int],
        make_detector: Callable[[], Any],
        meta: dict[str, Any] | None = None,
        progress: bool = False,
    ) -> CachedDetections:
        """Detections of `frames` of `source`, running the detector (built on first need by
        `make_detector`) only on frames not cached yet, and saving what it adds."""
        wanted = set(frames)
        cached = self.load(key) or CachedDetections(meta=dict(meta or {}))
        missing = wanted - set(cached.by_frame)
        self.hits += len(wanted) - len(missing)
        if not missing:
            return cached
        from tqdm import tqdm

        detector = make_detector()
        last = max(missing)
        bar = tqdm(
            total=len(missing),
            desc=f"detect {source.name}",
            unit="frame",
            disable=not progress,
            leave=False,
        )
        with bar:
            for index, frame in source.frames():
                if index in missing:
                    t0 = time.perf_counter()
                    cached.by_frame[index] = detector(frame, frame_index=index)
                    cached.seconds[index] = time.perf_counter() - t0
                    bar.update()
                if index >= last:
                    break
        absent = missing - set(cached.by_frame)
        if absent:  # a video shorter than its header said: those frames have nothing
            raise ValueError(f"{source.name}: frames {sorted(absent)[:5]} not in the source")
        self.misses += len(missing)
        cached.meta.update(meta or {})
        self.save(key, cached)
        return cached
