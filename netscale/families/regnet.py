"""AnyNet and RegNet (Radosavovic et al. 2020, "Designing Network Design Spaces"). No torch.

AnyNet: stem (3x3 s2, 32 channels), four stages of residual bottleneck blocks with free
depth, width, bottleneck ratio and group width per stage, head GAP + linear (paper sec. 3.1,
Fig. 3). RegNet: AnyNet whose per-block widths follow a quantized linear function
(eqs. 2-4), grouped into stages, then made compatible with the group width (appendix D).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from netscale.families.registry import ModelInfo, Reference, register
from netscale.spec.groups import adjust_group_compatibility
from netscale.spec.net import HeadSpec, NetSpec, SpecError, StageSpec, StemSpec

_PAPER = "Radosavovic et al., Designing Network Design Spaces, CVPR 2020"
QUANTUM = 8  # channels: RegNet widths are multiples of 8 (eq. 4's q, pycls's default)

# Published RegNets (pycls configs/dds_baselines): name -> (depth, w0, wa, wm, group_width),
# and the pycls model-zoo top-1 error (%) of the released weights (dev/model_error.json).
REGNET_X = {
    "200mf": (13, 24, 36.44, 2.49, 8, 31.088),
    "400mf": (22, 24, 24.48, 2.54, 16, 27.382),
    "600mf": (16, 48, 36.97, 2.24, 24, 25.864),
    "800mf": (16, 56, 35.73, 2.28, 16, 24.846),
    "1_6gf": (18, 80, 34.01, 2.25, 24, 23.038),
    "3_2gf": (25, 88, 26.31, 2.25, 48, 21.736),
    "4gf": (23, 96, 38.65, 2.43, 40, 21.356),
    "6_4gf": (17, 184, 60.83, 2.07, 56, 20.844),
    "8gf": (23, 80, 49.56, 2.88, 120, 20.728),
    "12gf": (19, 168, 73.36, 2.37, 112, 20.288),
    "16gf": (22, 216, 55.59, 2.1, 128, 19.956),
    "32gf": (23, 320, 69.86, 2.0, 168, 19.498),
}
REGNET_Y = {
    "200mf": (13, 24, 36.44, 2.49, 8, 29.658),
    "400mf": (16, 48, 27.89, 2.09, 8, 25.898),
    "600mf": (15, 48, 32.54, 2.32, 16, 24.54),
    "800mf": (14, 56, 38.84, 2.4, 16, 23.684),
    "1_6gf": (27, 48, 20.71, 2.65, 24, 22.066),
    "3_2gf": (21, 80, 42.63, 2.66, 24, 21.074),
    "4gf": (22, 96, 31.41, 2.24, 64, 20.64),
    "6_4gf": (25, 112, 33.22, 2.27, 72, 20.11),
    "8gf": (17, 192, 76.82, 2.19, 56, 20.052),
    "12gf": (19, 168, 73.36, 2.37, 112, 19.67),
    "16gf": (18, 200, 106.23, 2.48, 112, 19.608),
    "32gf": (20, 232, 115.89, 2.53, 232, 19.066),
}
# timm names the same models by their flops in units of 100M: regnetx_002 ... regnetx_320.
_TIMM_SUFFIX = {
    "200mf": "002",
    "400mf": "004",
    "600mf": "006",
    "800mf": "008",
    "1_6gf": "016",
    "3_2gf": "032",
    "4gf": "040",
    "6_4gf": "064",
    "8gf": "080",
    "12gf": "120",
    "16gf": "160",
    "32gf": "320",
}
# torchvision ships these with the same widths as pycls; its x_400mf, y_800mf, y_8gf (and
# others) round widths by a different rule (`_make_divisible`), so they are not counterparts.
_TORCHVISION = {
    "x": ("800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"),
    "y": ("400mf", "1_6gf", "3_2gf", "16gf", "32gf"),
}


def regnet_exponents(depth: int, w0: ArrayLike, wa: ArrayLike, wm: ArrayLike) -> np.ndarray:
    """Per-block exponents s_j of RegNet's quantized linear rule (paper eqs. 2-3).

    u_j = w0 + wa * j for block j < depth (eq. 2, the continuous widths);
    s_j = round(log(u_j / w0) / log(wm)) (eq. 3, ties to even). w0, wa, wm broadcast
    together to a shape S; the result has shape S + (depth,), whole numbers as floats.
    No checks: `regnet_widths` validates a single network.
    """
    w0, wa, wm = (np.asarray(x, dtype=np.float64)[..., None] for x in (w0, wa, wm))
    u = w0 + wa * np.arange(depth)  # eq. 2
    return np.rint(np.log(u / w0) / np.log(wm))  # eq. 3


def quantize_widths(
    w0: ArrayLike, wm: ArrayLike, exponents: ArrayLike, quantum: int = QUANTUM
) -> np.ndarray:
    """w0 * wm^s rounded to the nearest multiple of `quantum` (paper eq. 4, ties to even),
    broadcast over w0, wm and the exponents s; int64."""
    w0, wm = np.asarray(w0, dtype=np.float64), np.asarray(wm, dtype=np.float64)
    return np.rint(w0 * wm**exponents / quantum).astype(np.int64) * quantum


def regnet_block_widths(
    depth: int, w0: ArrayLike, wa: ArrayLike, wm: ArrayLike, quantum: int = QUANTUM
) -> np.ndarray:
    """Per-block widths w_j of RegNet's quantized linear rule (paper eqs. 2-4).

    u_j = w0 + wa * j (eq. 2); s_j = round(log(u_j / w0) / log(wm)) (eq. 3);
    w_j = w0 * wm^s_j rounded to a multiple of `quantum` (eq. 4). w0, wa, wm broadcast
    together to a shape S; returns int64 widths of shape S + (depth,). The one home of
    eqs. 2-4: `regnet_widths`, the space sampler and the study's width fit all use it.
    """
    exponents = regnet_exponents(depth, w0, wa, wm)
    w0, wm = (np.asarray(x, dtype=np.float64)[..., None] for x in (w0, wm))
    return quantize_widths(w0, wm, exponents, quantum)


def regnet_widths(
    depth: int, w0: int, wa: float, wm: float, quantum: int = QUANTUM
) -> tuple[list[int], list[int]]:
    """Per-stage (widths, depths) of RegNet's quantized linear rule (paper eqs. 2-4):
    `regnet_block_widths` of one network; blocks of equal width form a stage (sec. 3.3).
    """
    if depth < 1 or w0 <= 0 or wa < 0 or wm <= 1 or w0 % quantum:
        raise SpecError(
            f"regnet parameters depth={depth}, w0={w0}, wa={wa}, wm={wm} are "
            f"invalid: need depth >= 1, w0 > 0 and divisible by {quantum}, "
            "wa >= 0, wm > 1"
        )
    block_widths = regnet_block_widths(depth, w0, wa, wm, quantum).tolist()
    widths = sorted(set(block_widths))
    return widths, [block_widths.count(w) for w in widths]


def anynet(
    depths: Sequence[int],
    widths: Sequence[int],
    *,
    bottleneck_ratios: Sequence[float] | float = 1.0,
    group_widths: Sequence[int] | int = 1,
    strides: Sequence[int] | int = 2,
    se_ratio: float = 0.0,
    stem_width: int = 32,
    stem_stride: int = 2,
    resolution: int = 224,
    num_classes: int = 1000,
    name: str = "",
) -> NetSpec:
    """An AnyNet (paper sec. 3.1): per-stage depth, width, bottleneck ratio, group width.

    Scalars are shared by every stage. `stem_stride=1` gives the stem for 32x32 images.
    """
    n = len(depths)
    if n == 0 or len(widths) != n:
        raise SpecError(
            f"depths and widths must be non-empty and of equal length, got "
            f"{len(depths)} and {len(widths)}"
        )
    ratios = _per_stage("bottleneck_ratios", bottleneck_ratios, n)
    groups = _per_stage("group_widths", group_widths, n)
    strides = _per_stage("strides", strides, n)
    stages = tuple(
        StageSpec(
            block="bottleneck",
            depth=d,
            width=w,
            stride=s,
            bottleneck_ratio=b,
            group_width=g,
            se_ratio=se_ratio,
            se_placement="mid",
        )
        for d, w, b, g, s in zip(depths, widths, ratios, groups, strides, strict=True)
    )
    return NetSpec(
        name=name,
        stem=StemSpec(kind="conv", width=stem_width, stride=stem_stride),
        stages=stages,
        head=HeadSpec(num_classes=num_classes),
        resolution=resolution,
    )


def _per_stage(field: str, value: Sequence | float, n: int) -> list:
    if isinstance(value, int | float):
        return [value] * n
    if len(value) != n:
        raise SpecError(
            f"{field} has {len(value)} entries; allowed: one per stage ({n}) or a single value"
        )
    return list(value)


def regnet(
    depth: int,
    w0: int,
    wa: float,
    wm: float,
    group_width: int,
    bottleneck_ratio: float = 1.0,
    se_ratio: float = 0.0,
    **anynet_args,
) -> NetSpec:
    """A RegNet: widths from eqs. 2-4, stage grouping, group-width compatibility.

    `bottleneck_ratio` is inner width / block width (pycls BOT_MUL, 1/b of the paper).
    RegNetX has se_ratio=0, RegNetY se_ratio=0.25 (paper sec. 5). Extra keyword arguments
    (stem_width, stem_stride, resolution, num_classes, name) go to `anynet`.
    """
    widths, depths = regnet_widths(depth, w0, wa, wm)
    widths, groups = adjust_group_compatibility(widths, bottleneck_ratio, group_width)
    return anynet(
        depths,
        widths.tolist(),
        bottleneck_ratios=bottleneck_ratio,
        group_widths=groups.tolist(),
        se_ratio=se_ratio,
        **anynet_args,
    )


def _register() -> None:
    for kind, table, se in (("x", REGNET_X, 0.0), ("y", REGNET_Y, 0.25)):
        for size, (d, w0, wa, wm, g, err) in table.items():
            name = f"regnet_{kind}_{size}"
            ref = Reference(
                metric="top1",
                value=round(100 - err, 3),
                unit="%",
                source="pycls model zoo (dev/model_error.json)",
            )
            register(
                partial(regnet, d, w0, wa, wm, g, se_ratio=se, name=name),
                ModelInfo(
                    name=name,
                    family=f"regnet_{kind}",
                    paper=_PAPER,
                    train_resolution=224,
                    test_resolution=224,
                    references=(ref,),
                    timm=f"regnet{kind}_{_TIMM_SUFFIX[size]}",
                    torchvision=f"regnet_{kind}_{size}" if size in _TORCHVISION[kind] else None,
                ),
            )


_register()
