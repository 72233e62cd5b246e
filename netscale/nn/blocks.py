"""Residual blocks, stems and heads with explicit int/float arguments (no spec, no config).

Attribute names are stable state-dict keys (docs/architecture.md, "State-dict layout").
All modules work on NCHW tensors in either memory format (channels_last included).
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}


def make_act(name: str) -> nn.Module:
    """An activation module by name ("relu", "silu", "gelu")."""
    return ACTIVATIONS[name]()


def conv2d(
    w_in: int, w_out: int, kernel: int, *, stride: int = 1, groups: int = 1, bias: bool = False
) -> nn.Conv2d:
    """A 'same'-padded conv for odd kernels: output size (h - 1) // stride + 1."""
    return nn.Conv2d(
        w_in, w_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=bias
    )


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (ConvNeXt sec. 2.6)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C): contiguous when x is channels_last
        return super().forward(x).permute(0, 3, 1, 2)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): drop a residual branch per sample in training."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)  # (B, 1, 1, 1)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel gates from pooled features."""

    def __init__(self, width: int, se_width: int, act: str) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(width, se_width, 1, bias=True)
        self.act = make_act(act)
        self.fc2 = nn.Conv2d(se_width, width, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(s))))


class Shortcut(nn.Module):
    """Projection of a residual: strided 1x1 conv + BN, or (ResNet-D) 2x2 avg-pool, then
    1x1 conv + BN (Bag of Tricks sec. 4.1). Identity when shape is kept."""

    def __init__(self, w_in: int, w_out: int, *, stride: int, avg: bool, eps: float) -> None:
        super().__init__()
        self.pool: nn.Module = nn.Identity()
        if avg and stride > 1:
            # ceil_mode keeps (h - 1) // 2 + 1 outputs for odd h, as the strided conv would
            self.pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
            stride = 1
        self.conv = conv2d(w_in, w_out, 1, stride=stride)
        self.bn = nn.BatchNorm2d(w_out, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.pool(x)))


