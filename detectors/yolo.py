"""Ultralytics YOLO as a `Detector`: the embedded YOLO11n INT8 (OpenVINO) by default.

ultralytics is imported lazily, in the constructor, because importing it has side effects we
must steer first: it writes a settings file, may probe the network (update checks, telemetry,
auto-installs), and sets `OMP_NUM_THREADS=1`, which would shrink torch's thread pool. The
environment it reads at import time is set only for the duration of that import (see
`_ultralytics_environment`), and torch's thread count is put back after loading and after
every prediction (ultralytics' device selection resets it to `cpu_count - 1`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors import classes as class_selection
from mot_pipeline.errors import InputError
from mot_pipeline.fileio import CACHE_NAME, cache_root
from mot_pipeline.types import Detections, check_frame

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# Model names that resolve to a folder shipped in `weights/` (see weights/README.md).
EMBEDDED_MODELS: dict[str, str] = {
    "yolo11n": "yolo11n_int8_openvino_model",
    "yolov8n": "yolov8n_int8_openvino_model",
}
PERSON_CLASS = 0  # COCO
# Environment variables ultralytics reads (or sets) when it is first imported.
_IMPORT_TIME_VARIABLES = (
    "YOLO_OFFLINE",
    "YOLO_AUTOINSTALL",
    "YOLO_VERBOSE",
    "YOLO_CONFIG_DIR",
    "OMP_NUM_THREADS",
)
MAX_ERROR_CHARS = 160  # ultralytics' messages can list every export format; keep one short line


@dataclass(frozen=True)
class YoloConfig:
    """What to run and how. `classes`: the model's class names or ids to keep (resolved against
    the model when it loads); `"all"` or `()` keeps every class."""

    model: str = "yolo11n"  # an EMBEDDED_MODELS name or a path (.pt, .onnx, *_openvino_model/)
    classes: tuple[int | str, ...] | str = (PERSON_CLASS,)
    conf: float = 0.1  # low on purpose: association decides what is a confident detection
    iou: float = 0.7  # NMS IoU threshold
    imgsz: int = 640  # inference size; fixed-size exports (both embedded models) keep theirs
    device: str = "cpu"
    half: bool = False
    max_det: int = 300

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "classes", class_selection.normalize(self.classes))
        except ValueError as err:
            raise ValueError(f"classes: {err}") from None
        if not 0.0 <= self.conf <= 1.0:
            raise ValueError(f"conf must be in [0, 1], got {self.conf}")
        if not 0.0 < self.iou <= 1.0:
            raise ValueError(f"iou must be in (0, 1], got {self.iou}")
        if self.imgsz <= 0 or self.max_det <= 0:
            raise ValueError(f"imgsz and max_det must be > 0, got {self.imgsz}, {self.max_det}")


def resolve_model(model: str | Path) -> Path:
    """The model's path: an embedded name maps into `weights/`; anything else must exist."""
    if str(model) in EMBEDDED_MODELS:
        path = WEIGHTS_DIR / EMBEDDED_MODELS[str(model)]
        if not path.is_dir():
            raise InputError("embedded model missing from this installation", path)
        return path
    path = Path(model).expanduser()
    if not path.exists():
        names = ", ".join(EMBEDDED_MODELS)
        raise InputError(f"model not found (give a model file or folder, or one of: {names})", path)
    if path.is_dir() and not any(path.iterdir()):
        raise InputError("empty folder, not a model", path)
    return path


def _user_cache_dir() -> Path:
    """A writable per-user folder for ultralytics' settings.json (never the working dir)."""
    with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: no home directory
        base = cache_root()
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    return Path(tempfile.gettempdir()) / CACHE_NAME


