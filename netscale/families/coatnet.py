"""CoAtNet (Dai et al. 2021, "CoAtNet: Marrying Convolution and Attention"). No torch.

C-C-T-T layout (paper sec. 3.2, Table 3): S0 a two-conv stem (stride 2), S1-S2 pre-norm
MBConv stages (expansion 4 of the output width, SE 0.25), S3-S4 transformer stages with
2-D relative attention (head width 32, FFN expansion 4). Every stage halves the resolution
in its first block. As timm's `coatnet_N_224` (its reading of the paper), the head is pool,
LayerNorm, a pre-logits linear + tanh of the last width, then the classifier.
"""

from __future__ import annotations

from functools import partial

from netscale.families.registry import ModelInfo, published, register
from netscale.spec.net import HeadSpec, NetSpec, StageSpec, StemSpec

_PAPER = "Dai et al., CoAtNet: Marrying Convolution and Attention for All Data Sizes, 2021"

# name -> (stem width, depths S1-S4, widths S1-S4, pre-logits, published top-1 %, params M,
# FLOPs G multiply-adds at 224): paper Table 3 (layout) and Table 4 (ImageNet-1K, 224).
COATNET = {
    "0": (64, (2, 3, 5, 2), (96, 192, 384, 768), True, 81.6, 25, 4.2),
    "1": (64, (2, 6, 14, 2), (96, 192, 384, 768), True, 83.3, 42, 8.4),
    "2": (128, (2, 6, 14, 2), (128, 256, 512, 1024), True, 84.1, 75, 15.7),
    "3": (192, (2, 6, 14, 2), (192, 384, 768, 1536), True, 84.5, 168, 34.7),
    "4": (192, (2, 12, 28, 2), (192, 384, 768, 1536), True, None, 275, None),
    # netscale's own small member, sized to train on a CPU (not in the paper)
    "nano": (32, (2, 2, 2, 2), (48, 96, 192, 384), False, None, None, None),
}


def coatnet(
    stem_width: int,
    depths: tuple[int, ...],
    widths: tuple[int, ...],
    *,
    pre_logits: bool = True,
    name: str = "",
    resolution: int = 224,
    drop_path_rate: float = 0.0,
) -> NetSpec:
    """A C-C-T-T CoAtNet: two pre-norm MBConv stages, then two transformer stages."""
    stages = tuple(
        StageSpec(
            block="mbconv" if i < 2 else "transformer",
            depth=d,
            width=w,
            stride=2,
            kernel=3,
            expansion_ratio=4.0,
            se_ratio=0.25 if i < 2 else 0.0,
            pre_norm=i < 2,
            head_width=32,
        )
        for i, (d, w) in enumerate(zip(depths, widths, strict=True))
    )
    head = HeadSpec(norm=True, hidden_width=widths[-1] if pre_logits else 0)
    return NetSpec(
        name=name,
        stem=StemSpec(kind="coatnet", width=stem_width, stride=2),
        stages=stages,
        head=head,
        act="gelu",
        resolution=resolution,
        drop_path_rate=drop_path_rate,
        zero_init_residual=False,
    )


_TIMM_NOTE = (
    "timm's coatnet_*_224 are paper-intended configs without official weights; its "
    "coatnet_*_rw_* variants differ (docs/models.md)."
)
_NANO_NOTE = "netscale's own CPU-sized member of the family; no paper or library counterpart."


_TIMM_NOTE = (
    "timm's coatnet_*_224 are paper-intended configs without official weights; its "
    "coatnet_*_rw_* variants differ (docs/models.md)."
)
_NANO_NOTE = "netscale's own CPU-sized member of the family; no paper or library counterpart."


def _register() -> None:
    for size, (stem, depths, widths, pre_logits, top1, params, flops) in COATNET.items():
        name = f"coatnet_{size}"
        source = "CoAtNet Tables 3-4 (ImageNet-1K, 224 px)"
        refs = published(source, top1, params, flops)
        factory = partial(coatnet, stem, depths, widths, pre_logits=pre_logits, name=name)
        register(
            factory,
            ModelInfo(
                name=name,
                family="coatnet",
                paper=_PAPER,
                train_resolution=224,
                test_resolution=224,
                references=refs,
                timm=f"coatnet_{size}_224" if size != "nano" else None,
                notes=_NANO_NOTE if size == "nano" else _TIMM_NOTE,
            ),
        )


_register()
