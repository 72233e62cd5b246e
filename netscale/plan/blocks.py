"""The layer plan of every block kind and of the stem, from explicit ints/floats. No torch.

Each function here is the one definition of a block's layers: the nn module of that kind
builds its attributes from it (netscale/nn), complexity counting prices it
(netscale/complexity), BN folding and weight import read its names and order
(netscale/build). Names are state-dict keys (docs/architecture.md, "State-dict layout").
"""

from __future__ import annotations

from netscale.plan.layers import (
    SE,
    Act,
    Attention,
    BlockLayers,
    Conv,
    Layer,
    Linear,
    Norm,
    Path,
    Pool,
    Residual,
    Scale,
)


def conv_bn_act(n: str, w_in: int, w_out: int, k: int, eps: float, act: str, **conv) -> tuple:
    """convN + bnN + actN (a conv followed by BatchNorm and an activation)."""
    return (
        Conv(f"conv{n}", w_in, w_out, k, **conv),
        Norm(f"bn{n}", w_out, "batch", eps),
        Act(f"act{n}", act),
    )


def projection(w_in: int, w_out: int, *, stride: int, avg: bool, eps: float) -> Path | None:
    """ResNet's shortcut of a strided or widening block: strided 1x1 conv + BN, or
    (ResNet-D, Bag of Tricks sec. 4.1) 2x2 avg-pool, then 1x1 conv + BN; else identity."""
    if w_in == w_out and stride == 1:
        return None
    pool: tuple[Layer, ...] = (Pool("pool", "avg", stride),) if avg and stride > 1 else ()
    conv = Conv("conv", w_in, w_out, 1, stride=1 if pool else stride)
    return Path("shortcut", (*pool, conv, Norm("bn", w_out, "batch", eps)))


def pool_shortcut(w_in: int, w_out: int, stride: int) -> Path | None:
    """CoAtNet's residual path of a downsampling block (sec. 3.4): 2x2 avg-pool, then a
    biased 1x1 conv if the width changes; else identity."""
    if w_in == w_out and stride == 1:
        return None
    pool: tuple[Layer, ...] = (Pool("pool", "avg", stride),) if stride > 1 else ()
    conv: tuple[Layer, ...] = (Conv("conv", w_in, w_out, 1, bias=True),) if w_in != w_out else ()
    return Path("shortcut", pool + conv)


def basic(
    w_in: int,
    w_out: int,
    *,
    stride: int,
    kernel: int,
    se_width: int,
    avg_shortcut: bool,
    act: str,
    eps: float,
) -> BlockLayers:
    """ResNet basic block: kxk conv (stride) -> BN -> act -> kxk conv -> BN [-> SE], added
    to the shortcut, then act."""
    branch = (
        *conv_bn_act("1", w_in, w_out, kernel, eps, act, stride=stride),
        Conv("conv2", w_out, w_out, kernel),
        Norm("bn2", w_out, "batch", eps),
    )
    branch += (SE("se", w_out, se_width, act),) if se_width else ()
    short = projection(w_in, w_out, stride=stride, avg=avg_shortcut, eps=eps)
    return BlockLayers(residuals=(Residual(branch, short, act=Act("act", act)),))


def bottleneck(
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
    eps: float,
) -> BlockLayers:
    """Bottleneck: 1x1 -> kxk grouped conv (stride) [-> SE "mid"] -> 1x1 [-> SE "out"].

    ResNet: inner = width / 4, dense; RegNet: inner = width * bottleneck ratio, groups of
    `group_width` channels, SE after the kxk conv sized from the block input width."""
    branch = (
        *conv_bn_act("1", w_in, inner, 1, eps, act),
        *conv_bn_act("2", inner, inner, kernel, eps, act, stride=stride, groups=groups),
    )
    if se_width and se_placement == "mid":
        branch += (SE("se_mid", inner, se_width, act),)
    branch += (Conv("conv3", inner, w_out, 1), Norm("bn3", w_out, "batch", eps))
    if se_width and se_placement == "out":
        branch += (SE("se_out", w_out, se_width, act),)
    short = projection(w_in, w_out, stride=stride, avg=avg_shortcut, eps=eps)
    return BlockLayers(residuals=(Residual(branch, short, act=Act("act", act)),))


