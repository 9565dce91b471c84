"""SiamMT (Vaquero et al., paper in ../shared/paper/siammt.txt) and its SiamFC baselines.

The paper's stages are modules (Fig. 4): `config` (settings, no torch), `backbone` (φ's
AlexNet and its weights), `features` (φ over a frame: resize, partial region, cache, inference
backend), `crop` (κ̃, feature crop-and-resize, Eq. 1-2, 5), `xcorr` (Φ̃, pairwise
cross-correlation, Algorithm 1, and its cost planner), `response` (upsampling, peak search, box
update), `targets` (per-target state), `tracker` (the `siammt` tracker loop) and `siamfc` (the
`siamfc` and `siamfc-mi` baselines). Importing this package imports nothing heavy; the modules
with torch are imported by the registry's factories.
"""