class _Residual(nn.Module):
    """Shared wiring: out = act(branch(x) * drop_path + shortcut(x))."""

    shortcut: nn.Module
    drop_path: nn.Module
    act: nn.Module

    def _init_residual(
        self,
        w_in: int,
        w_out: int,
        *,
        stride: int,
        avg_shortcut: bool,
        act: str,
        drop_path_rate: float,
        eps: float,
    ) -> None:
        if w_in != w_out or stride != 1:
            self.shortcut = Shortcut(w_in, w_out, stride=stride, avg=avg_shortcut, eps=eps)
        else:
            self.shortcut = nn.Identity()
        self.drop_path = DropPath(drop_path_rate)
        self.act = make_act(act)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def last_norm(self) -> nn.BatchNorm2d:
        """The norm whose weight starts at zero when zero-init of the residual is asked."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop_path(self.branch(x)) + self.shortcut(x))


class BasicBlock(_Residual):
    """ResNet basic block: kxk conv (stride) -> BN -> act -> kxk conv -> BN [-> SE]."""

    def __init__(
        self,
        w_in: int,
        w_out: int,
        *,
        stride: int,
        kernel: int,
        se_width: int,
        avg_shortcut: bool,
        act: str,
        drop_path_rate: float,
        eps: float,
    ) -> None:
        super().__init__()
        self.conv1 = conv2d(w_in, w_out, kernel, stride=stride)
        self.bn1 = nn.BatchNorm2d(w_out, eps=eps)
        self.act1 = make_act(act)
        self.conv2 = conv2d(w_out, w_out, kernel)
        self.bn2 = nn.BatchNorm2d(w_out, eps=eps)
        self.se = SqueezeExcite(w_out, se_width, act) if se_width else nn.Identity()
        self._init_residual(
            w_in,
            w_out,
            stride=stride,
            avg_shortcut=avg_shortcut,
            act=act,
            drop_path_rate=drop_path_rate,
            eps=eps,
        )

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        return self.se(self.bn2(self.conv2(x)))

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn2


class BottleneckBlock(_Residual):
    """Bottleneck: 1x1 -> kxk grouped conv (stride) [-> SE "mid"] -> 1x1 [-> SE "out"].

    ResNet: inner = width / 4, dense; RegNet: inner = width * bottleneck ratio, groups of
    `group_width` channels, SE after the kxk conv sized from the block input width.
    """

    def __init__(
        self,
        w_in: int,
        w_out: int,
        *,
        stride: int,
        kernel: int,
        inner: int,
        groups: int,
        se_width: int,
        se_placement: str,
        avg_shortcut: bool,
        act: str,
        drop_path_rate: float,
        eps: float,
    ) -> None:
        super().__init__()
        self.conv1 = conv2d(w_in, inner, 1)
        self.bn1 = nn.BatchNorm2d(inner, eps=eps)
        self.act1 = make_act(act)
        self.conv2 = conv2d(inner, inner, kernel, stride=stride, groups=groups)
        self.bn2 = nn.BatchNorm2d(inner, eps=eps)
        self.act2 = make_act(act)
        use_mid = bool(se_width) and se_placement == "mid"
        use_out = bool(se_width) and se_placement == "out"
        self.se_mid = SqueezeExcite(inner, se_width, act) if use_mid else nn.Identity()
        self.conv3 = conv2d(inner, w_out, 1)
        self.bn3 = nn.BatchNorm2d(w_out, eps=eps)
        self.se_out = SqueezeExcite(w_out, se_width, act) if use_out else nn.Identity()
        self._init_residual(
            w_in,
            w_out,
            stride=stride,
            avg_shortcut=avg_shortcut,
            act=act,
            drop_path_rate=drop_path_rate,
            eps=eps,
        )

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))  # (B, inner, H, W)
        x = self.se_mid(self.act2(self.bn2(self.conv2(x))))  # (B, inner, H/s, W/s)
        return self.se_out(self.bn3(self.conv3(x)))  # (B, w_out, H/s, W/s)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn3


class Stem(nn.Module):
    """The layers before the first stage.

    kind "conv": kxk conv (stride) + BN + act; kind "deep": three 3x3 convs + BN + act
    (mid, mid, width), the first strided. Then pool: "none", "max" (3x3 s2 max-pool) or
    "conv" (3x3 s2 conv + BN + act, as ResNet-RS).
    """

    def __init__(
        self,
        kind: str,
        in_width: int,
        width: int,
        *,
        mid_width: int,
        kernel: int,
        stride: int,
        pool: str,
        act: str,
        eps: float,
        ln_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        if kind == "conv":
            layers += [
                ("conv", conv2d(in_width, width, kernel, stride=stride)),
                ("bn", nn.BatchNorm2d(width, eps=eps)),
                ("act", make_act(act)),
            ]
        elif kind == "deep":
            widths = (in_width, mid_width, mid_width, width)
            for i in range(3):
                layers += [
                    (
                        f"conv{i + 1}",
                        conv2d(widths[i], widths[i + 1], 3, stride=stride if i == 0 else 1),
                    ),
                    (f"bn{i + 1}", nn.BatchNorm2d(widths[i + 1], eps=eps)),
                    (f"act{i + 1}", make_act(act)),
                ]
        elif kind == "patchify":  # ConvNeXt: non-overlapping kxk patches + LayerNorm
            layers += [
                ("conv", nn.Conv2d(in_width, width, kernel, stride=stride)),
                ("norm", LayerNorm2d(width, eps=ln_eps)),
            ]
        elif kind == "coatnet":  # CoAtNet S0: 3x3 s2 conv + BN + act, 3x3 conv (no norm)
            layers += [
                ("conv1", conv2d(in_width, width, kernel, stride=stride)),
                ("bn1", nn.BatchNorm2d(width, eps=eps)),
                ("act1", make_act(act)),
                ("conv2", conv2d(width, width, kernel)),
            ]
        else:
            raise ValueError(f"stem.kind={kind!r} is invalid")

        if pool == "max":
            layers.append(("pool", nn.MaxPool2d(3, stride=2, padding=1)))
        elif pool == "conv":
            layers += [
                ("pool_conv", conv2d(width, width, 3, stride=2)),
                ("pool_bn", nn.BatchNorm2d(width, eps=eps)),
                ("pool_act", make_act(act)),
            ]
        for name, module in layers:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


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


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2; EfficientNet's MBConv): [1x1 expand + BN + act] ->
    kxk depthwise (stride) + BN + act -> [SE] -> 1x1 project + BN, with an identity skip
    when shape is kept. Expansion 1 drops the expand conv (a depthwise-separable conv).

    Fused (EfficientNetV2 sec. 3.2, Fused-MBConv): the expand and depthwise convs become one
    kxk conv (stride); expansion 1 is that single kxk conv + BN + act.
    """

    def __init__(
        self,
        w_in: int,
        w_out: int,
        *,
        stride: int,
        kernel: int,
        inner: int,
        se_width: int,
        fused: bool,
        act: str,
        drop_path_rate: float,
        eps: float,
    ) -> None:
        super().__init__()
        expand = inner != w_in or fused  # fused always starts with its kxk conv
        single = fused and inner == w_in  # Fused-MBConv with expansion 1
        mid = w_out if single else inner
        layers: list[tuple[str, nn.Module]] = []
        if expand:
            k, s = (kernel, stride) if fused else (1, 1)
            layers += [
                ("conv1", conv2d(w_in, mid, k, stride=s)),
                ("bn1", nn.BatchNorm2d(mid, eps=eps)),
                ("act1", make_act(act)),
            ]
        if not fused:
            layers += [
                ("conv2", conv2d(inner, inner, kernel, stride=stride, groups=inner)),
                ("bn2", nn.BatchNorm2d(inner, eps=eps)),
                ("act2", make_act(act)),
            ]
        if se_width:
            layers.append(("se_mid", SqueezeExcite(mid, se_width, act)))
        if not single:
            layers += [("conv3", conv2d(inner, w_out, 1)), ("bn3", nn.BatchNorm2d(w_out, eps=eps))]
        for name, module in layers:
            self.add_module(name, module)
        self.has_skip = stride == 1 and w_in == w_out
        self.drop_path = DropPath(drop_path_rate) if self.has_skip else nn.Identity()

    def last_norm(self) -> nn.BatchNorm2d | None:
        """The branch's last norm, zero-initialized only when the block has a skip."""
        if not self.has_skip:
            return None
        return self.bn1 if not hasattr(self, "bn3") else self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for name, module in self.named_children():
            if name != "drop_path":
                y = module(y)
        return x + self.drop_path(y) if self.has_skip else y
