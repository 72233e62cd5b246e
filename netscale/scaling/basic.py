"""The single-dimension scaling mechanisms: width, depth, resolution, and `grow_depth`
(blocks added one at a time). Pure spec -> spec.

EfficientNet (Tan & Le 2019, sec. 3.2) scales a network along three dimensions; its
released models B1-B7 are B0 passed through `width` and `depth` with the multipliers of
the paper's Table 2 / official code, so netscale defines them the same way. `grow_depth`
is the depth mechanism of EfficientNetV2's `v2_depth` (later stages only) and of
ResNet-RS's depth-first path (the middle stages).
"""

from __future__ import annotations

import dataclasses
import heapq
import math

from netscale.scaling._checks import check_number
from netscale.spec.groups import adjust_group_compatibility, bottleneck_width
from netscale.spec.net import NetSpec, SpecError, StageSpec


def round_width(width: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """`width` rounded to the nearest multiple of `divisor` (at least `divisor`), then one
    `divisor` up if rounding lost more than 1 - round_limit of it.

    This is EfficientNet's `round_filters` (official code; round_limit 0.9, "the 10% rule");
    EfficientNetV2's code uses no limit (round_limit 0).
    """
    new = max(divisor, int(width + divisor / 2) // divisor * divisor)
    if new < round_limit * width:
        new += divisor
    return new


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise SpecError(f"{name}={value!r} is invalid: expected a number > 0")


def _stage_width(stage: StageSpec, width: int) -> dict[str, int | None]:
    """New width (and group width) of a stage, kept compatible with its groups (RegNet
    appendix D, the rule the RegNet family and the design spaces use) and heads."""
    if stage.block == "transformer":
        multiple = math.lcm(stage.head_width, 8)
        return {"width": max(multiple, round(width / multiple) * multiple)}
    if stage.block == "bottleneck" and stage.group_width is not None:
        ratio = stage.bottleneck_ratio
        new, group = (int(v) for v in adjust_group_compatibility(width, ratio, stage.group_width))
        if bottleneck_width(new, ratio) % group:
            raise SpecError(
                f"width scaling cannot keep a stage of bottleneck_ratio={ratio} grouped: "
                f"RegNet appendix D gives width {new} and group width {group}, whose "
                f"bottleneck width {int(bottleneck_width(new, ratio))} is not a multiple of "
                f"it; allowed: ratios whose bottleneck widths are whole (1/4, 1/2, 1, 2, 4)"
            )
        return {"width": new, "group_width": group}
    return {"width": width}


def width(spec: NetSpec, mult: float, divisor: int = 8, round_limit: float = 0.9) -> NetSpec:
    """Multiply every width (stem, stages, head conv) by `mult`, rounded by `round_width`.

    Bottleneck widths are then rounded to a multiple of their group width (the group width
    is capped at the new bottleneck width), and transformer widths to a multiple of their
    head width, so the result is always a valid spec. A whitening stem keeps its width: it
    is fixed by the input, 2 * in_width * kernel**2 (one filter per eigenvector of the
    patch covariance and its negative).
    """
    _check_positive("width mult", mult)
    _check_positive("divisor", divisor)

    def scale(w: int) -> int:
        return round_width(w * mult, divisor, round_limit) if w else 0

    stem = spec.stem
    if stem.kind != "whiten":
        stem = dataclasses.replace(stem, width=scale(stem.width), mid_width=scale(stem.mid_width))
    stages = tuple(dataclasses.replace(s, **_stage_width(s, scale(s.width))) for s in spec.stages)
    head = dataclasses.replace(spec.head, width=scale(spec.head.width))
    return dataclasses.replace(spec, stem=stem, stages=stages, head=head)


def depth(spec: NetSpec, mult: float) -> NetSpec:
    """Multiply every stage's depth by `mult`, rounding up (EfficientNet `round_repeats`)."""
    _check_positive("depth mult", mult)
    # round() first: 5 * 2.2 is 11.000000000000002 in floating point, which must stay 11
    stages = tuple(
        dataclasses.replace(s, depth=math.ceil(round(s.depth * mult, 9))) for s in spec.stages
    )
    return dataclasses.replace(spec, stages=stages)


def resolution(spec: NetSpec, res: int) -> NetSpec:
    """The same network at input resolution `res` (pixels per side)."""
    if isinstance(res, bool) or not isinstance(res, int) or res < spec.min_resolution:
        raise SpecError(
            f"resolution={res!r} is invalid: expected an integer >= {spec.min_resolution_text}"
        )
    return dataclasses.replace(spec, resolution=res)


def check_stage(spec: NetSpec, index: object, name: str = "from_stage") -> int:
    """`index` if it is a stage index of `spec`, else a SpecError naming `name`."""
    n = len(spec.stages)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
        raise SpecError(f"{name}={index!r} is invalid: expected a stage index in 0..{n - 1}")
    return index


def _apportion(depths: list[int], extra: int) -> list[int]:
    """`depths` with `extra` blocks added one at a time, each to the stage with the largest
    base depth / (current depth + 1/2), ties to the later stage: Sainte-Lague's divisor
    method (Webster's rounding), so each stage ends at its proportional share of the total
    rounded to the nearest block (D'Hondt's divisor, current depth + 1, rounds down and
    favours the deepest stage). A divisor method never takes a block back as `extra` grows."""
    current = list(depths)
    heap = [(-d / (d + 0.5), -i) for i, d in enumerate(depths)]
    heapq.heapify(heap)
    for _ in range(extra):
        _, neg_i = heapq.heappop(heap)
        i = -neg_i
        current[i] += 1
        heapq.heappush(heap, (-depths[i] / (current[i] + 0.5), neg_i))
    return current


def _check_stop(spec: NetSpec, first: int, to_stage: object) -> int:
    n = len(spec.stages)
    if to_stage is None:
        return n
    bad = isinstance(to_stage, bool) or not isinstance(to_stage, int)
    if bad or not first < to_stage <= n:
        raise SpecError(
            f"to_stage={to_stage!r} is invalid: expected None or an integer in "
            f"{first + 1}..{n} (the stages grown are stages[from_stage:to_stage])"
        )
    return to_stage


def grow_depth(
    spec: NetSpec, mult: float, from_stage: int = 0, to_stage: int | None = None
) -> NetSpec:
    """`spec` with round(N * (mult - 1)) more blocks (N: its blocks in all), the blocks a
    uniform depth multiplier would add, all going to stages[from_stage:to_stage] (to_stage
    None: through the last), one at a time in proportion to their depths (`_apportion`).
    Each step adds one block, so FLOPs grow in fine steps and never decrease as `mult`
    (>= 1) grows; the other stages keep their depth.
    """
    check_number("depth mult", mult, minimum=1.0)
    first = check_stage(spec, from_stage)
    stop = _check_stop(spec, first, to_stage)
    extra = round(spec.num_blocks * (mult - 1.0))
    if extra == 0:
        return spec
    grown = _apportion([s.depth for s in spec.stages[first:stop]], extra)
    stages = (
        spec.stages[:first]
        + tuple(
            dataclasses.replace(s, depth=d)
            for s, d in zip(spec.stages[first:stop], grown, strict=True)
        )
        + spec.stages[stop:]
    )
    return dataclasses.replace(spec, stages=stages)
