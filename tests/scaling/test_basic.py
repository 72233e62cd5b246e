"""The single-dimension mechanisms: width (with group and head compatibility), depth,
resolution, and grow_depth (blocks added one at a time)."""

import pytest

import netscale
from netscale.complexity import count
from netscale.scaling import compound, depth, resolution, round_width, width
from netscale.scaling.basic import check_stage, grow_depth
from netscale.spec import SpecError


def test_round_width_ten_percent_rule():
    assert round_width(32 * 1.1) == 32  # 35.2 -> 32 keeps more than 90%
    assert round_width(11.0) == 16  # 11 -> 8 would lose more than 10%: one divisor up
    assert round_width(11.0, round_limit=0.0) == 8
    assert round_width(3.0) == 8  # at least one divisor


@pytest.mark.parametrize("name", ["regnet_y_4gf", "regnet_x_8gf", "resnet_50"])
@pytest.mark.parametrize("mult", [0.5, 1.3, 2.0])
def test_width_keeps_group_widths_dividing_bottleneck_widths(name, mult):
    spec = netscale.get_spec(name)
    scaled = width(spec, mult)  # a valid spec: NetSpec validation would raise otherwise
    for before, after in zip(spec.stages, scaled.stages, strict=True):
        if after.group_width is not None:
            assert after.inner_width % after.group_width == 0
            assert after.group_width <= before.group_width
    assert count(scaled).flops != count(spec).flops


def test_depth_rounds_up_per_stage():
    spec = netscale.get_spec("resnet_50")  # depths 3, 4, 6, 3
    assert [s.depth for s in depth(spec, 2.2).stages] == [7, 9, 14, 7]
    assert [s.depth for s in depth(spec, 1.0).stages] == [3, 4, 6, 3]


def test_resolution_checks_the_total_stride():
    spec = netscale.get_spec("resnet_50")
    assert resolution(spec, 256).resolution == 256
    with pytest.raises(SpecError, match=r"resolution=16 is invalid: .* total stride 32"):
        resolution(spec, 16)


def test_grow_depth_from_stage_zero_and_identity():
    spec = netscale.get_spec("resnet_18")
    assert grow_depth(spec, 1.01) is spec  # rounds to +0 blocks
    assert [s.depth for s in grow_depth(spec, 2.0).stages] == [4, 4, 4, 4]


def test_grow_depth_adds_one_block_per_step_in_proportion():
    spec = netscale.get_spec("resnet_50")  # 16 blocks: 3, 4, 6, 3
    previous = [3, 4, 6, 3]
    for step in range(1, 33):
        depths = [s.depth for s in grow_depth(spec, 1 + step / 16, from_stage=1).stages]
        assert depths[0] == 3 and sum(depths) == 16 + step
        assert all(a >= b for a, b in zip(depths, previous, strict=True))
        previous = depths
    assert previous == [3, 14, 21, 10]  # 45 blocks as 4 : 6 : 3 would give 13.8, 20.8, 10.4


def test_grow_depth_rounds_each_share_to_the_nearest_block_within_to_stage():
    spec = netscale.get_spec("resnet_rs_350")  # 4, 36, 72, 4: 116 blocks
    grown = grow_depth(spec, 1 + 23 / 116, from_stage=1, to_stage=3)
    # 131 middle blocks as 36 : 72 are 43.67 : 87.33 (D'Hondt's divisor would give 43 : 88)
    assert [s.depth for s in grown.stages] == [4, 44, 87, 4]
    assert grow_depth(spec, 2.0, to_stage=4) == grow_depth(spec, 2.0)
    first = grow_depth(spec, 2.0, to_stage=1)  # every new block in stage 0
    assert [s.depth for s in first.stages] == [120, 36, 72, 4]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: grow_depth(s, 0.5), "depth mult=0.5 is invalid: expected a finite number >= 1"),
        (lambda s: grow_depth(s, 2, from_stage=4), r"from_stage=4 is invalid: .* 0\.\.3"),
        (
            lambda s: grow_depth(s, 2, from_stage=1, to_stage=1),
            r"to_stage=1 is invalid: expected None or an integer in 2\.\.4 \(the stages grown",
        ),
        (lambda s: grow_depth(s, 2, to_stage=5), r"to_stage=5 is invalid: .* 1\.\.4"),
        (lambda s: grow_depth(s, 2, to_stage=2.0), r"to_stage=2\.0 is invalid"),
        (lambda s: check_stage(s, True), "from_stage=True is invalid"),
        (lambda s: check_stage(s, -1, "stage"), r"stage=-1 is invalid: .* 0\.\.3"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(SpecError, match=message):
        call(netscale.get_spec("resnet_50"))


def test_width_applies_appendix_d_as_the_regnet_family_does():
    from netscale.families.regnet import anynet
    from netscale.spec.groups import adjust_group_compatibility

    spec = anynet([1, 2], [96, 224], bottleneck_ratios=[1.0, 4.0], group_widths=[24, 56])
    scaled = width(spec, 1.37)
    for before, after in zip(spec.stages, scaled.stages, strict=True):
        target = round_width(before.width * 1.37)
        w, g = adjust_group_compatibility(target, before.bottleneck_ratio, before.group_width)
        assert (after.width, after.group_width) == (int(w), int(g))


def test_width_names_a_ratio_appendix_d_cannot_keep_grouped():
    from dataclasses import replace

    spec = netscale.get_spec("regnet_x_400mf")
    # width 40, ratio 0.7, group 4 (bottleneck 28) x 1.1 -> 48; appendix D: int(48 * 0.7)
    # = 33 -> 32 (a multiple of 4) -> width int(32 / 0.7) = 45, whose bottleneck width
    # round(45 * 0.7) = round(31.4999...) = 31 is not a multiple of 4
    stage = replace(spec.stages[0], width=40, bottleneck_ratio=0.7, group_width=4)
    bad = replace(spec, stages=(stage, *spec.stages[1:]))
    with pytest.raises(SpecError, match=r"bottleneck_ratio=0.7 grouped: .* width 45 and group"):
        width(bad, 1.1)


def test_airbench94_scales_in_width_depth_and_resolution(airbench94):
    """conv_pool stages scale as any stage; a whitening stem keeps its width, which the
    input fixes (2 * in_width * kernel**2)."""
    wide = width(airbench94, 2.0)
    assert wide.stem == airbench94.stem
    assert [s.width for s in wide.stages] == [128, 512, 512]
    assert [s.depth for s in depth(airbench94, 2.0).stages] == [2, 2, 2]
    assert count(depth(airbench94, 2.0)).flops > count(airbench94).flops
    assert resolution(airbench94, 9).resolution == 9
    with pytest.raises(SpecError, match=r"resolution=8 is invalid: .* >= 9 \(the network's"):
        resolution(airbench94, 8)
    assert compound(airbench94, 1.0).stem.width == 24
