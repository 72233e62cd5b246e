"""Key-rename rules from timm / torchvision checkpoint layouts into netscale's layout.

One table of regex rules per source layout renames every checkpoint key into netscale's
state-dict names (stem.*, stages.{i}.{j}.*, head.*; see the attribute names in
netscale/nn/blocks.py and docs/architecture.md, "State-dict layout"). ResNet and RegNet
tables are fixed; EfficientNet tables are generated from the spec, since which layers an
(fused) MBConv has, and what the source calls them, depends on each stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby

from netscale.complexity.count import expanded_width
from netscale.spec.net import NetSpec, StageSpec

Rules = tuple[tuple[re.Pattern[str], str], ...]


@dataclass(frozen=True, slots=True)
class KeyRules:
    """Rename rules of one source layout: the first pattern that matches a whole key wins.

    Templates are `str.format` strings over the pattern's named groups. The groups `stage`
    and `block` are re-based to netscale's 0-based indices: every source numbers stages
    from 1 (layer1, s1, block1); blocks from `block_base` (timm RegNet b1, others 0).
    Rules whose source index needs no re-basing write the stage number into the template.
    """

    rules: Rules
    block_base: int = 0

    def rename(self, key: str) -> str | None:
        """Our name for the source `key`, or None when no rule matches."""
        for pattern, template in self.rules:
            m = pattern.fullmatch(key)
            if m:
                groups = m.groupdict()
                if "stage" in groups:
                    groups["stage"] = str(int(groups["stage"]) - 1)
                if "block" in groups:
                    groups["block"] = str(int(groups["block"]) - self.block_base)
                return template.format(**groups)
        return None


def _rules(*pairs: tuple[str, str]) -> Rules:
    return tuple((re.compile(p), t) for p, t in pairs)


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


def layout(spec: NetSpec) -> str | None:
    """The source layout ("resnet", "regnet", "efficientnet") a spec is built like, or None."""
    if all(s.block in ("mbconv", "fused_mbconv") for s in spec.stages):
        return "efficientnet" if _efficientnet_like(spec) else None
    first = spec.stages[0]
    uniform = all(s.block == first.block and s.shortcut == first.shortcut for s in spec.stages)
    se_places = {s.se_placement for s in spec.stages if s.se_ratio}
    if not uniform or first.block not in ("basic", "bottleneck") or len(se_places) > 1:
        return None
    if spec.head.width or spec.head.norm:  # neither library has a conv or norm head here
        return None
    se_out = not se_places or first.block == "basic" or se_places == {"out"}
    if spec.stem.pool != "none" and se_out:
        return "resnet"
    regnet_stem = spec.stem.kind == "conv" and spec.stem.pool == "none"
    if regnet_stem and first.block == "bottleneck" and first.shortcut == "conv":
        return "regnet" if se_places <= {"mid"} else None
    return None


def _efficientnet_like(spec: NetSpec) -> bool:
    """Conv stem + BN + SiLU, (fused) MBConv stages with SE from the block input ("mid"),
    1x1 head conv + BN + SiLU, pool, linear: timm's and torchvision's EfficientNet(V2)."""
    stem, head = spec.stem, spec.head
    se_mid = all(s.se_placement == "mid" for s in spec.stages if s.se_ratio)
    return (
        stem.kind == "conv"
        and stem.pool == "none"
        and bool(head.width)
        and not head.norm
        and spec.act == "silu"  # both libraries hard-code SiLU (swish) here
        and se_mid
    )


def torchvision_efficientnet_fits(spec: NetSpec) -> bool:
    """torchvision's MBConv always has SE, its Fused-MBConv never does."""
    return all(bool(s.se_ratio) == (s.block == "mbconv") for s in spec.stages)


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


