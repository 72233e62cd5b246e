"""Every scaling rule applies to every family: the scaled spec builds, and the built model
agrees with the analytic count."""

import pytest
import torch

import netscale
from netscale.scaling import RULES, get_rule

BASES = [
    "resnet_18",
    "resnet_rs_50",
    "regnet_y_200mf",
    "efficientnet_b0",
    "efficientnet_v2_b0",
    "convnext_atto",
    "coatnet_nano",
]


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("base", BASES)
def test_rule_scales_and_builds(base, rule):
    spec = netscale.get_spec(base)
    r = get_rule(rule)
    coefficient = r.identity + (0.5 if r.identity == 1.0 else 1.0)  # mult 1.5 or phi / s 1
    options = {"regime": "long"} if "regime" in r.options else {}
    scaled = r.apply(spec, coefficient, **options)
    cx = netscale.complexity(scaled)
    assert cx.flops > netscale.complexity(spec).flops
    with torch.device("meta"):
        model = netscale.create_model(scaled)
        out = model(torch.empty(1, 3, scaled.resolution, scaled.resolution))
    assert out.shape == (1, 1000)
    assert sum(p.numel() for p in model.parameters()) == cx.params
