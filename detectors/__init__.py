"""Detectors: a frame in, `Detections` out.

`Detector` is the protocol; `yolo.YoloDetector` (ultralytics models, the embedded YOLO11n INT8
by default) and `public.PublicDetections` (a sequence's det/det.txt) implement it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from mot_pipeline.types import Detections


@runtime_checkable
class Detector(Protocol):
    """`detector(frame, frame_index=i)` with `frame` an (H, W, 3) uint8 BGR image.

    `frame_index` (0-based) is passed by the pipeline; detectors that read precomputed results
    (public detections) need it, image detectors ignore it.
    """

    def __call__(self, frame: np.ndarray, frame_index: int | None = None) -> Detections: ...
