"""Analytic complexity: pycls's published integers, our golden file, internal consistency."""

import json
from pathlib import Path

import pytest

import netscale

HERE = Path(__file__).parent
PYCLS = json.loads((HERE / "pycls_complexity.json").read_text())["models"]
GOLDEN = json.loads((HERE / "golden.json").read_text())
REGNETS = sorted(n for n in PYCLS if n.startswith("regnet"))


def test_every_published_regnet_is_checked():
    assert netscale.list_models("regnet_*") == REGNETS


@pytest.mark.parametrize("name", REGNETS)
def test_regnet_equals_pycls_exactly(name):
    cx = netscale.complexity(name)
    assert (cx.flops, cx.params, cx.acts) == tuple(
        PYCLS[name][k] for k in ("flops", "params", "acts")
    )


@pytest.mark.parametrize("name", ["resnet_50", "resnet_101", "resnet_152"])
def test_resnet_flops_and_params_equal_pycls(name):
    cx = netscale.complexity(name)
    assert (cx.flops, cx.params) == (PYCLS[name]["flops"], PYCLS[name]["params"])
    # pycls also counts the stem max-pool's output (64 x 56 x 56) as activations;
    # netscale counts conv and linear outputs only (docs/architecture.md).
    assert PYCLS[name]["acts"] - cx.acts == 64 * 56 * 56


@pytest.mark.parametrize("name", netscale.list_models())
def test_golden(name):
    cx = netscale.complexity(name)
    got = {"resolution": cx.resolution, "flops": cx.flops, "params": cx.params, "acts": cx.acts}
    assert got == GOLDEN[name], "regenerate with scripts/golden_complexity.py if intended"


@pytest.mark.parametrize("name", ["resnet_18", "resnet_rs_50", "regnet_y_800mf"])
def test_parts_sum_to_totals(name):
    cx = netscale.complexity(name)
    assert cx.parts[0].name == "stem" and cx.parts[-1].name == "head"
    for key in ("flops", "params", "acts"):
        assert sum(getattr(p, key) for p in cx.parts) == getattr(cx, key)
    assert cx.parts[-2].resolution == -(-cx.resolution // 32)


def test_resolution():
    base = netscale.complexity("regnet_x_200mf")
    assert base.resolution == 224
    big = netscale.complexity("regnet_x_200mf", resolution=448)
    assert big.params == base.params
    assert 3.9 < big.flops / base.flops < 4.01  # conv cost grows with pixels; the fc does not
    odd = netscale.complexity("resnet_d_50", resolution=225)  # odd sizes round up per stride
    assert odd.parts[-2].resolution == 8
    for bad in (16, 0, 224.0, "224"):
        with pytest.raises(ValueError, match=r"resolution=.* is invalid"):
            netscale.complexity("resnet_50", resolution=bad)


def test_bias_flops_are_the_bias_additions():
    cx = netscale.complexity("resnet_50")
    assert cx.bias_flops == 1000  # only the classifier has a bias
    y = netscale.complexity("regnet_y_200mf")
    se = sum(s.depth for s in netscale.get_spec("regnet_y_200mf").stages)
    assert y.bias_flops > 1000 + se  # each SE adds two biased 1x1 convs


def test_airbench94(airbench94):
    """About 118 M multiply-adds at 32 px: stem 24 x 12 x 31^2 (+ bias), then per block
    conv1 before the pool (31, 15, 7 px) and conv2 after it (15, 7, 3 px)."""
    cx = netscale.complexity(airbench94)
    assert (cx.flops, cx.params, cx.acts, cx.bias_flops) == (
        118_170_434,
        1_972_802,
        183_970,
        23_074,
    )
    assert [p.resolution for p in cx.parts] == [31, 15, 7, 3, 1]
    stem = 24 * 12 * 31 * 31
    assert cx.parts[0].flops == stem + 24 * 31 * 31 and cx.parts[0].params == 24 * 12 + 24
    assert cx.parts[1].flops == 9 * 24 * 64 * 31 * 31 + 9 * 64 * 64 * 15 * 15
    assert cx.parts[1].params == 9 * 24 * 64 + 9 * 64 * 64 + 4 * 64
    with pytest.raises(ValueError, match=r"resolution=8 is invalid: expected an integer >= 9"):
        netscale.complexity(airbench94, resolution=8)
    assert netscale.complexity(airbench94, resolution=9).parts[-2].resolution == 1


def test_head_pool_and_logit_scale_are_free():
    spec = netscale.get_spec("resnet_18")
    plain = netscale.complexity(spec)
    other = netscale.complexity(netscale.get_spec("resnet_18", pool="max", logit_scale=1 / 9))
    assert plain == other
