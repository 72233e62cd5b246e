"""Building blocks with explicit arguments; no specs, no global config.

`BLOCK_MODULES` is the registry of block modules: a plan kind (netscale.plan.LAYOUTS) ->
the module class built from that layout."""

from netscale.nn.blocks import BasicBlock, BottleneckBlock, ConvPoolBlock, Head, MBConv, Stem
from netscale.nn.coatnet import PreNormMBConv, TransformerBlock
from netscale.nn.convnext import ConvNeXtBlock
from netscale.nn.layers import (
    Chain,
    DropPath,
    LayerNorm2d,
    PlannedBlock,
    SqueezeExcite,
    conv2d,
    make,
    make_act,
)

BLOCK_MODULES: dict[str, type[PlannedBlock]] = {
    "basic": BasicBlock,
    "bottleneck": BottleneckBlock,
    "mbconv": MBConv,
    "pre_norm_mbconv": PreNormMBConv,
    "convnext": ConvNeXtBlock,
    "transformer": TransformerBlock,
    "conv_pool": ConvPoolBlock,
}

__all__ = [
    "BLOCK_MODULES",
    "BasicBlock",
    "BottleneckBlock",
    "Chain",
    "ConvNeXtBlock",
    "ConvPoolBlock",
    "DropPath",
    "Head",
    "LayerNorm2d",
    "MBConv",
    "PlannedBlock",
    "PreNormMBConv",
    "SqueezeExcite",
    "Stem",
    "TransformerBlock",
    "conv2d",
    "make",
    "make_act",
]
