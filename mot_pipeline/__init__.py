"""mot-pipeline: detect every k-th frame, track every frame, score and write MOTChallenge files.

Heavy modules (torch, ultralytics) load only when used: `from mot_pipeline import Pipeline`
imports the frame loop, not the detector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Detections", "FrameResult", "Pipeline", "PipelineConfig", "Tracks"]

if TYPE_CHECKING:
    from mot_pipeline.pipeline import Pipeline, PipelineConfig
    from mot_pipeline.types import Detections, FrameResult, Tracks


def __getattr__(name: str) -> Any:
    # Lazy: plugins import mot_pipeline.types, and the pipeline imports the plugins.
    if name in ("Pipeline", "PipelineConfig"):
        from mot_pipeline import pipeline

        return getattr(pipeline, name)
    if name in ("Detections", "FrameResult", "Tracks"):
        from mot_pipeline import types

        return getattr(types, name)
    raise AttributeError(f"module 'mot_pipeline' has no attribute {name!r}")