def mbconv(
    w_in: int,
    w_out: int,
    *,
    stride: int,
    kernel: int,
    inner: int,
    se_width: int,
    fused: bool,
    act: str,
    eps: float,
) -> BlockLayers:
    """Inverted residual (MobileNetV2; EfficientNet's MBConv): [1x1 expand + BN + act] ->
    kxk depthwise (stride) + BN + act -> [SE] -> 1x1 project + BN, with an identity skip
    when shape is kept. Expansion 1 drops the expand conv (a depthwise-separable conv).

    Fused (EfficientNetV2 sec. 3.2, Fused-MBConv): the expand and depthwise convs become one
    kxk conv (stride); expansion 1 is that single kxk conv + BN + act [+ SE]."""
    single = fused and inner == w_in  # Fused-MBConv with expansion 1
    mid = w_out if single else inner
    branch: tuple[Layer, ...] = ()
    if fused:
        branch += conv_bn_act("1", w_in, mid, kernel, eps, act, stride=stride)
    elif inner != w_in:
        branch += conv_bn_act("1", w_in, inner, 1, eps, act)
    if not fused:
        branch += conv_bn_act("2", inner, inner, kernel, eps, act, stride=stride, groups=inner)
    branch += (SE("se_mid", mid, se_width, act),) if se_width else ()
    if not single:
        branch += (Conv("conv3", inner, w_out, 1), Norm("bn3", w_out, "batch", eps))
    return BlockLayers(residuals=(Residual(branch, skip=stride == 1 and w_in == w_out),))


def pre_norm_mbconv(
    w_in: int,
    w_out: int,
    *,
    stride: int,
    kernel: int,
    inner: int,
    se_width: int,
    act: str,
    eps: float,
) -> BlockLayers:
    """CoAtNet's MBConv: BN -> 1x1 expand + BN + act -> kxk depthwise (stride) + BN + act
    -> SE -> 1x1 project (bias), added to the pooled shortcut. SE with SiLU, as timm's
    CoAtNets (the paper does not specify it)."""
    branch = (
        Norm("pre_norm", w_in, "batch", eps),
        *conv_bn_act("1", w_in, inner, 1, eps, act),
        *conv_bn_act("2", inner, inner, kernel, eps, act, stride=stride, groups=inner),
        *((SE("se_mid", inner, se_width, "silu"),) if se_width else ()),
        Conv("conv3", inner, w_out, 1, bias=True),
    )
    short = pool_shortcut(w_in, w_out, stride)
    return BlockLayers(residuals=(Residual(branch, short, shortcut_first=True),))


def convnext(
    w_in: int,
    w_out: int,
    *,
    stride: int,
    kernel: int,
    inner: int,
    layer_scale: float,
    act: str,
    eps: float,
) -> BlockLayers:
    """ConvNeXt block (Fig. 4): kxk depthwise conv -> LayerNorm -> linear (inner) -> act ->
    linear -> layer scale, plus identity. A strided or widening first block starts with the
    stage's downsampling layer: LayerNorm, then a kxk conv at stride k."""
    pre: tuple[Layer, ...] = ()
    if stride != 1 or w_in != w_out:
        down = Conv("conv", w_in, w_out, stride, stride=stride, bias=True, same=False)
        pre = (Path("downsample", (Norm("norm", w_in, "layer2d", eps), down)),)
    branch: tuple[Layer, ...] = (
        Conv("conv_dw", w_out, w_out, kernel, groups=w_out, bias=True),
        Norm("norm", w_out, "layer", eps),
        Linear("fc1", w_out, inner),
        Act("act", act),
        Linear("fc2", inner, w_out),
    )
    branch += (Scale("gamma", w_out, layer_scale),) if layer_scale else ()
    return BlockLayers(pre, (Residual(branch),))


