"""A motion prior around any appearance estimator (not in the SiamMT paper).

An appearance tracker alone drifts: when people cross, the front one's appearance wins and
drags the other's track. `MotionPrior` wraps an appearance estimator (`siammt`, `siamfc`,
`siamfc-mi`) and
- fuses: the appearance boxes are measurements of a constant-velocity Kalman filter
  (`trackers.kalman_filter`, the `kalman` estimator's state and noise) whose prediction also
  centres the search; a measurement is dropped when its peak logit is weak, when it is
  implausible (Mahalanobis gate) or when the track's predicted box overlaps another's (a crowd,
  where the front appearance would win);
- keeps a second, detection-only filter (the `kalman` estimator) whose boxes are `prior_boxes`
  (`trackers.PriorBoxes`): association may match a detection to either prediction, so a track
  dragged onto a neighbour still finds the detection a Kalman filter would have given it.
Measurements: docs/DECISIONS.md ("Motion prior", "Association prior").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from mot_pipeline.boxes import iou_matrix
from trackers import MotionEstimator
from trackers.kalman import KalmanConfig, KalmanEstimator
from trackers.kalman_filter import MAX_SIZE_RATE, BoxKalmanFilter, FilterNoise
from trackers.track_ids import rows_of, validated

CHI2_4DOF_1PCT = 13.28  # Mahalanobis gate: 1 % of plausible 4-d measurements fall beyond


@dataclass(frozen=True)
class MotionPriorConfig:
    """Noise (std) per frame as fractions of the box height (ByteTrack's values, those of the
    `kalman` estimator), except the appearance centre noise, in score-map cells."""

    fuse: bool = True  # False: the appearance boxes as they are (only the association prior)
    search_at_prediction: bool = True  # centre the search areas on the filter's prediction
    state: Literal["cxcywh", "cxcyah"] = "cxcywh"
    process_position: float = 1.0 / 20
    process_velocity: float = 1.0 / 160
    detection_noise: float = 1.0 / 20
    appearance_noise: float = 1.0  # centre, in score-map cells: errors persist frame to frame
    appearance_size_noise: float = 0.05
    max_size_rate: float | None = MAX_SIZE_RATE  # size velocity limit per frame, both filters
    min_logit: float = 0.0  # weaker peaks are not used as measurements
    occlusion_iou: float = 0.3  # tracks whose predictions overlap more are not measured
    gate: float = CHI2_4DOF_1PCT
    association_prior: bool = True  # keep the detection-only filter for `prior_boxes`
    # Run the appearance estimator on frames whose index is a multiple of this (1: every
    # frame); on the others the filter's prediction moves the tracks. With a divisor of the
    # pipeline's detect_every, every detector frame gets an appearance step for association.
    # Needs fuse (the filter is what moves the tracks on skipped frames).
    appearance_every: int = 1

    def __post_init__(self) -> None:
        if self.appearance_every < 1:
            raise ValueError(f"appearance_every must be >= 1, got {self.appearance_every}")
        if self.appearance_every > 1 and not self.fuse:
            raise ValueError("appearance_every > 1 needs fuse: the filter moves skipped frames")

    def noise(self) -> FilterNoise:
        return FilterNoise(
            state=self.state, position=self.process_position, velocity=self.process_velocity
        )


@runtime_checkable
class Appearance(MotionEstimator, Protocol):
    """What the prior needs of an appearance estimator besides `MotionEstimator`:
    - `cell`: frame px per score-map cell of each live target (the measurement noise's scale);
    - `last_logits`, `last_centre_scores`: of the last `propagate`, the peak logit and the score
      at the search centre (scale 1), i.e. of the box the search started from;
    - `place(boxes)`: move the live targets to these xyxy boxes (the search follows);
    - `boxes()`: the live targets' current xyxy boxes, without tracking."""

    @property
    def cell(self) -> np.ndarray: ...

    @property
    def last_logits(self) -> np.ndarray: ...

    @property
    def last_centre_scores(self) -> np.ndarray: ...

    def place(self, boxes: np.ndarray) -> None: ...

    def boxes(self) -> np.ndarray: ...


class MotionPrior:
    """`MotionEstimator` (with `prior_boxes` and the appearance's `min_report_score`) that
    wraps an `Appearance` estimator with a Kalman filter and an association prior."""

    def __init__(self, appearance: Appearance, config: MotionPriorConfig | None = None) -> None:
        self.appearance = appearance
        self.config = config or MotionPriorConfig()
        self.stage_ms: dict[str, float] = {}
        self.reset()

    # -- protocol ------------------------------------------------------------------------------
    @property
    def ids(self) -> np.ndarray:
        return self.appearance.ids

    def reset(self) -> None:
        c = self.config
        self.appearance.reset()
        self._kf = BoxKalmanFilter(c.noise(), c.max_size_rate) if c.fuse else None
        # The prior is the `kalman` estimator with its defaults but this size velocity limit.
        prior = KalmanEstimator(KalmanConfig(max_size_rate=c.max_size_rate))
        self._prior = prior if c.association_prior else None
        self.prior_boxes: np.ndarray | None = None
        self.last_accepted = np.zeros(0, bool)
        self._scores = np.zeros(0, np.float32)  # each live track's last appearance score

    def add(
        self,
        frame: np.ndarray,
        boxes: np.ndarray,
        ids: np.ndarray,
        frame_index: int | None = None,
    ) -> None:
        boxes, ids = validated(boxes, ids)
        if len(ids) == 0:
            return
        known = np.isin(ids, self.appearance.ids)
        self.appearance.add(frame, boxes, ids, frame_index)
        # A box just set from a detection is where the exemplar was cut: fully confident.
        self._scores = np.concatenate([self._scores, np.ones((~known).sum(), np.float32)])
        self._scores[rows_of(self.appearance.ids, ids)] = 1.0
        if self._prior is not None:
            self._prior.add(frame, boxes, ids, frame_index)
        kf = self._kf
        if kf is None:
            return
        z = kf.measure(boxes)
        if known.any():  # a detection corrects the filter
            rows = rows_of(self.appearance.ids, ids[known])
            noise = kf.std(z[known, 3], self.config.detection_noise, kf.noise.aspect_measurement)
            kf.update(rows, z[known], noise)
        if (~known).any():
            kf.initiate(z[~known])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self.appearance.ids, np.asarray(ids, np.int64).reshape(-1))
        if keep.all():
            return
        self.appearance.remove(ids)
        self._scores = self._scores[keep]
        if self._kf is not None:
            self._kf.keep(keep)
        if self._prior is not None:
            self._prior.remove(ids)

    def propagate(
        self, frame: np.ndarray, frame_index: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._prior is not None:
            prior, _ = self._prior.propagate(frame, frame_index)
            self.prior_boxes = prior[rows_of(self._prior.ids, self.appearance.ids)]
        kf, app = self._kf, self.appearance
        if kf is None or len(app.ids) == 0:
            boxes, scores = app.propagate(frame, frame_index)
            self.last_accepted = np.ones(len(scores), bool)
            return boxes, scores
        start = time.perf_counter()
        kf.predict()
        skip = not self._appearance_frame(frame_index)
        if self.config.search_at_prediction or skip:
            app.place(kf.boxes())
        predict_s = time.perf_counter() - start
        if skip:
            self.stage_ms = {"motion": predict_s * 1e3}
            self.last_accepted = np.zeros(len(app.ids), bool)
            return app.boxes(), self._scores.copy()
        boxes, scores = app.propagate(frame, frame_index)
        start = time.perf_counter()
        accepted = self._fuse(kf, boxes)
        app.place(kf.boxes())
        self.last_accepted = accepted
        self._scores = np.where(accepted, scores, app.last_centre_scores).astype(np.float32)
        if getattr(app, "stage_ms", None):
            motion_ms = (time.perf_counter() - start + predict_s) * 1e3
            self.stage_ms = {**app.stage_ms, "motion": motion_ms}
        # The score is the net's at the box returned: the peak for a measurement that was used,
        # the search centre (the prediction) otherwise.
        return app.boxes(), self._scores.copy()

    # -- extras --------------------------------------------------------------------------------
    @property
    def min_report_score(self) -> float:
        """`trackers.ReportThreshold`: the appearance estimator's (0 if it has none)."""
        return float(getattr(self.appearance, "min_report_score", 0.0))

    @property
    def frame_scale(self) -> float | None:
        """The appearance estimator's frame resize factor, where it has one."""
        return getattr(self.appearance, "frame_scale", None)

    def describe(self) -> str:
        """`trackers.Describe`: the appearance estimator's line, and the prior around it."""
        inner = getattr(self.appearance, "describe", None)
        name = inner() if callable(inner) else type(self.appearance).__name__
        return f"{name}, with a motion prior"

    # -- internals -----------------------------------------------------------------------------
    def _appearance_frame(self, frame_index: int | None) -> bool:
        """Whether this frame gets an appearance step (every frame when the index is unknown)."""
        every = self.config.appearance_every
        return every == 1 or frame_index is None or frame_index % every == 0

    def _fuse(self, kf: BoxKalmanFilter, boxes: np.ndarray) -> np.ndarray:
        """Update the filter with the plausible appearance boxes; returns which were used."""
        c = self.config
        rows = np.arange(len(boxes))
        z = kf.measure(boxes)
        std = kf.std(z[:, 3], c.appearance_size_noise, kf.noise.aspect_measurement)
        std[:, :2] = c.appearance_noise * self.appearance.cell[:, None]
        accepted = (self.appearance.last_logits >= c.min_logit) & (
            kf.distance(rows, z, std) <= c.gate
        )
        accepted &= ~self._crowded(kf.boxes())
        if accepted.any():
            kf.update(rows[accepted], z[accepted], std[accepted])
        return accepted

    def _crowded(self, boxes: np.ndarray) -> np.ndarray:
        """Tracks whose predicted box overlaps another's by more than `occlusion_iou`."""
        iou = iou_matrix(boxes, boxes)
        np.fill_diagonal(iou, 0.0)
        return (iou > self.config.occlusion_iou).any(axis=1)


def with_motion_prior(appearance: Appearance, config: MotionPriorConfig | None) -> MotionEstimator:
    """`appearance` wrapped in a `MotionPrior`, or as it is when `config` is None."""
    return appearance if config is None else MotionPrior(appearance, config)
