"""ResNet / RegNet / EfficientNet blocks, the stem and the head, with explicit int/float
arguments (no spec, no config). Each block's layers come from its plan in
netscale/plan/blocks.py; the classes here only name the arguments.

Attribute names are stable state-dict keys (docs/architecture.md, "State-dict layout").
All modules work on NCHW tensors in either memory format (channels_last included).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from netscale.nn.layers import Chain, PlannedBlock, conv2d, make_act
from netscale.plan import blocks


class BasicBlock(PlannedBlock):
    """ResNet basic block: kxk conv (stride) -> BN -> act -> kxk conv -> BN [-> SE]."""

    layout = staticmethod(blocks.basic)


class BottleneckBlock(PlannedBlock):
    """Bottleneck: 1x1 -> kxk grouped conv (stride) [-> SE "mid"] -> 1x1 [-> SE "out"]."""

    layout = staticmethod(blocks.bottleneck)


class MBConv(PlannedBlock):
    """Inverted residual (MBConv) or, fused=True, EfficientNetV2's Fused-MBConv."""

    layout = staticmethod(blocks.mbconv)


class Stem(Chain):
    """The layers before the first stage: `netscale.plan.blocks.stem(kind, in_width, width,
    mid_width=, kernel=, stride=, pool=, act=, eps=, ln_eps=)` lists them."""

    def __init__(self, kind: str, in_width: int, width: int, **args: Any) -> None:
        super().__init__(blocks.stem(kind, in_width, width, **args))


class Head(nn.Module):
    """[1x1 conv + BN + act] -> global average pool -> [LayerNorm] -> [linear + tanh]
    -> dropout -> linear."""

    def __init__(
        self,
        w_in: int,
        *,
        width: int,
        norm: bool,
        hidden_width: int,
        dropout_rate: float,
        num_classes: int,
        act: str,
        eps: float,
        ln_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.conv: nn.Module = nn.Identity()
        if width:
            self.conv = nn.Sequential(
                conv2d(w_in, width, 1), nn.BatchNorm2d(width, eps=eps), make_act(act)
            )
            w_in = width
        self.norm: nn.Module = nn.LayerNorm(w_in, eps=ln_eps) if norm else nn.Identity()
        self.hidden: nn.Module = nn.Identity()
        if hidden_width:  # pre-logits layer (timm's CoAtNets)
            self.hidden = nn.Sequential(nn.Linear(w_in, hidden_width), nn.Tanh())
            w_in = hidden_width
        self.dropout = nn.Dropout(dropout_rate)
        self.fc = nn.Linear(w_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x).mean((2, 3)))  # (B, C)
        return self.fc(self.dropout(self.hidden(x)))  # (B, num_classes)