def transformer(
    w_in: int,
    w_out: int,
    *,
    stride: int,
    head_width: int,
    inner: int,
    size: int,
    act: str,
    eps: float,
) -> BlockLayers:
    """Pre-norm transformer block on a 2-D map (CoAtNet): x + attn(pool(LN(x))), then
    x + MLP(LN(x)) with 1x1 convs. A downsampling first block pools on the branch and pools
    + projects the residual. `size`: the attention map's side at the spec's resolution."""
    pool: tuple[Layer, ...] = (Pool("pool", "avg", stride),) if stride > 1 else ()
    attn = (
        Norm("norm1", w_in, "layer2d", eps),
        *pool,
        Attention("attn", w_in, w_out, head_width, size),
    )
    mlp = (
        Norm("norm2", w_out, "layer2d", eps),
        Conv("fc1", w_out, inner, 1, bias=True),
        Act("act", act),
        Conv("fc2", inner, w_out, 1, bias=True),
    )
    short = pool_shortcut(w_in, w_out, stride)
    return BlockLayers(residuals=(Residual(attn, short, shortcut_first=True), Residual(mlp)))


def conv_pool(
    w_in: int,
    w_out: int,
    *,
    stride: int,
    kernel: int,
    act: str,
    eps: float,
) -> BlockLayers:
    """airbench's block (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds"), not residual:
    kxk conv -> [2x2 max-pool at stride 2, floor mode, when stride is 2] -> BN -> act ->
    kxk conv -> BN -> act. Both convs are 'same'-padded, stride 1, without bias."""
    pool: tuple[Layer, ...] = (Pool("pool", "max2", stride),) if stride > 1 else ()
    branch = (
        Conv("conv1", w_in, w_out, kernel),
        *pool,
        Norm("bn1", w_out, "batch", eps),
        Act("act1", act),
        *conv_bn_act("2", w_out, w_out, kernel, eps, act),
    )
    return BlockLayers(residuals=(Residual(branch, skip=False),))


def stem(
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
) -> tuple[Layer, ...]:
    """The layers before the first stage. kind "conv": kxk conv (stride) + BN + act; "deep":
    three 3x3 convs + BN + act (mid, mid, width), the first strided; "patchify" (ConvNeXt):
    a kxk conv at `stride` without padding + LayerNorm; "coatnet" (CoAtNet S0): kxk conv
    (stride) + BN + act, kxk conv; "whiten" (airbench): a biased kxk conv at `stride` (1)
    without padding, then act, no norm. Then pool: "none", "max" (3x3 s2 max-pool) or
    "conv" (3x3 s2 conv + BN + act, as ResNet-RS)."""
    layers: tuple[Layer, ...]
    if kind == "conv":
        layers = (
            Conv("conv", in_width, width, kernel, stride=stride),
            Norm("bn", width, "batch", eps),
            Act("act", act),
        )
    elif kind == "deep":
        widths = (in_width, mid_width, mid_width, width)
        layers = tuple(
            x
            for i in range(3)
            for x in conv_bn_act(
                str(i + 1), widths[i], widths[i + 1], 3, eps, act, stride=stride if i == 0 else 1
            )
        )
    elif kind == "patchify":
        layers = (
            Conv("conv", in_width, width, kernel, stride=stride, bias=True, same=False),
            Norm("norm", width, "layer2d", ln_eps),
        )
    elif kind == "coatnet":
        layers = conv_bn_act("1", in_width, width, kernel, eps, act, stride=stride)
        layers += (Conv("conv2", width, width, kernel),)
    elif kind == "whiten":
        layers = (
            Conv("conv", in_width, width, kernel, stride=stride, bias=True, same=False),
            Act("act", act),
        )
    else:
        raise ValueError(f"stem.kind={kind!r} is invalid")
    if pool == "max":
        layers += (Pool("pool", "max", 2),)
    elif pool == "conv":
        layers += (
            Conv("pool_conv", width, width, 3, stride=2),
            Norm("pool_bn", width, "batch", eps),
            Act("pool_act", act),
        )
    return layers
