"""Analytic params, FLOPs and activations of a spec, without building a model. No torch.

Conventions (docs/architecture.md, "Complexity"):
- flops are multiply-adds, as in the EfficientNet, RegNet, EfficientNetV2 and CoAtNet papers
  (ResNet-RS reports 2x this). A conv costs k*k*c_in*c_out/groups per output pixel, a linear
  c_in*c_out. Bias additions are counted (one per output element), as pycls does; they are
  also reported apart in `bias_flops`, because torch's FlopCounterMode does not count them.
  Normalization, activations, residual adds and pooling cost zero.
- params counts every trainable parameter (norm layers: weight and bias).
- acts counts the output elements of conv and linear layers (RegNet paper, sec. 3.2 fn. 3).

The walk below mirrors `netscale.build` layer by layer; a test checks both against each other
on every registered model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netscale.spec.net import HeadSpec, NetSpec, StageSpec, StemSpec


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


class _Counter:
    """Accumulates the cost of layers applied in sequence to an (h, w) feature map."""

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.flops = self.params = self.acts = self.bias_flops = 0
        self.attention_flops = 0
        self.grouped_flops = 0  # multiply-adds of grouped and depthwise convs
        self.depthwise_flops = self.depthwise_acts = 0  # groups == input channels
        self.table_size = 0  # attention bias table side of the current stage (spec res)

    def conv(
        self, w_in: int, w_out: int, k: int, *, stride: int = 1, groups: int = 1, bias: bool = False
    ) -> None:
        """A kxk 'same'-padded conv (odd k): output size (h - 1) // stride + 1."""
        self.h, self.w = (self.h - 1) // stride + 1, (self.w - 1) // stride + 1
        pixels = self.h * self.w
        self.flops += k * k * (w_in // groups) * w_out * pixels
        if groups > 1:
            self.grouped_flops += k * k * (w_in // groups) * w_out * pixels
        if groups > 1 and groups == w_in:
            self.depthwise_flops += k * k * w_out * pixels
            self.depthwise_acts += w_out * pixels
        self.params += k * k * (w_in // groups) * w_out
        if bias:
            self.flops += w_out * pixels
            self.bias_flops += w_out * pixels
            self.params += w_out
        self.acts += w_out * pixels

    def patch_conv(self, w_in: int, w_out: int, k: int) -> None:
        """A kxk conv at stride k, no padding, with bias (patchify): output size h // k.

        Input sizes not divisible by k lose their last pixels, as in torch."""
        self.h, self.w = self.h // k, self.w // k
        pixels = self.h * self.w
        self.flops += k * k * w_in * w_out * pixels + w_out * pixels
        self.bias_flops += w_out * pixels
        self.params += k * k * w_in * w_out + w_out
        self.acts += w_out * pixels

    def norm(self, width: int) -> None:
        """BatchNorm or LayerNorm: an affine weight and bias per channel, zero flops."""
        self.params += 2 * width

    def pool(self, stride: int) -> None:
        """Max/avg pooling ('same' padding or ceil mode): only the size changes."""
        self.h, self.w = (self.h - 1) // stride + 1, (self.w - 1) // stride + 1

    def linear(self, w_in: int, w_out: int, *, bias: bool = True) -> None:
        """A linear layer on one location."""
        self.flops += w_in * w_out + (w_out if bias else 0)
        self.bias_flops += w_out if bias else 0
        self.params += w_in * w_out + (w_out if bias else 0)
        self.acts += w_out

    def squeeze_excite(self, width: int, se_width: int) -> None:
        """SE: global pool, 1x1 conv to se_width, 1x1 conv back, both with bias (at 1x1)."""
        h, w = self.h, self.w
        self.h = self.w = 1
        self.conv(width, se_width, 1, bias=True)
        self.conv(se_width, width, 1, bias=True)
        self.h, self.w = h, w

    def totals(self) -> tuple[int, int, int, int]:
        return self.flops, self.params, self.acts, self.bias_flops


def se_width(stage: StageSpec, w_in: int) -> int:
    """Channels of the SE bottleneck: se_ratio of the block input ("mid") or output ("out",
    and CoAtNet's pre-norm MBConv) width."""
    from_input = stage.se_placement == "mid" and not stage.pre_norm
    return max(1, round(stage.se_ratio * (w_in if from_input else stage.width)))


def _stem(c: _Counter, stem: StemSpec, in_width: int) -> None:
    if stem.kind == "conv":
        c.conv(in_width, stem.width, stem.kernel, stride=stem.stride)
        c.norm(stem.width)
    elif stem.kind == "deep":
        mid = stem.mid_width or stem.width // 2
        c.conv(in_width, mid, 3, stride=stem.stride)
        c.norm(mid)
        c.conv(mid, mid, 3)
        c.norm(mid)
        c.conv(mid, stem.width, 3)
        c.norm(stem.width)
    elif stem.kind == "patchify":
        c.patch_conv(in_width, stem.width, stem.kernel)
        c.norm(stem.width)
    elif stem.kind == "coatnet":
        c.conv(in_width, stem.width, stem.kernel, stride=stem.stride)
        c.norm(stem.width)
        c.conv(stem.width, stem.width, stem.kernel)
    if stem.pool == "max":
        c.pool(2)
    elif stem.pool == "conv":
        c.conv(stem.width, stem.width, 3, stride=2)
        c.norm(stem.width)


def _shortcut(c: _Counter, stage: StageSpec, w_in: int, stride: int) -> None:
    if w_in == stage.width and stride == 1:
        return
    h, w = c.h, c.w
    c.conv(w_in, stage.width, 1, stride=stride)  # "avg": pool then stride-1 conv, same cost
    c.norm(stage.width)
    c.h, c.w = h, w


def _basic(c: _Counter, stage: StageSpec, w_in: int, stride: int) -> None:
    """ResNet basic block: kxk conv (stride) -> kxk conv, [SE]."""
    h, w = c.h, c.w
    c.conv(w_in, stage.width, stage.kernel, stride=stride)
    c.norm(stage.width)
    c.conv(stage.width, stage.width, stage.kernel)
    c.norm(stage.width)
    if stage.se_ratio:
        c.squeeze_excite(stage.width, se_width(stage, w_in))
    out = (c.h, c.w)
    c.h, c.w = h, w
    _shortcut(c, stage, w_in, stride)
    c.h, c.w = out


def _bottleneck(c: _Counter, stage: StageSpec, w_in: int, stride: int) -> None:
    """Bottleneck: 1x1 -> kxk grouped (stride) -> [SE mid] -> 1x1 -> [SE out]."""
    inner = stage.inner_width
    h, w = c.h, c.w
    c.conv(w_in, inner, 1)
    c.norm(inner)
    c.conv(inner, inner, stage.kernel, stride=stride, groups=stage.groups)
    c.norm(inner)
    if stage.se_ratio and stage.se_placement == "mid":
        c.squeeze_excite(inner, se_width(stage, w_in))
    c.conv(inner, stage.width, 1)
    c.norm(stage.width)
    if stage.se_ratio and stage.se_placement == "out":
        c.squeeze_excite(stage.width, se_width(stage, w_in))
    out = (c.h, c.w)
    c.h, c.w = h, w
    _shortcut(c, stage, w_in, stride)
    c.h, c.w = out


def expanded_width(stage: StageSpec, w_in: int) -> int:
    """Inner width: expansion_ratio times the input width of an (fused) MBConv, times the
    output width of a pre-norm MBConv and of ConvNeXt / transformer MLPs."""
    from_input = stage.block in ("mbconv", "fused_mbconv") and not stage.pre_norm
    return max(1, round((w_in if from_input else stage.width) * stage.expansion_ratio))


def _mbconv(c: _Counter, stage: StageSpec, w_in: int, stride: int) -> None:
    """MBConv: [1x1 expand] -> kxk depthwise (stride) -> [SE] -> 1x1 project.
    Fused: kxk expand (stride) -> [SE] -> 1x1 project; expansion 1: one kxk conv [-> SE]."""
    inner = expanded_width(stage, w_in)
    fused = stage.block == "fused_mbconv"
    single = fused and inner == w_in
    mid = stage.width if single else inner
    if fused:
        c.conv(w_in, mid, stage.kernel, stride=stride)
        c.norm(mid)
    else:
        if inner != w_in:
            c.conv(w_in, inner, 1)
            c.norm(inner)
        c.conv(inner, inner, stage.kernel, stride=stride, groups=inner)
        c.norm(inner)
    if stage.se_ratio:
        c.squeeze_excite(mid, se_width(stage, w_in))
    if not single:
        c.conv(inner, stage.width, 1)
        c.norm(stage.width)


def _pre_norm_mbconv(c: _Counter, stage: StageSpec, w_in: int, stride: int) -> None:
    """CoAtNet MBConv: BN -> 1x1 expand -> kxk depthwise (stride) -> SE -> 1x1 project
    (bias); shortcut: pool + 1x1 conv (bias) when the shape changes."""
    inner = expanded_width(stage, w_in)
    _pool_shortcut(c, w_in, stage.width, stride)
    c.norm(w_in)
    c.conv(w_in, inner, 1)
    c.norm(inner)
    c.conv(inner, inner, stage.kernel, stride=stride, groups=inner)
    c.norm(inner)
    if stage.se_ratio:
        c.squeeze_excite(inner, se_width(stage, w_in))
    c.conv(inner, stage.width, 1, bias=True)


def _pool_shortcut(c: _Counter, w_in: int, w_out: int, stride: int) -> None:
    """CoAtNet's residual path: 2x2 avg-pool, then a biased 1x1 conv if the width changes.
    A parallel branch: the feature-map size is left as it was."""
    h, w = c.h, c.w
    c.pool(stride)
    if w_in != w_out:
        c.conv(w_in, w_out, 1, bias=True)
    c.h, c.w = h, w


def _convnext(c: _Counter, stage: StageSpec, w_in: int, stride: int) -> None:
    """[LN + kxk s-k downsampling conv] -> kxk depthwise (bias) -> LN -> MLP -> layer scale."""
    w = stage.width
    if stride != 1 or w_in != w:
        c.norm(w_in)
        c.patch_conv(w_in, w, stride)
    c.conv(w, w, stage.kernel, groups=w, bias=True)
    c.norm(w)
    inner = expanded_width(stage, w_in)
    c.conv(w, inner, 1, bias=True)  # the MLP's linears act per pixel: 1x1 convs
    c.conv(inner, w, 1, bias=True)
    if stage.layer_scale:
        c.params += w


def _transformer(c: _Counter, stage: StageSpec, w_in: int, stride: int) -> None:
    """Pre-norm block: LN -> [pool] -> attention (qkv, QK^T, AV, proj) ; LN -> MLP.

    QK^T and AV each cost N * N * width multiply-adds for N = h * w positions (all heads
    together); the relative-bias table has (2S - 1)^2 entries per head for the S x S map
    the spec's resolution gives (CoAtNet eq. 3)."""
    w = stage.width
    _pool_shortcut(c, w_in, w, stride)
    c.norm(w_in)
    c.pool(stride)
    c.conv(w_in, 3 * w, 1, bias=True)  # qkv
    n = c.h * c.w
    c.flops += 2 * n * n * w  # QK^T and AV
    c.attention_flops += 2 * n * n * w
    c.acts += n * n * (w // stage.head_width) + n * w  # outputs of the two matmuls
    c.params += (2 * c.table_size - 1) ** 2 * (w // stage.head_width)
    c.conv(w, w, 1, bias=True)  # proj
    c.norm(w)
    inner = expanded_width(stage, w_in)
    c.conv(w, inner, 1, bias=True)
    c.conv(inner, w, 1, bias=True)


def _mbconv_any(c: _Counter, stage: StageSpec, w_in: int, stride: int) -> None:
    (_pre_norm_mbconv if stage.pre_norm else _mbconv)(c, stage, w_in, stride)


_BLOCKS = {
    "basic": _basic,
    "bottleneck": _bottleneck,
    "mbconv": _mbconv_any,
    "fused_mbconv": _mbconv,
    "convnext": _convnext,
    "transformer": _transformer,
}


def _head(c: _Counter, head: HeadSpec, w_in: int) -> None:
    if head.width:
        c.conv(w_in, head.width, 1)
        c.norm(head.width)
        w_in = head.width
    c.h = c.w = 1  # global average pool
    if head.norm:
        c.norm(w_in)
    if head.hidden_width:
        c.linear(w_in, head.hidden_width)
        w_in = head.hidden_width
    c.linear(w_in, head.num_classes)


def count(spec: NetSpec, resolution: int | None = None) -> Complexity:
    """Analytic complexity of `spec` at `resolution` (default: `spec.resolution`)."""
    res = spec.resolution if resolution is None else resolution
    if isinstance(res, bool) or not isinstance(res, int) or res < spec.total_stride:
        raise ValueError(
            f"resolution={res!r} is invalid: expected an integer >= the "
            f"network's total stride {spec.total_stride}"
        )
    c = _Counter(res, res)
    parts: list[PartComplexity] = []

    def close(name: str) -> None:
        before = [sum(getattr(p, k) for p in parts) for k in ("flops", "params", "acts")]
        flops, params, acts, _ = c.totals()
        parts.append(
            PartComplexity(name, flops - before[0], params - before[1], acts - before[2], c.h)
        )

    _stem(c, spec.stem, spec.in_width)
    close("stem")
    # Attention bias tables are sized for the maps at spec.resolution, whatever res is.
    table_sizes = None
    if res != spec.resolution and any(s.block == "transformer" for s in spec.stages):
        table_sizes = [part.resolution for part in count(spec).parts[1:-1]]
    w_in = spec.stem.width
    for i, stage in enumerate(spec.stages):
        c.table_size = table_sizes[i] if table_sizes else (c.h - 1) // stage.stride + 1
        block = _BLOCKS[stage.block]
        for j in range(stage.depth):
            block(c, stage, w_in, stage.stride if j == 0 else 1)
            w_in = stage.width
        close(f"stage{i + 1}")
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
