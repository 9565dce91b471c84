"""Training SiamMT (paper Sec. 3.3) on the inference path: the same φ, κ̃ and Φ̃ as the tracker.

One concept per module: `config` (settings, no torch), `labels` (Eq. 4 label maps and the labels
of every scored pair), `loss` (Eq. 3, class-balanced), `pairs` (frame pairs from MOTChallenge
ground truth, with neighbours as negatives), `augment` (photometric jitter, flips), `model`
(scores of exemplar / search-area pairs through `features`, `crop` and `xcorr`), `batch`
(samples loaded, pairs scored, their labels), `checkpoint` (training state and the
siamfc-pytorch layout the tracker loads), `history` (loss and held-out CSVs, plot),
`validation` (held-out loss and peak hits), `trainer` (the loop) and `pseudo` (ground truth
from the pipeline's confident tracks on unlabeled video). Importing this package imports nothing heavy.

Layering: training reads data through the engine's MOTChallenge readers (the one place that knows
the format) and pseudo-labels with the engine's pipeline, so it imports from `mot_pipeline`'s
engine floor; nothing in the tracker imports training.
"""
