"""A spec's layer plan: which block plan each block of each stage gets. No torch.

`BLOCKS` is the registry of block kinds: a spec's `stage.block` -> the function that reads
the stage (and network-wide settings) into the explicit arguments of one block plan. The
builder makes `netscale.nn.BLOCK_MODULES[plan.kind](**plan.args)` from each; complexity
counting walks `plan.layers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netscale.plan import blocks
from netscale.plan.layers import BlockLayers, Layer, Pool, out_size
from netscale.spec.net import NetSpec, StageSpec

# plan kind -> the function that lists the layers of such a block from explicit arguments
LAYOUTS: dict[str, Callable[..., BlockLayers]] = {
    "basic": blocks.basic,
    "bottleneck": blocks.bottleneck,
    "mbconv": blocks.mbconv,
    "pre_norm_mbconv": blocks.pre_norm_mbconv,
    "convnext": blocks.convnext,
    "transformer": blocks.transformer,
    "conv_pool": blocks.conv_pool,
}


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """One block: its plan kind (a key of LAYOUTS and of nn's BLOCK_MODULES), the explicit
    arguments its layout and its module take, and its layers."""

    kind: str
    args: dict[str, Any]
    layers: BlockLayers


def block_plan(kind: str, **args: Any) -> BlockPlan:
    """The plan of a block of plan kind `kind` built with `args`."""
    return BlockPlan(kind, args, LAYOUTS[kind](**args))


# A block kind's reader: (spec, stage, block input width, stride, input map size at the
# spec's resolution) -> BlockPlan.
Reader = Callable[[NetSpec, StageSpec, int, int, int], BlockPlan]


def _common(spec: NetSpec, stage: StageSpec, w_in: int, stride: int) -> dict[str, Any]:
    """The arguments every block kind takes (BatchNorm epsilon: LayerNorm blocks replace it)."""
    return dict(w_in=w_in, w_out=stage.width, stride=stride, act=spec.act, eps=spec.norm_eps)


def _basic(spec: NetSpec, stage: StageSpec, w_in: int, stride: int, size: int) -> BlockPlan:
    return block_plan(
        "basic",
        **_common(spec, stage, w_in, stride),
        kernel=stage.kernel,
        se_width=stage.se_width(w_in),
        avg_shortcut=stage.shortcut == "avg",
    )


def _bottleneck(spec: NetSpec, stage: StageSpec, w_in: int, stride: int, size: int) -> BlockPlan:
    return block_plan(
        "bottleneck",
        **_common(spec, stage, w_in, stride),
        kernel=stage.kernel,
        inner=stage.inner_width,
        groups=stage.groups,
        se_width=stage.se_width(w_in),
        se_placement=stage.se_placement,
        avg_shortcut=stage.shortcut == "avg",
    )


def _mbconv(spec: NetSpec, stage: StageSpec, w_in: int, stride: int, size: int) -> BlockPlan:
    args = _common(spec, stage, w_in, stride)
    args |= dict(kernel=stage.kernel, inner=stage.expanded_width(w_in))
    args |= dict(se_width=stage.se_width(w_in))
    if stage.pre_norm:
        return block_plan("pre_norm_mbconv", **args)
    return block_plan("mbconv", fused=stage.block == "fused_mbconv", **args)


def _convnext(spec: NetSpec, stage: StageSpec, w_in: int, stride: int, size: int) -> BlockPlan:
    args = _common(spec, stage, w_in, stride) | dict(eps=spec.layer_norm_eps)  # LayerNorm only
    args |= dict(kernel=stage.kernel, inner=stage.expanded_width(w_in))
    return block_plan("convnext", **args, layer_scale=stage.layer_scale)


def _transformer(spec: NetSpec, stage: StageSpec, w_in: int, stride: int, size: int) -> BlockPlan:
    args = _common(spec, stage, w_in, stride) | dict(eps=spec.layer_norm_eps)  # LayerNorm only
    args |= dict(head_width=stage.head_width, inner=stage.expanded_width(w_in))
    size = Pool("pool", "avg", stride).out_size(size)  # attention runs after the pool
    return block_plan("transformer", **args, size=size)


def _conv_pool(spec: NetSpec, stage: StageSpec, w_in: int, stride: int, size: int) -> BlockPlan:
    return block_plan("conv_pool", **_common(spec, stage, w_in, stride), kernel=stage.kernel)


# spec block kind (spec.net.BLOCK_KINDS) -> its reader
BLOCKS: dict[str, Reader] = {
    "basic": _basic,
    "bottleneck": _bottleneck,
    "mbconv": _mbconv,
    "fused_mbconv": _mbconv,
    "convnext": _convnext,
    "transformer": _transformer,
    "conv_pool": _conv_pool,
}


def stem_args(spec: NetSpec) -> dict[str, Any]:
    """The explicit arguments of the stem's layout and module (after kind and widths)."""
    s = spec.stem
    args = dict(mid_width=s.deep_mid_width, kernel=s.kernel, stride=s.stride, pool=s.pool)
    return args | dict(act=spec.act, eps=spec.norm_eps, ln_eps=spec.layer_norm_eps)


@dataclass(frozen=True, slots=True)
class NetPlan:
    """The stem's layers and every block's plan, stage by stage (the head is not planned:
    netscale.nn.Head and complexity's head count read HeadSpec directly)."""

    stem: tuple[Layer, ...]
    stages: tuple[tuple[BlockPlan, ...], ...]

    def sizes(self, resolution: int) -> tuple[int, ...]:
        """Feature-map sizes (pixels per side) of the stem's and each stage's output for a
        `resolution` x `resolution` input."""
        h = out_size(self.stem, resolution)
        sizes = [h]
        for stage in self.stages:
            for block in stage:
                h = block.layers.out_size(h)
            sizes.append(h)
        return tuple(sizes)


def plan(spec: NetSpec) -> NetPlan:
    """The layer plan of `spec` (attention tables sized for spec.resolution)."""
    stem = blocks.stem(spec.stem.kind, spec.in_width, spec.stem.width, **stem_args(spec))
    h, w_in = out_size(stem, spec.resolution), spec.stem.width
    stages = []
    for stage in spec.stages:
        reader, plans = BLOCKS[stage.block], []
        for j in range(stage.depth):
            plans.append(reader(spec, stage, w_in, stage.stride if j == 0 else 1, h))
            h, w_in = plans[-1].layers.out_size(h), stage.width
        stages.append(tuple(plans))
    return NetPlan(stem, tuple(stages))
