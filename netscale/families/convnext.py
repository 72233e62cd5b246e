"""ConvNeXt (Liu et al. 2022, "A ConvNet for the 2020s"). No torch.

4x4 patchify stem + LayerNorm; four stages of ConvNeXt blocks (7x7 depthwise, LayerNorm,
4x MLP with GELU, layer scale 1e-6); LayerNorm + 2x2 stride-2 conv between stages; head
global pool + LayerNorm + linear. Sizes: the paper's Table 1 (T/S/B/L) and timm's small
variants (atto..nano, which the paper does not have).
"""

from __future__ import annotations

from functools import partial

from netscale.families.registry import ModelInfo, published, register
from netscale.spec.net import HeadSpec, NetSpec, StageSpec, StemSpec

_PAPER = "Liu et al., A ConvNet for the 2020s, CVPR 2022"

# name -> (depths, widths, stochastic depth (ImageNet-1K training, ConvNeXt appendix A;
# 0 where the paper has no such model), published top-1 %, params M, FLOPs G multiply-adds).
CONVNEXT = {
    "atto": ((2, 2, 6, 2), (40, 80, 160, 320), 0.0, None, None, None),
    "femto": ((2, 2, 6, 2), (48, 96, 192, 384), 0.0, None, None, None),
    "pico": ((2, 2, 6, 2), (64, 128, 256, 512), 0.0, None, None, None),
    "nano": ((2, 2, 8, 2), (80, 160, 320, 640), 0.0, None, None, None),
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768), 0.1, 82.1, 28, 4.5),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768), 0.4, 83.1, 50, 8.7),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024), 0.5, 83.8, 89, 15.4),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536), 0.5, 84.3, 198, 34.4),
}


def convnext(
    depths: tuple[int, ...],
    widths: tuple[int, ...],
    *,
    name: str = "",
    resolution: int = 224,
    drop_path_rate: float = 0.0,
) -> NetSpec:
    """A ConvNeXt with per-stage depths and widths."""
    stages = tuple(
        StageSpec(
            block="convnext",
            depth=d,
            width=w,
            stride=1 if i == 0 else 2,
            kernel=7,
            expansion_ratio=4.0,
            layer_scale=1e-6,
        )
        for i, (d, w) in enumerate(zip(depths, widths, strict=True))
    )
    return NetSpec(
        name=name,
        stem=StemSpec(kind="patchify", width=widths[0], kernel=4, stride=4),
        stages=stages,
        head=HeadSpec(norm=True),
        act="gelu",
        resolution=resolution,
        drop_path_rate=drop_path_rate,
        zero_init_residual=False,
    )


def _register() -> None:
    for size, (depths, widths, drop_path, top1, params, flops) in CONVNEXT.items():
        name = f"convnext_{size}"
        refs = published("ConvNeXt Table 1 (ImageNet-1K, 224)", top1, params, flops)
        notes = "" if top1 else "Not in the paper: timm's small variant of the same design."
        factory = partial(convnext, depths, widths, name=name, drop_path_rate=drop_path)
        register(
            factory,
            ModelInfo(
                name=name,
                family="convnext",
                paper=_PAPER,
                train_resolution=224,
                test_resolution=224,
                references=refs,
                timm=f"convnext_{size}",
                torchvision=f"convnext_{size}"
                if size in ("tiny", "small", "base", "large")
                else None,
                notes=notes,
            ),
        )


_register()
