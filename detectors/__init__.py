"""Detectors: a frame in, `Detections` out.

`Detector` is the protocol; `yolo.YoloDetector` (ultralytics models, the embedded YOLO11n INT8
by default) and `public.PublicDetections` (a sequence's det/det.txt) implement it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mot_pipeline.registry import Plugin, lookup, resolve
from mot_pipeline.types import Detections


@runtime_checkable
class Detector(Protocol):
    """`detector(frame, frame_index=i)` with `frame` an (H, W, 3) uint8 BGR image.

    `frame_index` (0-based) is passed by the pipeline; detectors that read precomputed results
    (public detections) need it, image detectors ignore it.
    """

    def __call__(self, frame: np.ndarray, frame_index: int | None = None) -> Detections: ...


REGISTRY: dict[str, Plugin] = {
    "yolo": Plugin("detectors.yolo:YoloConfig", "detectors.yolo:YoloDetector"),
    "public": Plugin("detectors.public:PublicConfig", "detectors.public:from_config"),
}


def config_class(name: str) -> type:
    """The config dataclass of detector `name` (a light import: no ultralytics)."""
    return resolve(lookup(REGISTRY, name, "detector").config)


def create(name: str, config: Any | None = None, **inputs: Any) -> Detector:
    """Build detector `name` with `config` (its config dataclass; None: the defaults).

    A name that is not registered is a YOLO model (`"yolo11n"`, `"yolov8n"`, a path to a
    `.pt` or OpenVINO model): the `yolo` detector with that `model`. `inputs` are what a
    detector reads besides its config (`by_frame` for `public`).
    """
    if name not in REGISTRY:
        config = dataclasses.replace(config or config_class("yolo")(), model=name)
        name = "yolo"
    plugin = lookup(REGISTRY, name, "detector")
    return resolve(plugin.factory)(config or config_class(name)(), **inputs)
