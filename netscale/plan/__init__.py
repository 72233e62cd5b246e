"""Layer plans: the one torch-free description of each block kind's layers (names, widths,
strides, groups, norms, shortcuts), read by the nn modules, complexity counting, weight
import and BN folding. No torch."""

from netscale.plan.layers import BlockLayers, Layer, Residual, param_shapes
from netscale.plan.net import BLOCKS, LAYOUTS, BlockPlan, NetPlan, block_plan, plan

__all__ = [
    "BLOCKS",
    "LAYOUTS",
    "BlockLayers",
    "BlockPlan",
    "Layer",
    "NetPlan",
    "Residual",
    "block_plan",
    "param_shapes",
    "plan",
]
