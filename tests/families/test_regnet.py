"""RegNet width generation (eqs. 2-4), appendix-D compatibility, AnyNet."""

import pytest

import netscale
from netscale.families.regnet import (
    REGNET_X,
    adjust_group_compatibility,
    anynet,
    regnet,
    regnet_widths,
)
from netscale.spec import SpecError

# Stage depths and widths of the published models (pycls MODEL_ZOO / timm, which agree).
STAGES = {
    "regnet_x_200mf": ([1, 1, 4, 7], [24, 56, 152, 368]),
    "regnet_x_400mf": ([1, 2, 7, 12], [32, 64, 160, 384]),
    "regnet_x_4gf": ([2, 5, 14, 2], [80, 240, 560, 1360]),
    "regnet_x_8gf": ([2, 5, 15, 1], [80, 240, 720, 1920]),
    "regnet_y_400mf": ([1, 3, 6, 6], [48, 104, 208, 440]),
    "regnet_y_4gf": ([2, 6, 12, 2], [128, 192, 512, 1088]),
    "regnet_y_8gf": ([2, 4, 10, 1], [168, 448, 896, 2016]),
}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_published_stage_tables(name):
    spec = netscale.get_spec(name)
    assert [s.depth for s in spec.stages] == STAGES[name][0]
    assert [s.width for s in spec.stages] == STAGES[name][1]


def test_compatibility_step_changes_widths():
    # Before appendix D, RegNetY-4.0GF's raw widths are [96, 216, 480, 1080] (g=64).
    widths, depths = regnet_widths(22, 96, 31.41, 2.24)
    assert widths == [96, 216, 480, 1080] and sum(depths) == 22
    assert adjust_group_compatibility(widths, [1.0] * 4, [64] * 4) == (
        [128, 192, 512, 1088],
        [64, 64, 64, 64],
    )
    # group width capped at the bottleneck width: X-8.0GF stage 1 has 80 channels, g=120
    assert netscale.get_spec("regnet_x_8gf").stages[0].group_width == 80


def test_bottleneck_ratio_below_one():
    spec = regnet(13, 24, 36.44, 2.49, 8, bottleneck_ratio=0.25)
    for stage in spec.stages:
        assert stage.inner_width % stage.group_width == 0


def test_invalid_regnet_parameters():
    with pytest.raises(SpecError, match="w0 > 0 and divisible by 8"):
        regnet_widths(13, 20, 36.44, 2.49)
    with pytest.raises(SpecError, match="wm > 1"):
        regnet_widths(13, 24, 36.44, 0.9)


def test_anynet_per_stage_and_shared_values():
    spec = anynet([1, 2], [32, 64], bottleneck_ratios=[1.0, 0.5], group_widths=8, se_ratio=0.25)
    assert [s.bottleneck_ratio for s in spec.stages] == [1.0, 0.5]
    assert [s.group_width for s in spec.stages] == [8, 8]
    with pytest.raises(SpecError, match="group_widths has 3 entries"):
        anynet([1, 2], [32, 64], group_widths=[8, 8, 8])
    with pytest.raises(SpecError, match="equal length"):
        anynet([1, 2], [32])


def test_stride_one_stem_for_small_images():
    d, w0, wa, wm, g, _ = REGNET_X["200mf"]
    spec = regnet(d, w0, wa, wm, g, stem_stride=1, resolution=32)
    assert spec.stem.stride == 1 and spec.total_stride == 16
