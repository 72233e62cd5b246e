"""Building blocks with explicit arguments; no specs, no global config."""

from netscale.nn.blocks import (
    BasicBlock,
    BottleneckBlock,
    DropPath,
    Head,
    MBConv,
    Shortcut,
    SqueezeExcite,
    Stem,
    conv2d,
    make_act,
)

__all__ = [
    "BasicBlock",
    "BottleneckBlock",
    "DropPath",
    "Head",
    "MBConv",
    "Shortcut",
    "SqueezeExcite",
    "Stem",
    "conv2d",
    "make_act",
]
