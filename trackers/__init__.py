"""Motion estimators: move every live track from the previous frame to the current one.

Every estimator follows `MotionEstimator` and is registered by name in `REGISTRY`; the contract
tests in `tests/test_motion_contract.py` run each registered estimator through the same checks.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from mot_pipeline.registry import Plugin, lookup, resolve


@runtime_checkable
class MotionEstimator(Protocol):
    """Per-track motion between detector frames.

    - `add(frame, boxes, ids, frame_index)`: start tracks `ids` at `boxes` (xyxy) in `frame`;
      for an id that is already live this is a correction: the estimator is re-initialised
      (or, for a filter, updated) at the observed box. The order of `ids` is kept for new ids.
    - `remove(ids)`: forget these tracks (unknown ids are ignored).
    - `propagate(frame, frame_index) -> (boxes, scores)`: move every live track to `frame`, in
      the order of `ids`; `scores` is the estimator's confidence per track (higher is better,
      1 = sure).
    - `frame_index` (optional, as for detectors) names the frame: an estimator may reuse what
      it computed on a frame (e.g. features) for a later call with the same index; None never
      reuses anything.
    - `reset()`: forget everything (between sequences).
    - `ids`: the live track ids, int64, in the order `propagate` returns them.
    """

    @property
    def ids(self) -> np.ndarray: ...

    def add(
        self,
        frame: np.ndarray,
        boxes: np.ndarray,
        ids: np.ndarray,
        frame_index: int | None = None,
    ) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def propagate(
        self, frame: np.ndarray, frame_index: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def reset(self) -> None: ...


@runtime_checkable
class PriorBoxes(Protocol):
    """Optional extra of a `MotionEstimator`: `prior_boxes`, after `propagate`, is a second
    prediction per live track (rows of `ids`, xyxy) from motion alone, or None. Association
    then lets a detection match either box: an appearance tracker that drifts onto a
    neighbour still finds the detection a Kalman filter would have given its track."""

    @property
    def prior_boxes(self) -> np.ndarray | None: ...


@runtime_checkable
class ReportThreshold(Protocol):
    """Optional extra of a `MotionEstimator`: `min_report_score`, the score below which a
    propagated track should not be reported (its target is likely lost). The scale of
    `scores` is the estimator's own, so is this threshold; the pipeline uses it unless its
    lifecycle config sets one."""

    @property
    def min_report_score(self) -> float: ...


@runtime_checkable
class Describe(Protocol):
    """Optional extra of a `MotionEstimator`: `describe()`, one line for logs saying what
    runs inside when a setting chose it (e.g. SiamMT's backbone backend and precision)."""

    def describe(self) -> str: ...


# name -> where its config class (a light module: no torch) and its factory live.
REGISTRY: dict[str, Plugin] = {
    "kalman": Plugin("trackers.kalman:KalmanConfig", "trackers.kalman:KalmanEstimator"),
    "hold": Plugin("trackers.hold:HoldConfig", "trackers.hold:HoldEstimator"),
    "siammt": Plugin("trackers.siammt.config:SiamMTConfig", "trackers.siammt.tracker:build"),
    "siamfc": Plugin("trackers.siammt.config:SiamFCConfig", "trackers.siammt.siamfc:build"),
    "siamfc-mi": Plugin("trackers.siammt.config:SiamFCConfig", "trackers.siammt.siamfc:build_mi"),
}


def config_class(name: str) -> type:
    """The config dataclass of tracker `name`; KeyError naming the choices."""
    return resolve(lookup(REGISTRY, name, "tracker").config)


def create(name: str, config: Any | None = None) -> MotionEstimator:
    """Build the estimator `name` with `config` (its config dataclass; None: the defaults)."""
    plugin = lookup(REGISTRY, name, "tracker")
    return resolve(plugin.factory)(config if config is not None else config_class(name)())
