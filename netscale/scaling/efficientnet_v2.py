"""EfficientNetV2 scaling (Tan & Le 2021, sec. 3.3, "EfficientNetV2 Scaling").

V2 scales S up to M and L with EfficientNet's compound scaling plus two changes: the
maximum inference image size is capped at 480 px (very large images cost memory and
training speed), and layers are added to later stages only, raising capacity without much
runtime overhead. The paper gives these as heuristics, not formulas; `v2_depth` and
`cap_resolution` are netscale's exact definitions of them. Pure spec -> spec; no torch.
"""

from __future__ import annotations

import dataclasses

from netscale.scaling._checks import check_number
from netscale.scaling.basic import check_stage, grow_depth
from netscale.scaling.compound import RES_DIVISOR, check_coefficients, scale_dims
from netscale.spec.net import NetSpec, SpecError

MAX_RESOLUTION = 480  # pixels; EfficientNetV2 sec. 3.3


def default_from_stage(spec: NetSpec) -> int:
    """The first stage `v2_depth` deepens by default: the later half, len(stages) // 2
    (for V2-S, stages[3:] = the paper's stages 4-6, Table 4)."""
    return len(spec.stages) // 2


def _check_from_stage(spec: NetSpec, from_stage: int | None) -> int:
    return default_from_stage(spec) if from_stage is None else check_stage(spec, from_stage)


def v2_depth(spec: NetSpec, mult: float, from_stage: int | None = None) -> NetSpec:
    """Non-uniform depth scaling (EfficientNetV2 sec. 3.3, "gradually add more layers to
    later stages"): `basic.grow_depth(spec, mult, from_stage)`, by default from the later
    half of the stages (`default_from_stage`). Early stages run at high resolution, where
    blocks cost the most activations and training time per FLOP, so they keep their depth.
    """
    first = _check_from_stage(spec, from_stage)
    return grow_depth(spec, mult, first)


def cap_resolution(spec: NetSpec, max_res: int = MAX_RESOLUTION) -> NetSpec:
    """`spec` with its resolution lowered to `max_res` pixels if above it (EfficientNetV2
    sec. 3.3 caps the maximum inference image size at 480)."""
    bad = isinstance(max_res, bool) or not isinstance(max_res, int)
    if bad or max_res < spec.min_resolution:
        raise SpecError(
            f"max_res={max_res!r} is invalid: expected an integer >= {spec.min_resolution_text}"
        )
    if spec.resolution <= max_res:
        return spec
    return dataclasses.replace(spec, resolution=max_res)


def compound_v2(
    spec: NetSpec,
    phi: float,
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
    max_res: int = MAX_RESOLUTION,
    from_stage: int | None = None,
) -> NetSpec:
    """EfficientNetV2 scaling (sec. 3.3): EfficientNet's compound scaling (`compound`) with
    depth added by `v2_depth(alpha^phi, from_stage)` and the resolution capped at `max_res`.

    The resolution never exceeds max(max_res, base resolution), so scaling never shrinks a
    base that is already above the cap. Once the cap binds, FLOPs grow only by about
    alpha * beta^2 per unit of phi. phi=0 returns `spec` itself; phi < 0 is an error.
    """
    check_number("phi", phi, minimum=0.0)
    check_coefficients(alpha, beta, gamma)
    _check_from_stage(spec, from_stage)
    if phi == 0:
        return spec
    scaled = scale_dims(spec, width_mult=beta**phi, res_mult=gamma**phi, res_divisor=RES_DIVISOR)
    scaled = v2_depth(scaled, alpha**phi, from_stage)
    return cap_resolution(scaled, max(max_res, spec.resolution))
