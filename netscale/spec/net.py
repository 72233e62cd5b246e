"""The spec language: frozen dataclasses describing any network of the supported families.

A `NetSpec` is a stem, a tuple of stages and a head. A stage is `depth` blocks of one kind.
Every field is validated in `__post_init__`; errors name the field path and what is allowed.
This module never imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from netscale.spec.groups import bottleneck_width

SCHEMA_VERSION = 1

BLOCK_KINDS = (
    "basic",
    "bottleneck",
    "mbconv",
    "fused_mbconv",
    "convnext",
    "transformer",
    "conv_pool",
)
STEM_KINDS = ("conv", "deep", "patchify", "coatnet", "whiten")
STEM_POOLS = ("none", "max", "conv")
HEAD_POOLS = ("avg", "max")
ACTIVATIONS = ("relu", "silu", "gelu")
SHORTCUTS = ("conv", "avg")
SE_PLACEMENTS = ("mid", "out")
STRIDES = (1, 2)


class SpecError(ValueError):
    """A spec field holds a value that is not allowed; the message names the field path."""


def _fail(path: str, value: Any, allowed: str) -> None:
    raise SpecError(f"{path}={value!r} is invalid: {allowed}")


def _check_int(path: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, value, f"expected an integer >= {minimum}")
    if value < minimum:
        _fail(path, value, f"must be >= {minimum}")


def _check_float(path: str, value: Any, *, lo: float, hi: float, hi_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(path, value, f"expected a number in [{lo}, {hi}{')' if hi_open else ']'}")
    if value < lo or value > hi or (hi_open and value == hi):
        _fail(path, value, f"must lie in [{lo}, {hi}{')' if hi_open else ']'}")


def _normalize_floats(obj: Any) -> None:
    """Store ints given for float fields as floats, so equal specs serialize identically."""
    for name in obj.__dataclass_fields__:
        value = getattr(obj, name)
        ftype = obj.__dataclass_fields__[name].type
        if ftype == "float" and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(obj, name, float(value))


def _check_positive(path: str, value: Any) -> None:
    bad = isinstance(value, bool) or not isinstance(value, int | float)
    if bad or not math.isfinite(value) or value <= 0:
        _fail(path, value, "expected a finite number > 0")


def _check_choice(path: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        _fail(path, value, "allowed: " + ", ".join(repr(a) for a in allowed))


@dataclass(frozen=True, slots=True, kw_only=True)
class StemSpec:
    """The layers before the first stage.

    kind:
      conv      one kxk conv + BN + act at `stride`, then `pool`: RegNet 3x3 s2; ResNet
                7x7 s2 + 3x3 s2 max-pool; 3x3 s1 for 32x32 images
      deep      ResNet-D deep stem: three 3x3 convs (mid_width, mid_width, width), the
                first at `stride`, then `pool`
      patchify  ConvNeXt: a kxk conv at stride k + LayerNorm
      coatnet   CoAtNet S0: a 3x3 s2 conv + BN + act, then a 3x3 s1 conv
      whiten    airbench (Jordan 2024): a biased kxk conv, stride 1, no padding (the map
                loses k - 1 pixels per side), then act; no norm. Its weights are set from
                the data by netscale.build.whiten.init_whitening (the patch covariance's
                eigenvectors and their negatives), so `width` must be 2 * in_width * k * k
                (checked by NetSpec); k may be even (airbench: 2); stride 1, pool "none".

    pool: "none"; "max" = 3x3 s2 max-pool (ResNet); "conv" = 3x3 s2 conv + BN + act
    (ResNet-RS replaces the max-pool by it).
    """

    kind: str = "conv"
    width: int = 32
    mid_width: int = 0  # only for kind="deep"; 0 means width // 2
    kernel: int = 3
    stride: int = 2
    pool: str = "none"

    def validate(self, path: str = "stem") -> None:
        _check_choice(f"{path}.kind", self.kind, STEM_KINDS)
        _check_int(f"{path}.width", self.width, minimum=1)
        _check_int(f"{path}.mid_width", self.mid_width, minimum=0)
        _check_int(f"{path}.kernel", self.kernel, minimum=1)
        _check_choice(f"{path}.pool", self.pool, STEM_POOLS)
        if self.kind == "patchify":
            _check_int(f"{path}.stride", self.stride, minimum=1)
        elif self.kind == "whiten":
            if self.stride != 1 or isinstance(self.stride, bool):
                _fail(f"{path}.stride", self.stride, "only 1 for kind='whiten'")
        else:
            _check_choice(f"{path}.stride", self.stride, STRIDES)
            if self.kernel % 2 == 0:
                _fail(f"{path}.kernel", self.kernel, "must be odd for a 'same'-padded conv stem")
        if self.pool != "none" and self.kind not in ("conv", "deep"):
            _fail(f"{path}.pool", self.pool, f"only 'none' with kind={self.kind!r}")

    @property
    def deep_mid_width(self) -> int:
        """Width of the first two convs of a "deep" stem: mid_width, or width // 2."""
        return self.mid_width or self.width // 2

    @property
    def shrink(self) -> int:
        """Pixels per side the stem removes besides its stride: k - 1 for the unpadded
        whitening conv, else 0."""
        return self.kernel - 1 if self.kind == "whiten" else 0

    @property
    def total_stride(self) -> int:
        """Downsampling factor of the stem (pixels in per pixel out, per side)."""
        if self.kind == "patchify":
            return self.stride
        return self.stride * (2 if self.pool != "none" else 1)

    def __post_init__(self) -> None:
        _normalize_floats(self)
        self.validate()


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSpec:
    """`depth` blocks of one kind; the first block applies `stride` and changes the width.

    block "conv_pool" (airbench, Jordan 2024) is not residual: kxk conv -> [2x2 max-pool,
    stride 2, floor mode, when the block's stride is 2] -> BN -> act -> kxk conv -> BN ->
    act; group_width, se_ratio, layer_scale and pre_norm must keep their defaults.

    bottleneck_ratio  inner width / block width of a bottleneck (ResNet 0.25; RegNet 1.0).
                      This is pycls's BOT_MUL, the reciprocal of the RegNet paper's b.
    group_width       channels per group of the kxk conv; None = dense conv (groups=1).
    expansion_ratio   inner width / input width of an (fused) MBConv; MLP width / width of a
                      ConvNeXt or transformer block.
    se_ratio          squeeze-excitation width / reference width; 0 = no SE.
    se_placement      "mid": SE after the kxk conv, width from the block's input width
                      (RegNet, EfficientNet); "out": SE after the last conv, width from the
                      block's output width (ResNet-RS, as timm's SE-ResNets).
    shortcut          projection of a strided or widening block: "conv" = strided 1x1 conv + BN;
                      "avg" = 2x2 avg-pool then 1x1 conv + BN (ResNet-D).
    head_width        channels per attention head (transformer blocks).
    layer_scale       initial value of the per-channel residual scale; 0 = none (ConvNeXt 1e-6).
    pre_norm          mbconv only: the CoAtNet form (CoAtNet sec. 3, as timm's coatnet_*): a
                      BN on the block input, inner width = expansion_ratio x the block's
                      *output* width, SE sized from the output width, stride on the
                      depthwise conv, an avg-pool + 1x1 conv shortcut, a biased projection
                      without norm, no activation after the add. Transformer blocks are
                      always pre-norm.
    """

    block: str
    depth: int
    width: int
    stride: int = 2
    kernel: int = 3
    bottleneck_ratio: float = 1.0
    group_width: int | None = None
    expansion_ratio: float = 4.0
    se_ratio: float = 0.0
    se_placement: str = "mid"
    shortcut: str = "conv"
    head_width: int = 32
    layer_scale: float = 0.0
    pre_norm: bool = False

    def __post_init__(self) -> None:
        # Field checks run from NetSpec.__post_init__, which knows this stage's path.
        _normalize_floats(self)

    @property
    def inner_width(self) -> int:
        """Width of the kxk conv of a bottleneck block (channels)."""
        return int(bottleneck_width(self.width, self.bottleneck_ratio))

    @property
    def groups(self) -> int:
        """Number of groups of the bottleneck's kxk conv."""
        if self.group_width is None:
            return 1
        return self.inner_width // self.group_width

    def expanded_width(self, w_in: int) -> int:
        """Inner width of a block with input width `w_in`: expansion_ratio x the input width
        of an (fused) MBConv; x the output width of a pre-norm MBConv and of the ConvNeXt /
        transformer MLP."""
        from_input = self.block in ("mbconv", "fused_mbconv") and not self.pre_norm
        return max(1, round((w_in if from_input else self.width) * self.expansion_ratio))

    def se_width(self, w_in: int) -> int:
        """Channels of the SE bottleneck of a block with input width `w_in` (0 = no SE):
        se_ratio x the block input ("mid") or output ("out", and CoAtNet's pre-norm MBConv)
        width."""
        if not self.se_ratio:
            return 0
        from_input = self.se_placement == "mid" and not self.pre_norm
        return max(1, round(self.se_ratio * (w_in if from_input else self.width)))

    def validate(self, path: str) -> None:
        _check_choice(f"{path}.block", self.block, BLOCK_KINDS)
        _check_int(f"{path}.depth", self.depth, minimum=1)
        _check_int(f"{path}.width", self.width, minimum=1)
        _check_choice(f"{path}.stride", self.stride, STRIDES)
        _check_int(f"{path}.kernel", self.kernel, minimum=1)
        if self.kernel % 2 == 0:
            _fail(f"{path}.kernel", self.kernel, "must be odd ('same' padding)")
        _check_float(f"{path}.bottleneck_ratio", self.bottleneck_ratio, lo=1e-3, hi=64.0)
        _check_float(f"{path}.expansion_ratio", self.expansion_ratio, lo=1.0, hi=64.0)
        _check_float(f"{path}.se_ratio", self.se_ratio, lo=0.0, hi=1.0)
        _check_choice(f"{path}.se_placement", self.se_placement, SE_PLACEMENTS)
        _check_choice(f"{path}.shortcut", self.shortcut, SHORTCUTS)
        _check_int(f"{path}.head_width", self.head_width, minimum=1)
        _check_float(f"{path}.layer_scale", self.layer_scale, lo=0.0, hi=10.0)
        if not isinstance(self.pre_norm, bool):
            _fail(f"{path}.pre_norm", self.pre_norm, "expected true or false")
        if self.pre_norm and self.block != "mbconv":
            _fail(f"{path}.pre_norm", self.pre_norm, f"only false for block={self.block!r}")
        if self.block == "conv_pool":
            if self.se_ratio:
                _fail(f"{path}.se_ratio", self.se_ratio, "only 0 for block='conv_pool'")
            if self.layer_scale:
                _fail(f"{path}.layer_scale", self.layer_scale, "only 0 for block='conv_pool'")
        if self.group_width is not None:
            _check_int(f"{path}.group_width", self.group_width, minimum=1)
            if self.block != "bottleneck":
                _fail(
                    f"{path}.group_width",
                    self.group_width,
                    f"only None for block={self.block!r} (grouped convs are in bottlenecks)",
                )
            if self.inner_width % self.group_width:
                raise SpecError(
                    f"{path}.group_width={self.group_width} does not divide "
                    f"bottleneck width {self.inner_width}; allowed: a divisor of "
                    f"{self.inner_width}"
                )
        if self.block == "transformer" and self.width % self.head_width:
            raise SpecError(
                f"{path}.head_width={self.head_width} does not divide width "
                f"{self.width}; allowed: a divisor of {self.width}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadSpec:
    """Classifier head: [1x1 conv to `width` + BN + act] -> global `pool` -> [LayerNorm]
    -> [linear to `hidden_width` + tanh] -> dropout -> linear -> x `logit_scale`.
    `width=0` skips the conv (RegNet, ResNet; EfficientNet uses 1280); `hidden_width` is
    the pre-logits layer of timm's CoAtNets (0 = none). `pool`: "avg" (global average) or
    "max" (global max, airbench); `logit_scale` multiplies the logits (airbench: 1/9).
    `pool` and `logit_scale` came after schema 1: at their defaults they are left out of
    `to_dict` and so of `spec_id` (netscale/spec/io.py)."""

    width: int = 0
    norm: bool = False
    hidden_width: int = 0
    dropout_rate: float = 0.0
    num_classes: int = 1000
    pool: str = "avg"
    logit_scale: float = 1.0

    def validate(self, path: str = "head") -> None:
        _check_int(f"{path}.width", self.width, minimum=0)
        _check_int(f"{path}.hidden_width", self.hidden_width, minimum=0)
        if not isinstance(self.norm, bool):
            _fail(f"{path}.norm", self.norm, "expected true or false")
        _check_float(f"{path}.dropout_rate", self.dropout_rate, lo=0.0, hi=1.0, hi_open=True)
        _check_int(f"{path}.num_classes", self.num_classes, minimum=1)
        _check_choice(f"{path}.pool", self.pool, HEAD_POOLS)
        _check_positive(f"{path}.logit_scale", self.logit_scale)

    def __post_init__(self) -> None:
        _normalize_floats(self)
        self.validate()


@dataclass(frozen=True, slots=True, kw_only=True)
class NetSpec:
    """A whole network: stem, stages, head and network-wide settings.

    resolution       default input resolution (pixels per side) for complexity and building.
    drop_path_rate   stochastic depth of the last block; it grows linearly from 0 over blocks.
    zero_init_residual  initialize the last norm of every residual branch to zero.
    norm_eps         epsilon of every BatchNorm.
    layer_norm_eps   epsilon of every LayerNorm (ConvNeXt, CoAtNet and timm use 1e-6).
    """

    schema: int = SCHEMA_VERSION
    name: str = ""
    stem: StemSpec = field(default_factory=StemSpec)
    stages: tuple[StageSpec, ...] = ()
    head: HeadSpec = field(default_factory=HeadSpec)
    in_width: int = 3
    resolution: int = 224
    act: str = "relu"
    drop_path_rate: float = 0.0
    zero_init_residual: bool = True
    norm_eps: float = 1e-5
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        _normalize_floats(self)
        if self.schema != SCHEMA_VERSION:
            _fail("schema", self.schema, f"this netscale reads schema {SCHEMA_VERSION}")
        if not isinstance(self.name, str):
            _fail("name", self.name, "expected a string")
        if not isinstance(self.stem, StemSpec):
            _fail("stem", self.stem, "expected a StemSpec")
        if not isinstance(self.head, HeadSpec):
            _fail("head", self.head, "expected a HeadSpec")
        if not isinstance(self.stages, tuple) or not self.stages:
            _fail("stages", self.stages, "expected a non-empty tuple of StageSpec")
        for i, stage in enumerate(self.stages):
            if not isinstance(stage, StageSpec):
                _fail(f"stages[{i}]", stage, "expected a StageSpec")
            stage.validate(f"stages[{i}]")
        _check_int("in_width", self.in_width, minimum=1)
        _check_int("resolution", self.resolution, minimum=1)
        _check_choice("act", self.act, ACTIVATIONS)
        _check_float("drop_path_rate", self.drop_path_rate, lo=0.0, hi=1.0, hi_open=True)
        if not isinstance(self.zero_init_residual, bool):
            _fail("zero_init_residual", self.zero_init_residual, "expected true or false")
        _check_float("norm_eps", self.norm_eps, lo=0.0, hi=1.0)
        _check_float("layer_norm_eps", self.layer_norm_eps, lo=0.0, hi=1.0)
        if self.stem.kind == "whiten":
            need = 2 * self.in_width * self.stem.kernel**2
            if self.stem.width != need:
                _fail(
                    "stem.width",
                    self.stem.width,
                    f"a whitening stem has 2 * in_width * kernel**2 = {need} channels (each "
                    "eigenvector of the patch covariance and its negative)",
                )
        if self.resolution < self.min_resolution:
            _fail("resolution", self.resolution, f"must be >= {self.min_resolution_text}")

    @property
    def min_resolution(self) -> int:
        """The smallest input (pixels per side) the network takes: its total stride, plus
        the pixels an unpadded whitening stem removes (its last map is then >= 1 px, the
        floor-mode pools of conv_pool blocks included)."""
        return self.total_stride + self.stem.shrink

    @property
    def min_resolution_text(self) -> str:
        """`min_resolution` with its reason, for error messages."""
        text = f"the network's total stride {self.total_stride}"
        if self.stem.shrink:
            text = (
                f"{self.min_resolution} ({text} + {self.stem.shrink} px its unpadded "
                f"{self.stem.kernel}x{self.stem.kernel} whitening stem removes)"
            )
        return text

    @property
    def total_stride(self) -> int:
        """Downsampling factor from input to the last feature map (per side)."""
        stride = self.stem.total_stride
        for stage in self.stages:
            stride *= stage.stride
        return stride

    @property
    def num_blocks(self) -> int:
        """Total number of blocks over all stages."""
        return sum(stage.depth for stage in self.stages)

    @property
    def num_features(self) -> int:
        """Width of the pooled feature vector the classifier reads."""
        return self.head.width or self.stages[-1].width
