"""The registry: naming, lookup errors, overrides, model info."""

import re

import pytest

import netscale
from netscale.families.registry import ModelInfo, UnknownModelError, register
from netscale.spec import SpecError

REGNET_SIZES = [
    "200mf",
    "400mf",
    "600mf",
    "800mf",
    "1_6gf",
    "3_2gf",
    "4gf",
    "6_4gf",
    "8gf",
    "12gf",
    "16gf",
    "32gf",
]
EXPECTED = (
    [f"resnet_{d}" for d in (18, 34, 50, 101, 152, 200)]
    + [f"resnet_d_{d}" for d in (50, 101, 152, 200)]
    + [f"efficientnet_b{i}" for i in range(8)]
    + [f"convnext_{s}" for s in ("atto", "femto", "pico", "nano", "tiny", "small", "base")]
    + ["convnext_large"]
    + [f"coatnet_{s}" for s in ("0", "1", "2", "3", "4", "nano")]
    + [f"efficientnet_v2_{s}" for s in ("s", "m", "l", "xl", "b0", "b1", "b2", "b3")]
    + [f"resnet_rs_{d}" for d in (50, 101, 152, 200, 270, 350, 420)]
    + [f"regnet_{k}_{s}" for k in "xy" for s in REGNET_SIZES]
)


def test_every_model_of_the_issue_is_registered():
    assert sorted(EXPECTED) == netscale.list_models()


@pytest.mark.parametrize("name", netscale.list_models())
def test_names_and_info(name):
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name)
    info = netscale.model_info(name)
    assert info.name == name == netscale.get_spec(name).name
    assert info.paper and info.family
    assert info.train_resolution == netscale.get_spec(name).resolution
    for ref in info.references:
        assert ref.unit and ref.source


def test_glob():
    assert netscale.list_models("resnet_rs_*") == [
        f"resnet_rs_{d}" for d in (101, 152, 200, 270, 350, 420, 50)
    ]
    assert netscale.list_models("nothing*") == []


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownModelError) as err:
        netscale.get_spec("regnet_y_40mf")
    assert "unknown model 'regnet_y_40mf'; did you mean regnet_y_400mf" in str(err.value)
    with pytest.raises(UnknownModelError, match="netscale models list"):
        netscale.model_info("vgg16")


def test_duplicate_and_malformed_names_raise():
    info = netscale.model_info("resnet_18")
    with pytest.raises(ValueError, match="already registered"):
        register(lambda: netscale.get_spec("resnet_18"), info)
    bad = ModelInfo(name="ResNet-18", family="x", paper="x", train_resolution=1, test_resolution=1)
    with pytest.raises(ValueError, match="lowercase words"):
        register(lambda: netscale.get_spec("resnet_18"), bad)


def test_overrides():
    spec = netscale.get_spec("resnet_50", resolution=160, num_classes=10, dropout_rate=0.2)
    assert (spec.resolution, spec.head.num_classes, spec.head.dropout_rate) == (160, 10, 0.2)
    with pytest.raises(SpecError, match="unknown override 'widht'; allowed: act"):
        netscale.get_spec("resnet_50", widht=3)
    with pytest.raises(SpecError, match="drop_path_rate=2"):
        netscale.get_spec("resnet_50", drop_path_rate=2)


def test_in_width_override_resizes_a_whitening_stem(airbench94):
    gray = netscale.resolve_spec(airbench94, in_width=1, num_classes=5)
    assert (gray.in_width, gray.stem.width, gray.head.num_classes) == (1, 8, 5)
    assert netscale.resolve_spec(airbench94, in_width=3) == airbench94
    assert netscale.resolve_spec(airbench94, pool="avg").head.pool == "avg"
    with pytest.raises(SpecError, match="in_width=0"):
        netscale.resolve_spec(airbench94, in_width=0)
