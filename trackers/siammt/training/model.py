"""SiamMT's scores for training, computed on the inference path (paper Sec. 3.3): per frame one
pass of φ over the region covering its sample grids (`features.FeatureExtractor`, the tracker's
own resize, padding and region rule), κ̃ crops of the 6 x 6 exemplars and 22 x 22 search areas
from that map (`crop.kappa`), Φ̃ of each scored pair (`xcorr.pairwise_xcorr_bmm`) and the
tracker's head, logits = `out_scale` * Φ̃. So the net is trained on exactly the features the
tracker will compute, gradients flowing through all three stages.

The trainable φ is an `AlexNet` in siamfc-pytorch's layout (RGB input); the extractor hands it
BGR regions, so the adapter reverses the channels (the tracker folds that flip into conv1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from mot_pipeline.errors import InputError
from trackers.siammt.backbone import AlexNet, load_alexnet, weights_path
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.crop import kappa
from trackers.siammt.features import FeatureExtractor, FrameFeatures
from trackers.siammt.training.augment import Sample
from trackers.siammt.training.config import REDUCED_WIDTHS
from trackers.siammt.training.labels import PairSet
from trackers.siammt.xcorr import pairwise_xcorr_bmm

# A normal initialisation as the paper's (Sec. 4.1); the std is ours (He's for ReLU fan-in).
INIT_NONLINEARITY = "relu"


class TrainBackbone:
    """`backends.Backbone` over a trainable AlexNet: BGR float32 regions in, (Hf, Wf, C)
    features out, with gradients."""

    input_dtype = torch.float32
    name = "torch train"

    def __init__(self, net: AlexNet, device: torch.device) -> None:
        self.net, self.device = net, device

    @property
    def out_channels(self) -> int:
        return self.net.out_channels

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device).flip(1)  # BGR -> RGB
        return self.net(x)[0].permute(1, 2, 0)


def scratch_alexnet(widths: Sequence[int], activation: str) -> AlexNet:
    """A freshly initialised AlexNet (normal weights, zero biases, BN at identity)."""
    net = AlexNet(widths, activation=activation)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity=INIT_NONLINEARITY)
            nn.init.zeros_(m.bias)
    return net


def init_alexnet(
    mode: str, weights: str | None, widths: Sequence[int] | None, activation: str
) -> AlexNet:
    """φ to train: `finetune` loads a siamfc-pytorch checkpoint (`InputError` if it does not
    fit `widths`, when given); `scratch` starts from a normal initialisation."""
    if mode == "scratch":
        return scratch_alexnet(widths or REDUCED_WIDTHS, activation)
    path = weights_path(weights)
    net = load_alexnet(path, activation=activation, fuse=False)
    if widths is not None and tuple(widths) != net.widths:
        raise InputError(
            f"checkpoint has widths {net.widths}, the config asks {tuple(widths)}", path
        )
    return net


class SiamMTTrainNet(nn.Module):
    """φ plus the fixed pieces of the tracker around it (κ̃, Φ̃, the `out_scale` head)."""

    def __init__(self, backbone: AlexNet, config: SiamMTConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.config = config
        self.device = torch.device(config.device)
        self.extractor = FeatureExtractor(config, TrainBackbone(backbone, self.device))
        self.response_size = config.search_cells - config.exemplar_cells + 1

    def freeze(self, convs: int) -> None:
        """Stop gradients into conv1..conv`convs` (and their BatchNorms)."""
        for i in range(1, 6):
            for p in getattr(self.backbone, f"conv{i}").parameters():
                p.requires_grad_(i > convs)

    def _features(
        self, frame: np.ndarray, cells: np.ndarray, centre: np.ndarray, half_span: np.ndarray
    ) -> FrameFeatures:
        """φ over the region covering the squares of `half_span` around `centre`, the frame
        resized for `cells` as the tracker would (no cache: each call is a fresh frame)."""
        self.extractor.reset()
        return self.extractor.covering(frame, None, cells, centre, half_span, reuse=False)

    def crops(self, s: Sample) -> tuple[torch.Tensor, torch.Tensor]:
        """Exemplar (M, E * E, C) and search-area (M, X * X, C) features of one sample."""
        c = self.config
        e, x = c.exemplar_cells, c.search_cells
        ff = self._features(s.frame_z, s.cell_z / s.zoom_z, s.centre_z, e / 2 * s.cell_z)
        rois = ff.rois(s.centre_z, s.cell_z[:, None], e).reshape(-1, 4)
        ex = kappa(ff.features, rois, e, ff.size[::-1])
        half = (x - 1) / 2 * s.spacing_x
        ff = self._features(s.frame_x, s.spacing_x / s.zoom_x, s.centre_x, half)
        rois = ff.rois(s.centre_x, s.spacing_x[:, None], x).reshape(-1, 4)
        se = kappa(ff.features, rois, x, ff.size[::-1])
        m = len(s.cell_z)
        return ex.reshape(m, e * e, -1), se.reshape(m, x * x, -1)

    def forward(self, samples: Sequence[Sample], pairs: PairSet) -> torch.Tensor:
        """Logits (P, R, R) of the scored pairs (`labels.pair_index` order)."""
        c = self.config
        parts = [self.crops(s) for s in samples]
        ex = torch.cat([p[0] for p in parts])
        se = torch.cat([p[1] for p in parts])
        e_idx = torch.as_tensor(pairs.exemplar, device=ex.device)
        s_idx = torch.as_tensor(pairs.search, device=ex.device)
        hw_x, hw_e = (c.search_cells,) * 2, (c.exemplar_cells,) * 2
        scores = pairwise_xcorr_bmm(se[s_idx].unsqueeze(1), ex[e_idx], hw_x, hw_e)
        return scores[:, 0] * c.out_scale
