"""ConvNeXt (Liu et al. 2022): its block, its downsampling layer, and LayerNorm over channels."""

from __future__ import annotations

import torch
from torch import nn

from netscale.nn.blocks import DropPath, LayerNorm2d, make_act


class PatchDownsample(nn.Module):
    """LayerNorm, then a kxk conv at stride k (ConvNeXt's "separate downsampling layers")."""

    def __init__(self, w_in: int, w_out: int, stride: int, eps: float) -> None:
        super().__init__()
        self.norm = LayerNorm2d(w_in, eps=eps)
        self.conv = nn.Conv2d(w_in, w_out, stride, stride=stride, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x))


class ConvNeXtBlock(nn.Module):
    """kxk depthwise conv -> LayerNorm -> linear (x expansion) -> GELU -> linear -> layer
    scale, plus identity (ConvNeXt Fig. 4). The first block of a strided or widening stage
    starts with the stage's downsampling layer."""

    def __init__(
        self,
        w_in: int,
        w_out: int,
        *,
        stride: int,
        kernel: int,
        inner: int,
        layer_scale: float,
        act: str,
        drop_path_rate: float,
        eps: float,
    ) -> None:
        super().__init__()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or w_in != w_out:
            self.downsample = PatchDownsample(w_in, w_out, stride, eps)
        self.conv_dw = nn.Conv2d(w_out, w_out, kernel, padding=kernel // 2, groups=w_out)
        self.norm = nn.LayerNorm(w_out, eps=eps)
        self.fc1 = nn.Linear(w_out, inner)
        self.act = make_act(act)
        self.fc2 = nn.Linear(inner, w_out)
        self.gamma = nn.Parameter(torch.full((w_out,), layer_scale)) if layer_scale else None
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        y = self.conv_dw(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.fc2(self.act(self.fc1(self.norm(y))))
        if self.gamma is not None:
            y = y * self.gamma
        return x + self.drop_path(y.permute(0, 3, 1, 2))
