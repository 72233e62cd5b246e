"""Key-rename rules from timm / torchvision layouts: how a rule matches and re-bases indices,
and known source keys of each layout renamed onto keys the netscale model really has."""

from __future__ import annotations

import re
from functools import cache

import pytest
import torch

import netscale
from netscale.build.weight_rules import (
    TIMM_CONVNEXT,
    TIMM_REGNET,
    TORCHVISION_REGNET,
    KeyRules,
    Rule,
    coatnet_rules,
    efficientnet_rules,
    resnet_rules,
    torchvision_convnext_rules,
)


def test_rule_reshape_drops_only_size_one_dimensions() -> None:
    rule = Rule(re.compile("w"), "w", ndim=2)
    assert rule.convert(torch.zeros(160, 40, 1, 1)).shape == (160, 40)  # 1x1 conv -> linear
    assert rule.convert(torch.zeros(160, 40)).shape == (160, 40)
    assert rule.convert(torch.zeros(160)).shape == (160,)  # its bias
    assert rule.convert(torch.zeros(160, 40, 3, 1)).shape == (160, 40, 3, 1)  # left to the check
    assert Rule(re.compile("w"), "w").convert(torch.zeros(8, 1, 1)).shape == (8, 1, 1)


def test_reshape_is_a_view_of_the_source_values() -> None:
    value = torch.arange(6.0).reshape(6, 1, 1)
    out = Rule(re.compile("g"), "g", ndim=1).convert(value)
    assert out.shape == (6,) and torch.equal(out, torch.arange(6.0))
    assert out.data_ptr() == value.data_ptr()  # no copy


def _rules(*pairs, block_base: int = 0) -> KeyRules:
    return KeyRules(tuple(Rule(re.compile(p), t) for p, t in pairs), block_base=block_base)


def test_match_rebases_stage_and_block_groups() -> None:
    rules = _rules((r"layer(?P<stage>\d+)\.(?P<block>\d+)\.(?P<p>\w+)", "s{stage}.b{block}.{p}"))
    assert rules.match("layer1.0.weight")[0] == "s0.b0.weight"  # stages from 1, blocks from 0
    assert rules.match("layer4.12.bias")[0] == "s3.b12.bias"
    based = _rules((r"s(?P<stage>\d+)\.b(?P<block>\d+)", "{stage}.{block}"), block_base=1)
    assert based.match("s1.b1")[0] == "0.0" and based.match("s3.b10")[0] == "2.9"
    other = _rules((r"stages\.(?P<i>\d+)\.(?P<j>\d+)", "{i}.{j}"))  # other names: as they are
    assert other.match("stages.1.1")[0] == "1.1"


def test_match_takes_whole_keys_and_the_first_rule_that_fits() -> None:
    first, second = (r"a\.(?P<p>\w+)", "first.{p}"), (r"a\.weight", "second")
    rules = _rules(first, second)
    name, rule = rules.match("a.weight")
    assert name == "first.weight" and rule is rules.rules[0]
    assert _rules(second, first).match("a.weight")[0] == "second"
    assert rules.match("x.a.weight") is None and rules.match("a.weight.extra") is None
    assert rules.match("") is None


def test_apply_renames_and_converts() -> None:
    rules = KeyRules((Rule(re.compile(r"fc\.(?P<p>\w+)"), "head.{p}", 2),))
    name, value = rules.apply("fc.weight", torch.zeros(10, 4, 1, 1))
    assert name == "head.weight" and value.shape == (10, 4)
    assert rules.apply("conv.weight", torch.zeros(1)) is None


