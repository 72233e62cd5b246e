"""EfficientNet (Tan & Le 2019) and EfficientNetV2 (Tan & Le 2021). No torch.

B1-B7 are B0 scaled by the released (width, depth) multipliers with EfficientNet's rounding
(`netscale.scaling.width` / `depth`); the released multipliers are not exactly
1.1^phi / 1.2^phi (EfficientNet Table 2 and official code). V2 S/M/L/XL are the V2 paper's
Table 4 stage tables and their scaled siblings; V2 B0-B3 scale the V2 base table like V1
but round widths without the 10% rule (official V2 code).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any

from netscale.families.registry import (
    ModelInfo,
    ProgressiveLearning,
    TrainingValue,
    published,
    register,
)
from netscale.scaling.basic import depth, width
from netscale.spec.net import HeadSpec, NetSpec, StageSpec, StemSpec

_PAPER_V1 = "Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019"
_PAPER_V2 = "Tan & Le, EfficientNetV2: Smaller Models and Faster Training, ICML 2021"

# (block, depth, kernel, stride, expansion, width, se_ratio) per stage.
# EfficientNet-B0, EfficientNet Table 1; SE 0.25 of the block input width.
B0_STAGES = (
    ("mbconv", 1, 3, 1, 1, 16, 0.25),
    ("mbconv", 2, 3, 2, 6, 24, 0.25),
    ("mbconv", 2, 5, 2, 6, 40, 0.25),
    ("mbconv", 3, 3, 2, 6, 80, 0.25),
    ("mbconv", 3, 5, 1, 6, 112, 0.25),
    ("mbconv", 4, 5, 2, 6, 192, 0.25),
    ("mbconv", 1, 3, 1, 6, 320, 0.25),
)
# EfficientNetV2-S, V2 Table 4 (stem 24, head 1280); M/L/XL from the official configs.
V2_STAGES = {
    "s": (24, ((2, 1, 24), (4, 4, 48), (4, 4, 64), (6, 4, 128), (9, 6, 160), (15, 6, 256))),
    "m": (
        24,
        ((3, 1, 24), (5, 4, 48), (5, 4, 80), (7, 4, 160), (14, 6, 176), (18, 6, 304), (5, 6, 512)),
    ),
    "l": (
        32,
        ((4, 1, 32), (7, 4, 64), (7, 4, 96), (10, 4, 192), (19, 6, 224), (25, 6, 384), (7, 6, 640)),
    ),
    "xl": (
        32,
        ((4, 1, 32), (8, 4, 64), (8, 4, 96), (16, 4, 192), (24, 6, 256), (32, 6, 512), (8, 6, 640)),
    ),
    "base": (32, ((1, 1, 16), (2, 4, 32), (2, 4, 48), (3, 4, 96), (5, 6, 112), (8, 6, 192))),
}
_V2_STRIDES = (1, 2, 2, 2, 1, 2, 1)
_V2_FUSED_STAGES = 3  # the first three stages are Fused-MBConv without SE

# name -> (width mult, depth mult, resolution px, dropout): EfficientNet Table 2 / official
# code; published top-1 (%), params (M), FLOPs (G multiply-adds) from Table 2.
EFFICIENTNET = {
    "b0": (1.0, 1.0, 224, 0.2, 77.1, 5.3, 0.39),
    "b1": (1.0, 1.1, 240, 0.2, 79.1, 7.8, 0.70),
    "b2": (1.1, 1.2, 260, 0.3, 80.1, 9.2, 1.0),
    "b3": (1.2, 1.4, 300, 0.3, 81.6, 12, 1.8),
    "b4": (1.4, 1.8, 380, 0.4, 82.9, 19, 4.2),
    "b5": (1.6, 2.2, 456, 0.4, 83.6, 30, 9.9),
    "b6": (1.8, 2.6, 528, 0.5, 84.0, 43, 19),
    "b7": (2.0, 3.1, 600, 0.5, 84.3, 66, 37),
}
# V2: name -> (train px, eval px, dropout, top-1 %, params M, FLOPs G) (V2 Table 7 / code).
EFFICIENTNET_V2 = {
    "s": (300, 384, 0.2, 83.9, 22, 8.8),
    "m": (384, 480, 0.3, 85.1, 54, 24),
    "l": (384, 480, 0.4, 85.7, 120, 53),
    "xl": (384, 512, 0.4, None, None, None),  # ImageNet-21k pretraining only
}
# V2 base scaled: name -> (width mult, depth mult, train px, eval px, dropout).
EFFICIENTNET_V2_BASE = {
    "b0": (1.0, 1.0, 192, 224, 0.2),
    "b1": (1.0, 1.1, 192, 240, 0.2),
    "b2": (1.1, 1.2, 208, 260, 0.3),
    "b3": (1.2, 1.4, 240, 300, 0.3),
}
# Progressive learning, V2 Table 6 (min -> max over 4 stages): image size, RandAugment
# magnitude, mixup alpha, dropout.
V2_PROGRESSIVE = {
    "s": (128, 300, 5, 15, 0.0, 0.0, 0.1, 0.3),
    "m": (128, 380, 5, 20, 0.0, 0.2, 0.1, 0.4),
    "l": (128, 380, 5, 25, 0.0, 0.4, 0.1, 0.5),
}
# The released code's presets (google/automl efficientnetv2/effnetv2_configs.py
# `efficientnetv2_params` with main.py's stage schedule): size from hparams' ibase 128 to
# the train size, RandAugment np.linspace(5, ram), mixup and CutMix np.linspace(0, mix),
# dropout held at the model's. b0-b3 train with AutoAugment there (netscale has none):
# their preset leaves RandAugment off.
V2_CODE = {  # name -> (train px, ram, mix, dropout)
    "s": (300, 10, 0.0, 0.2),
    "m": (384, 15, 0.2, 0.3),
    "l": (384, 20, 0.5, 0.4),
    "xl": (384, 20, 0.5, 0.4),
    "b0": (192, 0, 0.0, 0.2),
    "b1": (192, 0, 0.0, 0.2),
    "b2": (208, 0, 0.0, 0.3),
    "b3": (240, 0, 0.0, 0.3),
}


def eval_crop(test_resolution: int, v2: bool) -> TrainingValue:
    """The evaluation center crop of the official code: test / (test + 32) of the shorter
    side (CROP_PADDING 32 in tensorflow/tpu efficientnet preprocessing.py; automl
    efficientnetv2 preprocessing.py, which keeps the whole image from 320 px up)."""
    whole = v2 and test_resolution >= 320
    source = (
        "google/automl efficientnetv2 preprocessing.py preprocess_for_eval"
        if v2
        else "tensorflow/tpu efficientnet preprocessing.py CROP_PADDING"
    )
    value = 1.0 if whole else round(test_resolution / (test_resolution + 32), 4)
    return TrainingValue(field="eval_crop_fraction", value=value, source=source)


def v2_progressive(size: str) -> tuple[ProgressiveLearning | None, ProgressiveLearning]:
    """(Table 6's progressive settings or None, the released code's preset) of V2 `size`."""
    paper = None
    if size in V2_PROGRESSIVE:
        lo, hi, ra_lo, ra_hi, mix_lo, mix_hi, dp_lo, dp_hi = V2_PROGRESSIVE[size]
        paper = ProgressiveLearning(
            min_resolution=lo,
            max_resolution=hi,
            min_randaug=ra_lo,
            max_randaug=ra_hi,
            min_mixup=mix_lo,
            max_mixup=mix_hi,
            min_dropout=dp_lo,
            max_dropout=dp_hi,
            source="EfficientNetV2 Table 6",
        )
    train, ram, mix, dropout = V2_CODE[size]
    code = ProgressiveLearning(
        min_resolution=128,
        max_resolution=train,
        min_randaug=min(5, ram),
        max_randaug=ram,
        min_mixup=0.0,
        max_mixup=mix,
        min_dropout=dropout,
        max_dropout=dropout,
        source="google/automl efficientnetv2 effnetv2_configs.py and main.py",
        cutmix=True,
    )
    return paper, code


def efficientnet_b0(*, name: str = "efficientnet_b0") -> NetSpec:
    """EfficientNet-B0: 3x3 s2 stem (32), seven MBConv stages, 1x1 head conv to 1280, SiLU."""
    stages = tuple(
        StageSpec(block=b, depth=d, kernel=k, stride=s, expansion_ratio=e, width=w, se_ratio=se)
        for b, d, k, s, e, w, se in B0_STAGES
    )
    return NetSpec(
        name=name,
        stem=StemSpec(kind="conv", width=32, stride=2),
        stages=stages,
        head=HeadSpec(width=1280, dropout_rate=0.2),
        act="silu",
        drop_path_rate=0.2,
        zero_init_residual=False,
    )


def efficientnet(variant: str, *, name: str = "") -> NetSpec:
    """EfficientNet-B0..B7 by the released width/depth multipliers and resolution."""
    w, d, res, dropout, *_ = EFFICIENTNET[variant]
    spec = depth(width(efficientnet_b0(), w), d)
    return _finish(spec, name or f"efficientnet_{variant}", res, dropout)


def efficientnet_v2_table(size: str) -> NetSpec:
    """An EfficientNetV2 stage table as a spec: Fused-MBConv stages 1-3, MBConv + SE after."""
    stem, table = V2_STAGES[size]
    stages = tuple(
        StageSpec(
            block="fused_mbconv" if i < _V2_FUSED_STAGES else "mbconv",
            depth=d,
            width=w,
            stride=_V2_STRIDES[i],
            kernel=3,
            expansion_ratio=e,
            se_ratio=0.0 if i < _V2_FUSED_STAGES else 0.25,
        )
        for i, (d, e, w) in enumerate(table)
    )
    # BN epsilon 1e-3 as the official code (timm's PyTorch-native V2 uses 1e-5).
    return NetSpec(
        stem=StemSpec(kind="conv", width=stem, stride=2),
        stages=stages,
        head=HeadSpec(width=1280),
        act="silu",
        drop_path_rate=0.2,
        zero_init_residual=False,
        norm_eps=1e-3,
    )


def efficientnet_v2(size: str, *, name: str = "") -> NetSpec:
    """EfficientNetV2-S/M/L/XL at its train resolution."""
    train, _, dropout, *_ = EFFICIENTNET_V2[size]
    return _finish(efficientnet_v2_table(size), name or f"efficientnet_v2_{size}", train, dropout)


def efficientnet_v2_base(variant: str, *, name: str = "") -> NetSpec:
    """EfficientNetV2-B0..B3: the base table scaled like V1, widths without the 10% rule."""
    w, d, train, _, dropout = EFFICIENTNET_V2_BASE[variant]
    spec = depth(width(efficientnet_v2_table("base"), w, round_limit=0.0), d)
    return _finish(spec, name or f"efficientnet_v2_{variant}", train, dropout)


def _finish(spec: NetSpec, name: str, res: int, dropout: float) -> NetSpec:
    head = dataclasses.replace(spec.head, dropout_rate=dropout)
    return dataclasses.replace(spec, name=name, resolution=res, head=head)


_V1_NOTES = {
    v: "torchvision builds this model with BN epsilon 1e-3, timm with 1e-5: import_weights "
    "sets the source's."
    for v in ("b5", "b6", "b7")
}


def _register() -> None:
    for variant, (_, _, res, _, top1, params, flops) in EFFICIENTNET.items():
        name = f"efficientnet_{variant}"
        register(
            partial(efficientnet, variant),
            ModelInfo(
                name=name,
                family="efficientnet",
                paper=_PAPER_V1,
                train_resolution=res,
                test_resolution=res,
                references=published("EfficientNet Table 2", top1, params, flops),
                timm=f"efficientnet_{variant}",
                torchvision=f"efficientnet_{variant}",
                training=(eval_crop(res, v2=False),),
                notes=_V1_NOTES.get(variant, ""),
            ),
        )
    for size, (train, test, _, top1, params, flops) in EFFICIENTNET_V2.items():
        _register_v2(
            size,
            partial(efficientnet_v2, size),
            (train, test),
            references=published("EfficientNetV2 Table 7", top1, params, flops),
            timm=f"efficientnetv2_{size}",
            torchvision=f"efficientnet_v2_{size}" if size != "xl" else None,
            notes="BN epsilon 1e-3 as the official code and torchvision; timm's "
            "efficientnetv2_* use 1e-5: import_weights sets the source's.",
        )
    for variant, (_, _, train, test, _) in EFFICIENTNET_V2_BASE.items():
        _register_v2(
            variant,
            partial(efficientnet_v2_base, variant),
            (train, test),
            notes=f"timm's tf_efficientnetv2_{variant} has the same parameters but TF 'same' "
            "(asymmetric) padding, so it is not a same-architecture counterpart.",
        )


def _register_v2(
    size: str, factory: Callable[[], NetSpec], resolutions: tuple[int, int], **info: Any
) -> None:
    """Register EfficientNetV2 `size` with its progressive presets and evaluation crop."""
    train, test = resolutions
    paper, code = v2_progressive(size)
    register(
        factory,
        ModelInfo(
            name=f"efficientnet_v2_{size}",
            family="efficientnet_v2",
            paper=_PAPER_V2,
            train_resolution=train,
            test_resolution=test,
            progressive=paper,
            progressive_code=code,
            training=(eval_crop(test, v2=True),),
            **info,
        ),
    )


_register()
