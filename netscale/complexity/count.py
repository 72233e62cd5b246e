"""Analytic params, FLOPs and activations of a spec, without building a model. No torch.

Conventions (docs/architecture.md, "Complexity"):
- flops are multiply-adds, as in the EfficientNet, RegNet, EfficientNetV2 and CoAtNet papers
  (ResNet-RS reports 2x this). A conv costs k*k*c_in*c_out/groups per output pixel, a linear
  c_in*c_out. Bias additions are counted (one per output element), as pycls does; they are
  also reported apart in `bias_flops`, because torch's FlopCounterMode does not count them.
  Normalization, activations, residual adds, pooling (average or max, local or global)
  and the head's logit scale cost zero.
- params counts every trainable parameter (norm layers: weight and bias).
- acts counts the output elements of conv and linear layers (RegNet paper, sec. 3.2 fn. 3).

The walk below prices the layer plan (netscale.plan) that the nn modules are built from, layer
by layer; a test checks it against the built modules on every registered model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netscale.plan import layers as records
from netscale.plan.net import plan
from netscale.spec.net import HeadSpec, NetSpec


@dataclass(frozen=True, slots=True)
class PartComplexity:
    """Complexity of one part of a network (the stem, a stage or the head)."""

    name: str
    flops: int
    params: int
    acts: int
    resolution: int  # output feature-map size of the part (pixels per side)


@dataclass(frozen=True, slots=True)
class Complexity:
    """Whole-network complexity at one input resolution.

    flops: multiply-adds (int); params: parameters (int); acts: conv/linear/matmul output
    elements (int); bias_flops: the bias additions included in flops; attention_flops: the
    QK^T and AV matmuls included in flops; grouped_flops: the multiply-adds of grouped and
    depthwise convolutions included in flops; depthwise_flops / depthwise_acts: the
    multiply-adds and output elements of the depthwise ones (one group per input channel);
    parts: per stem/stage/head.
    """

    flops: int
    params: int
    acts: int
    bias_flops: int
    resolution: int
    parts: tuple[PartComplexity, ...] = field(default=())
    attention_flops: int = 0
    grouped_flops: int = 0
    depthwise_flops: int = 0
    depthwise_acts: int = 0


_FREE = (records.Norm, records.Act, records.Scale)  # zero flops, map size kept


class _Counter:
    """Accumulates the cost of layers applied in sequence to an (h, w) feature map."""

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.flops = self.params = self.acts = self.bias_flops = 0
        self.attention_flops = 0
        self.grouped_flops = 0  # multiply-adds of grouped and depthwise convs
        self.depthwise_flops = self.depthwise_acts = 0  # groups == input channels

    def conv(self, layer: records.Conv) -> None:
        """A conv: k*k*(c_in/g)*c_out multiply-adds per output pixel (+ 1 per bias)."""
        self.h, self.w = layer.out_size(self.h), layer.out_size(self.w)
        pixels, k, groups = self.h * self.w, layer.kernel, layer.groups
        macs = k * k * (layer.w_in // groups) * layer.w_out * pixels
        self.flops += macs
        if groups > 1:
            self.grouped_flops += macs
        if groups > 1 and groups == layer.w_in:
            self.depthwise_flops += macs
            self.depthwise_acts += layer.w_out * pixels
        if layer.bias:
            self.flops += layer.w_out * pixels
            self.bias_flops += layer.w_out * pixels
        self.acts += layer.w_out * pixels

    def linear(self, w_in: int, w_out: int, *, bias: bool = True) -> None:
        """A linear layer at every location: the cost of a 1x1 conv."""
        self.conv(records.Conv("", w_in, w_out, 1, bias=bias))

    def squeeze_excite(self, layer: records.SE) -> None:
        """SE: global pool, 1x1 conv to se_width, 1x1 conv back, both with bias (at 1x1)."""
        h, w = self.h, self.w
        self.h = self.w = 1
        self.conv(records.Conv("", layer.width, layer.se_width, 1, bias=True))
        self.conv(records.Conv("", layer.se_width, layer.width, 1, bias=True))
        self.h, self.w = h, w

    def attention(self, layer: records.Attention) -> None:
        """qkv and proj 1x1 convs; QK^T and AV each cost N * N * width multiply-adds for
        N = h * w positions (all heads together)."""
        w = layer.w_out
        self.conv(records.Conv("", layer.w_in, 3 * w, 1, bias=True))  # qkv
        n = self.h * self.w
        self.flops += 2 * n * n * w
        self.attention_flops += 2 * n * n * w
        self.acts += n * n * layer.num_heads + n * w  # outputs of the two matmuls
        self.conv(records.Conv("", w, w, 1, bias=True))  # proj

    def walk(self, layers: tuple[records.Layer, ...]) -> None:
        """Price `layers` applied in order; params are read from the plan's shapes."""
        for layer in layers:
            if isinstance(layer, records.Path):
                self.walk(layer.layers)
                continue
            self.params += records.num_params(layer.params())
            if isinstance(layer, records.Conv):
                self.conv(layer)
            elif isinstance(layer, records.Linear):
                self.linear(layer.w_in, layer.w_out, bias=layer.bias)
            elif isinstance(layer, records.SE):
                self.squeeze_excite(layer)
            elif isinstance(layer, records.Attention):
                self.attention(layer)
            elif isinstance(layer, records.Pool):
                self.h, self.w = layer.out_size(self.h), layer.out_size(self.w)
            elif not isinstance(layer, _FREE):
                raise TypeError(f"no cost for layer {layer!r}")

    def block(self, layers: records.BlockLayers) -> None:
        """A block: its `pre` layers, then each residual (the shortcut is a parallel
        path: priced at the block input, the map size is the branch's)."""
        self.walk(layers.pre)
        for res in layers.residuals:
            if res.shortcut:
                h, w = self.h, self.w
                self.walk((res.shortcut,))
                self.h, self.w = h, w
            self.walk(res.branch)

    def totals(self) -> tuple[int, int, int, int]:
        return self.flops, self.params, self.acts, self.bias_flops


