"""Planners: each turns a config into its fixed, seeded list of trials."""

from __future__ import annotations

import pytest

from netscale.spec import from_dict, spec_id
from netscale.study.config import StudyConfigError, example_config, list_examples, parse_config
from netscale.study.planners import LADDER, DataShape, plan

from .conftest import tiny_config

DIGITS = DataShape(num_classes=10, in_width=1)


def test_design_space_plan_is_seeded_banded_and_resolved():
    trials = plan(tiny_config(), DIGITS)
    again = plan(tiny_config(), DIGITS)
    assert [t.spec_id for t in trials] == [t.spec_id for t in again]
    assert [t.group for t in trials] == ["anynet_xa"] * 2 + ["anynet_xe"] * 2
    for t in trials:
        spec = from_dict(t.spec)
        assert spec_id(spec) == t.spec_id
        assert 50e3 <= t.flops <= 400e3
        assert spec.head.num_classes == 10 and spec.in_width == 1 and spec.stem.stride == 1
        assert t.recipe["epochs"] == 1 and t.recipe["resolution"] == 8
        assert t.recipe["batch_size"] == 128  # the config's override reached the recipe
        assert {"d1", "w1", "d2", "w2"} <= set(t.design)
    other = plan(tiny_config(seed=1), DIGITS)
    assert [t.spec_id for t in other] != [t.spec_id for t in trials]


def test_scaling_rules_match_flops_and_budgets():
    config = example_config("scaling-digits")
    trials = plan(config, DIGITS)
    base = [t for t in trials if t.group == "base"]
    assert len(base) == 2  # one per epoch budget
    for t in trials:
        if t.group != "base":
            assert t.flops == pytest.approx(2 * base[0].flops, rel=0.15)
            assert t.meta["rule"] == t.group
    assert sorted({t.epochs for t in trials}) == [3, 6]


def test_scaling_grid():
    config = parse_config(
        {"name": "g", "planner": "scaling", "epochs": 1,
         "scaling": {"base": "resnet_18", "small_images": True, "resolution": 16,
                     "grid": {"width": [1.0, 1.5], "depth": [1.0, 2.0]}}}
    )  # fmt: skip
    trials = plan(config, DIGITS)
    assert len(trials) == 4 and {t.group for t in trials} == {"grid"}
    assert {(t.design["width_ratio"], t.design["depth_ratio"]) for t in trials} == {
        (1.0, 1.0), (1.0, 2.0), (1.5, 1.0), (1.5, 2.0)
    }  # fmt: skip


def test_compound_search_uses_the_grid():
    config = parse_config(
        {"name": "c", "planner": "compound_search", "epochs": 1,
         "compound_search": {"base": "resnet_18", "small_images": True, "resolution": 16,
                             "candidates": 3}}
    )  # fmt: skip
    trials = plan(config, DIGITS)
    assert trials[0].group == "base" and len(trials) == 4
    for t in trials[1:]:
        d = t.design
        assert d["alpha"] * d["beta"] ** 2 * d["gamma"] ** 2 == pytest.approx(2.0, abs=0.1)


def test_ablation_ladder_is_cumulative():
    trials = plan(example_config("ablation-digits"), DIGITS)
    steps = [t.group for t in trials[::2]]
    assert steps == list(LADDER)
    by = {t.group: t for t in trials}
    assert by["baseline"].recipe["schedule"] == "exponential"
    assert by["cosine"].recipe["schedule"] == "cosine"
    assert by["dropout"].recipe["label_smoothing"] == 0.1  # earlier steps stay on
    assert by["ema"].recipe["ema_decay"] == 0.98  # the example's own value
    assert from_dict(by["se"].spec).stages[0].se_ratio == 0.25
    assert from_dict(by["lower_weight_decay"].spec).stages[0].se_ratio == 0.0
    assert from_dict(by["resnet_d"].spec).stem.kind == "deep"


def test_every_example_plans():
    assert {"anynet-digits", "scaling-digits", "ablation-digits"} <= set(list_examples())
    for name in list_examples():
        assert plan(example_config(name), DIGITS)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"planner": "nas"}, "planner='nas' is invalid; allowed: design_space"),
        ({"colour": 1}, "unknown key 'colour'"),
        ({"epochs": 0}, "epochs=0 is invalid"),
        ({"design_space": {"spaces": ["anynet_xz"]}}, "unknown design space 'anynet_xz'"),
        ({"design_space": {"flops": ["1T", "2T"]}}, "band"),
        ({"design_space": {"flops": [1]}}, r"expected \[low, high\]"),
        ({"design_space": {"samples": 500, "max_draws": 2000}}, "of 500"),
        ({"design_space": {"depth": 3}}, "unknown key 'design_space.depth'"),
    ],
)
def test_bad_configs_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        plan(tiny_config(**changes), DIGITS)


def test_malformed_yaml_and_missing_section(tmp_path):
    from netscale.study.config import load_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nplanner: [unclosed\n")
    with pytest.raises(StudyConfigError, match=r"not a valid YAML mapping: .* at line"):
        load_config(bad)
    bad.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(StudyConfigError, match=r"study config .*bad\.yaml: not a valid YAML"):
        load_config(bad)
    with pytest.raises(StudyConfigError, match="needs a mapping under the key 'ablation'"):
        parse_config({"name": "x", "planner": "ablation"})
    with pytest.raises(StudyConfigError, match="example='nope' is unknown"):
        example_config("nope")
