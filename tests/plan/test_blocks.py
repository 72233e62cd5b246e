"""Block layouts: which layers each block kind has, from explicit arguments."""

from netscale.plan import blocks
from netscale.plan.layers import Path, Pool, iter_layers

EPS = 1e-5


def names(layers) -> list[str]:
    return [layer.name for layer in layers]


def test_mbconv_variants():
    common = dict(stride=1, kernel=3, se_width=4, act="silu", eps=EPS)
    full = blocks.mbconv(16, 16, inner=64, fused=False, **common).residuals[0]
    assert names(full.branch) == [
        *("conv1", "bn1", "act1", "conv2", "bn2", "act2", "se_mid", "conv3", "bn3")
    ]
    assert full.branch[3].groups == 64 and full.skip
    separable = blocks.mbconv(16, 24, inner=16, fused=False, **common).residuals[0]
    assert names(separable.branch)[0] == "conv2" and not separable.skip
    fused = blocks.mbconv(16, 16, inner=64, fused=True, **common).residuals[0]
    assert names(fused.branch) == ["conv1", "bn1", "act1", "se_mid", "conv3", "bn3"]
    single = blocks.mbconv(16, 24, inner=16, fused=True, **common).residuals[0]
    assert names(single.branch) == ["conv1", "bn1", "act1", "se_mid"]
    assert single.branch[0].w_out == 24 and single.branch[3].width == 24


def test_bottleneck_se_placement_and_shortcut():
    args = dict(stride=2, kernel=3, inner=64, groups=4, se_width=16, act="relu", eps=EPS)
    mid = blocks.bottleneck(32, 256, se_placement="mid", avg_shortcut=False, **args)
    out = blocks.bottleneck(32, 256, se_placement="out", avg_shortcut=True, **args)
    assert "se_mid" in names(mid.layers()) and "se_out" in names(out.layers())
    assert names(mid.layers())[-2:] == ["shortcut", "act"]  # ResNet: shortcut after branch
    assert names(mid.residuals[0].shortcut.layers) == ["conv", "bn"]
    assert mid.residuals[0].shortcut.layers[0].stride == 2
    avg = out.residuals[0].shortcut.layers  # ResNet-D: pool, then a stride-1 conv
    assert isinstance(avg[0], Pool) and avg[1].stride == 1
    assert mid.last_norm() == "bn3" and out.last_norm() == "bn3"


def test_last_norm_only_where_a_norm_ends_a_skipped_branch():
    basic = blocks.basic(
        8, 8, stride=1, kernel=3, se_width=2, avg_shortcut=False, act="relu", eps=EPS
    )
    assert basic.last_norm() == "bn2"  # SE after it does not count
    args = dict(stride=2, kernel=3, inner=32, se_width=0, fused=False, act="silu", eps=EPS)
    assert blocks.mbconv(8, 16, **args).last_norm() is None  # no skip
    pre = blocks.pre_norm_mbconv(
        8, 8, stride=1, kernel=3, inner=32, se_width=2, act="gelu", eps=EPS
    )
    assert pre.last_norm() is None  # a biased conv ends the branch


def test_coatnet_blocks_list_the_shortcut_first():
    t = blocks.transformer(32, 64, stride=2, head_width=32, inner=256, size=7, act="gelu", eps=1e-6)
    assert names(t.layers()) == [
        *("shortcut", "norm1", "pool", "attn", "norm2", "fc1", "act", "fc2")
    ]
    assert names(t.residuals[0].shortcut.layers) == ["pool", "conv"]
    assert t.params()["attn.bias_table"] == (13 * 13, 2)
    assert t.out_size(14) == 7


def test_convnext_downsample_and_layer_scale():
    args = dict(kernel=7, inner=384, act="gelu", eps=1e-6)
    first = blocks.convnext(48, 96, stride=2, layer_scale=1e-6, **args)
    assert isinstance(first.pre[0], Path) and first.out_size(15) == 7  # h // 2, no padding
    assert first.params()["gamma"] == (96,)
    plain = blocks.convnext(96, 96, stride=1, layer_scale=0.0, **args)
    assert plain.pre == () and "gamma" not in plain.params()


def test_stems():
    conv = dict(mid_width=0, kernel=7, stride=2, act="relu", eps=EPS)
    resnet = blocks.stem("conv", 3, 64, pool="max", **conv)
    assert names(resnet) == ["conv", "bn", "act", "pool"]
    deep = blocks.stem("deep", 3, 64, **{**conv, "mid_width": 32, "kernel": 3, "pool": "conv"})
    assert names(deep)[-3:] == ["pool_conv", "pool_bn", "pool_act"] and deep[0].w_out == 32
    patch = blocks.stem("patchify", 3, 96, **{**conv, "kernel": 4, "stride": 4, "pool": "none"})
    assert not patch[0].same and patch[0].out_size(224) == 56
    assert [x.name for x in iter_layers(patch)] == ["conv", "norm"]


def test_conv_pool_is_not_residual_and_pools_in_floor_mode():
    block = blocks.conv_pool(24, 64, stride=2, kernel=3, act="gelu", eps=EPS)
    assert names(block.layers()) == [*("conv1", "pool", "bn1", "act1", "conv2", "bn2", "act2")]
    res = block.residuals[0]
    assert not res.skip and res.shortcut is None and block.last_norm() is None
    conv1, pool = res.branch[:2]
    assert (conv1.w_in, conv1.w_out, conv1.stride) == (24, 64, 1)
    assert not conv1.bias and conv1.same
    assert pool == Pool("pool", "max2", 2)
    assert [block.out_size(h) for h in (32, 31, 15, 7, 3, 2)] == [16, 15, 7, 3, 1, 1]
    plain = blocks.conv_pool(64, 64, stride=1, kernel=3, act="gelu", eps=EPS)
    assert "pool" not in names(plain.layers()) and plain.out_size(31) == 31


def test_pool_max2_differs_from_the_same_rule_on_odd_sizes():
    assert [Pool("p", "max2").out_size(h) for h in (32, 31, 15, 7, 1)] == [16, 15, 7, 3, 0]
    assert [Pool("p", "max").out_size(h) for h in (32, 31, 15, 7, 1)] == [16, 16, 8, 4, 1]


def test_whitening_stem():
    args = dict(mid_width=0, kernel=2, stride=1, pool="none", act="gelu", eps=EPS)
    stem = blocks.stem("whiten", 3, 24, **args)
    assert names(stem) == ["conv", "act"]
    conv = stem[0]
    assert (conv.kernel, conv.bias, conv.same) == (2, True, False)
    assert conv.params() == {"weight": (24, 3, 2, 2), "bias": (24,)}
    assert conv.out_size(32) == 31 and stem[1].act == "gelu"
