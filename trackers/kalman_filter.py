"""Constant-velocity Kalman filter on box centre and shape, batched over all tracks.

Shared by the `kalman` estimator (detections only) and `siammt` (detections and SiamMT's own
boxes as measurements of one filter), so their motion models differ only where configured.

The state and noise model follow SORT/ByteTrack: position noise proportional to box height, so
one filter serves people near and far. The measured state is (cx, cy, a, h) with a = w / h by
default or (cx, cy, w, h); each with its velocity. One `predict` per frame, so the velocity is
learned per frame even when detections arrive only every k-th frame. Measurements carry their
own noise (`update(..., std)`), so a caller can fuse measurements of different quality.

Size velocity limit (not in SORT/ByteTrack; `max_size_rate`): before each prediction the
height's velocity (and the width's, in cxcywh) is clipped to a fraction of the current size per
frame, so a predicted box never grows or shrinks faster than that and never through zero. A
constant-velocity model on size is only good over short gaps: a lost track re-found after tens
of frames takes the jump from its extrapolated size to the detection partly as velocity, and
(with SiamMT's size estimates, relative to the prediction, keeping the filter sure of it) a box
was seen to shrink from 176 to 2 px height over 30 frames (TUD-Stadtmitte mirrored, k = 5). The
default 0.02 per frame is 50 % per second at 25 fps, 14 % at 7 fps: a pedestrian walking at
1.4 m/s towards the camera changes size at that rate at 2.8 m and 10 m away (measurements:
docs/DECISIONS.md, "Kalman filter: size velocity limit").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mot_pipeline.boxes import cxcyah_to_xyxy, cxcywh_to_xyxy, xyxy_to_cxcyah, xyxy_to_cxcywh

NDIM = 4  # measured quantities: cx, cy, and two shape terms
STATES = ("cxcyah", "cxcywh")
_MIN_SIDE = 1e-3  # px, boxes() never returns a smaller side
MAX_SIZE_RATE = 0.02  # default size velocity limit, a fraction of the size per frame


@dataclass(frozen=True)
class FilterNoise:
    """Noise (std) as fractions of the box height (ByteTrack's values); aspect-ratio terms are
    absolute, as a = w / h is dimensionless (SORT/ByteTrack)."""

    state: str = "cxcyah"
    position: float = 1.0 / 20  # process noise of position and shape, and detection noise
    velocity: float = 1.0 / 160
    aspect: float = 1e-2
    aspect_velocity: float = 1e-5
    aspect_measurement: float = 1e-1

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown Kalman state {self.state!r}; choose from {STATES}")


class BoxKalmanFilter:
    """Rows of `mean` (M, 8) and `cov` (M, 8, 8) are tracks; the caller keeps their order.
    `max_size_rate`: the size velocity limit (module docstring); None: no limit."""

    def __init__(
        self, noise: FilterNoise | None = None, max_size_rate: float | None = MAX_SIZE_RATE
    ) -> None:
        if max_size_rate is not None and max_size_rate < 0:
            raise ValueError(f"max_size_rate must be >= 0 or None, got {max_size_rate}")
        self.max_size_rate = max_size_rate
        self.noise = noise or FilterNoise()
        self._aspect = self.noise.state == "cxcyah"
        self._to_z, self._from_z = (
            (xyxy_to_cxcyah, cxcyah_to_xyxy) if self._aspect else (xyxy_to_cxcywh, cxcywh_to_xyxy)
        )
        self._motion = np.eye(2 * NDIM)
        self._motion[:NDIM, NDIM:] = np.eye(NDIM)  # x += v each frame
        self.mean = np.zeros((0, 2 * NDIM))
        self.cov = np.zeros((0, 2 * NDIM, 2 * NDIM))

    def __len__(self) -> int:
        return len(self.mean)

    # -- measurement space ---------------------------------------------------------------------
    def measure(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes (M, 4) -> measurements z (M, 4) in the filter's state convention."""
        return self._to_z(np.asarray(boxes, np.float32)).astype(np.float64)

    def boxes(self) -> np.ndarray:
        """The state's boxes as float32 xyxy (M, 4)."""
        z = self.mean[:, :NDIM].copy()
        z[:, 3] = np.maximum(z[:, 3], _MIN_SIDE)
        if not self._aspect:
            z[:, 2] = np.maximum(z[:, 2], _MIN_SIDE)
        return self._from_z(z.astype(np.float32))

    def std(self, h: np.ndarray, weight: float, aspect: float) -> np.ndarray:
        """(M, 4) std of the measured terms: `weight` x h, except an aspect term's `aspect`."""
        s = np.repeat((weight * np.asarray(h, np.float64))[:, None], NDIM, axis=1)
        if self._aspect:
            s[:, 2] = aspect
        return s

    def detection_std(self, rows: np.ndarray) -> np.ndarray:
        """Detection noise of the tracks at `rows`, from their current height (ByteTrack)."""
        n = self.noise
        return self.std(self.mean[rows, 3], n.position, n.aspect_measurement)

    # -- filter --------------------------------------------------------------------------------
    def initiate(self, z: np.ndarray) -> None:
        """Append tracks started at measurements z (M, 4), velocity 0 (ByteTrack's spread)."""
        n = self.noise
        h = z[:, 3]
        position = 2 * self.std(h, n.position, n.aspect)
        velocity = 10 * self.std(h, n.velocity, n.aspect_velocity)
        spread = np.concatenate([position, velocity], axis=1)
        self.mean = np.concatenate([self.mean, np.concatenate([z, np.zeros_like(z)], axis=1)])
        self.cov = np.concatenate([self.cov, _diag(spread**2)])

    def keep(self, mask: np.ndarray) -> None:
        self.mean, self.cov = self.mean[mask], self.cov[mask]

    def predict(self) -> None:
        """One frame ahead for every track."""
        n = self.noise
        h = self.mean[:, 3]
        q = np.concatenate(
            [self.std(h, n.position, n.aspect), self.std(h, n.velocity, n.aspect_velocity)], axis=1
        )
        if self.max_size_rate is not None:
            self._limit_size_velocity(self.max_size_rate)
        f = self._motion
        self.mean = self.mean @ f.T
        self.cov = f @ self.cov @ f.T + _diag(q**2)

    def _limit_size_velocity(self, rate: float) -> None:
        """Clip the height's (and in cxcywh the width's) velocity to `rate` x that size."""
        sides = (2, 3) if not self._aspect else (3,)
        for i in sides:
            limit = rate * np.maximum(self.mean[:, i], 0.0)
            self.mean[:, NDIM + i] = np.clip(self.mean[:, NDIM + i], -limit, limit)

    def distance(self, rows: np.ndarray, z: np.ndarray, std: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of measurements z (one per row) from the state."""
        s = self.cov[rows, :NDIM, :NDIM] + _diag(std**2)
        d = z - self.mean[rows, :NDIM]
        return np.einsum("ni,ni->n", d, np.linalg.solve(s, d[..., None])[..., 0])

    def update(self, rows: np.ndarray, z: np.ndarray, std: np.ndarray | None = None) -> None:
        """Correct the tracks at `rows` with measurements z (noise `std`, default detections')."""
        if std is None:
            std = self.detection_std(rows)
        mean, cov = self.mean[rows], self.cov[rows]
        s = cov[:, :NDIM, :NDIM] + _diag(std**2)  # innovation covariance (H = [I 0])
        gain = np.linalg.solve(s, cov[:, :NDIM, :]).transpose(0, 2, 1)  # P H^T S^-1
        self.mean[rows] = mean + np.einsum("mij,mj->mi", gain, z - mean[:, :NDIM])
        self.cov[rows] = cov - gain @ s @ gain.transpose(0, 2, 1)


def _diag(values: np.ndarray) -> np.ndarray:
    """Stack of diagonal matrices from (M, n) values."""
    out = np.zeros((*values.shape, values.shape[-1]))
    idx = np.arange(values.shape[-1])
    out[:, idx, idx] = values
    return out
