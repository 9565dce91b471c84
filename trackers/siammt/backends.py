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

import importlib.util
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
        """E.g. "openvino int8 (auto: int8 dot products (AVX512-VNNI), nncf installed)"."""
        return f"{self.backend} {self.precision} ({self.reason})"


def cpu_int8_dot() -> str | None:
    """The name of this CPU's int8 dot-product instructions (AMX-INT8, AVX512-VNNI or
    AVX-VNNI), where OpenVINO's int8 convolutions beat bf16 and f32; None without."""
    caps = torch.cpu.get_capabilities()
    for key, name in (("amx_int8", "AMX-INT8"), ("avx512_vnni", "AVX512-VNNI")):
        if caps.get(key, False):
            return name
    return "AVX-VNNI" if caps.get("avx_vnni", False) else None


def nncf_installed() -> bool:
    """int8 models are quantised by NNCF at first use (`quantize.py`)."""
    return importlib.util.find_spec("nncf") is not None


def resolve(config: SiamMTConfig) -> Choice:
    """The backend and precision to run. Backend "auto": OpenVINO on the CPU (as fast as torch
    in f32, faster in int8 and bf16), torch elsewhere. Precision "auto" on the CPU: the fastest
    that tracks as well as float32 (docs/DECISIONS.md, "SiamMT: inference backend and int8"):
    int8 in OpenVINO where the CPU has int8 dot products (and NNCF is installed), else bf16
    where it has AMX-BF16, else f32; f32 off the CPU."""
    cpu = torch.device(config.device).type == "cpu"
    backend, why = config.backend, []
    if backend == "auto":
        backend = "openvino" if cpu else "torch"
        why.append("OpenVINO on the CPU" if cpu else f"torch on {config.device}")
    if backend == "openvino" and not cpu:
        raise ValueError(f"the openvino backend runs on the CPU, not {config.device!r}")
    precision = config.precision
    if precision == "auto":
        precision, rule = _auto_precision(backend, cpu)
        why.append(rule)
    if precision == "int8" and backend == "torch":
        raise ValueError("precision int8 needs backend openvino")
    return Choice(backend, precision, f"auto: {'; '.join(why)}" if why else "set")


def _auto_precision(backend: str, cpu: bool) -> tuple[str, str]:
    """(precision, the rule that chose it) for precision "auto" (see `resolve`)."""
    if not cpu:
        return "f32", "f32 off the CPU"
    dot = cpu_int8_dot()
    if backend == "openvino" and dot is not None:
        if nncf_installed():
            return "int8", f"int8: the CPU has {dot}"
        fallback = "nncf not installed, so not int8"
    else:
        fallback = "no int8 dot products" if backend == "openvino" else "torch has no int8"
    if cpu_has_amx_bf16():
        return "bf16", f"bf16: the CPU has AMX-BF16 ({fallback})"
    return "f32", f"f32: no AMX-BF16 ({fallback})"


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
