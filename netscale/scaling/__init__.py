"""Scaling rules: pure functions NetSpec -> NetSpec (no torch).

width / depth / resolution      one dimension (EfficientNet sec. 3.2)
compound, compound_grid         EfficientNet eq. 3 and its coefficient grid (sec. 3.3)
v2_depth, cap_resolution,
compound_v2                     EfficientNetV2 scaling (sec. 3.3)
resnet_rs_scale, resnet_rs_path ResNet-RS scaling strategies (sec. 7)
scale_to, scale                 to a FLOPs budget by any rule in RULES; by explicit factors
bind_rule                       a rule bound to a base (what scale_to and the measured
                                search of netscale.profiling.speed bisect)
"""

from netscale.scaling.basic import depth, resolution, round_width, width
from netscale.scaling.compound import (
    CompoundCoefficients,
    compound,
    compound_grid,
    round_resolution,
    scale_dims,
)
from netscale.scaling.efficientnet_v2 import MAX_RESOLUTION, cap_resolution, compound_v2, v2_depth
from netscale.scaling.naming import flops_label, parse_flops
from netscale.scaling.resnet_rs import REGIMES, resnet_rs_path, resnet_rs_scale
from netscale.scaling.target import (
    RULES,
    BoundRule,
    Rule,
    ScaleResult,
    bind_rule,
    get_rule,
    scale,
    scale_to,
)

__all__ = [
    "MAX_RESOLUTION",
    "REGIMES",
    "RULES",
    "BoundRule",
    "CompoundCoefficients",
    "Rule",
    "ScaleResult",
    "bind_rule",
    "cap_resolution",
    "compound",
    "compound_grid",
    "compound_v2",
    "depth",
    "flops_label",
    "get_rule",
    "parse_flops",
    "resnet_rs_path",
    "resnet_rs_scale",
    "resolution",
    "round_resolution",
    "round_width",
    "scale",
    "scale_dims",
    "scale_to",
    "v2_depth",
    "width",
]
