"""Param counts equal the same-architecture models of timm and torchvision."""

import pytest
import torch

import netscale
from netscale.build.counterparts import counterpart_model, counterpart_name

TIMM = [n for n in netscale.list_models() if counterpart_name(n, "timm")]
TORCHVISION = [n for n in netscale.list_models() if counterpart_name(n, "torchvision")]


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_counterparts_are_named():
    # timm has every registered model but EfficientNetV2-B0..B3 (TF-padding ports only)
    # and netscale's own coatnet_nano
    missing = sorted(set(netscale.list_models()) - set(TIMM))
    assert missing == ["coatnet_nano"] + [f"efficientnet_v2_b{i}" for i in range(4)]
    assert len(TORCHVISION) == 16 + 8 + 3 + 4


@pytest.mark.parametrize("name", TIMM)
def test_params_equal_timm(name):
    theirs = counterpart_model(name, "timm", device="meta")
    assert _params(theirs) == netscale.complexity(name).params


@pytest.mark.parametrize("name", TORCHVISION)
def test_params_equal_torchvision(name):
    device = "cpu" if name.startswith("regnet") else "meta"  # see counterpart_model
    theirs = counterpart_model(name, "torchvision", device=device)
    assert _params(theirs) == netscale.complexity(name).params


def test_no_counterpart_and_bad_source():
    with pytest.raises(ValueError, match="no same-architecture counterpart in torchvision"):
        counterpart_model("resnet_rs_50", "torchvision")
    with pytest.raises(ValueError, match="source='keras' is invalid; allowed: timm, torchvision"):
        counterpart_name("resnet_50", "keras")
