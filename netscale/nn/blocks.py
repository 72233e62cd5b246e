"""ResNet / RegNet / EfficientNet / airbench blocks, the stem and the head, with explicit int/float
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


class ConvPoolBlock(PlannedBlock):
    """airbench's block, not residual: kxk conv -> [2x2 max-pool, floor mode, at stride 2]
    -> BN -> act -> kxk conv -> BN -> act."""

    layout = staticmethod(blocks.conv_pool)

    def init_weights(self) -> None:
        """airbench's "implicit residual" init of both convs: PyTorch's default conv init
        (kaiming-uniform, a=sqrt(5)), then a Dirac (identity) kernel on the first
        min(w_out, w_in) output filters, so each conv starts by passing its input on."""
        for conv in (self.conv1, self.conv2):
            conv.reset_parameters()
            with torch.no_grad():
                nn.init.dirac_(conv.weight[: conv.in_channels])


class Stem(Chain):
    """The layers before the first stage: `netscale.plan.blocks.stem(kind, in_width, width,
    mid_width=, kernel=, stride=, pool=, act=, eps=, ln_eps=)` lists them."""

    def __init__(self, kind: str, in_width: int, width: int, **args: Any) -> None:
        super().__init__(blocks.stem(kind, in_width, width, **args))


class Head(nn.Module):
    """[1x1 conv + BN + act] -> global pool ("avg" or "max") -> [LayerNorm] -> [linear +
    tanh] -> dropout -> linear -> x logit_scale (a constant, not a parameter)."""

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
        pool: str = "avg",
        logit_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool={pool!r} is invalid; allowed: 'avg', 'max'")
        self.pool, self.logit_scale = pool, float(logit_scale)
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
        x = self.conv(x)
        x = x.mean((2, 3)) if self.pool == "avg" else x.amax((2, 3))  # (B, C)
        logits = self.fc(self.dropout(self.hidden(self.norm(x))))  # (B, num_classes)
        return logits * self.logit_scale if self.logit_scale != 1.0 else logits

    def extra_repr(self) -> str:
        return f"pool={self.pool!r}, logit_scale={self.logit_scale}"