def _head(c: _Counter, head: HeadSpec, w_in: int) -> None:
    if head.width:
        c.walk(
            (
                records.Conv("conv", w_in, head.width, 1),
                records.Norm("bn", head.width, "batch", 0.0),
            )
        )
        w_in = head.width
    c.h = c.w = 1  # global average or max pool (free); the logit scale is free too
    if head.norm:
        c.walk((records.Norm("norm", w_in, "layer", 0.0),))
    if head.hidden_width:
        c.walk((records.Linear("hidden", w_in, head.hidden_width),))
        w_in = head.hidden_width
    c.walk((records.Linear("fc", w_in, head.num_classes),))


def count(spec: NetSpec, resolution: int | None = None) -> Complexity:
    """Analytic complexity of `spec` at `resolution` (default: `spec.resolution`)."""
    res = spec.resolution if resolution is None else resolution
    if isinstance(res, bool) or not isinstance(res, int) or res < spec.min_resolution:
        raise ValueError(
            f"resolution={res!r} is invalid: expected an integer >= {spec.min_resolution_text}"
        )
    c = _Counter(res, res)
    parts: list[PartComplexity] = []

    def close(name: str) -> None:
        before = [sum(getattr(p, k) for p in parts) for k in ("flops", "params", "acts")]
        flops, params, acts, _ = c.totals()
        parts.append(
            PartComplexity(name, flops - before[0], params - before[1], acts - before[2], c.h)
        )

    net = plan(spec)  # attention tables are sized for the maps at spec.resolution
    c.walk(net.stem)
    close("stem")
    for i, stage in enumerate(net.stages):
        for block in stage:
            c.block(block.layers)
        close(f"stage{i + 1}")
    w_in = spec.stages[-1].width
    _head(c, spec.head, w_in)
    close("head")
    flops, params, acts, bias_flops = c.totals()
    return Complexity(
        flops,
        params,
        acts,
        bias_flops,
        res,
        tuple(parts),
        c.attention_flops,
        c.grouped_flops,
        c.depthwise_flops,
        c.depthwise_acts,
    )
