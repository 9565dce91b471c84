"""Where does int8 lose accuracy? φ quantised by NNCF with layers left in float32, compared
with float32 on held-out search regions (gt people of three sequences calibration never saw):
feature error, response error, how often the response peak moves, and φ's time on 896 x 720
(docs/DECISIONS.md, "SiamMT: inference backend and int8").

    python tools/int8_layers.py --shared ../shared/data/mot
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trackers.siammt import quantize
from trackers.siammt.backbone import input_size, load_backbone
from trackers.siammt.config import SiamMTConfig

HELD_OUT = ("TUD-Stadtmitte", "PETS09-S2L1", "KITTI-17")
CONV1 = "__module.conv1.0/aten::_convolution/Convolution"
CONV5 = "__module.conv5.0/aten::_convolution/GroupConvolution"
TIMED_INPUT = (1, 3, 720, 896)


def _response(f: torch.Tensor, exemplar_cells: int) -> torch.Tensor:
    """The region's features against its own central exemplar."""
    _, h, w = f.shape
    half = exemplar_cells // 2
    ex = f[:, h // 2 - half : h // 2 + half, w // 2 - half : w // 2 + half]
    return F.conv2d(f[None], ex[None])[0, 0]


def _ms(compiled, reps: int = 15) -> float:
    x = np.random.default_rng(0).uniform(0, 255, TIMED_INPUT).astype(np.float32)
    for _ in range(3):
        compiled([x])
    start = time.perf_counter()
    for _ in range(reps):
        compiled([x])
    return (time.perf_counter() - start) / reps * 1e3


def main() -> None:
    import nncf
    import openvino as ov

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shared", type=Path, default=Path("../shared/data/mot"))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    c = SiamMTConfig()
    net = load_backbone(None, c.activation, torch.device("cpu")).take_bgr()
    side = input_size(22)
    raw = ov.convert_model(
        net, example_input=torch.zeros(1, 3, side, side), input=[ov.PartialShape([1, 3, -1, -1])]
    )
    calib = quantize.calibration_regions(c)
    held = [
        r
        for s in HELD_OUT
        for r in quantize.calibration_regions(replace(c, int8_calibration=str(args.shared / s)))
    ]
    core = ov.Core()
    props = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": args.threads}

    def feats(compiled, x):
        return torch.from_numpy(np.array(compiled([x])[0][0]))

    ref = core.compile_model(raw, "CPU", props)
    ref_f = [feats(ref, x) for x in held]
    ref_r = [_response(f, c.exemplar_cells) for f in ref_f]
    print(f"{len(calib)} calibration, {len(held)} held-out regions; f32 {_ms(ref):.1f} ms")
    ignored = {"all int8": [], "conv1 f32": [CONV1], "conv5 f32": [CONV5], "both": [CONV1, CONV5]}
    for name, names in ignored.items():
        scope = nncf.IgnoredScope(names=names) if names else None
        kw = {"ignored_scope": scope} if scope else {}
        model = nncf.quantize(
            raw, nncf.Dataset(calib), subset_size=len(calib), fast_bias_correction=False, **kw
        )
        compiled = core.compile_model(model, "CPU", props)
        fe, re_, moved = [], [], []
        for x, f0, r0 in zip(held, ref_f, ref_r, strict=True):
            f = feats(compiled, x)
            r = _response(f, c.exemplar_cells)
            fe.append(float((f - f0).abs().mean() / f0.abs().mean()))
            re_.append(float((r - r0).abs().mean() / (r0.max() - r0.min())))
            moved.append(int(r.argmax()) != int(r0.argmax()))
        print(
            f"{name:10s} feature error {np.mean(fe) * 100:.2f} %, response error "
            f"{np.mean(re_) * 100:.2f} %, peak moved in {np.mean(moved) * 100:.1f} % of regions, "
            f"{_ms(compiled):.1f} ms"
        )


if __name__ == "__main__":
    main()
