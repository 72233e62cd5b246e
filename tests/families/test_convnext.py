"""ConvNeXt specs: the paper's tables and timm's small variants."""

import pytest

import netscale
from netscale.families.convnext import CONVNEXT


@pytest.mark.parametrize("size", sorted(CONVNEXT))
def test_tables(size):
    spec = netscale.get_spec(f"convnext_{size}")
    depths, widths, *_ = CONVNEXT[size]
    assert tuple(s.depth for s in spec.stages) == depths
    assert tuple(s.width for s in spec.stages) == widths
    assert spec.stem.kind == "patchify" and spec.stem.stride == 4 and spec.total_stride == 32
    assert all(s.kernel == 7 and s.layer_scale == 1e-6 for s in spec.stages)
    assert spec.head.norm and spec.act == "gelu"


@pytest.mark.parametrize("size", ["tiny", "small", "base", "large"])
def test_published_numbers(size):
    """Params within 3% of ConvNeXt Table 1 (which gives whole millions: 28.59 M is "28M"
    for ConvNeXt-T), multiply-adds within 2%."""
    cx = netscale.complexity(f"convnext_{size}")
    *_, params, flops = CONVNEXT[size]
    assert abs(cx.params / 1e6 - params) / params < 0.03
    assert abs(cx.flops / 1e9 - flops) / flops < 0.02
