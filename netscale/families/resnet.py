"""ResNet (He et al. 2016), ResNet-D (He et al. 2019, "Bag of Tricks") and ResNet-RS
(Bello et al. 2021, "Revisiting ResNets"). No torch.

All use the "v1.5" layout of timm and torchvision: the stride sits on the 3x3 conv.
ResNet-D: deep stem (three 3x3 convs, 32-32-64) and an avg-pool shortcut (Bag of Tricks
sec. 4.1). ResNet-RS: ResNet-D + SE of ratio 0.25 on the block output, the stem's max-pool
replaced by a strided 3x3 conv (ResNet-RS sec. 4.1 and appendix; timm `resnetrs*`).
"""

from __future__ import annotations

from functools import partial

from netscale.families.registry import ModelInfo, Reference, TrainingValue, register
from netscale.spec.net import HeadSpec, NetSpec, StageSpec, StemSpec

# depth -> (block, blocks per stage); He et al. Table 1, ResNet-RS Table 8 for 270..420.
RESNET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    200: ("bottleneck", (3, 24, 36, 3)),
    270: ("bottleneck", (4, 29, 53, 4)),
    350: ("bottleneck", (4, 36, 72, 4)),
    420: ("bottleneck", (4, 44, 87, 4)),
}

# ResNet-RS per model (ResNet-RS Table 8 / official configs): train = eval resolution (px),
# head dropout, stochastic-depth rate, published top-1 (%), params (M), FLOPs (G, 2x MACs).
RESNET_RS = {
    50: (160, 0.25, 0.0, 78.8, 36, 4.6),
    101: (192, 0.25, 0.0, 81.2, 64, 12),
    152: (256, 0.25, 0.0, 83.0, 87, 31),
    200: (256, 0.25, 0.1, 83.4, 93, 40),
    270: (256, 0.25, 0.1, 83.8, 130, 54),
    350: (320, 0.4, 0.1, 84.2, 164, 107),
    420: (320, 0.4, 0.1, 84.4, 192, 128),
}

# RandAugment magnitude (TF scale, 2 layers) of each model's official config
# (tensorflow/tpu models/official/resnet/resnet_rs/configs/resnetrs{depth}_i{res}.yaml, at
# the resolution above): 10 for RS-50 (and RS-101 at 160 px), 15 from RS-101 at 192 px up.
RESNET_RS_RANDAUG = {50: 10, 101: 15, 152: 15, 200: 15, 270: 15, 350: 15, 420: 15}

# torchvision IMAGENET1K_V1 top-1 (%), for the plain ResNets torchvision ships.
_TV_TOP1 = {18: 69.758, 34: 73.314, 50: 76.130, 101: 77.374, 152: 78.312}

_PAPER_RESNET = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016"
_PAPER_D = "He et al., Bag of Tricks for Image Classification with CNNs, CVPR 2019"
_PAPER_RS = "Bello et al., Revisiting ResNets: Improved Training and Scaling Strategies, 2021"


def resnet(
    depth: int,
    *,
    deep_stem: bool = False,
    avg_shortcut: bool = False,
    se_ratio: float = 0.0,
    stem_pool: str = "max",
    resolution: int = 224,
    dropout_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    name: str = "",
) -> NetSpec:
    """A ResNet of `depth` in {18, 34, 50, 101, 152, 200, 270, 350, 420} with options."""
    if depth not in RESNET_DEPTHS:
        raise ValueError(f"depth={depth!r} is invalid; allowed: {sorted(RESNET_DEPTHS)}")
    block, depths = RESNET_DEPTHS[depth]
    expansion = 4 if block == "bottleneck" else 1
    stages = tuple(
        StageSpec(
            block=block,
            depth=d,
            width=64 * 2**i * expansion,
            stride=1 if i == 0 else 2,
            bottleneck_ratio=1 / expansion,
            se_ratio=se_ratio,
            se_placement="out",
            shortcut="avg" if avg_shortcut else "conv",
        )
        for i, d in enumerate(depths)
    )
    if deep_stem:
        stem = StemSpec(kind="deep", width=64, mid_width=32, stride=2, pool=stem_pool)
    else:
        stem = StemSpec(kind="conv", width=64, kernel=7, stride=2, pool=stem_pool)
    return NetSpec(
        name=name,
        stem=stem,
        stages=stages,
        resolution=resolution,
        head=HeadSpec(dropout_rate=dropout_rate),
        drop_path_rate=drop_path_rate,
    )


def resnet_rs(depth: int, *, name: str = "") -> NetSpec:
    """ResNet-RS at its published resolution, dropout and stochastic depth."""
    res, dropout, drop_path, *_ = RESNET_RS[depth]
    return resnet(
        depth,
        deep_stem=True,
        avg_shortcut=True,
        se_ratio=0.25,
        stem_pool="conv",
        resolution=res,
        dropout_rate=dropout,
        drop_path_rate=drop_path,
        name=name,
    )


def _register() -> None:
    for depth in (18, 34, 50, 101, 152, 200):
        name = f"resnet_{depth}"
        refs: tuple[Reference, ...] = ()
        if depth in _TV_TOP1:
            refs = (
                Reference(
                    metric="top1",
                    value=_TV_TOP1[depth],
                    unit="%",
                    source="torchvision IMAGENET1K_V1 weights",
                ),
            )
        register(
            partial(resnet, depth, name=name),
            ModelInfo(
                name=name,
                family="resnet",
                paper=_PAPER_RESNET,
                train_resolution=224,
                test_resolution=224,
                references=refs,
                timm=f"resnet{depth}",
                torchvision=f"resnet{depth}" if depth in _TV_TOP1 else None,
                notes="v1.5 layout (stride on the 3x3 conv), as timm and torchvision.",
            ),
        )
    for depth in (50, 101, 152, 200):
        name = f"resnet_d_{depth}"
        register(
            partial(resnet, depth, deep_stem=True, avg_shortcut=True, name=name),
            ModelInfo(
                name=name,
                family="resnet_d",
                paper=_PAPER_D,
                train_resolution=224,
                test_resolution=224,
                timm=f"resnet{depth}d",
            ),
        )
    for depth, (res, _, _, top1, params, flops) in RESNET_RS.items():
        name = f"resnet_rs_{depth}"
        refs = (
            Reference(metric="top1", value=top1, unit="%", source="ResNet-RS Table 8"),
            Reference(metric="params", value=params, unit="M", source="ResNet-RS Table 8"),
            Reference(
                metric="flops",
                value=flops,
                unit="G (2 x multiply-adds)",
                source="ResNet-RS Table 8",
            ),
        )
        register(
            partial(resnet_rs, depth, name=name),
            ModelInfo(
                name=name,
                family="resnet_rs",
                paper=_PAPER_RS,
                train_resolution=res,
                test_resolution=res,
                references=refs,
                timm=f"resnetrs{depth}",
                training=(
                    TrainingValue(
                        field="randaug_magnitude",
                        value=RESNET_RS_RANDAUG[depth],
                        source=f"official config resnetrs{depth}_i{res}.yaml",
                    ),
                ),
                notes="ResNet-RS counts FLOPs as 2x multiply-adds; netscale reports multiply-adds.",
            ),
        )


_register()
