"""Training SiamMT (paper Sec. 3.3) on the inference path: the same φ, κ̃ and Φ̃ as the tracker.

One concept per module: `config` (settings, no torch), `labels` (Eq. 4 label maps and the labels
of every scored pair), `loss` (Eq. 3, class-balanced), `pairs` (ground truth as plain arrays and
the frame pairs drawn from it, with neighbours as negatives), `augment` (photometric jitter,
flips), `model` (scores of exemplar / search-area pairs through `features`, `crop` and `xcorr`),
`batch` (samples loaded, pairs scored, their labels), `checkpoint` (training state and the
siamfc-pytorch layout the tracker loads), `history` (loss and held-out CSVs, plot),
`validation` (held-out loss and peak hits) and `trainer` (the loop). Importing this package
imports nothing heavy.

Layering: this is plugin code (floor 2). It imports only the ground floor of `mot_pipeline`
(`errors`, `fileio`) and the tracker's own modules, and receives its data as plain objects
(`pairs.SequenceGt`: gt rows as arrays and an injected frame reader). Reading MOTChallenge
sequences, pseudo-labelling video with the pipeline (`mot_pipeline.training_data`) and loading
the YAML preset (`mot_pipeline.config.load_train_config`) are the engine's; `mot-train` wires
them together. Nothing in the tracker imports training.
"""