@cache
def _our_keys(name: str, resolution: int | None = None) -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes of a registered model."""
    model = netscale.create_model(name, **({"resolution": resolution} if resolution else {}))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _check(rules: KeyRules, name: str, expected: dict[str, str | None], resolution=None):
    ours = _our_keys(name, resolution)
    for source, target in expected.items():
        found = rules.match(source)
        if target is None:
            assert found is None, source
            continue
        assert found is not None, source
        assert found[0] == target, source
        assert target in ours, f"{source} -> {target}, not a key of {name}"


def test_resnet_torchvision_layout() -> None:
    spec = netscale.get_spec("resnet_18")
    _check(
        resnet_rules(spec),
        "resnet_18",
        {
            "conv1.weight": "stem.conv.weight",
            "bn1.running_mean": "stem.bn.running_mean",
            "layer1.0.conv1.weight": "stages.0.0.conv1.weight",
            "layer1.1.bn2.bias": "stages.0.1.bn2.bias",
            "layer2.0.downsample.0.weight": "stages.1.0.shortcut.conv.weight",
            "layer2.0.downsample.1.running_var": "stages.1.0.shortcut.bn.running_var",
            "layer4.1.conv2.weight": "stages.3.1.conv2.weight",
            "fc.weight": "head.fc.weight",
            "fc.bias": "head.fc.bias",
            "layer1.0.conv4.weight": None,  # a basic block has two convs; [123] only
        },
    )


def test_resnet_d_deep_stem_and_average_pool_shortcut() -> None:
    _check(
        resnet_rules(netscale.get_spec("resnet_d_50")),
        "resnet_d_50",
        {
            "conv1.0.weight": "stem.conv1.weight",
            "conv1.1.weight": "stem.bn1.weight",
            "conv1.3.weight": "stem.conv2.weight",
            "conv1.4.running_var": "stem.bn2.running_var",
            "conv1.6.weight": "stem.conv3.weight",
            "bn1.bias": "stem.bn3.bias",  # the deep stem's last BN
            "conv1.weight": None,  # not the plain stem
            # downsample = (avg-pool, conv, bn): the conv is index 1
            "layer2.0.downsample.1.weight": "stages.1.0.shortcut.conv.weight",
            "layer2.0.downsample.2.running_mean": "stages.1.0.shortcut.bn.running_mean",
            "layer1.0.conv3.weight": "stages.0.0.conv3.weight",
        },
    )


def test_resnet_rs_pool_conv_and_se_after_the_last_bn() -> None:
    _check(
        resnet_rules(netscale.get_spec("resnet_rs_50")),
        "resnet_rs_50",
        {
            "maxpool.0.weight": "stem.pool_conv.weight",
            "maxpool.1.running_mean": "stem.pool_bn.running_mean",
            "layer1.0.se.fc1.weight": "stages.0.0.se_out.fc1.weight",  # bottleneck: se_out
            "layer3.5.se.fc2.bias": "stages.2.5.se_out.fc2.bias",
        },
    )


def test_regnet_layouts() -> None:
    _check(
        TIMM_REGNET,
        "regnet_y_200mf",
        {
            "stem.conv.weight": "stem.conv.weight",
            "stem.bn.running_var": "stem.bn.running_var",
            "s1.b1.conv1.conv.weight": "stages.0.0.conv1.weight",  # timm counts blocks from 1
            "s1.b1.conv2.bn.bias": "stages.0.0.bn2.bias",
            "s1.b1.se.fc1.weight": "stages.0.0.se_mid.fc1.weight",
            "s2.b1.downsample.conv.weight": "stages.1.0.shortcut.conv.weight",
            "s3.b2.conv3.conv.weight": "stages.2.1.conv3.weight",
            "head.fc.weight": "head.fc.weight",
        },
    )
    _check(
        TORCHVISION_REGNET,
        "regnet_y_400mf",
        {
            "stem.0.weight": "stem.conv.weight",
            "stem.1.running_mean": "stem.bn.running_mean",
            "trunk_output.block1.block1-0.f.a.0.weight": "stages.0.0.conv1.weight",
            "trunk_output.block1.block1-0.f.a.1.weight": "stages.0.0.bn1.weight",
            "trunk_output.block1.block1-0.f.b.0.weight": "stages.0.0.conv2.weight",
            "trunk_output.block1.block1-0.f.c.1.bias": "stages.0.0.bn3.bias",
            "trunk_output.block1.block1-0.f.se.fc2.weight": "stages.0.0.se_mid.fc2.weight",
            "trunk_output.block1.block1-0.proj.0.weight": "stages.0.0.shortcut.conv.weight",
            "trunk_output.block4.block4-1.f.a.0.weight": "stages.3.1.conv1.weight",
            "fc.bias": "head.fc.bias",
        },
    )


def test_efficientnet_timm_block_classes() -> None:
    """Stage 0 of B0 is timm's DepthwiseSeparableConv (conv_dw, conv_pw), later stages
    InvertedResidual (conv_pw, conv_dw, conv_pwl): the same timm name maps to another of
    our layers depending on the block."""
    spec = netscale.get_spec("efficientnet_b0")
    _check(
        efficientnet_rules(spec, "timm"),
        "efficientnet_b0",
        {
            "conv_stem.weight": "stem.conv.weight",
            "bn1.weight": "stem.bn.weight",  # the stem's bn1, not a block's
            "blocks.0.0.conv_dw.weight": "stages.0.0.conv2.weight",
            "blocks.0.0.bn1.weight": "stages.0.0.bn2.weight",
            "blocks.0.0.se.conv_reduce.weight": "stages.0.0.se_mid.fc1.weight",
            "blocks.0.0.se.conv_expand.bias": "stages.0.0.se_mid.fc2.bias",
            "blocks.0.0.conv_pw.weight": "stages.0.0.conv3.weight",
            "blocks.0.0.bn2.running_var": "stages.0.0.bn3.running_var",
            "blocks.1.0.conv_pw.weight": "stages.1.0.conv1.weight",
            "blocks.1.0.bn1.weight": "stages.1.0.bn1.weight",
            "blocks.1.1.conv_dw.weight": "stages.1.1.conv2.weight",
            "blocks.1.1.conv_pwl.weight": "stages.1.1.conv3.weight",
            "blocks.6.0.bn3.bias": "stages.6.0.bn3.bias",
            "blocks.1.2.conv_pw.weight": None,  # B0's stage 1 has blocks 0 and 1 only
            "conv_head.weight": "head.conv.0.weight",
            "bn2.weight": "head.conv.1.weight",
            "classifier.weight": "head.fc.weight",
        },
    )


def test_efficientnet_v2_fused_blocks_timm() -> None:
    """V2-S: stage 0 Fused-MBConv with expansion 1 (timm ConvBnAct: conv, bn1), stage 1
    with expansion (EdgeResidual: conv_exp, bn1, conv_pwl, bn2)."""
    spec = netscale.get_spec("efficientnet_v2_s")
    _check(
        efficientnet_rules(spec, "timm"),
        "efficientnet_v2_s",
        {
            "blocks.0.0.conv.weight": "stages.0.0.conv1.weight",
            "blocks.0.1.bn1.bias": "stages.0.1.bn1.bias",
            "blocks.1.0.conv_exp.weight": "stages.1.0.conv1.weight",
            "blocks.1.0.bn1.weight": "stages.1.0.bn1.weight",
            "blocks.1.0.conv_pwl.weight": "stages.1.0.conv3.weight",
            "blocks.1.0.bn2.weight": "stages.1.0.bn3.weight",
            "blocks.3.0.conv_dw.weight": "stages.3.0.conv2.weight",  # MBConv again
            "blocks.3.0.se.conv_reduce.weight": "stages.3.0.se_mid.fc1.weight",
        },
    )


def test_efficientnet_torchvision_features() -> None:
    """features.0 is the stem, features.{i + 1} stage i, features.{stages + 1} the head
    conv; inside a block, Conv2dNormActivation (conv, bn) and SE in forward order."""
    spec = netscale.get_spec("efficientnet_b0")
    assert len(spec.stages) == 7
    _check(
        efficientnet_rules(spec, "torchvision"),
        "efficientnet_b0",
        {
            "features.0.0.weight": "stem.conv.weight",
            "features.0.1.bias": "stem.bn.bias",
            "features.1.0.block.0.0.weight": "stages.0.0.conv2.weight",  # depthwise first
            "features.1.0.block.0.1.weight": "stages.0.0.bn2.weight",
            "features.1.0.block.1.fc1.weight": "stages.0.0.se_mid.fc1.weight",
            "features.1.0.block.2.0.weight": "stages.0.0.conv3.weight",
            "features.2.0.block.0.0.weight": "stages.1.0.conv1.weight",  # expansion first
            "features.2.1.block.1.1.running_mean": "stages.1.1.bn2.running_mean",
            "features.2.1.block.2.fc2.bias": "stages.1.1.se_mid.fc2.bias",
            "features.2.1.block.3.0.weight": "stages.1.1.conv3.weight",
            "features.8.0.weight": "head.conv.0.weight",
            "features.8.1.running_var": "head.conv.1.running_var",
            "classifier.1.weight": "head.fc.weight",
            "classifier.0.weight": None,  # dropout has no weights; index 1 is the linear
        },
    )


def test_convnext_timm_reshapes_its_conv_mlp() -> None:
    _check(
        TIMM_CONVNEXT,
        "convnext_atto",
        {
            "stem.0.weight": "stem.conv.weight",
            "stem.1.bias": "stem.norm.bias",
            "stages.1.downsample.0.weight": "stages.1.0.downsample.norm.weight",
            "stages.1.downsample.1.weight": "stages.1.0.downsample.conv.weight",
            "stages.0.blocks.1.conv_dw.weight": "stages.0.1.conv_dw.weight",
            "stages.0.blocks.1.norm.bias": "stages.0.1.norm.bias",
            "stages.2.blocks.5.gamma": "stages.2.5.gamma",
            "stages.0.blocks.0.mlp.fc2.weight": "stages.0.0.fc2.weight",
            "head.norm.weight": "head.norm.weight",
            "head.fc.bias": "head.fc.bias",
        },
    )
    ours = _our_keys("convnext_atto")
    _, value = TIMM_CONVNEXT.apply("stages.0.blocks.0.mlp.fc1.weight", torch.zeros(160, 40, 1, 1))
    assert value.shape == ours["stages.0.0.fc1.weight"] == (160, 40)
    _, value = TIMM_CONVNEXT.apply("stages.0.blocks.0.conv_dw.weight", torch.zeros(40, 1, 7, 7))
    assert value.shape == ours["stages.0.0.conv_dw.weight"]  # a real conv: left as it is


def test_convnext_torchvision_features() -> None:
    spec = netscale.get_spec("convnext_tiny")
    rules = torchvision_convnext_rules(spec)
    _check(
        rules,
        "convnext_tiny",
        {
            "features.0.0.weight": "stem.conv.weight",
            "features.0.1.bias": "stem.norm.bias",
            "features.1.0.block.0.weight": "stages.0.0.conv_dw.weight",
            "features.1.0.block.2.weight": "stages.0.0.norm.weight",
            "features.1.0.block.3.weight": "stages.0.0.fc1.weight",
            "features.1.2.block.5.bias": "stages.0.2.fc2.bias",
            "features.1.0.layer_scale": "stages.0.0.gamma",
            "features.2.0.weight": "stages.1.0.downsample.norm.weight",
            "features.2.1.weight": "stages.1.0.downsample.conv.weight",
            "features.7.2.block.3.weight": "stages.3.2.fc1.weight",
            "features.8.0.weight": None,  # four stages: features.0-7
            "classifier.0.weight": "head.norm.weight",
            "classifier.2.bias": "head.fc.bias",
        },
    )
    _, value = rules.apply("features.1.0.layer_scale", torch.zeros(96, 1, 1))
    assert value.shape == _our_keys("convnext_tiny")["stages.0.0.gamma"] == (96,)


def test_coatnet_block_kind_decides_the_names() -> None:
    """coatnet_0: stages 0-1 MBConv, 2-3 transformer; `norm1` is a BN after the expand
    conv in the first and the attention's LayerNorm in the second."""
    spec = netscale.get_spec("coatnet_0")
    assert [s.block for s in spec.stages] == ["mbconv", "mbconv", "transformer", "transformer"]
    _check(
        coatnet_rules(spec),
        "coatnet_0",
        {
            "stem.conv1.weight": "stem.conv1.weight",
            "stem.norm1.running_mean": "stem.bn1.running_mean",
            "stem.conv2.weight": "stem.conv2.weight",
            "stages.0.blocks.0.shortcut.expand.weight": "stages.0.0.shortcut.conv.weight",
            "stages.0.blocks.0.pre_norm.weight": "stages.0.0.pre_norm.weight",
            "stages.0.blocks.0.conv1_1x1.weight": "stages.0.0.conv1.weight",
            "stages.0.blocks.0.norm1.weight": "stages.0.0.bn1.weight",
            "stages.0.blocks.1.conv2_kxk.weight": "stages.0.1.conv2.weight",
            "stages.0.blocks.0.se.fc1.weight": "stages.0.0.se_mid.fc1.weight",
            "stages.1.blocks.0.conv3_1x1.bias": "stages.1.0.conv3.bias",
            "stages.2.blocks.0.norm1.norm.weight": "stages.2.0.norm1.weight",  # pooling block
            "stages.2.blocks.1.norm1.weight": "stages.2.1.norm1.weight",
            "stages.2.blocks.0.attn.qkv.weight": "stages.2.0.attn.qkv.weight",
            "stages.3.blocks.0.attn.proj.bias": "stages.3.0.attn.proj.bias",
            "stages.2.blocks.0.attn.rel_pos.relative_position_bias_table": (
                "stages.2.0.attn.bias_table"
            ),
            "stages.2.blocks.0.mlp.fc1.weight": "stages.2.0.fc1.weight",
            "stages.2.blocks.0.norm2.weight": "stages.2.0.norm2.weight",
            "head.norm.weight": "head.norm.weight",
            "head.pre_logits.fc.weight": "head.hidden.0.weight",
            "head.fc.bias": "head.fc.bias",
            # names of the other block kind do not map in a stage
            "stages.0.blocks.0.attn.qkv.weight": None,
            "stages.0.blocks.0.norm1.norm.weight": None,
            "stages.2.blocks.0.conv1_1x1.weight": None,
        },
        resolution=64,
    )