# timm block class -> {our conv: (timm conv, timm BN)}; our BN of convN is bnN. timm names
# the class by the stage's block string: ds = DepthwiseSeparableConv (MBConv, expansion 1),
# ir = InvertedResidual (MBConv), cn = ConvBnAct (Fused-MBConv, expansion 1),
# er = EdgeResidual (Fused-MBConv). Its SE is `se.conv_reduce` / `se.conv_expand`.
_TIMM_MBCONV = {
    "ds": {"conv2": ("conv_dw", "bn1"), "conv3": ("conv_pw", "bn2")},
    "ir": {"conv1": ("conv_pw", "bn1"), "conv2": ("conv_dw", "bn2"), "conv3": ("conv_pwl", "bn3")},
    "cn": {"conv1": ("conv", "bn1")},
    "er": {"conv1": ("conv_exp", "bn1"), "conv3": ("conv_pwl", "bn2")},
}


def _mbconv_layers(stage: StageSpec, w_in: int) -> tuple[str, ...]:
    """Our layers of one (fused) MBConv in forward order, as `nn.blocks.MBConv` builds them."""
    inner = expanded_width(stage, w_in)
    fused = stage.block == "fused_mbconv"
    single = fused and inner == w_in  # Fused-MBConv with expansion 1: one kxk conv
    layers = ("conv1",) if inner != w_in or fused else ()
    layers += () if fused else ("conv2",)
    layers += ("se_mid",) if stage.se_ratio else ()
    return layers + (() if single else ("conv3",))


def _stage_blocks(spec: NetSpec) -> list[tuple[int, str, tuple[str, ...]]]:
    """(stage, block indices as a regex alternation, layers) for every group of consecutive
    blocks of a stage with the same layers (the first block of a stage may differ)."""
    groups, w_in = [], spec.stem.width
    for i, stage in enumerate(spec.stages):
        layers = []
        for _ in range(stage.depth):
            layers.append(_mbconv_layers(stage, w_in))
            w_in = stage.width
        index = 0
        for kind, run in groupby(layers):
            n = len(list(run))
            groups.append((i, "|".join(str(j) for j in range(index, index + n)), kind))
            index += n
    return groups


def _timm_block_rules(stage: int, blocks: str, layers: tuple[str, ...]) -> list[tuple[str, str]]:
    fused = "conv2" not in layers
    kind = ("er" if "conv3" in layers else "cn") if fused else ("ir" if "conv1" in layers else "ds")
    src, ours = rf"blocks\.{stage}\.(?P<block>{blocks})\.", f"stages.{stage}.{{block}}."
    pairs = [(src + r"se\.conv_reduce\." + _P, ours + "se_mid.fc1.{p}")]
    pairs.append((src + r"se\.conv_expand\." + _P, ours + "se_mid.fc2.{p}"))
    for conv, (their_conv, their_bn) in _TIMM_MBCONV[kind].items():
        pairs.append((src + their_conv + r"\." + _P, ours + conv + ".{p}"))
        pairs.append((src + their_bn + r"\." + _P, ours + "bn" + conv[-1] + ".{p}"))
    return pairs


def _torchvision_block_rules(
    stage: int, blocks: str, layers: tuple[str, ...]
) -> list[tuple[str, str]]:
    # features.0 is the stem, so stage i is features.{i + 1}; block = Sequential of
    # Conv2dNormActivation(conv, bn, act) and SqueezeExcitation(fc1, fc2) in forward order.
    src = rf"features\.{stage + 1}\.(?P<block>{blocks})\.block\."
    ours = f"stages.{stage}.{{block}}."
    pairs = []
    for index, layer in enumerate(layers):
        if layer == "se_mid":
            pairs.append((src + rf"{index}\.(?P<fc>fc[12])\." + _P, ours + "se_mid.{fc}.{p}"))
        else:
            pairs.append((src + rf"{index}\.0\." + _P, ours + layer + ".{p}"))
            pairs.append((src + rf"{index}\.1\." + _P, ours + "bn" + layer[-1] + ".{p}"))
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
