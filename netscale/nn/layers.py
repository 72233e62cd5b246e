"""Modules from layer records (netscale.plan), and the two generic containers that apply a
plan: `Chain` (layers in order) and `PlannedBlock` (pre layers, then residuals).

Attribute names are the records' names, so state-dict keys are the plan's parameter names.
All modules work on NCHW tensors in either memory format (channels_last included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netscale.nn.attention import RelativeAttention
from netscale.plan import layers as records

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}
INPLACE_ACTS = ("relu", "silu")  # the activations make_act can build in place


class SiLU(nn.SiLU):
    """SiLU that overwrites its input (`inplace`) only where no gradient is recorded: its
    backward reads the input, so in place under autograd would cost a saved copy of it
    (more than the allocation it saves); under no_grad or inference_mode it saves one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x, inplace=self.inplace and not torch.is_grad_enabled())


def make_act(name: str, *, inplace: bool = False) -> nn.Module:
    """An activation module by name ("relu", "silu", "gelu"); with `inplace`, one that
    overwrites its input where that is safe: a ReLU always, a SiLU when no gradient is
    recorded (`SiLU`); GELU never (torch has no in-place GELU)."""
    if inplace and name == "relu":
        return nn.ReLU(inplace=True)
    if inplace and name == "silu":
        return SiLU(inplace=True)
    return ACTIVATIONS[name]()


def inplace_acts(*sequences: tuple[records.Layer, ...]) -> set[str]:
    """Names of the activations that may overwrite their input: a ReLU or SiLU (see
    `make_act`) that follows another layer of its own sequence, so that its input is that
    layer's fresh output, which no other module reads and no backward needs (a conv's,
    norm's, pool's, SE's or linear's backward reads their inputs). A sequence's first
    layer reads the sequence's input, which a shortcut may read too: it never works in
    place. Saves one activation-sized allocation and write per activation, as timm's and
    torchvision's in-place ones do (docs/benchmarks.md has the profiles)."""
    return {
        layer.name
        for seq in sequences
        for i, layer in enumerate(seq)
        if i > 0 and isinstance(layer, records.Act) and layer.act in INPLACE_ACTS
    }


def _adds_in_place(branch: tuple[records.Layer, ...]) -> bool:
    """Whether a residual may add the shortcut into its branch's output in place: when the
    branch ends in a conv, a BatchNorm or an SE gate (x * gate), whose output nothing else
    reads and whose backward does not need it (an activation's output may be saved)."""
    last = branch[-1] if branch else None
    return isinstance(last, records.Conv | records.SE) or (
        isinstance(last, records.Norm) and last.kind == "batch"
    )


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


_NORMS = {"batch": nn.BatchNorm2d, "layer2d": LayerNorm2d, "layer": nn.LayerNorm}


def make(layer: records.Layer, *, inplace: bool = False) -> nn.Module:
    """The module of one layer record (a `Scale` is a parameter, not a module); `inplace`:
    an activation that overwrites its input (see `inplace_acts`)."""
    if isinstance(layer, records.Conv):
        if layer.same:
            return conv2d(
                layer.w_in,
                layer.w_out,
                layer.kernel,
                stride=layer.stride,
                groups=layer.groups,
                bias=layer.bias,
            )
        return nn.Conv2d(
            layer.w_in, layer.w_out, layer.kernel, stride=layer.stride, bias=layer.bias
        )
    if isinstance(layer, records.Norm):
        return _NORMS[layer.kind](layer.width, eps=layer.eps)
    if isinstance(layer, records.Act):
        return make_act(layer.act, inplace=inplace)
    if isinstance(layer, records.SE):
        return SqueezeExcite(layer.width, layer.se_width, layer.act)
    if isinstance(layer, records.Linear):
        return nn.Linear(layer.w_in, layer.w_out, bias=layer.bias)
    if isinstance(layer, records.Pool):
        if layer.kind == "max":
            return nn.MaxPool2d(3, stride=layer.stride, padding=1)
        if layer.kind == "max2":  # floor mode: h // 2 (airbench)
            return nn.MaxPool2d(2, stride=layer.stride)
        # ceil_mode keeps (h - 1) // 2 + 1 outputs for odd h, as the strided conv would
        return nn.AvgPool2d(2, layer.stride, ceil_mode=True, count_include_pad=False)
    if isinstance(layer, records.Attention):
        return RelativeAttention(
            layer.w_in, layer.w_out, head_width=layer.head_width, size=layer.size
        )
    if isinstance(layer, records.Path):
        return Chain(layer.layers)
    raise TypeError(f"no module for layer {layer!r}")


class Chain(nn.Module):
    """Applies the modules of `layers` in order (a stem, a shortcut, a downsampling layer)."""

    def __init__(self, layers: tuple[records.Layer, ...]) -> None:
        super().__init__()
        self.plan = layers
        inplace = inplace_acts(layers)
        for layer in layers:
            self.add_module(layer.name, make(layer, inplace=layer.name in inplace))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


class PlannedBlock(nn.Module):
    """A block built from its plan: `pre` layers, then each residual
    out = [act](shortcut(x) + drop_path(branch(x))), or out = branch(x) without a skip.

    A block kind is a subclass naming its `layout` (a function of netscale.plan.blocks);
    its arguments are that function's explicit ints/floats, plus `drop_path_rate`."""

    layout: Callable[..., records.BlockLayers]

    def __init__(self, w_in: int, w_out: int, *, drop_path_rate: float = 0.0, **args: Any) -> None:
        super().__init__()
        self.plan = plan = type(self).layout(w_in, w_out, **args)
        # the residual's act follows the add, whose output is fresh: it may work in place
        inplace = inplace_acts(plan.pre, *(r.branch for r in plan.residuals)) | {
            r.act.name for r in plan.residuals if r.act and r.act.act in INPLACE_ACTS
        }
        for layer in plan.layers():
            if isinstance(layer, records.Scale):
                self.register_parameter(
                    layer.name, nn.Parameter(torch.full((layer.width,), layer.init))
                )
            else:
                self.add_module(layer.name, make(layer, inplace=layer.name in inplace))
        self._add_in_place = tuple(_adds_in_place(r.branch) for r in plan.residuals)
        skips = any(res.skip for res in plan.residuals)
        self.drop_path = DropPath(drop_path_rate) if skips else nn.Identity()

    def init_weights(self) -> None:
        """The block's own initialization, applied by the builder after its generic one
        (He-normal convs, unit norms); none here. A kind whose layers start otherwise
        overrides it (ConvPoolBlock: airbench's identity-plus-default init)."""

    def last_norm(self) -> nn.BatchNorm2d | None:
        """The norm whose weight starts at zero when zero-init of the residual is asked."""
        name = self.plan.last_norm()
        return getattr(self, name) if name else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.plan.pre:
            x = getattr(self, layer.name)(x)
        for res, add_in_place in zip(self.plan.residuals, self._add_in_place, strict=True):
            y = x
            for layer in res.branch:
                y = getattr(self, layer.name)(y)
            if not res.skip:
                x = y
                continue
            short = getattr(self, res.shortcut.name)(x) if res.shortcut else x
            y = self.drop_path(y)  # a fresh tensor in training, y itself otherwise
            # in place only where no dtype promotion happens (autocast): the same result
            x = y.add_(short) if add_in_place and y.dtype == short.dtype else short + y
            if res.act:
                x = getattr(self, res.act.name)(x)
        return x
