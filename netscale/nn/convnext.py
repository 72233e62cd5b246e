"""ConvNeXt (Liu et al. 2022): its block, built from netscale.plan.blocks.convnext."""

from __future__ import annotations

import torch

from netscale.nn.layers import PlannedBlock
from netscale.plan import blocks


class ConvNeXtBlock(PlannedBlock):
    """kxk depthwise conv -> LayerNorm -> linear (x expansion) -> GELU -> linear -> layer
    scale, plus identity (ConvNeXt Fig. 4). The first block of a strided or widening stage
    starts with the stage's downsampling layer. Its MLP runs channels last, so the forward
    is its own."""

    layout = staticmethod(blocks.convnext)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.plan.pre:  # the downsampling layer
            x = getattr(self, layer.name)(x)
        y = self.conv_dw(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.fc2(self.act(self.fc1(self.norm(y))))
        if getattr(self, "gamma", None) is not None:
            y = y * self.gamma
        return x + self.drop_path(y.permute(0, 3, 1, 2))