@pytest.mark.parametrize(
    "rules",
    [
        lambda: resnet_rules(netscale.get_spec("resnet_rs_50")),
        lambda: efficientnet_rules(netscale.get_spec("efficientnet_b0"), "timm"),
        lambda: efficientnet_rules(netscale.get_spec("efficientnet_v2_s"), "torchvision"),
        lambda: torchvision_convnext_rules(netscale.get_spec("convnext_tiny")),
        lambda: coatnet_rules(netscale.get_spec("coatnet_0")),
        lambda: TIMM_REGNET,
        lambda: TORCHVISION_REGNET,
        lambda: TIMM_CONVNEXT,
    ],
    ids=["resnet", "efficientnet", "efficientnet-tv", "convnext-tv", "coatnet", "regnet",
         "regnet-tv", "convnext"],
)  # fmt: skip
def test_rules_never_produce_names_outside_our_layout(rules):
    """Every template, filled in, names one of our layout's top-level modules (stem,
    stages, head)."""
    for rule in rules().rules:
        fields = set(re.findall(r"\{(\w+)\}", rule.template))
        filled = rule.template.format(**{f: "0" if f in ("stage", "block", "i", "j") else "x"
                                         for f in fields})  # fmt: skip
        assert filled.split(".")[0] in ("stem", "stages", "head"), rule.template
