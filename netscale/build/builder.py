"""Spec -> torch.nn.Module: the only code that reads a spec and makes modules."""

from __future__ import annotations

import torch
from torch import nn

from netscale.nn import BLOCK_MODULES, Head, PlannedBlock, Stem
from netscale.plan.net import plan, stem_args
from netscale.spec.net import NetSpec


class Net(nn.Module):
    """A network built from a `NetSpec`: stem -> stages -> head. `spec` is kept on it.

    Every stem layer and block is made from the spec's layer plan (netscale.plan), the one
    list of layers that complexity counting also walks."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        net = plan(spec)
        self.stem = Stem(spec.stem.kind, spec.in_width, spec.stem.width, **stem_args(spec))
        stages, index = [], 0
        for stage in net.stages:
            blocks = []
            for block in stage:
                rate = spec.drop_path_rate * index / max(spec.num_blocks - 1, 1)
                blocks.append(BLOCK_MODULES[block.kind](**block.args, drop_path_rate=rate))
                index += 1
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        h = spec.head
        self.head = Head(
            spec.stages[-1].width,
            width=h.width,
            norm=h.norm,
            hidden_width=h.hidden_width,
            dropout_rate=h.dropout_rate,
            num_classes=h.num_classes,
            act=spec.act,
            eps=spec.norm_eps,
            ln_eps=spec.layer_norm_eps,
            pool=h.pool,
            logit_scale=h.logit_scale,
        )
        _init_weights(self, zero_init_residual=spec.zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> last feature map (B, C, H / stride, W / stride)."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> logits (B, num_classes)."""
        return self.head(self.forward_features(x))


def _init_weights(model: nn.Module, *, zero_init_residual: bool) -> None:
    """He-normal (fan-out) convs, unit norms, N(0, 0.01) classifier (pycls init); then each
    block's own `init_weights` (conv_pool: airbench's default-plus-Dirac convs), then zero
    last norms of residual branches when asked. A whitening stem's conv is He-normal here;
    `netscale.build.whiten.init_whitening` sets it from the training images."""
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
    for m in model.modules():
        if isinstance(m, PlannedBlock):
            m.init_weights()
    if zero_init_residual:
        for m in model.modules():
            norm = m.last_norm() if isinstance(m, PlannedBlock) else None
            if norm is not None:
                nn.init.zeros_(norm.weight)


def build(spec: NetSpec) -> Net:
    """Build the module of `spec` (on the current default device)."""
    if not isinstance(spec, NetSpec):
        raise TypeError(f"build() needs a NetSpec, got {type(spec).__name__}")
    return Net(spec)
