"""EfficientNetV2 scaling (Tan & Le 2021, sec. 3.3, "EfficientNetV2 Scaling").

V2 scales S up to M and L with EfficientNet's compound scaling plus two changes: the
maximum inference image size is capped at 480 px (very large images cost memory and
training speed), and layers are added to later stages only, raising capacity without much
runtime overhead. The paper gives these as heuristics, not formulas; `v2_depth` and
`cap_resolution` are netscale's exact definitions of them. Pure spec -> spec; no torch.
"""

from __future__ import annotations

import dataclasses
import heapq

from netscale.scaling._checks import check_number
from netscale.scaling.compound import RES_DIVISOR, check_coefficients, scale_dims
from netscale.spec.net import NetSpec, SpecError

MAX_RESOLUTION = 480  # pixels; EfficientNetV2 sec. 3.3


def default_from_stage(spec: NetSpec) -> int:
    """The first stage `v2_depth` deepens by default: the later half, len(stages) // 2
    (for V2-S, stages[3:] = the paper's stages 4-6, Table 4)."""
    return len(spec.stages) // 2


def _check_from_stage(spec: NetSpec, from_stage: int | None) -> int:
    if from_stage is None:
        return default_from_stage(spec)
    n = len(spec.stages)
    if isinstance(from_stage, bool) or not isinstance(from_stage, int) or not 0 <= from_stage < n:
        raise SpecError(
            f"from_stage={from_stage!r} is invalid: expected a stage index in 0..{n - 1}"
        )
    return from_stage


def _apportion(depths: list[int], extra: int) -> list[int]:
    """`depths` with `extra` blocks added one at a time, each to the stage with the largest
    base depth / (current depth + 1), ties to the later stage (D'Hondt's divisor method):
    counts grow in proportion to the base depths and never drop as `extra` grows."""
    current = list(depths)
    heap = [(-d / (d + 1), -i) for i, d in enumerate(depths)]
    heapq.heapify(heap)
    for _ in range(extra):
        _, neg_i = heapq.heappop(heap)
        i = -neg_i
        current[i] += 1
        heapq.heappush(heap, (-depths[i] / (current[i] + 1), neg_i))
    return current


def grow_depth(spec: NetSpec, mult: float, from_stage: int = 0) -> NetSpec:
    """`spec` with round(N * (mult - 1)) more blocks (N: its blocks in all), the blocks a
    uniform depth multiplier would add, all going to stages[from_stage:], one at a time in
    proportion to their depths (`_apportion`). Each step adds one block, so FLOPs grow in
    fine steps and never decrease as `mult` (>= 1) grows; earlier stages keep their depth.
    """
    check_number("depth mult", mult, minimum=1.0)
    first = _check_from_stage(spec, from_stage)
    extra = round(spec.num_blocks * (mult - 1.0))
    if extra == 0:
        return spec
    late = _apportion([s.depth for s in spec.stages[first:]], extra)
    stages = spec.stages[:first] + tuple(
        dataclasses.replace(s, depth=d) for s, d in zip(spec.stages[first:], late, strict=True)
    )
    return dataclasses.replace(spec, stages=stages)


def v2_depth(spec: NetSpec, mult: float, from_stage: int | None = None) -> NetSpec:
    """Non-uniform depth scaling (EfficientNetV2 sec. 3.3, "gradually add more layers to
    later stages"): `grow_depth(spec, mult, from_stage)`, by default from the later half of
    the stages (`default_from_stage`). Early stages run at high resolution, where blocks
    cost the most activations and training time per FLOP, so they keep their depth.
    """
    first = _check_from_stage(spec, from_stage)
    return grow_depth(spec, mult, first)


def cap_resolution(spec: NetSpec, max_res: int = MAX_RESOLUTION) -> NetSpec:
    """`spec` with its resolution lowered to `max_res` pixels if above it (EfficientNetV2
    sec. 3.3 caps the maximum inference image size at 480)."""
    if isinstance(max_res, bool) or not isinstance(max_res, int) or max_res < spec.total_stride:
        raise SpecError(
            f"max_res={max_res!r} is invalid: expected an integer >= the network's total "
            f"stride {spec.total_stride}"
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
