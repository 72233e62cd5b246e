"""EfficientNetV2 scaling (sec. 3.3): depth to later stages, resolution cap, compound_v2."""

import pytest

import netscale
from netscale.complexity import count
from netscale.scaling import cap_resolution, compound, compound_v2, v2_depth
from netscale.spec import SpecError

BASES = [
    b for b in ("efficientnet_v2_s", "efficientnet_b0", "resnet_50") if netscale.list_models(b)
]


@pytest.mark.parametrize("name", BASES)
@pytest.mark.parametrize("mult", [1.3, 2.0, 3.7])
def test_v2_depth_adds_the_uniform_blocks_to_later_stages_only(name, mult):
    spec = netscale.get_spec(name)
    scaled = v2_depth(spec, mult)
    first = len(spec.stages) // 2
    before, after = [s.depth for s in spec.stages], [s.depth for s in scaled.stages]
    assert after[:first] == before[:first]
    assert sum(after) == spec.num_blocks + round(spec.num_blocks * (mult - 1))
    # Later stages grow in proportion to their depth, to within one block.
    share = (sum(after) - sum(before[:first])) / sum(before[first:])
    assert all(abs(a - b * share) <= 1 for a, b in zip(after[first:], before[first:], strict=True))
    assert [s.width for s in scaled.stages] == [s.width for s in spec.stages]


def test_v2_depth_is_monotone_and_one_block_per_step():
    spec = netscale.get_spec("resnet_50")
    previous, flops = None, 0
    for step in range(40):
        depths = [s.depth for s in v2_depth(spec, 1 + step / 16, from_stage=1).stages]
        if previous is not None:
            assert all(a >= b for a, b in zip(depths, previous, strict=True))
            assert sum(depths) - sum(previous) == 1  # 16 blocks: 1/16 adds one
        new = count(v2_depth(spec, 1 + step / 16, from_stage=1)).flops
        assert new >= flops
        previous, flops = depths, new


def test_v2_depth_is_the_identity_at_one():
    spec = netscale.get_spec("resnet_18")
    assert v2_depth(spec, 1.0) is spec and v2_depth(spec, 1.01) is spec  # rounds to +0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: v2_depth(s, 0.5), "depth mult=0.5 is invalid: expected a finite number >= 1"),
        (lambda s: v2_depth(s, 2, from_stage=4), r"from_stage=4 is invalid: .* 0\.\.3"),
        (lambda s: v2_depth(s, 2, from_stage=-1), "from_stage=-1 is invalid"),
        (lambda s: cap_resolution(s, 16), "max_res=16 is invalid: .* total stride 32"),
        (lambda s: compound_v2(s, -0.5), "phi=-0.5 is invalid"),
        (lambda s: compound_v2(s, 1, beta=0.5), "beta=0.5 is invalid"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(SpecError, match=message):
        call(netscale.get_spec("resnet_50"))


def test_cap_resolution():
    spec = netscale.get_spec("resnet_50", resolution=600)
    assert cap_resolution(spec).resolution == 480
    assert cap_resolution(spec, 512).resolution == 512
    small = netscale.get_spec("resnet_50")
    assert cap_resolution(small) is small


@pytest.mark.parametrize("name", BASES)
def test_compound_v2_caps_resolution_and_keeps_early_stages(name):
    spec = netscale.get_spec(name)
    assert compound_v2(spec, 0) is spec
    for phi in (1, 3, 6):
        scaled = compound_v2(spec, phi)
        assert scaled.resolution == min(compound(spec, phi).resolution, 480)
        first = len(spec.stages) // 2
        assert [s.depth for s in scaled.stages[:first]] == [s.depth for s in spec.stages[:first]]
        assert count(scaled).flops > count(compound_v2(spec, phi - 0.5)).flops


def test_compound_v2_never_shrinks_a_base_above_the_cap():
    spec = netscale.get_spec("resnet_50", resolution=512)
    assert compound_v2(spec, 1).resolution == 512
    assert compound_v2(spec, 1, max_res=320).resolution == 512
