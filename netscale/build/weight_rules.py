"""Key-rename rules from timm / torchvision checkpoint layouts into netscale's layout.

One table of regex rules per source layout renames every checkpoint key into netscale's
state-dict names (stem.*, stages.{i}.{j}.*, head.*; see the attribute names in
netscale/nn/blocks.py and docs/architecture.md, "State-dict layout"). ResNet, RegNet and
timm ConvNeXt tables are fixed; the others are generated from the spec, since which layers
a block has (EfficientNet), which stages hold which block (CoAtNet) or where a stage sits
in a flat `features` list (torchvision) depends on each stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby

import torch

from netscale.plan.layers import SE, Conv, Norm
from netscale.plan.net import BlockPlan, plan
from netscale.spec.net import NetSpec


@dataclass(frozen=True, slots=True)
class Rule:
    """One rename: a pattern over whole source keys and the `str.format` template of ours.

    `ndim` > 0 also reshapes the value to that many dimensions by dropping trailing size-1
    dimensions: a source may store a linear layer as a 1x1 conv, (out, in, 1, 1) -> (out, in),
    or a per-channel scale as (C, 1, 1) -> (C,). Only size-1 dimensions are ever dropped; any
    other tensor is passed as it is, so the shape check still sees what the checkpoint holds.
    """

    pattern: re.Pattern[str]
    template: str
    ndim: int = 0

    def convert(self, value: torch.Tensor) -> torch.Tensor:
        """`value` with its trailing size-1 dimensions dropped down to `ndim` (if set)."""
        if (
            not self.ndim
            or value.dim() <= self.ndim
            or any(n != 1 for n in value.shape[self.ndim :])
        ):
            return value
        return value.reshape(value.shape[: self.ndim])


Rules = tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class KeyRules:
    """Rename rules of one source layout: the first pattern that matches a whole key wins.

    Templates are `str.format` strings over the pattern's named groups. The groups `stage`
    and `block` are re-based to netscale's 0-based indices: some sources number stages
    from 1 (layer1, s1), blocks from `block_base` (timm RegNet b1, others 0). Rules whose
    source index needs no re-basing use other group names or write the stage number into
    the template.
    """

    rules: Rules
    block_base: int = 0

    def match(self, key: str) -> tuple[str, Rule] | None:
        """Our name for the source `key` and the rule that gave it, or None."""
        for rule in self.rules:
            m = rule.pattern.fullmatch(key)
            if m:
                groups = m.groupdict()
                if "stage" in groups:
                    groups["stage"] = str(int(groups["stage"]) - 1)
                if "block" in groups:
                    groups["block"] = str(int(groups["block"]) - self.block_base)
                return rule.template.format(**groups), rule
        return None

    def apply(self, key: str, value: torch.Tensor) -> tuple[str, torch.Tensor] | None:
        """Our name and tensor for the source entry (`key`, `value`), or None (no rule)."""
        found = self.match(key)
        return (found[0], found[1].convert(value)) if found else None


def _rules(*pairs: tuple[str, str] | tuple[str, str, int]) -> Rules:
    """Rules from (pattern, template) or (pattern, template, ndim) tuples."""
    return tuple(Rule(re.compile(p[0]), *p[1:]) for p in pairs)


_P = r"(?P<p>\w+)"  # parameter or buffer: weight, bias, running_mean, running_var, ...
_BLOCK = "stages.{stage}.{block}."

# timm and torchvision ResNets share one layout (timm's is a superset).
_RN = r"layer(?P<stage>\d+)\.(?P<block>\d+)\."
_RESNET_BODY = (
    (_RN + r"(?P<layer>conv|bn)(?P<n>[123])\." + _P, _BLOCK + "{layer}{n}.{p}"),
    (r"fc\." + _P, "head.fc.{p}"),
)
_RESNET_STEM = {
    "conv": ((r"conv1\." + _P, "stem.conv.{p}"), (r"bn1\." + _P, "stem.bn.{p}")),
    # timm deep stem: conv1 = Sequential(conv, bn, act, conv, bn, act, conv); bn1 = last BN.
    "deep": (
        (r"conv1\.0\." + _P, "stem.conv1.{p}"),
        (r"conv1\.1\." + _P, "stem.bn1.{p}"),
        (r"conv1\.3\." + _P, "stem.conv2.{p}"),
        (r"conv1\.4\." + _P, "stem.bn2.{p}"),
        (r"conv1\.6\." + _P, "stem.conv3.{p}"),
        (r"bn1\." + _P, "stem.bn3.{p}"),
    ),
}
# ResNet-RS: timm keeps the name `maxpool` for the strided conv + BN + act that replaces it.
_RESNET_POOL_CONV = (
    (r"maxpool\.0\." + _P, "stem.pool_conv.{p}"),
    (r"maxpool\.1\." + _P, "stem.pool_bn.{p}"),
)
# downsample = Sequential(conv, bn), or (ResNet-D) Sequential(avg-pool or Identity, conv, bn).
_RESNET_SHORTCUT = {
    "conv": (
        (_RN + r"downsample\.0\." + _P, _BLOCK + "shortcut.conv.{p}"),
        (_RN + r"downsample\.1\." + _P, _BLOCK + "shortcut.bn.{p}"),
    ),
    "avg": (
        (_RN + r"downsample\.1\." + _P, _BLOCK + "shortcut.conv.{p}"),
        (_RN + r"downsample\.2\." + _P, _BLOCK + "shortcut.bn.{p}"),
    ),
}
# timm's SE sits after the last BN of a block: our `se` (basic) or `se_out` (bottleneck).
_RESNET_SE = {
    kind: ((_RN + r"se\.(?P<fc>fc[12])\." + _P, _BLOCK + attr + ".{fc}.{p}"),)
    for kind, attr in (("basic", "se"), ("bottleneck", "se_out"))
}

_RG = r"s(?P<stage>\d+)\.b(?P<block>\d+)\."
TIMM_REGNET = KeyRules(
    _rules(
        (r"stem\.(?P<layer>conv|bn)\." + _P, "stem.{layer}.{p}"),
        (_RG + r"conv(?P<n>[123])\.conv\." + _P, _BLOCK + "conv{n}.{p}"),
        (_RG + r"conv(?P<n>[123])\.bn\." + _P, _BLOCK + "bn{n}.{p}"),
        (_RG + r"se\.(?P<fc>fc[12])\." + _P, _BLOCK + "se_mid.{fc}.{p}"),
        (_RG + r"downsample\.(?P<layer>conv|bn)\." + _P, _BLOCK + "shortcut.{layer}.{p}"),
        (r"head\.fc\." + _P, "head.fc.{p}"),
    ),
    block_base=1,
)

# torchvision RegNet: block f = Sequential-like a (1x1), b (kxk grouped), se, c (1x1); each
# of a, b, c is Sequential(conv, bn, act); proj = Sequential(conv, bn) shortcut.
_TV = r"trunk_output\.block(?P<stage>\d+)\.block\d+-(?P<block>\d+)\."
TORCHVISION_REGNET = KeyRules(
    _rules(
        (r"stem\.0\." + _P, "stem.conv.{p}"),
        (r"stem\.1\." + _P, "stem.bn.{p}"),
        *(
            (_TV + rf"f\.{letter}\.{index}\." + _P, _BLOCK + f"{layer}{n}.{{p}}")
            for n, letter in enumerate("abc", start=1)
            for index, layer in enumerate(("conv", "bn"))
        ),
        (_TV + r"f\.se\.(?P<fc>fc[12])\." + _P, _BLOCK + "se_mid.{fc}.{p}"),
        (_TV + r"proj\.0\." + _P, _BLOCK + "shortcut.conv.{p}"),
        (_TV + r"proj\.1\." + _P, _BLOCK + "shortcut.bn.{p}"),
        (r"fc\." + _P, "head.fc.{p}"),
    )
)


def resnet_rules(spec: NetSpec) -> KeyRules:
    """Rules for a spec of the "resnet" layout (timm's and torchvision's are alike)."""
    first = spec.stages[0]
    pool = _RESNET_POOL_CONV if spec.stem.pool == "conv" else ()
    return KeyRules(
        _rules(
            *_RESNET_STEM[spec.stem.kind],
            *pool,
            *_RESNET_BODY,
            *_RESNET_SHORTCUT[first.shortcut],
            *_RESNET_SE[first.block],
        )
    )


# timm's block class for our MBConv's convs (read from its plan) -> their (conv, BN) names
# in the same order. timm names the class by the stage's block string: ds =
# DepthwiseSeparableConv (MBConv, expansion 1), ir = InvertedResidual (MBConv), cn =
# ConvBnAct (Fused-MBConv, expansion 1), er = EdgeResidual (Fused-MBConv). Its SE is
# `se.conv_reduce` / `se.conv_expand`.
_TIMM_MBCONV = {
    ("conv2", "conv3"): (("conv_dw", "bn1"), ("conv_pw", "bn2")),  # ds
    ("conv1", "conv2", "conv3"): (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")),
    ("conv1",): (("conv", "bn1"),),  # cn
    ("conv1", "conv3"): (("conv_exp", "bn1"), ("conv_pwl", "bn2")),  # er
}
# (our layer, the BN that follows it or None for an SE), in forward order
Layers = tuple[tuple[str, str | None], ...]


def _mbconv_layers(block: BlockPlan) -> Layers:
    """The convs (each with its BN) and the SE of one (fused) MBConv, read from its plan."""
    branch = block.layers.residuals[0].branch
    layers = []
    for layer, after in zip(branch, (*branch[1:], None), strict=True):
        if isinstance(layer, Conv) and isinstance(after, Norm):
            layers.append((layer.name, after.name))
        elif isinstance(layer, SE):
            layers.append((layer.name, None))
    return tuple(layers)


def _stage_blocks(spec: NetSpec) -> list[tuple[int, str, Layers]]:
    """(stage, block indices as a regex alternation, layers) for every group of consecutive
    blocks of a stage with the same layers (the first block of a stage may differ)."""
    groups = []
    for i, stage in enumerate(plan(spec).stages):
        index = 0
        for layers, run in groupby(_mbconv_layers(block) for block in stage):
            n = len(list(run))
            groups.append((i, "|".join(str(j) for j in range(index, index + n)), layers))
            index += n
    return groups


def _timm_block_rules(stage: int, blocks: str, layers: Layers) -> list[tuple[str, str]]:
    src, ours = rf"blocks\.{stage}\.(?P<block>{blocks})\.", f"stages.{stage}.{{block}}."
    convs = tuple((conv, bn) for conv, bn in layers if bn)
    pairs = []
    for se, _ in (x for x in layers if not x[1]):
        pairs.append((src + r"se\.conv_reduce\." + _P, ours + se + ".fc1.{p}"))
        pairs.append((src + r"se\.conv_expand\." + _P, ours + se + ".fc2.{p}"))
    theirs = _TIMM_MBCONV[tuple(conv for conv, _ in convs)]
    for (conv, bn), (their_conv, their_bn) in zip(convs, theirs, strict=True):
        pairs.append((src + their_conv + r"\." + _P, ours + conv + ".{p}"))
        pairs.append((src + their_bn + r"\." + _P, ours + bn + ".{p}"))
    return pairs


def _torchvision_block_rules(stage: int, blocks: str, layers: Layers) -> list[tuple[str, str]]:
    # features.0 is the stem, so stage i is features.{i + 1}; block = Sequential of
    # Conv2dNormActivation(conv, bn, act) and SqueezeExcitation(fc1, fc2) in forward order.
    src = rf"features\.{stage + 1}\.(?P<block>{blocks})\.block\."
    ours = f"stages.{stage}.{{block}}."
    pairs = []
    for index, (layer, bn) in enumerate(layers):
        if bn is None:
            pairs.append((src + rf"{index}\.(?P<fc>fc[12])\." + _P, ours + layer + ".{fc}.{p}"))
        else:
            pairs.append((src + rf"{index}\.0\." + _P, ours + layer + ".{p}"))
            pairs.append((src + rf"{index}\.1\." + _P, ours + bn + ".{p}"))
    return pairs


def efficientnet_rules(spec: NetSpec, source: str) -> KeyRules:
    """Rules for a spec of the "efficientnet" layout from `source` ("timm", "torchvision").

    timm: conv_stem/bn1, blocks.{stage}.{block} (stages 0-based, as ours), conv_head/bn2,
    classifier. torchvision: features.0 (stem), features.{stage + 1}.{block},
    features.{num_stages + 1} (head conv), classifier.1 (after dropout).
    """
    if source == "timm":
        stem = (("conv_stem", "stem.conv"), ("bn1", "stem.bn"))
        head = (("conv_head", "head.conv.0"), ("bn2", "head.conv.1"), ("classifier", "head.fc"))
        block_rules = _timm_block_rules
    else:
        last = rf"features\.{len(spec.stages) + 1}\."
        stem = ((r"features\.0\.0", "stem.conv"), (r"features\.0\.1", "stem.bn"))
        head = ((last + "0", "head.conv.0"), (last + "1", "head.conv.1"))
        head += ((r"classifier\.1", "head.fc"),)
        block_rules = _torchvision_block_rules
    pairs = [(src + r"\." + _P, ours + ".{p}") for src, ours in stem + head]
    for stage, blocks, layers in _stage_blocks(spec):
        pairs += block_rules(stage, blocks, layers)
    return KeyRules(_rules(*pairs))


# timm ConvNeXt: stem = Sequential(conv, LayerNorm2d); stage i = downsample (Sequential(
# LayerNorm2d, conv), before the blocks) + blocks.{j}; its 0-based stage numbers are ours.
# convnext_atto..nano (conv_mlp=True) store mlp.fc1/fc2 as 1x1 convs: ndim 2 makes them linear.
_CX = r"stages\.(?P<i>\d+)\."
TIMM_CONVNEXT = KeyRules(
    _rules(
        (r"stem\.0\." + _P, "stem.conv.{p}"),
        (r"stem\.1\." + _P, "stem.norm.{p}"),
        (_CX + r"downsample\.0\." + _P, "stages.{i}.0.downsample.norm.{p}"),
        (_CX + r"downsample\.1\." + _P, "stages.{i}.0.downsample.conv.{p}"),
        (_CX + r"blocks\.(?P<j>\d+)\.(?P<layer>conv_dw|norm)\." + _P, "stages.{i}.{j}.{layer}.{p}"),
        (_CX + r"blocks\.(?P<j>\d+)\.gamma", "stages.{i}.{j}.gamma"),
        (_CX + r"blocks\.(?P<j>\d+)\.mlp\.(?P<fc>fc[12])\." + _P, "stages.{i}.{j}.{fc}.{p}", 2),
        (r"head\.(?P<layer>norm|fc)\." + _P, "head.{layer}.{p}"),
    )
)


def torchvision_convnext_rules(spec: NetSpec) -> KeyRules:
    """torchvision ConvNeXt: features.0 = stem (conv, LayerNorm2d); stage i's blocks are
    features.{2i + 1}, the downsampling layer before stage i > 0 is features.{2i} (LayerNorm2d,
    conv); block = Sequential(dwconv, permute, LayerNorm, linear, GELU, linear, permute) with
    a (C, 1, 1) layer_scale; classifier = (LayerNorm2d, flatten, linear)."""
    pairs: list[tuple[str, str] | tuple[str, str, int]] = [
        (r"features\.0\.0\." + _P, "stem.conv.{p}"),
        (r"features\.0\.1\." + _P, "stem.norm.{p}"),
        (r"classifier\.0\." + _P, "head.norm.{p}"),
        (r"classifier\.2\." + _P, "head.fc.{p}"),
    ]
    for i in range(len(spec.stages)):
        src, ours = rf"features\.{2 * i + 1}\.(?P<j>\d+)\.", f"stages.{i}.{{j}}."
        for index, layer in (("0", "conv_dw"), ("2", "norm"), ("3", "fc1"), ("5", "fc2")):
            pairs.append((src + rf"block\.{index}\." + _P, ours + layer + ".{p}"))
        pairs.append((src + "layer_scale", ours + "gamma", 1))  # (C, 1, 1) -> (C,)
        if i:  # features.0 is the stem
            down, ours = rf"features\.{2 * i}\.", f"stages.{i}.0.downsample."
            pairs += [
                (down + r"0\." + _P, ours + "norm.{p}"),
                (down + r"1\." + _P, ours + "conv.{p}"),
            ]
    return KeyRules(_rules(*pairs))


# timm MaxxVit (CoAtNet) blocks, as (their layer pattern, our layer). MbConvBlock: shortcut =
# Downsample2d (avg-pool, `expand` 1x1 conv), BN pre_norm, conv1_1x1 + norm1, conv2_kxk +
# norm2, se, conv3_1x1. TransformerBlock2d: norm1 = Sequential(norm, down) in a downsampling
# block, else the LayerNorm2d itself; attn.rel_pos holds the bias table; mlp = ConvMlp.
_TIMM_COAT_BLOCKS = {
    "mbconv": (
        (r"shortcut\.expand", "shortcut.conv"),
        (r"(?P<layer>pre_norm)", "{layer}"),
        (r"conv(?P<n>[123])_(1x1|kxk)", "conv{n}"),
        (r"norm(?P<n>[12])", "bn{n}"),
        (r"se\.(?P<fc>fc[12])", "se_mid.{fc}"),
    ),
    "transformer": (
        (r"shortcut\.expand", "shortcut.conv"),
        (r"norm1(\.norm)?", "norm1"),
        (r"(?P<layer>attn\.qkv|attn\.proj|norm2)", "{layer}"),
        (r"mlp\.(?P<fc>fc[12])", "{fc}"),
    ),
}


def coatnet_rules(spec: NetSpec) -> KeyRules:
    """timm CoAtNet (MaxxVit): stem.conv1/norm1/conv2, stages.{i}.blocks.{j} (0-based, as
    ours), head.norm, head.pre_logits.fc, head.fc. Which block a stage holds decides what
    `norm1` is (BN after the expand conv, or the attention's LayerNorm)."""
    pairs = [
        (r"stem\.(?P<layer>conv[12])\." + _P, "stem.{layer}.{p}"),
        (r"stem\.norm1\." + _P, "stem.bn1.{p}"),
        (r"head\.(?P<layer>norm|fc)\." + _P, "head.{layer}.{p}"),
        (r"head\.pre_logits\.fc\." + _P, "head.hidden.0.{p}"),
    ]
    for kind, layers in _TIMM_COAT_BLOCKS.items():
        stages = "|".join(str(i) for i, s in enumerate(spec.stages) if s.block == kind)
        if not stages:
            continue
        src = rf"stages\.(?P<i>{stages})\.blocks\.(?P<j>\d+)\."
        pairs += [
            (src + theirs + r"\." + _P, "stages.{i}.{j}." + ours + ".{p}")
            for theirs, ours in layers
        ]
        if kind == "transformer":
            table = r"attn\.rel_pos\.relative_position_bias_table"
            pairs.append((src + table, "stages.{i}.{j}.attn.bias_table"))
    return KeyRules(_rules(*pairs))
