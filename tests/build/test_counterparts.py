"""Param counts equal the same-architecture models of timm and torchvision, and their norm
epsilons are the ones weight import gives our models."""

import dataclasses

import pytest
import torch

import netscale
from netscale.build.counterparts import (
    counterpart_model,
    counterpart_name,
    counterpart_of,
    source_norm_eps,
)

TIMM = [n for n in netscale.list_models() if counterpart_name(n, "timm")]
TORCHVISION = [n for n in netscale.list_models() if counterpart_name(n, "torchvision")]


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _assert_norm_eps(name: str, source: str, theirs: torch.nn.Module) -> None:
    """The counterpart's BatchNorms and LayerNorms (timm's subclasses too) use the epsilons
    `source_norm_eps` names."""
    eps = source_norm_eps(netscale.get_spec(name), source)
    for cls, field in ((torch.nn.BatchNorm2d, "norm_eps"), (torch.nn.LayerNorm, "layer_norm_eps")):
        assert {m.eps for m in theirs.modules() if isinstance(m, cls)} <= {eps[field]}


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
    _assert_norm_eps(name, "timm", theirs)


@pytest.mark.parametrize("name", TORCHVISION)
def test_params_equal_torchvision(name):
    device = "cpu" if name.startswith("regnet") else "meta"  # see counterpart_model
    theirs = counterpart_model(name, "torchvision", device=device)
    assert _params(theirs) == netscale.complexity(name).params
    _assert_norm_eps(name, "torchvision", theirs)


def test_norm_eps_differ_where_the_libraries_do():
    v2 = {f"efficientnet_v2_{s}" for s in ("s", "m", "l")}
    tv_1e3 = v2 | {f"efficientnet_b{i}" for i in (5, 6, 7)}
    for name in TORCHVISION:
        assert source_norm_eps(netscale.get_spec(name), "torchvision")["norm_eps"] == (
            1e-3 if name in tv_1e3 else 1e-5
        )
    for name in TIMM:
        assert source_norm_eps(netscale.get_spec(name), "timm") == {
            "norm_eps": 1e-5,
            "layer_norm_eps": 1e-6,
        }


def test_unregistered_spec_takes_the_counterpart_of_its_architecture():
    b5 = netscale.get_spec("efficientnet_b5")
    renamed = dataclasses.replace(b5, name="mine", resolution=64, norm_eps=1e-4)
    head = dataclasses.replace(b5.head, num_classes=10, dropout_rate=0.0)
    for spec in (renamed, dataclasses.replace(renamed, head=head)):
        assert counterpart_of(spec, "torchvision") == "efficientnet_b5"
        assert source_norm_eps(spec, "torchvision")["norm_eps"] == 1e-3
    # an architecture no library builds: their defaults
    stages = (dataclasses.replace(b5.stages[0], depth=9), *b5.stages[1:])
    other = dataclasses.replace(renamed, stages=stages)
    assert counterpart_of(other, "torchvision") is None
    assert source_norm_eps(other, "torchvision") == {"norm_eps": 1e-5, "layer_norm_eps": 1e-6}


def test_no_counterpart_and_bad_source():
    with pytest.raises(ValueError, match="no same-architecture counterpart in torchvision"):
        counterpart_model("resnet_rs_50", "torchvision")
    with pytest.raises(ValueError, match="source='keras' is invalid; allowed: timm, torchvision"):
        counterpart_name("resnet_50", "keras")
