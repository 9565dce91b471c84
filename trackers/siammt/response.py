"""Score maps -> new position and scale: SiamFC's peak search, batched over targets.

For every target, S score maps (one per search scale, 17 x 17 logits) are upsampled x16 to
272 x 272, the off-centre scales are multiplied by the scale penalty, the scale whose upsampled
map has the highest peak wins; its map is shifted to a minimum of 0 and normalised to sum 1,
blended with a normalised Hann window (window influence) and its argmax, measured from the map
centre, is the displacement. SiamFC upsamples bicubically, SiamMT bilinearly (paper Sec. 4.4).

`locate` computes exactly what `locate_reference` (the literal recipe above, kept as the test
oracle) computes, but cheaper, which matters at N = 100:
- upsampling is separable and linear, so it is two small matmuls with a fixed (272, 17) matrix
  built by running `F.interpolate` itself on an identity (bit-for-bit the same weights);
- for bilinear maps the peak and the minimum of each upsampled map lie on the upsampled samples
  next to a grid node (a bilinear patch attains its extremes at the corners of any rectangle of
  samples in it), so 34 x 34 samples per map decide the scale instead of 272 x 272;
- the sum of an upsampled map is w^T R w with w the column sums of the matrix;
- the normalisation (x - min) / sum only rescales and shifts, so the argmax of the blend is that
  of a * up(R) + wi * hann with a = (1 - wi) / sum, computed only for the winning scale;
- bicubic: on the full 272 x 272 map, a few targets at a time so the maps stay in cache;
- bilinear: the near-node rows cut the upsampled map into 18 x 18 blocks (16 x 16 inside, 8 px
  wide at the clamped borders) where it is bilinear between the 4 corner samples, so a block's
  blend is at most a * (max of its 4 corners) + (max of the window over it). The blend is
  computed on the `top_blocks` blocks with the highest bound; when the next bound is below the
  best blend found, no other block can hold the argmax and the result is exact; otherwise
  (rare: a flat map) that target falls back to the full map.
Bilinear versus bicubic: a bilinear upsampling has its maxima next to the grid nodes (1/32 cell
off them), so SiamMT's displacements come in whole score-map cells; bicubic gives sub-cell
peaks. Costs and accuracy of both: docs/DECISIONS.md ("peak search", "bilinear versus bicubic").

Scores: the logit of the winning (unpenalised) upsampled map at the chosen location. The SiamFC
head was trained with a logistic loss on these logits (out_scale 0.001 included), so
sigmoid(logit) is the network's probability that the target is there.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from trackers.siammt.config import SiamParams

_EPS = 1e-16  # SiamFC's guard in the normalisation


def upsample_matrix(size: int, factor: int, mode: str) -> torch.Tensor:
    """(size * factor, size) matrix U with U @ x == F.interpolate(x, mode, align_corners=False).

    Built by interpolating an identity along one axis (the other axis keeps its size, where
    both modes reproduce the input exactly), so the weights are torch's own.
    """
    eye = torch.eye(size, dtype=torch.float64)[None, None]  # rows = basis vectors
    out = F.interpolate(eye, size=(size * factor, size), mode=mode, align_corners=False)
    return out[0, 0].to(torch.float32)


def near_node_matrix(up: torch.Tensor, factor: int) -> torch.Tensor:
    """Rows of `up` next to each grid node: the first and last sample of every interval between
    nodes, plus the clamped borders. For bilinear upsampling, the max (or min) over these rows
    and columns equals the max (or min) over the full upsampled map."""
    # Output row v samples the input at (v + 0.5) / factor - 0.5, so rows k * factor + factor / 2
    # - 1 and k * factor + factor / 2 sit just before and after node k (clamped at the ends).
    n_nodes = up.shape[1]
    rows = [k * factor + factor // 2 + d for k in range(n_nodes) for d in (-1, 0)]
    return up[rows]


def _bilinear_blocks(size: int, factor: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Blocks of output rows of a bilinear x`factor` upsampling of `size` nodes within which
    every row is a convex combination of two near-node rows (`near_node_matrix` order).

    Returns rows (B, factor) (short border blocks repeat their last row), and the indices of
    each block's two bounding near-node rows (B,), (B,). Block 0 is the clamped border before
    node 0, block k + 1 lies between nodes k and k + 1, the last block is the far border.
    """
    half = factor // 2
    spans = [(0, half, 0, 0)]
    spans += [
        (factor * k + half, factor * (k + 1) + half, 2 * k + 1, 2 * k + 2) for k in range(size - 1)
    ]
    spans.append((factor * (size - 1) + half, factor * size, 2 * size - 1, 2 * size - 1))
    rows = [[min(a + i, b - 1) for i in range(factor)] for a, b, _, _ in spans]
    lo = [s[2] for s in spans]
    hi = [s[3] for s in spans]
    return torch.tensor(rows), torch.tensor(lo), torch.tensor(hi)


def hann_window(size: int) -> torch.Tensor:
    """SiamFC's window: outer product of two Hann windows, normalised to sum 1."""
    h = np.hanning(size)
    win = np.outer(h, h)
    return torch.from_numpy(win / win.sum()).to(torch.float32)