@contextlib.contextmanager
def _ultralytics_environment() -> Iterator[None]:
    """Set the variables ultralytics reads at import, then restore the caller's environment.

    YOLO_OFFLINE turns off its online probe, so update checks, telemetry and crash reports are
    skipped; YOLO_AUTOINSTALL=False stops it from pip-installing missing backends at run time.
    A user's own YOLO_CONFIG_DIR / YOLO_VERBOSE are respected; OMP_NUM_THREADS, which it sets
    to 1 when unset, is removed again so it does not leak into the rest of the process.
    """
    saved = {key: os.environ.get(key) for key in _IMPORT_TIME_VARIABLES}
    os.environ["YOLO_OFFLINE"] = "True"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(_user_cache_dir()))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _one_line(err: BaseException) -> str:
    """The error's message on one short line (its first sentence when the whole is too long)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if len(text) > MAX_ERROR_CHARS and ". " in text:
        text = text.split(". ", 1)[0] + "."
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


class YoloDetector:
    """`Detector` running an ultralytics YOLO model on a BGR uint8 frame.

    The model is loaded and run once on a blank frame in the constructor, so a broken model
    fails here with an `InputError` naming its path, not on the first real frame.
    """

    Config = YoloConfig

    def __init__(self, config: YoloConfig | None = None) -> None:
        self.config = config or YoloConfig()
        self.model_path = resolve_model(self.config.model)
        cfg = self.config
        self._predict_args: dict[str, Any] = {
            "conf": cfg.conf,
            "iou": cfg.iou,
            "imgsz": cfg.imgsz,
            "device": cfg.device,
            "half": cfg.half,
            "max_det": cfg.max_det,
            "classes": None,  # every class for the blank frame; the selection once resolved
            "verbose": False,
        }
        self._model = self._load()
        # The model's ids of the configured classes (every id when none are configured).
        self.classes = self._resolve_classes(self._model.names)
        if cfg.classes:
            self._predict_args["classes"] = list(self.classes)

    def _load(self) -> Any:
        with _ultralytics_environment():
            import torch  # first, so ultralytics' OMP_NUM_THREADS=1 cannot size its thread pool

            threads = torch.get_num_threads()
            from ultralytics import YOLO
        try:
            model = YOLO(str(self.model_path), task="detect")
            if model.task != "detect":
                raise InputError(f"not a detection model (task {model.task!r})", self.model_path)
            blank = np.zeros((self.config.imgsz, self.config.imgsz, 3), np.uint8)
            model.predict(blank, **self._predict_args)  # loads lazy backends and validates
        except InputError:
            raise
        except Exception as err:  # anything ultralytics/backends raise means: not a usable model
            raise InputError(f"cannot load model: {_one_line(err)}", self.model_path) from None
        finally:
            torch.set_num_threads(threads)
        return model

    def _resolve_classes(self, names: dict[int, str]) -> tuple[int, ...]:
        """The ids of `config.classes` in the model's `names` (`InputError` on one it lacks)."""
        try:
            return class_selection.resolve(self.config.classes, names, "this model")
        except ValueError as err:
            raise InputError(str(err), self.model_path) from None

    @property
    def names(self) -> dict[int, str]:
        """Class id -> name, as the model defines them."""
        return dict(self._model.names)

    def __call__(self, frame: np.ndarray, frame_index: int | None = None) -> Detections:
        """Detect on one frame; `frame_index` is ignored (image detectors need only pixels)."""
        check_frame(frame)
        import torch

        threads = torch.get_num_threads()
        result = self._model.predict(frame, **self._predict_args)[0]
        if torch.get_num_threads() != threads:  # a predictor (re)setup resets it
            torch.set_num_threads(threads)
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32)
        scores = boxes.conf.cpu().numpy().astype(np.float32)
        classes = boxes.cls.cpu().numpy().astype(np.int64)
        if self.config.classes:  # predict filtered already; this keeps the contract explicit
            keep = np.isin(classes, self.classes)
            xyxy, scores, classes = xyxy[keep], scores[keep], classes[keep]
        return Detections(xyxy, scores, classes)
