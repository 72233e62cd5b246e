"""ResNet, ResNet-D and ResNet-RS specs."""

import pytest

import netscale
from netscale.families.resnet import resnet


def test_layouts():
    r50, d50, rs50 = (netscale.get_spec(n) for n in ("resnet_50", "resnet_d_50", "resnet_rs_50"))
    assert [s.depth for s in r50.stages] == [3, 4, 6, 3]
    assert [s.width for s in r50.stages] == [256, 512, 1024, 2048]
    assert r50.stem.kind == "conv" and r50.stem.kernel == 7 and r50.stem.pool == "max"
    assert d50.stem.kind == "deep" and d50.stages[1].shortcut == "avg"
    assert rs50.stem.pool == "conv" and rs50.stages[0].se_ratio == 0.25
    assert rs50.resolution == 160 and rs50.head.dropout_rate == 0.25
    assert netscale.get_spec("resnet_18").stages[0].block == "basic"
    assert [s.depth for s in netscale.get_spec("resnet_rs_420").stages] == [4, 44, 87, 4]


def test_unknown_depth():
    with pytest.raises(ValueError, match="depth=42 is invalid; allowed: \\[18, 34"):
        resnet(42)
