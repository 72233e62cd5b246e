"""Vectorized draws and complexity for thousands of candidate networks at once. No torch.

`draw` samples a batch of designs of a `Space` with numpy; `complexity` computes their flops,
params and acts in closed form, layer for layer as `netscale.complexity.count` walks a
bottleneck network (tests check the two agree on every space). Screening a candidate this
way costs microseconds; building and counting a `NetSpec` costs about half a millisecond,
so the sampler builds specs only for candidates inside the band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netscale.families.regnet import QUANTUM, quantize_widths, regnet_exponents
from netscale.space.params import Param
from netscale.space.spaces import STAGE_PARAMS, Space
from netscale.spec.groups import adjust_group_compatibility, bottleneck_width


@dataclass(frozen=True, slots=True)
class Batch:
    """N candidate designs; arrays are (N,) or (N, K) for K stages.

    depths, widths, ratios, groups: the network's stages after group-width compatibility
    (appendix D); valid: the draw is a network of the space (RegNet: exactly K stages;
    every design: the group width divides the bottleneck width). drawn: the sampled
    parameters by name ((N,) or (N, K) arrays), as the sampler drew them.
    """

    depths: np.ndarray
    widths: np.ndarray
    ratios: np.ndarray
    groups: np.ndarray
    valid: np.ndarray
    drawn: dict[str, np.ndarray]


def draw_values(rng: np.random.Generator, param: Param, shape: tuple[int, ...]) -> np.ndarray:
    """Independent draws of `param`, an array of `shape`."""
    cdf = np.cumsum(param.probabilities())
    index = np.searchsorted(cdf, rng.random(shape) * cdf[-1], side="right")
    return param.grid()[np.minimum(index, len(cdf) - 1)]


def draw_increasing(rng: np.random.Generator, param: Param, n: int, k: int) -> np.ndarray:
    """n non-decreasing k-tuples with P(x) proportional to prod_i p(x_i): independent draws
    conditioned on order, i.e. rejection sampling from the unconstrained space (how a
    constraint such as X_D's w_{i+1} >= w_i restricts it, sec. 3.2), without rejections.

    tail[m][v] is the total weight of non-decreasing m-tuples whose entries are all >= v;
    position i draws v >= x_{i-1} with weight p(v) * tail[k - 1 - i][v].
    """
    p = param.probabilities()
    size = len(p)
    tail = [np.ones(size)]
    for _ in range(k - 1):
        tail.append(np.cumsum((p * tail[-1])[::-1])[::-1])
    index = np.zeros(n, dtype=np.int64)
    out = np.empty((n, k), dtype=np.int64)
    for i in range(k):
        cdf = np.concatenate([[0.0], np.cumsum(p * tail[k - 1 - i])])
        low = cdf[index]
        u = low + rng.random(n) * (cdf[-1] - low)
        index = np.clip(np.searchsorted(cdf, u, side="right") - 1, index, size - 1)
        out[:, i] = index
    return param.grid()[out]


def adjust(
    widths: np.ndarray, ratios: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Appendix D's compatibility (`spec.groups.adjust_group_compatibility`) of
    (N, K) arrays, and whether each stage is then valid.

    Returns (widths, groups, ok); ok is False where the spec's bottleneck width
    (`bottleneck_width`) is still not a multiple of the group width.
    """
    widths, groups = adjust_group_compatibility(widths, ratios, groups)
    return widths, groups, bottleneck_width(widths, ratios) % groups == 0


def draw(space: Space, rng: np.random.Generator, n: int) -> Batch:
    """n candidate designs of `space` (some may be invalid: see `Batch.valid`)."""
    if space.family == "regnet":
        return _draw_regnet(space, rng, n)
    k = space.stages
    drawn = {}
    for name in STAGE_PARAMS:
        param = getattr(space, name)
        if name in space.shared:
            drawn[name] = np.repeat(draw_values(rng, param, (n, 1)), k, axis=1)
        elif name in space.increasing:
            drawn[name] = draw_increasing(rng, param, n, k)
        else:
            drawn[name] = draw_values(rng, param, (n, k))
    ratios = drawn["bottleneck_ratio"].astype(np.float64)
    widths, groups, ok = adjust(drawn["width"], ratios, drawn["group_width"])
    return Batch(drawn["depth"], widths, ratios, groups, ok.all(axis=1), drawn)


def regnet_stages(
    depth: np.ndarray, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RegNet eqs. 2-4 on arrays: per-stage (depths, widths) of shape (N, k) and whether
    the draw gives exactly k stages of distinct widths with no exponent skipped.

    Stage i holds the blocks of exponent s_j = i (`regnet_exponents`, eqs. 2-3) and has
    width w0 * wm^i quantized (`quantize_widths`, eq. 4), as pycls's sampler reads them.
    """
    longest = int(depth.max())
    exps = regnet_exponents(longest, w0, wa, wm)  # (N, longest)
    exps = np.where(np.arange(longest) < depth[:, None], exps, -1)
    depths = np.stack([(exps == i).sum(axis=1) for i in range(k)], axis=1)
    widths = quantize_widths(w0[:, None], wm[:, None], np.arange(k))
    ok = (depths.sum(axis=1) == depth) & (depths > 0).all(axis=1)
    ok &= (np.diff(widths, axis=1) > 0).all(axis=1)
    return depths, widths, ok


def _draw_regnet(space: Space, rng: np.random.Generator, n: int) -> Batch:
    drawn = {name: draw_values(rng, param, (n,)) for name, param in space.params.items()}
    k = space.stages
    depths, widths, ok = regnet_stages(
        drawn["depth"], drawn["w0"].astype(np.float64), drawn["wa"], drawn["wm"], k
    )
    ratios = np.repeat(drawn["bottleneck_ratio"].astype(np.float64)[:, None], k, axis=1)
    groups = np.repeat(drawn["group_width"][:, None], k, axis=1)
    widths, groups, compatible = adjust(widths, ratios, groups)
    return Batch(depths, widths, ratios, groups, ok & compatible.all(axis=1), drawn)


def complexity(
    space: Space, depths: np.ndarray, widths: np.ndarray, inner: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flops, params, acts) of N networks with (N, K) arrays of stage depths, widths,
    bottleneck widths and group widths, as `count` computes them: multiply-adds with
    biases, all parameters, conv/linear output elements. Each is non-decreasing in every
    argument, so extreme arguments bound a space (`bounds`)."""
    depths, widths = np.asarray(depths, np.int64), np.asarray(widths, np.int64)
    inner, groups = np.asarray(inner, np.int64), np.asarray(groups, np.int64)
    h = (space.resolution - 1) // space.stem_stride + 1
    c, stem = space.stem_width, 9 * space.in_width * space.stem_width  # stem: 3x3, in -> c
    flops = np.full(len(depths), stem * h * h, dtype=np.int64)
    params = np.full(len(depths), stem + 2 * c, dtype=np.int64)
    acts = np.full(len(depths), c * h * h, dtype=np.int64)
    w_in = np.full(len(depths), c, dtype=np.int64)
    for i in range(depths.shape[1]):
        d, w, v, g = depths[:, i], widths[:, i], inner[:, i], groups[:, i]
        h_out = (h - 1) // 2 + 1
        first = _block(space.se_ratio, w_in, w, v, g, h, h_out, shortcut=True)
        rest = _block(space.se_ratio, w, w, v, g, h_out, h_out, shortcut=False)
        flops += first[0] + (d - 1) * rest[0]
        params += first[1] + (d - 1) * rest[1]
        acts += first[2] + (d - 1) * rest[2]
        w_in, h = w, h_out
    n = space.num_classes
    return flops + w_in * n + n, params + w_in * n + n, acts + n  # head: linear with bias


def _block(
    se_ratio: float,
    w_in: np.ndarray,
    w: np.ndarray,
    v: np.ndarray,
    g: np.ndarray,
    h: int,
    h_out: int,
    *,
    shortcut: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One bottleneck block: 1x1 (w_in -> v) at h; 3x3 grouped (v -> v, g channels per
    group) at h_out; [SE]; 1x1 (v -> w); [1x1 strided shortcut]. BN: 2 params a channel."""
    pix, pix_out = h * h, h_out * h_out
    flops = w_in * v * pix + 9 * g * v * pix_out + v * w * pix_out
    params = w_in * v + 9 * g * v + v * w + 4 * v + 2 * w
    acts = v * pix + v * pix_out + w * pix_out
    if se_ratio:
        se = np.maximum(1, np.rint(se_ratio * w_in)).astype(np.int64)
        flops = flops + 2 * v * se + se + v  # two biased 1x1 convs at 1x1
        params = params + 2 * v * se + se + v
        acts = acts + se + v
    if shortcut:
        flops = flops + w_in * w * pix_out
        params = params + w_in * w + 2 * w
        acts = acts + w * pix_out
    return flops, params, acts


def bounds(space: Space) -> dict[str, tuple[int, int]]:
    """Lower and upper bounds of flops, params and acts over every network of `space`.

    Per stage, the smallest and largest depth, width, bottleneck width and group width any
    draw can give (after appendix D's adjustment) go through `complexity`, which is
    monotone in each. The bounds hold; for RegNet the upper one is loose (it lets every
    stage take the largest depth).
    """
    k = space.stages
    ratios = space.bottleneck_ratio.grid().astype(np.float64)
    groups = space.group_width.grid()
    if space.family == "regnet":
        w0, wm, top = space.w0.grid(), space.wm.grid(), int(space.depth.grid()[-1])
        depth = (1, top - (k - 1))
        low = quantize_widths(w0[0], wm[0], np.arange(k))  # eq. 4 at exponents 0..k-1
        high = quantize_widths(w0[-1], wm[-1], np.arange(k))
        widths = [np.arange(lo, hi + 1, QUANTUM) for lo, hi in zip(low, high, strict=True)]
    else:
        d = space.depth.grid()
        depth = (int(d[0]), int(d[-1]))
        widths = [space.width.grid()] * k
    low, high = [], []
    for w in widths:
        ww, rr, gg = (a.ravel() for a in np.meshgrid(w, ratios, groups, indexing="ij"))
        ww, gg, _ = adjust(ww, rr, gg)
        vv = bottleneck_width(ww, rr)
        low.append([ww.min(), vv.min(), gg.min()])
        high.append([ww.max(), vv.max(), gg.max()])
    out = {}
    for which, (d, rows) in (("lo", (depth[0], low)), ("hi", (depth[1], high))):
        w, v, g = (np.array([[row[c] for row in rows]]) for c in range(3))
        out[which] = complexity(space, np.full((1, k), d), w, v, g)
    names = ("flops", "params", "acts")
    return {name: (int(out["lo"][i][0]), int(out["hi"][i][0])) for i, name in enumerate(names)}
