"""Inference backends for φ: torch (any device; the path for CUDA and training) and OpenVINO
(CPU), behind one call.

A backend is called with the padded frame region as a (1, 3, H, W) channels-last tensor of its
`input_dtype` (BGR, 0..255) and returns the (Hf, Wf, C) float32 features, channels-last. The
OpenVINO model takes the region as uint8 NHWC and gives NHWC features (its pre- and
post-processing do the conversions), so no layout copy is made on either side. It is built from
the same weights at first use and kept in an on-disk cache (`model_cache.py`); settings
`backend` and `precision` choose, "auto" by the rule of `resolve` (measurements:
docs/DECISIONS.md, "SiamMT: inference backend").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from trackers.siammt.backbone import AlexNet, cpu_has_amx_bf16, load_backbone
from trackers.siammt.config import SiamMTConfig

TORCH_DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


class Backbone(Protocol):
    """φ over one region (see the module docstring)."""

    input_dtype: torch.dtype
    name: str  # "torch f32", "openvino bf16", ...

    @property
    def out_channels(self) -> int: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Choice:
    """A resolved backend and precision, and why: "set" (the config named both) or, for
    "auto", the rule that picked them."""

    backend: str
    precision: str
    reason: str

    def describe(self) -> str:
        """E.g. "torch f32 (auto: f32: the only precision that keeps tracking accuracy; ...)"."""
        return f"{self.backend} {self.precision} ({self.reason})"


def resolve(config: SiamMTConfig) -> Choice:
    """The backend and precision to run. Precision "auto" is f32: on the 20-sequence set the
    low precisions lose accuracy at k = 10 (bf16 0.9 IDF1, int8 1.8; docs/DECISIONS.md,
    "SiamMT: inference backend and int8"), so they are opt-in. Backend "auto" is the faster one
    for the precision on this machine (`_auto_backend`)."""
    cpu = torch.device(config.device).type == "cpu"
    precision, why = config.precision, []
    if precision == "auto":
        precision = "f32"
        why.append("f32: the only precision that keeps tracking accuracy")
    backend = config.backend
    if backend == "auto":
        backend, rule = _auto_backend(precision, cpu)
        why.append(rule)
    if backend == "openvino" and not cpu:
        raise ValueError(f"the openvino backend runs on the CPU, not {config.device!r}")
    if precision == "int8" and backend == "torch":
        raise ValueError("precision int8 needs backend openvino")
    return Choice(backend, precision, f"auto: {'; '.join(why)}" if why else "set")


def _auto_backend(precision: str, cpu: bool) -> tuple[str, str]:
    """(backend, the rule that chose it) for backend "auto", from φ's measured times on a
    Xeon with AMX and an AMD EPYC without (docs/DECISIONS.md)."""
    if not cpu:
        return "torch", "torch off the CPU"
    if precision == "int8":
        return "openvino", "int8 runs in OpenVINO"
    if precision == "bf16":
        if cpu_has_amx_bf16():
            return "openvino", "bf16 is fastest in OpenVINO with AMX-BF16"
        return "torch", "bf16 is faster in torch than in OpenVINO without AMX-BF16"
    return "torch", "f32 is as fast in torch as in OpenVINO"


class TorchBackbone:
    """φ in torch, in float32 or bfloat16 (the heads always run in float32)."""

    def __init__(self, config: SiamMTConfig, precision: str) -> None:
        self.device = torch.device(config.device)
        self.dtype = TORCH_DTYPES[precision]
        self.name = f"torch {precision}"
        net: AlexNet = load_backbone(config.weights, config.activation, self.device)
        self.net = net.take_bgr().to(self.dtype)
        # On the CPU the region is written straight in the net's dtype; on CUDA as uint8, and
        # converted there.
        self.input_dtype = self.dtype if self.device.type == "cpu" else torch.uint8

    @property
    def out_channels(self) -> int:
        return self.net.out_channels

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.device.type != "cpu":
            x = x.to(self.device).to(self.dtype)
        return self.net(x)[0].permute(1, 2, 0).float().contiguous()


class OpenVinoBackbone:
    """φ as an OpenVINO model on the CPU: f32, bf16 (the plugin's inference precision) or int8
    (NNCF post-training quantisation). Compiled at the first call, with torch's thread count
    then (the pipeline sets threads after its models load)."""

    input_dtype = torch.uint8

    def __init__(self, config: SiamMTConfig, precision: str) -> None:
        from trackers.siammt import model_cache

        self.precision = precision
        self.name = f"openvino {precision}"
        self.model = model_cache.load_or_build(config, precision)
        self._out_channels = int(self.model.output(0).get_partial_shape()[3].get_length())
        self._request = None

    @property
    def out_channels(self) -> int:
        return self._out_channels

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._request is None:
            self._request = self._compile().create_infer_request()
        nhwc = np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())  # channels-last: a view
        out = self._request.infer([nhwc], share_inputs=True, share_outputs=True)[0]
        return torch.from_numpy(np.array(out[0], dtype=np.float32))  # the request reuses `out`

    def _compile(self):
        import openvino as ov

        hint = "bf16" if self.precision == "bf16" else "f32"
        properties = {
            "INFERENCE_PRECISION_HINT": hint,
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            "PERFORMANCE_HINT": "LATENCY",
        }
        return ov.Core().compile_model(self.model, "CPU", properties)


def make_backbone(config: SiamMTConfig, choice: Choice | None = None) -> Backbone:
    """The backbone `choice` names (default: `resolve(config)`)."""
    choice = choice or resolve(config)
    if choice.backend == "openvino":
        return OpenVinoBackbone(config, choice.precision)
    return TorchBackbone(config, choice.precision)
