"""Spec -> torch.nn.Module: the only code that reads a spec and makes modules."""

from __future__ import annotations

import torch
from torch import nn

from netscale.complexity.count import count, expanded_width, se_width
from netscale.nn.blocks import BasicBlock, BottleneckBlock, Head, MBConv, Stem
from netscale.nn.coatnet import PreNormMBConv, TransformerBlock
from netscale.nn.convnext import ConvNeXtBlock
from netscale.spec.net import NetSpec, StageSpec


class Net(nn.Module):
    """A network built from a `NetSpec`: stem -> stages -> head. `spec` is kept on it."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        s = spec.stem
        self.stem = Stem(
            s.kind,
            spec.in_width,
            s.width,
            mid_width=s.mid_width or s.width // 2,
            kernel=s.kernel,
            stride=s.stride,
            pool=s.pool,
            act=spec.act,
            eps=spec.norm_eps,
            ln_eps=spec.layer_norm_eps,
        )
        sizes = [part.resolution for part in count(spec).parts[1:-1]]  # stage outputs (px)
        stages, w_in, index = [], s.width, 0
        for stage, size in zip(spec.stages, sizes, strict=True):
            blocks = []
            for j in range(stage.depth):
                rate = spec.drop_path_rate * index / max(spec.num_blocks - 1, 1)
                stride = stage.stride if j == 0 else 1
                blocks.append(_block(spec, stage, w_in, stride, rate, size))
                w_in, index = stage.width, index + 1
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        h = spec.head
        self.head = Head(
            w_in,
            width=h.width,
            norm=h.norm,
            hidden_width=h.hidden_width,
            dropout_rate=h.dropout_rate,
            num_classes=h.num_classes,
            act=spec.act,
            eps=spec.norm_eps,
            ln_eps=spec.layer_norm_eps,
        )
        _init_weights(self, zero_init_residual=spec.zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> last feature map (B, C, H / stride, W / stride)."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> logits (B, num_classes)."""
        return self.head(self.forward_features(x))


def _block(
    spec: NetSpec, stage: StageSpec, w_in: int, stride: int, rate: float, size: int
) -> nn.Module:
    """One block of `stage`; `size` is the stage's output feature-map size at spec.resolution."""
    w_out, kind = stage.width, stage.block
    common = dict(stride=stride, act=spec.act, drop_path_rate=rate, eps=spec.norm_eps)
    se = se_width(stage, w_in) if stage.se_ratio else 0
    inner = expanded_width(stage, w_in)
    if kind == "mbconv" and stage.pre_norm:
        return PreNormMBConv(w_in, w_out, kernel=stage.kernel, inner=inner, se_width=se, **common)
    if kind in ("mbconv", "fused_mbconv"):
        fused = kind == "fused_mbconv"
        return MBConv(
            w_in, w_out, kernel=stage.kernel, inner=inner, se_width=se, fused=fused, **common
        )
    if kind in ("convnext", "transformer"):
        common["eps"] = spec.layer_norm_eps  # these blocks normalize with LayerNorm only
    if kind == "convnext":
        return ConvNeXtBlock(
            w_in, w_out, kernel=stage.kernel, inner=inner, layer_scale=stage.layer_scale, **common
        )
    if kind == "transformer":
        return TransformerBlock(
            w_in, w_out, head_width=stage.head_width, inner=inner, size=size, **common
        )
    avg = stage.shortcut == "avg"
    if kind == "basic":
        return BasicBlock(w_in, w_out, kernel=stage.kernel, se_width=se, avg_shortcut=avg, **common)
    return BottleneckBlock(
        w_in,
        w_out,
        kernel=stage.kernel,
        inner=stage.inner_width,
        groups=stage.groups,
        se_width=se,
        se_placement=stage.se_placement,
        avg_shortcut=avg,
        **common,
    )


def _init_weights(model: nn.Module, *, zero_init_residual: bool) -> None:
    """He-normal (fan-out) convs, unit norms, N(0, 0.01) classifier (pycls init)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            norm = m.last_norm() if isinstance(m, BasicBlock | BottleneckBlock | MBConv) else None
            if norm is not None:
                nn.init.zeros_(norm.weight)


def build(spec: NetSpec) -> Net:
    """Build the module of `spec` (on the current default device)."""
    if not isinstance(spec, NetSpec):
        raise TypeError(f"build() needs a NetSpec, got {type(spec).__name__}")
    return Net(spec)
