"""scale_to (FLOPs budgets by bisection), scale (explicit factors) and the names they give."""

import dataclasses
import json

import pytest

import netscale
from netscale.complexity import count
from netscale.scaling import RULES, get_rule, scale, scale_to
from netscale.spec import SpecError

BASES = [b for b in ("regnet_y_400mf", "resnet_50", "efficientnet_b0") if netscale.list_models(b)]
CASES = [(rule, {}) for rule in RULES if rule != "resnet_rs"]
CASES += [("resnet_rs", {"regime": "long"}), ("resnet_rs", {"regime": "short"})]


@pytest.mark.parametrize("name", BASES[:2])
@pytest.mark.parametrize(("rule", "options"), CASES)
def test_hits_two_four_eight_times_the_base_within_five_percent(name, rule, options):
    base = netscale.get_spec(name)
    base_flops = count(base).flops
    for factor in (2, 4, 8):
        result = scale_to(base, rule, base_flops * factor, **options)
        assert result.flops == count(result.spec).flops
        assert abs(result.flops / (base_flops * factor) - 1) <= 0.05
        assert result.coefficient > get_rule(rule).identity
        assert result.base_flops == base_flops and result.rule == rule
        # The coefficient reproduces the spec (up to the name).
        again = get_rule(rule).apply(base, result.coefficient, **options)
        assert dataclasses.replace(again, name=result.spec.name) == result.spec


def test_names_result_and_summary():
    base = netscale.get_spec("regnet_y_400mf")
    result = scale_to(base, "resnet-rs", "1.6G", regime="short")
    assert result.spec.name == "regnet_y_400mf_resnet_rs_short_1_6gf"
    assert result.options == {"regime": "short"} and result.coefficient_name == "position"
    summary = json.loads(json.dumps(result.summary()))
    assert summary["name"] == result.spec.name and summary["error"] == result.error
    assert "spec" not in summary
    assert scale_to(base, "width", 8e8, name="mine").spec.name == "mine"


def test_target_at_the_base_returns_the_base():
    base = netscale.get_spec("resnet_50")
    result = scale_to(base, "compound", count(base).flops * 0.98)
    assert result.coefficient == 0.0 and result.flops == count(base).flops
    assert dataclasses.replace(result.spec, name=base.name) == base


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (("resnet_50", "mobilenet", "8G"), {}, "rule='mobilenet' is invalid; allowed: compound, "),
        (("resnet_50", "compound", "1G"), {}, "below the base's 4.089e.09 multiply-adds; rule "),
        (("resnet_50", "compound", 0), {}, "target_flops=0.0 is invalid: expected a finite"),
        (("resnet_50", "compound", "4 GFLOPs"), {}, "expected multiply-adds as a number"),
        (("resnet_50", "width", "1e15"), {}, "beyond the reach of rule 'width' .width mult."),
        (("resnet_50", "compound", "8G"), {"regime": "long"}, "option 'regime' is invalid for "),
        (("resnet_50", "depth", "8G"), {"alpha": 1.3}, "allowed: none"),
        (("resnet_50", "resnet_rs", "8G"), {"regime": "mid"}, "regime='mid' is invalid"),
        (("resnet_50", "compound", "8G"), {"alpha": 0.5}, "alpha=0.5 is invalid"),
    ],
)
def test_clear_errors(args, options, message):
    name, rule, target = args
    with pytest.raises(SpecError, match=message):
        scale_to(netscale.get_spec(name), rule, target, **options)


def test_coarse_steps_are_explained():
    # At 32 px with total stride 32, resolutions step by 8 px: (40/32)^2 = 1.56x FLOPs.
    base = netscale.get_spec("resnet_18", resolution=32)
    with pytest.raises(SpecError, match=r"within 5%: the nearest specs have .* one rounding"):
        scale_to(base, "resolution", count(base).flops * 1.25)
    loose = scale_to(base, "resolution", count(base).flops * 1.25, tolerance=0.3)
    at_40 = count(netscale.get_spec("resnet_18", resolution=40)).flops
    assert loose.flops == min(
        count(base).flops, at_40, key=lambda f: abs(f / loose.target_flops - 1)
    )


def test_scale_explicit_factors_and_names():
    base = netscale.get_spec("resnet_50")
    assert scale(base, phi=2).name == "resnet_50_phi2"
    spec = scale(base, width_mult=1.4, depth_mult=1.8, resolution=380)
    assert spec.name == "resnet_50_w1_4_d1_8_r380" and spec.resolution == 380
    assert [s.depth for s in spec.stages] == [6, 8, 11, 6]
    assert spec.stages[0].width == 360  # 256 * 1.4 = 358.4
    assert scale(base, resolution=160, name="small").name == "small"
    assert scale(base, depth_mult=1.0).stages == base.stages


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width_mult": 0}, "width mult=0 is invalid: expected a finite number > 0"),
        ({"depth_mult": -1.0}, "depth mult=-1.0 is invalid"),
        ({"phi": -1}, "phi=-1 is invalid"),
        ({"phi": 1, "resolution": 256}, "phi=1 is invalid together with resolution"),
        ({}, "nothing to scale"),
        ({"resolution": 16}, "resolution=16 is invalid: expected an integer >= .* 32"),
    ],
)
def test_scale_errors(kwargs, message):
    with pytest.raises(SpecError, match=message):
        scale(netscale.get_spec("resnet_50"), **kwargs)


def test_every_rule_documents_its_options():
    for rule in RULES.values():
        assert rule.summary and rule.coefficient
        for option in rule.options:
            assert option in rule.apply.__code__.co_varnames


def test_bind_rule_is_what_scale_to_searches():
    base = netscale.get_spec("resnet_50")
    bound = netscale.scaling.bind_rule(base, "resnet-rs", {"regime": "long"})
    assert bound.rule is RULES["resnet_rs"] and bound.base is base
    assert bound.first == 1.0 and bound.what == "rule 'resnet_rs' (position)"
    assert bound.make(1.0) == RULES["resnet_rs"].apply(base, 1.0, regime="long")
    assert bound.name("20ms_cpu") == "resnet_50_resnet_rs_long_20ms_cpu"
    result = scale_to(base, "resnet_rs", "8G", regime="long")
    assert result.spec.name == bound.name("8gf")
    width = netscale.scaling.bind_rule(base, RULES["width"], {})
    assert width.first == 2.0 and width.name("x") == "resnet_50_width_x"
    with pytest.raises(SpecError, match="option 'regime' is invalid for rule 'compound'"):
        netscale.scaling.bind_rule(base, "compound", {"regime": "long"})
    with pytest.raises(SpecError, match="regime='mid' is invalid"):
        netscale.scaling.bind_rule(base, "resnet_rs", {"regime": "mid"})