def apply_update(
    centre: np.ndarray,
    size: np.ndarray,
    cell: np.ndarray,
    disp: np.ndarray,
    scale_idx: np.ndarray,
    params: SiamParams,
) -> None:
    """SiamFC's box update, in place, for M targets.

    centre (M, 2) x, y and size (M, 2) w, h in frame px; cell (M,) frame px per score-map cell
    at scale 1 (= feature spacing of the search area); disp (M, 2) (dy, dx) in score-map cells
    at the chosen scale. The size follows the chosen scale damped by the scale learning rate.
    """
    f = params.scale_factors()[scale_idx]
    centre += disp[:, ::-1] * (cell * f)[:, None]
    damp = (1.0 - params.scale_lr) + params.scale_lr * f
    size *= damp[:, None]
    cell *= damp


class PeakFinder:
    """Batched peak search over (N, S, R, R) score maps; S must be odd (centre = no change)."""

    def __init__(
        self,
        params: SiamParams,
        response_size: int,
        device: torch.device | str = "cpu",
        chunk_maps: int = 4,
        top_blocks: int = 9,
    ) -> None:
        n_scales = params.scale_num
        if params.upsample not in ("bilinear", "bicubic"):
            raise ValueError(f"unknown upsampling {params.upsample!r}")
        if n_scales % 2 != 1:
            raise ValueError("the number of scales must be odd")
        self.p = params
        self.size = response_size
        self.up_size = response_size * params.response_up
        self.chunk_maps = max(1, int(chunk_maps))
        self.top_blocks = max(1, int(top_blocks))
        up = upsample_matrix(response_size, params.response_up, params.upsample)
        self.up = up.to(device)
        self.up_t = up.t().contiguous().to(device)
        node = near_node_matrix(up, params.response_up)
        self.node = node.to(device)
        self.node_t = node.t().contiguous().to(device)
        self.col_sum = up.sum(dim=0).to(device)  # (R,): sum of up(R) = w^T R w
        self.hann = (hann_window(self.up_size) * params.window_influence).to(device)
        pen = torch.full((n_scales,), params.scale_penalty)
        pen[n_scales // 2] = 1.0
        self.penalty = pen.to(device)
        self.centre = (self.up_size - 1) / 2
        rows, lo, hi = _bilinear_blocks(response_size, params.response_up)
        self.block_lo, self.block_hi = lo.to(device), hi.to(device)
        # Per block (pair), its upsampling rows, window and flat positions: contiguous tables,
        # so that a candidate block is one row of an index_select, not a 2-D gather.
        nb, f = rows.shape
        self.block_up = up[rows].reshape(nb, f * response_size).to(device)  # (B, f * R)
        pair_r, pair_c = rows[:, None, :, None], rows[None, :, None, :]
        win = self.hann.cpu()[pair_r, pair_c]  # (B, B, f, f)
        self.block_hann_max = win.amax(dim=(2, 3)).to(device)
        self.block_hann = win.reshape(nb * nb, f * f).to(device)
        self.block_pos = (pair_r * self.up_size + pair_c).reshape(nb * nb, f * f).to(device)

    def _upsample(self, maps: torch.Tensor, left: torch.Tensor, right: torch.Tensor):
        """left @ maps @ right for maps (..., R, R)."""
        return torch.matmul(torch.matmul(left, maps), right)

    def locate(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """maps (N, S, R, R) logits -> (disp (N, 2) as (dy, dx) in score-map cells,
        scale index (N,), logit at the chosen location (N,))."""
        n = maps.shape[0]
        self.last_peaks = maps.new_zeros((n, maps.shape[1]))
        if n == 0:
            z = maps.new_zeros((0,))
            return maps.new_zeros((0, 2)), z.long(), z
        if self.p.upsample == "bilinear":
            coarse = self._upsample(maps, self.node, self.node_t)
            peaks = coarse.amax(dim=(2, 3))
        else:
            peaks = torch.cat(
                [
                    self._upsample(maps[a : a + self.chunk_maps], self.up, self.up_t).amax(
                        dim=(2, 3)
                    )
                    for a in range(0, n, self.chunk_maps)
                ]
            )
        self.last_peaks = peaks  # (N, S) peak logit of each upsampled map, before the penalty
        scale_idx = torch.argmax(peaks * self.penalty, dim=1)
        rows = torch.arange(n, device=maps.device)
        best = maps[rows, scale_idx]  # (N, R, R)
        total = torch.einsum("i,nij,j->n", self.col_sum, best, self.col_sum)
        if self.p.upsample == "bilinear":
            idx, logits, exact = self._blend_peak_in_blocks(best, coarse[rows, scale_idx], total)
            if not bool(exact.all()):
                rest = torch.nonzero(~exact)[:, 0]
                idx[rest], logits[rest] = self._blend_peak_full(best[rest], total[rest])
        else:
            idx, logits = self._blend_peak_full(best, total)
        loc = torch.stack([idx // self.up_size, idx % self.up_size], dim=1).to(maps.dtype)
        disp = (loc - self.centre) / self.p.response_up
        return disp, scale_idx, logits

    def _gain(self, total: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
        """a of a * up(R) + wi * hann: (x - min) / (sum(x - min) + eps) blended with the window,
        without the constant terms, which do not move the argmax."""
        return (1.0 - self.p.window_influence) / (total - lo * self.up_size**2 + _EPS)

    def _blend_peak_full(
        self, best: torch.Tensor, total: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat argmax of the blend and the logit there, on the full upsampled maps."""
        locs, logits = [], []
        for a in range(0, len(best), self.chunk_maps):
            flat = self._upsample(best[a : a + self.chunk_maps], self.up, self.up_t).flatten(1)
            gain = self._gain(total[a : a + self.chunk_maps], flat.amin(dim=1))
            blend = torch.addcmul(self.hann.flatten(), flat, gain[:, None])
            idx = blend.argmax(dim=1)
            locs.append(idx)
            logits.append(flat.gather(1, idx[:, None])[:, 0])
        return torch.cat(locs), torch.cat(logits)

    def _blend_peak_in_blocks(
        self, best: torch.Tensor, coarse: torch.Tensor, total: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bilinear only (module docstring): the blend's flat argmax and logit from the
        `top_blocks` blocks of highest bound, and whether that is provably the full map's."""
        nb = len(self.block_lo)
        gain = self._gain(total, coarse.amin(dim=(1, 2)))  # near-node samples hold the min
        corner = torch.maximum(coarse[:, self.block_lo], coarse[:, self.block_hi])
        corner = torch.maximum(corner[:, :, self.block_lo], corner[:, :, self.block_hi])
        bound = (corner * gain[:, None, None] + self.block_hann_max).flatten(1)  # (N, B * B)
        k = min(self.top_blocks, nb * nb)
        top, cand = torch.topk(bound, min(k + 1, nb * nb), dim=1)
        n, r = len(best), self.size
        pair = cand[:, :k].reshape(-1)  # (N k,) flat (block row, block column)
        up_r = self.block_up.index_select(0, pair // nb).reshape(n, k, -1, r)  # (N, k, f, R)
        up_c = self.block_up.index_select(0, pair % nb).reshape(n, k, -1, r)
        vals = torch.matmul(torch.matmul(up_r, best[:, None]), up_c.transpose(2, 3))
        hann = self.block_hann.index_select(0, pair).reshape(vals.shape)
        blend = torch.addcmul(hann, vals, gain[:, None, None, None]).flatten(1)
        pos = self.block_pos.index_select(0, pair).reshape(blend.shape)
        peak = blend.amax(dim=1, keepdim=True)
        # Ties go to the lowest flat index, as argmax over the full map does.
        j = torch.where(blend == peak, pos, self.up_size**2).argmin(dim=1, keepdim=True)
        exact = gain > 0
        if k < nb * nb:
            exact &= top[:, k] < peak[:, 0]
        return pos.gather(1, j)[:, 0], vals.flatten(1).gather(1, j)[:, 0], exact


def locate_reference(
    maps: torch.Tensor, params: SiamParams
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SiamFC's peak search written out step by step (test oracle for `PeakFinder.locate`)."""
    n, s, r, _ = maps.shape
    up_size = r * params.response_up
    hann = hann_window(up_size).to(maps.device)
    disps, scales, logits = [], [], []
    for i in range(n):
        up = F.interpolate(
            maps[i : i + 1], size=(up_size, up_size), mode=params.upsample, align_corners=False
        )[0]
        raw = up.clone()
        pen = up.clone()
        pen[: s // 2] *= params.scale_penalty
        pen[s // 2 + 1 :] *= params.scale_penalty
        k = int(torch.argmax(pen.amax(dim=(1, 2))))
        resp = pen[k] - pen[k].min()
        resp = resp / (resp.sum() + _EPS)
        resp = (1 - params.window_influence) * resp + params.window_influence * hann
        flat_idx = int(torch.argmax(resp))
        loc = torch.tensor([flat_idx // up_size, flat_idx % up_size], dtype=maps.dtype)
        disps.append((loc - (up_size - 1) / 2) / params.response_up)
        scales.append(k)
        logits.append(raw[k].flatten()[flat_idx])
    if n == 0:
        return maps.new_zeros((0, 2)), torch.zeros(0, dtype=torch.long), maps.new_zeros((0,))
    return torch.stack(disps), torch.tensor(scales), torch.stack(logits)


def probability(logits: np.ndarray, scale: float = 1.0, bias: float = 0.0) -> np.ndarray:
    """sigmoid(scale * logit + bias) as float32. With 1 and 0 the net's own probability that
    the target is at that location (the head was trained with a logistic loss on these
    logits); a fitted scale and bias (`SiamParams.score_scale`, `score_bias`) calibrate it."""
    z = np.asarray(logits) * scale + bias  # Python floats keep float32 logits float32
    return (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))).astype(np.float32)
