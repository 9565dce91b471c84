"""Detectors: a frame in, `Detections` out.

`Detector` is the protocol; `yolo.YoloDetector` (ultralytics models, the embedded YOLO11n INT8
by default) and `public.PublicDetections` (a sequence's det/det.txt) implement it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from mot_pipeline.registry import registered_class
from mot_pipeline.types import Detections


@runtime_checkable
class Detector(Protocol):
    """`detector(frame, frame_index=i)` with `frame` an (H, W, 3) uint8 BGR image.

    `frame_index` (0-based) is passed by the pipeline; detectors that read precomputed results
    (public detections) need it, image detectors ignore it.
    """

    def __call__(self, frame: np.ndarray, frame_index: int | None = None) -> Detections: ...


# name -> "module:Class", imported lazily so that choosing a detector does not load ultralytics.
REGISTRY: dict[str, str] = {
    "yolo": "detectors.yolo:YoloDetector",
    "public": "detectors.public:PublicDetections",
}


def detector_class(name: str) -> type:
    """The class registered under `name`."""
    return registered_class(REGISTRY, name, "detector")


def create_detector(name_or_path: str, **options: Any) -> Detector:
    """Build a detector from a registry name, a YOLO model name or a model path.

    - `"public"`: `PublicDetections(**options)`; options are `by_frame` and `min_score`.
    - `"yolo"`: `YoloDetector` with `YoloConfig(**options)` (default model: embedded YOLO11n).
    - anything else is a YOLO model (`"yolov8n"`, `"path/to/best.pt"`, ...):
      `YoloDetector(YoloConfig(model=name_or_path, **options))`.
    """
    if name_or_path == "public":
        return detector_class("public")(**options)
    cls = detector_class("yolo")
    if name_or_path != "yolo":
        options = {**options, "model": name_or_path}
    return cls(cls.Config(**options))
