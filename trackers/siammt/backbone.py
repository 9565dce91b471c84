"""φ: SiamFC's AlexNet feature extractor, and loading of siamfc-pytorch-layout checkpoints.

No padding anywhere (paper Sec. 3.1, 4.1): padding would break the strict translation
equivariance that lets SiamMT cut search-area features out of one whole-frame feature map.
With no padding the net has global stride S = 8 and receptive field K = 87, so an input of
N px gives floor((N - K) / S) + 1 outputs: 127 -> 6, 255 -> 22, and feature cell j of any input
is centred on input pixel j * S + (K - 1) / 2 (see `crop.py`).

The channel widths are parameters so that full SiamFC (96/256/384/384/256) and the width-reduced
FDSiamFC checkpoints (0.3x: 28/76/114/114/76, 0.15x: 14/38/56/56/38) share one definition; the
widths of a checkpoint are read from its tensors. The paper's own net uses LeakyReLU; the SiamFC
weights we ship were trained with ReLU, so the activation is a parameter too.

For inference `fuse_batchnorm` folds every BatchNorm into the preceding convolution: faster, the
same features to float rounding (docs/DECISIONS.md, "SiamMT: BatchNorm folding").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from mot_pipeline.errors import InputError

STRIDE = 8
RECEPTIVE_FIELD = 87
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "FDSiamfc_30.pth"  # FDSiamFC 0.3x; FDSiamfc_15: 0.15x
FULL_WIDTHS = (96, 256, 384, 384, 256)
# siamfc-pytorch's BatchNorm eps: the statistics in its checkpoints were estimated with it.
SIAMFC_BN_EPS = 1e-6
_KERNELS = (11, 5, 3, 3, 3)
_STRIDES = (2, 1, 1, 1, 1)
_GROUPS = (1, 2, 1, 2, 2)
_POOL_AFTER = (True, True, False, False, False)
_LEAKY_SLOPE = 0.01


def output_size(size: int) -> int:
    """Feature cells along one axis for an input of `size` px (0 if the input is too small)."""
    return max(0, (size - RECEPTIVE_FIELD) // STRIDE + 1)


def input_size(cells: int) -> int:
    """Smallest input (px) that gives `cells` feature cells: (cells - 1) * S + K."""
    return (cells - 1) * STRIDE + RECEPTIVE_FIELD


class AlexNet(nn.Module):
    """SiamFC's AlexNet: conv1..conv5, no padding; conv5 has neither BN nor activation.

    Input: (B, 3, H, W) float RGB in 0..255 (no mean/std normalisation, as the SiamFC weights
    were trained). Submodule names `convN.{0,1}` follow siamfc-pytorch so checkpoints load as is.
    """

    def __init__(
        self,
        widths: Sequence[int] = FULL_WIDTHS,
        activation: str = "relu",
        bn_eps: float = SIAMFC_BN_EPS,
    ) -> None:
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"AlexNet needs 5 widths, got {widths}")
        if activation not in ("relu", "leaky_relu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.widths = tuple(int(w) for w in widths)
        in_ch = 3
        for i, out_ch in enumerate(self.widths):
            layers: list[nn.Module] = [
                nn.Conv2d(in_ch, out_ch, _KERNELS[i], _STRIDES[i], groups=_GROUPS[i])
            ]
            if i < 4:
                layers.append(nn.BatchNorm2d(out_ch, eps=bn_eps))
            # Max-pooling before the activation: both activations are monotone, so this equals
            # SiamFC's activation-then-pool exactly and activates 4x fewer values.
            if _POOL_AFTER[i]:
                layers.append(nn.MaxPool2d(3, 2))
            if i < 4:
                layers.append(
                    nn.ReLU(inplace=True)
                    if activation == "relu"
                    else nn.LeakyReLU(_LEAKY_SLOPE, inplace=True)
                )
            setattr(self, f"conv{i + 1}", nn.Sequential(*layers))
            in_ch = out_ch
        self.eval()

    @property
    def out_channels(self) -> int:
        return self.widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}")(x)
        return x

    def take_bgr(self) -> AlexNet:
        """Reverse conv1's input channels in place, so the net takes BGR (OpenCV's order)
        instead of RGB: the same features (to float rounding) without a colour conversion."""
        conv1: nn.Conv2d = self.conv1[0]
        with torch.no_grad():
            conv1.weight.copy_(conv1.weight.flip(1))
        return self

    def fuse_batchnorm(self) -> AlexNet:
        """Fold each eval-mode BatchNorm into its convolution, in place (inference only)."""
        for i in range(1, 5):
            seq: nn.Sequential = getattr(self, f"conv{i}")
            conv, bn = seq[0], seq[1]
            if not isinstance(bn, nn.BatchNorm2d):
                continue
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            with torch.no_grad():
                conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
                conv.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
            seq[1] = nn.Identity()
        return self


def cpu_has_amx_bf16() -> bool:
    """Whether this CPU has AMX-BF16 tiles (`torch.cpu.get_capabilities`), where oneDNN runs
    the bf16 backbone about twice as fast as float32; AVX512-BF16 alone is not enough on Intel
    cores (docs/DECISIONS.md, "SiamMT: backbone dtype")."""
    if not torch.cpu.get_capabilities().get("amx_bf16", False):
        return False
    # The OS must also grant the AMX tile state (Linux >= 5.16); torch asks for it here.
    init = getattr(torch.cpu, "_init_amx", None)
    return bool(init()) if init is not None else True


def widths_from_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
    """The five conv widths of a backbone state dict (keys `convN.0.weight`); KeyError if absent."""
    return tuple(int(state[f"conv{i}.0.weight"].shape[0]) for i in range(1, 6))


def _check_shapes(state: Mapping[str, torch.Tensor], widths: tuple[int, ...]) -> str | None:
    """A description of the first tensor that does not fit an AlexNet of `widths`, or None."""
    expected = AlexNet(widths).state_dict()
    for key, ref in expected.items():
        if key.endswith("num_batches_tracked"):
            continue
        if key not in state:
            return f"missing tensor {key}"
        if tuple(state[key].shape) != tuple(ref.shape):
            return f"{key} has shape {tuple(state[key].shape)}, expected {tuple(ref.shape)}"
    return None


def load_alexnet(
    path: str | Path,
    activation: str = "relu",
    bn_eps: float = SIAMFC_BN_EPS,
    fuse: bool = True,
    device: str | torch.device = "cpu",
) -> AlexNet:
    """Build an `AlexNet` from a siamfc-pytorch checkpoint (`backbone.convN.{0,1}.*`).

    The widths are inferred from the tensors; the legacy (pre-zip) torch format loads too. A
    file that is missing, unreadable or not such a backbone raises `InputError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("SiamFC weights not found", path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise InputError(f"not a readable torch checkpoint ({type(err).__name__})", path) from None
    if isinstance(raw, Mapping) and "state_dict" in raw and isinstance(raw["state_dict"], Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping):
        raise InputError("checkpoint is not a state dict", path)
    state: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            continue
        for prefix in ("module.", "net.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if key.startswith("conv"):
            state[key] = value
    try:
        widths = widths_from_state_dict(state)
    except KeyError as err:
        raise InputError(
            f"not a siamfc-pytorch AlexNet checkpoint (no tensor {err.args[0]})", path
        ) from None
    if any(w % 2 for w in widths):
        raise InputError(f"widths {widths} cannot feed grouped convolutions", path)
    problem = _check_shapes(state, widths)
    if problem is not None:
        raise InputError(f"not a siamfc-pytorch AlexNet checkpoint: {problem}", path)
    net = AlexNet(widths, activation=activation, bn_eps=bn_eps)
    net.load_state_dict(state, strict=False)
    net.eval()
    if fuse:
        net.fuse_batchnorm()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(device)


def weights_path(weights: str | Path | None) -> Path:
    """The checkpoint file `weights` names: None is the packaged FDSiamFC 0.3x; a bare name
    that is the stem of a packaged file (`FDSiamfc_15`: FDSiamFC 0.15x) is that file, so a
    preset can name shipped weights without a path; anything else is a path."""
    if weights is None:
        return DEFAULT_WEIGHTS
    path = Path(weights)
    packaged = WEIGHTS_DIR / f"{path.name}.pth"
    if path.name == str(weights) and not path.suffix and packaged.is_file():
        return packaged
    return path


def load_backbone(weights: str | Path | None, activation: str, device: torch.device) -> AlexNet:
    """The SiamFC AlexNet (`weights`: see `weights_path`) on `device`; channels-last on CPU,
    where its convs run faster."""
    net = load_alexnet(weights_path(weights), activation=activation, device=device)
    return net.to(memory_format=torch.channels_last) if device.type == "cpu" else net
