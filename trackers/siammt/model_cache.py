"""φ as OpenVINO models, built from the shipped torch weights at first use and cached on disk.

An entry is a folder named by a key over everything the model depends on (the weights' bytes,
the activation, the precision, this module's format version and the OpenVINO / NNCF versions),
holding `model.xml`, `model.bin` and `manifest.json` with their SHA-256 digests. A cached
entry is used only when the manifest and both digests agree; anything else (a missing, partial,
stale or corrupt entry) is rebuilt, written to a temporary folder and moved into place, so no
reader ever sees half an entry. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from mot_pipeline.fileio import cache_root
from trackers.siammt.backbone import input_size, load_backbone, weights_path
from trackers.siammt.config import SiamMTConfig

FORMAT_VERSION = 2  # bump when the built model changes for the same inputs
CACHE_ENV = "MOT_PIPELINE_CACHE"  # overrides the default cache root
EXAMPLE_CELLS = 22  # the example input for tracing: one search area's size
FILES = ("model.xml", "model.bin")


def default_cache_dir() -> Path:
    """$MOT_PIPELINE_CACHE, else the project's cache root (`fileio.cache_root`)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return cache_root()


def cache_key(config: SiamMTConfig, precision: str) -> str:
    """Folder name of the entry for these weights, activation and precision."""
    import openvino

    digest = hashlib.sha256(weights_path(config.weights).read_bytes())
    parts = [config.activation, precision, str(FORMAT_VERSION), openvino.__version__]
    if precision == "int8":
        from importlib.metadata import PackageNotFoundError, version

        from trackers.siammt.quantize import calibration_sequence

        try:
            parts.append(version("nncf"))
        except PackageNotFoundError:
            parts.append("no-nncf")  # quantize() says what to install
        parts.append(str(calibration_sequence(config).resolve()))
    digest.update("|".join(parts).encode())
    return f"siammt-{precision}-{digest.hexdigest()[:16]}"


def entry_dir(config: SiamMTConfig, precision: str) -> Path:
    root = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    return root / cache_key(config, precision)


def load_or_build(config: SiamMTConfig, precision: str) -> Any:
    """The `ov.Model` of φ at `precision`, from the cache when its entry is intact."""
    import openvino as ov

    entry = entry_dir(config, precision)
    if not _intact(entry):
        _publish(entry, build(config, precision))
    return ov.Core().read_model(entry / FILES[0])


def build(config: SiamMTConfig, precision: str) -> Any:
    """Convert the torch backbone (BGR, BatchNorm folded) to OpenVINO, taking uint8 NHWC and
    giving NHWC features, any input size; int8: quantised by NNCF."""
    import openvino as ov

    if precision == "int8":  # before the conversion, whose tracing prints warnings
        from trackers.siammt.quantize import require_nncf

        require_nncf()
    net = load_backbone(config.weights, config.activation, torch.device("cpu")).take_bgr()
    side = input_size(EXAMPLE_CELLS)
    model = ov.convert_model(
        net,
        example_input=torch.zeros(1, 3, side, side),
        input=[ov.PartialShape([1, 3, -1, -1])],
    )
    if precision == "int8":
        from trackers.siammt.quantize import quantize

        model = quantize(model, config)
    ppp = ov.preprocess.PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.output().model().set_layout(ov.Layout("NCHW"))
    ppp.output().tensor().set_layout(ov.Layout("NHWC"))
    return ppp.build()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _intact(entry: Path) -> bool:
    """Whether `entry` holds both files and a manifest whose digests they match."""
    try:
        manifest = json.loads((entry / "manifest.json").read_text())
        return all(manifest.get(name) == _digest(entry / name) for name in FILES)
    except (OSError, ValueError, AttributeError):
        return False


def _publish(entry: Path, model: Any) -> None:
    """Save `model` as `entry`: written beside it, then moved into place."""
    import openvino as ov

    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        ov.save_model(model, tmp / FILES[0], compress_to_fp16=False)
        manifest = {name: _digest(tmp / name) for name in FILES}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
