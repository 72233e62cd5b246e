"""The scaling planner: rules at matched FLOPs, the grid, budgets; its report section and
its recommendation per regime."""

from __future__ import annotations

import pytest

from netscale.study.config import example_config, parse_config
from netscale.study.findings import completed
from netscale.study.planners import PLANNERS, DataShape, plan
from netscale.study.planners.scaling import budget_of

from ..trials import scaling_trials, trial_record

DIGITS = DataShape(num_classes=10, in_width=1)


def test_rules_match_flops_and_budgets():
    trials = plan(example_config("scaling-digits"), DIGITS)
    base = [t for t in trials if t.group == "base"]
    assert len(base) == 2  # one per epoch budget
    for t in trials:
        if t.group != "base":
            assert t.flops == pytest.approx(2 * base[0].flops, rel=0.15)
            assert t.meta["rule"] == t.group
    assert sorted({t.epochs for t in trials}) == [3, 6]


def test_grid():
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


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"base": 3}, "scaling.base=3 is invalid"),
        ({"base": "resnet_18", "epochs": [0]}, r"scaling.epochs=\[0\] is invalid"),
        ({"base": "resnet_18", "seeds": 0}, "scaling.seeds=0 is invalid"),
        ({"base": "resnet_18", "grid": {"colour": [1]}}, "scaling.grid="),
    ],
)
def test_bad_sections_are_named(section, message):
    config = parse_config({"name": "s", "planner": "scaling", "scaling": section})
    with pytest.raises(ValueError, match=message):
        plan(config, DIGITS)


def _scaling(rule, mult, error, budget=10):
    meta = {"rule": rule, "multiplier": mult, "epochs_budget": budget}
    return trial_record(group=rule, design={"multiplier": mult}, meta=meta, flops=10**6,
                        params=1000, metrics={"top1": 100 - error, "error": error})  # fmt: skip


def _recommend(trials):
    return PLANNERS["scaling"].recommend(trials, completed(trials))


def test_recommendation_and_regimes():
    trials = [_scaling("depth", 2.0, 10.0 + 0.1 * s) for s in range(3)]
    trials += [_scaling("width", 2.0, 11.4 + 0.1 * s) for s in range(3)]
    text = _recommend(trials)
    assert text.startswith("depth scaling beats width at 2x FLOPs in this regime: -1.40 points")
    single = [_scaling("depth", 2.0, 10.0), _scaling("width", 2.0, 11.0)]
    assert "too few seeds to call it" in _recommend(single)
    regimes = [_scaling("depth", 2.0, 10.0 + 0.1 * s, 30) for s in range(3)]
    regimes += [_scaling("width", 2.0, 10.0 + 0.1 * s, 30) for s in range(3)]
    regimes += [_scaling("width", 2.0, 12.0 + 0.1 * s, 5) for s in range(3)]
    regimes += [_scaling("depth", 2.0, 13.0 + 0.1 * s, 5) for s in range(3)]
    text = _recommend(regimes)
    assert "width scaling beats depth at 2x FLOPs with 5 epochs" in text
    assert "No significant difference between depth and width scaling at 2x FLOPs with 30" in text
    lone = _recommend([_scaling("depth", 2.0, 10.0)])
    assert lone.startswith("No FLOPs multiplier has completed trials of two rules yet")


def test_recommendation_at_measured_multipliers_ignores_the_base():
    trials = [_scaling("base", 1.0, 15.0 + 0.1 * s) for s in range(3)]
    trials += [_scaling("depth", 2.04, 12.0 + 0.1 * s) for s in range(3)]
    trials += [_scaling("width", 1.97, 10.0 + 0.1 * s) for s in range(3)]
    trials += [_scaling("resolution", 2.01, 13.0 + 0.1 * s) for s in range(3)]
    text = _recommend(trials)
    assert text.startswith("Of 3 rules, width scaling beats depth at 2x FLOPs in this regime")


def test_sections_and_budgets():
    trials = scaling_trials()
    planner = PLANNERS["scaling"]
    sections = planner.sections(trials, completed(trials), n_resamples=50, seed=0)
    assert [s.title for s in sections] == ["Scaling curves", "Pareto front"]
    assert sorted(n for s in sections for n, _ in s.images) == sorted(planner.images)
    assert "Rules matched on FLOPs" in "".join(sections[0].body)
    assert budget_of(trials[0]) == 2 and budget_of(trial_record(epochs=7)) == 7
