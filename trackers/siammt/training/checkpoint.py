"""Files training writes and reads: per-epoch training states (for `--resume`) and the final
weights in siamfc-pytorch's layout (`backbone.convN.{0,1}.*`), which `backbone.load_alexnet`
reads, so `SiamMTConfig(weights=PATH)` tracks with them. A training state keeps the same
tensors under `state_dict`, so the tracker loads an epoch's state as well.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from mot_pipeline.errors import InputError
from mot_pipeline.fileio import atomic_write
from trackers.siammt.backbone import AlexNet, widths_from_state_dict

STATE_DIR = "checkpoints"
STATE_PATTERN = "epoch_{:03d}.pt"
STATE_GLOB = "epoch_*.pt"
FINAL_FILE = "siammt.pth"
PREFIX = "backbone."
FORMAT = "mot-train/1"


def siamfc_state(net: AlexNet) -> dict[str, torch.Tensor]:
    """The backbone's tensors under siamfc-pytorch's names, on the CPU, contiguous."""
    return {PREFIX + k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}


def _save(path: Path, obj: object) -> Path:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write(path, lambda f: f.write(buffer.getvalue()), overwrite=True)


def export_weights(path: str | Path, net: AlexNet) -> Path:
    """Write the final weights (siamfc-pytorch layout), atomically."""
    return _save(Path(path), siamfc_state(net))


def save_state(
    output: Path, epoch: int, net: AlexNet, optimizer: torch.optim.Optimizer, config_yaml: str
) -> Path:
    """Write the state after `epoch` (1-based count of finished epochs) under `output`."""
    state = {
        "format": FORMAT,
        "epoch": epoch,
        "state_dict": siamfc_state(net),
        "optimizer": optimizer.state_dict(),
        "config": config_yaml,
    }
    return _save(output / STATE_DIR / STATE_PATTERN.format(epoch), state)


def latest_state(output: Path) -> Path | None:
    """The training state of the most epochs under `output`, or None."""
    paths = sorted((output / STATE_DIR).glob(STATE_GLOB))
    return paths[-1] if paths else None


def _read(path: Path) -> dict:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise InputError(f"not a readable torch checkpoint ({type(err).__name__})", path) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError(f"not a {FORMAT} training state", path)
    return raw


def load_state(path: Path, net: AlexNet, optimizer: torch.optim.Optimizer) -> int:
    """Restore `net` and `optimizer` from a training state; returns its epoch. A state that
    does not fit the net (other widths, other frozen layers) raises `InputError` naming it."""
    raw = _read(path)
    state = {k[len(PREFIX) :]: v for k, v in raw["state_dict"].items() if k.startswith(PREFIX)}
    try:
        widths = widths_from_state_dict(state)
    except KeyError as err:
        raise InputError(f"training state lacks tensor {err.args[0]}", path) from None
    if widths != net.widths:
        raise InputError(f"state has widths {widths}, the config's net {net.widths}", path)
    try:
        net.load_state_dict(state)
        optimizer.load_state_dict(raw["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        first = str(err).splitlines()[0]
        raise InputError(f"training state does not fit this config ({first})", path) from None
    return int(raw["epoch"])


def move_optimizer(optimizer: torch.optim.Optimizer, module: nn.Module) -> None:
    """Put the optimizer's state tensors on the module's device (after loading on the CPU)."""
    device = next(module.parameters()).device
    for state in optimizer.state.values():
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and k != "step":
                state[k] = v.to(device)
