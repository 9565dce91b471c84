"""SiamMT (Vaquero et al., paper in ../shared/paper/siammt.txt) and its SiamFC baselines.

The paper's stages are modules: `backbone` (φ, AlexNet without padding, weight loading),
`crop` (κ̃, feature crop-and-resize with the effective-size transform, Eq. 1-2), `xcorr`
(Φ̃, pairwise cross-correlation, Algorithm 1), `response` (upsampling, peak search, box
update), `tracker` (`SiamMTEstimator`, the `siammt` motion estimator) and `siamfc` (the
`siamfc` and `siamfc-mi` baselines). Importing this package imports torch.
"""

from trackers.siammt.tracker import SiamMTConfig, SiamMTEstimator

__all__ = ["SiamMTConfig", "SiamMTEstimator"]
