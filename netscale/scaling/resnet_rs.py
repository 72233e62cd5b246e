"""ResNet-RS scaling strategies (Bello et al. 2021, "Revisiting ResNets", sec. 7).

The paper's two strategies: (1) scale depth in regimes where overfitting can occur (long
training, e.g. 350 epochs), width otherwise (short training, e.g. 10 epochs); (2) increase
the image resolution more slowly than EfficientNet's compound scaling does. It states them
qualitatively; `resnet_rs_scale` is netscale's exact rule built on them:

  at path position s >= 0 the nominal FLOPs are 2^s x the base's, of which
  - the resolution supplies 2^(2 * res_rate * s): resolution x 2^(res_rate * s), default
    res_rate = 1/8, i.e. +9% px per FLOPs doubling and a quarter of the FLOPs growth
    (EfficientNet's gamma = 1.15 per 1.92x supplies 43% of it, +16% px per doubling);
  - the primary dimension supplies the rest, g = 2^((1 - 2 * res_rate) * s): depth x g
    ("long" regime; `grow_depth`: round(N * (g - 1)) blocks added one at a time to the
    middle stages, all but the first and last, in proportion to their depths, so FLOPs
    move in one-block steps), or width x sqrt(g) ("short" regime; FLOPs grow as width^2;
    widths to multiples of 8).

Depth goes to the middle stages because the paper's deeper models put it there. The block
counts of ResNet-RS-50..420 (official code: tensorflow/tpu models/official/resnet/
resnet_model.py, `model_params`; timm's `resnetrs*` the same) are [3, 4, 6, 3],
[3, 4, 23, 3], [3, 8, 36, 3], [3, 24, 36, 3], [4, 29, 53, 4], [4, 36, 72, 4] and
[4, 44, 87, 4]: the first and last stages hold 3-4 blocks while the middle two grow from
10 to 131. The rule reproduces two of these steps exactly: RS-50 -> RS-200 (4 : 6 is
24 : 36) and RS-350 -> RS-420 (36 : 72 plus 23 blocks, each share rounded to the nearest,
is 44 : 87). No proportional rule gives the others, whose stage ratios change from size to
size: RS-101 and RS-152 (He et al.'s depths) deepen the third stage almost alone, RS-200
the second, RS-270 adds a block to the first and last stages and RS-350 moves the middle
ratio to 1 : 2 (tests/scaling/test_resnet_rs.py checks both).

Pure spec -> spec; no torch.
"""

from __future__ import annotations

import dataclasses

from netscale.complexity import count
from netscale.scaling._checks import check_choice, check_number
from netscale.scaling.basic import grow_depth
from netscale.scaling.compound import scale_dims
from netscale.scaling.naming import flops_label, scaled_name
from netscale.scaling.search import fit_flops
from netscale.spec.net import NetSpec, SpecError

REGIMES = ("long", "short")  # long: depth first; short: width first (ResNet-RS sec. 7)
RES_RATE = 1 / 8  # log2 of the resolution multiplier per nominal FLOPs doubling


def _check(position: float, regime: str, res_rate: float) -> None:
    check_number("position", position, minimum=0.0)
    check_choice("regime", regime, REGIMES)
    if check_number("res_rate", res_rate, minimum=0.0) >= 0.5:
        raise SpecError(
            f"res_rate={res_rate!r} is invalid: must lie in [0, 0.5) so that depth or width "
            "still grows"
        )


def middle_stages(spec: NetSpec) -> tuple[int, int]:
    """(from_stage, to_stage) of the stages the "long" regime deepens: all but the first and
    last (ResNet-RS-270..420 keep those at 4 blocks and grow the middle two), or all stages
    of a spec with fewer than three."""
    n = len(spec.stages)
    return (1, n - 1) if n >= 3 else (0, n)


def resnet_rs_scale(
    spec: NetSpec, position: float, regime: str = "long", res_rate: float = RES_RATE
) -> NetSpec:
    """`spec` at `position` s on a ResNet-RS scaling path (Bello et al. 2021, sec. 7): depth
    x 2^((1 - 2r)s) for regime "long", width x 2^((1 - 2r)s / 2) for "short", and resolution
    x 2^(rs) in both, r = `res_rate`; nominal FLOPs 2^s x the base's (module docstring).
    Depth grows one block at a time in the middle stages (`middle_stages`, `grow_depth`),
    widths round to multiples of 8, resolutions to multiples of 8 px. Realized FLOPs fall
    short of nominal in the "long" regime, as added blocks are cheaper than a stage's first
    (ResNet-50: 0.87x at s=3);
    `resnet_rs_path` and `scale_to` fit the position to the FLOPs instead.
    """
    _check(position, regime, res_rate)
    if position == 0:
        return spec
    grow = 2.0 ** ((1.0 - 2.0 * res_rate) * position)  # FLOPs from depth or width
    res_mult = 2.0 ** (res_rate * position)
    if regime == "long":
        return grow_depth(scale_dims(spec, res_mult=res_mult), grow, *middle_stages(spec))
    return scale_dims(spec, width_mult=grow**0.5, res_mult=res_mult)


def resnet_rs_path(
    spec: NetSpec,
    regime: str = "long",
    steps: int = 3,
    res_rate: float = RES_RATE,
    match_flops: bool = True,
    tolerance: float = 0.05,
) -> list[NetSpec]:
    """Specs at 2x, 4x, ..., 2^steps x the base's FLOPs along `resnet_rs_scale`'s path for
    `regime` (ResNet-RS sec. 7), named "<base>_resnet_rs_<regime>_<flops>".

    match_flops=True bisects each position so the spec's multiply-adds lie within
    `tolerance` of the multiple (so "long" and "short" paths compare at matched FLOPs);
    False takes the nominal positions s = 1..steps, off by the rounding of depths,
    widths and resolution.
    """
    _check(0.0, regime, res_rate)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 16:
        raise SpecError(f"steps={steps!r} is invalid: expected an integer in 1..16")
    base_flops = count(spec).flops

    def make(position: float) -> NetSpec:
        return resnet_rs_scale(spec, position, regime, res_rate)

    path = []
    for k in range(1, steps + 1):
        target = base_flops * 2**k
        if match_flops:
            what = f"rule 'resnet_rs' (regime {regime!r}, position)"
            scaled = fit_flops(make, target, identity=0.0, first=k, what=what, tolerance=tolerance)
            scaled_spec = scaled.spec
        else:
            scaled_spec = make(float(k))
        name = scaled_name(spec.name, "resnet_rs", regime, flops_label(target))
        path.append(dataclasses.replace(scaled_spec, name=name))
    return path
