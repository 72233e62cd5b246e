"""Layer records: what one layer of a block is, as plain data. No torch.

A record names the module attribute it becomes (its state-dict prefix), holds the explicit
ints/floats the module is built with, the feature-map size it outputs and the shapes of its
parameters. `netscale.nn.layers.make` turns a record into a module; `netscale.complexity`
prices it; weight import and BN folding read the names and the order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

Shapes = dict[str, tuple[int, ...]]


class _Record:
    """Defaults of a record: the map size is kept, no parameters."""

    __slots__ = ()

    def out_size(self, h: int) -> int:
        return h

    def params(self) -> Shapes:
        return {}


@dataclass(frozen=True, slots=True)
class Conv(_Record):
    """A kxk conv. same=True: 'same' padding (odd k), output (h - 1) // stride + 1; False:
    no padding (ConvNeXt's patchify and downsampling convs), output (h - k) // stride + 1."""

    name: str
    w_in: int
    w_out: int
    kernel: int
    stride: int = 1
    groups: int = 1
    bias: bool = False
    same: bool = True

    def out_size(self, h: int) -> int:
        if self.same:
            return (h - 1) // self.stride + 1
        return (h - self.kernel) // self.stride + 1

    def params(self) -> Shapes:
        k = self.kernel
        shapes: Shapes = {"weight": (self.w_out, self.w_in // self.groups, k, k)}
        return shapes | ({"bias": (self.w_out,)} if self.bias else {})


@dataclass(frozen=True, slots=True)
class Norm(_Record):
    """kind "batch": BatchNorm2d; "layer2d": LayerNorm over the channels of an NCHW map;
    "layer": LayerNorm over the last dimension (ConvNeXt's channels-last MLP)."""

    name: str
    width: int
    kind: str
    eps: float

    def params(self) -> Shapes:
        return {"weight": (self.width,), "bias": (self.width,)}


@dataclass(frozen=True, slots=True)
class Act(_Record):
    """An activation ("relu", "silu", "gelu")."""

    name: str
    act: str


@dataclass(frozen=True, slots=True)
class SE(_Record):
    """Squeeze-excitation: global pool, 1x1 conv `fc1` to se_width, act, 1x1 conv `fc2`
    back to width (both biased), sigmoid gate."""

    name: str
    width: int
    se_width: int
    act: str

    def params(self) -> Shapes:
        w, s = self.width, self.se_width
        return {"fc1.weight": (s, w, 1, 1), "fc1.bias": (s,), "fc2.weight": (w, s, 1, 1)} | {
            "fc2.bias": (w,)
        }


@dataclass(frozen=True, slots=True)
class Linear(_Record):
    """A linear layer applied at every location (channels last)."""

    name: str
    w_in: int
    w_out: int
    bias: bool = True

    def params(self) -> Shapes:
        shapes: Shapes = {"weight": (self.w_out, self.w_in)}
        return shapes | ({"bias": (self.w_out,)} if self.bias else {})


@dataclass(frozen=True, slots=True)
class Pool(_Record):
    """kind "max": 3x3 s2 'same' max-pool; "avg": 2x2 avg-pool at `stride` in ceil mode.
    Both output (h - 1) // stride + 1, as the strided conv they stand beside would.
    kind "max2": 2x2 max-pool at stride 2 in floor mode (airbench's conv_pool blocks),
    output h // 2: unlike the 'same' rule it drops an odd last row (31 -> 15, not 16)."""

    name: str
    kind: str
    stride: int = 2

    def out_size(self, h: int) -> int:
        if self.kind == "max2":
            return h // self.stride
        return (h - 1) // self.stride + 1


@dataclass(frozen=True, slots=True)
class Attention(_Record):
    """Multi-head self-attention with a relative-position bias (CoAtNet eq. 3): biased 1x1
    convs `qkv` (w_in -> 3 w_out) and `proj`, a `bias_table` of (2 size - 1)^2 offsets per
    head for the size x size map the spec's resolution gives."""

    name: str
    w_in: int
    w_out: int
    head_width: int
    size: int

    @property
    def num_heads(self) -> int:
        return self.w_out // self.head_width

    def params(self) -> Shapes:
        w, rows = self.w_out, (2 * self.size - 1) ** 2
        return {  # in torch's order: the module's own parameter before its children's
            "bias_table": (rows, self.num_heads),
            "qkv.weight": (3 * w, self.w_in, 1, 1),
            "qkv.bias": (3 * w,),
            "proj.weight": (w, w, 1, 1),
            "proj.bias": (w,),
        }


@dataclass(frozen=True, slots=True)
class Scale(_Record):
    """A learned per-channel scale (ConvNeXt's layer scale), a parameter of the block
    itself, starting at `init`."""

    name: str
    width: int
    init: float

    def params(self) -> Shapes:
        return {"": (self.width,)}


@dataclass(frozen=True, slots=True)
class Path(_Record):
    """A sub-module that applies `layers` in order (a shortcut, a downsampling layer)."""

    name: str
    layers: tuple[Layer, ...]

    def out_size(self, h: int) -> int:
        return out_size(self.layers, h)

    def params(self) -> Shapes:
        return param_shapes(self.layers)


Layer = Conv | Norm | Act | SE | Linear | Pool | Attention | Scale | Path


@dataclass(frozen=True, slots=True)
class Residual:
    """out = [act](shortcut(x) + drop_path(branch(x))); skip=False: out = branch(x).

    shortcut None is the identity. shortcut_first only orders the block's attributes (and
    so its state dict and parameter list) as the source models do: CoAtNet's blocks list
    the shortcut first, ResNet's last."""

    branch: tuple[Layer, ...]
    shortcut: Path | None = None
    skip: bool = True
    act: Act | None = None
    shortcut_first: bool = False

    def layers(self) -> tuple[Layer, ...]:
        """Every layer in attribute (registration) order."""
        short: tuple[Layer, ...] = (self.shortcut,) if self.shortcut else ()
        tail: tuple[Layer, ...] = (self.act,) if self.act else ()
        if self.shortcut_first:
            return short + self.branch + tail
        return self.branch + short + tail


@dataclass(frozen=True, slots=True)
class BlockLayers:
    """The layers of one block: `pre` applied in order, then each residual in order."""

    pre: tuple[Layer, ...] = ()
    residuals: tuple[Residual, ...] = ()

    def layers(self) -> tuple[Layer, ...]:
        """Every top-level layer in attribute (registration) order."""
        return self.pre + tuple(x for r in self.residuals for x in r.layers())

    def last_norm(self) -> str | None:
        """The BatchNorm that zero-init of the residual starts at zero: the last layer of a
        skipped residual branch, not counting activations and SE (ResNet's bn2/bn3,
        MBConv's bn3); None where a conv or scale ends the branch (CoAtNet, ConvNeXt)."""
        for res in self.residuals[-1:]:
            tail = [x for x in res.branch if not isinstance(x, Act | SE)]
            last = tail[-1] if tail else None
            if res.skip and isinstance(last, Norm) and last.kind == "batch":
                return last.name
        return None

    def out_size(self, h: int) -> int:
        h = out_size(self.pre, h)
        for res in self.residuals:
            h = out_size(res.branch, h)
        return h

    def params(self) -> Shapes:
        return param_shapes(self.layers())


def out_size(layers: tuple[Layer, ...], h: int) -> int:
    """Feature-map size (pixels per side) after `layers` applied in order to size h."""
    for layer in layers:
        h = layer.out_size(h)
    return h


def param_shapes(layers: tuple[Layer, ...], prefix: str = "") -> Shapes:
    """Parameter name -> shape of `layers`, names as the built module's (prefix + name)."""
    shapes: Shapes = {}
    for layer in layers:
        for key, shape in layer.params().items():
            shapes[prefix + layer.name + ("." + key if key else "")] = shape
    return shapes


def num_params(shapes: Shapes) -> int:
    """Total number of parameters of `shapes`."""
    return sum(math.prod(s) for s in shapes.values())


def iter_layers(layers: tuple[Layer, ...]) -> Iterator[Layer]:
    """Every record of `layers`, entering paths (depth first, in order)."""
    for layer in layers:
        yield layer
        if isinstance(layer, Path):
            yield from iter_layers(layer.layers)
