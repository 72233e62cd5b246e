"""The design-space planner: its seeded, banded plan, its config errors, its report sections
and its recommendation."""

from __future__ import annotations

import dataclasses

import pytest

from netscale.spec import from_dict, spec_id
from netscale.study.findings import completed
from netscale.study.planners import PLANNERS, DataShape, plan
from netscale.study.planners.design_space import DesignSpace, block_widths

from ..conftest import tiny_config
from ..trials import design_space_trials, trial_record

DIGITS = DataShape(num_classes=10, in_width=1)


def test_plan_is_seeded_banded_and_resolved():
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


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"design_space": {"spaces": ["anynet_xz"]}}, "unknown design space 'anynet_xz'"),
        ({"design_space": {"spaces": []}}, "design_space.spaces must list one or more"),
        ({"design_space": {"flops": ["1T", "2T"]}}, "band"),
        ({"design_space": {"flops": [1]}}, r"expected \[low, high\]"),
        ({"design_space": {"samples": 500, "max_draws": 2000}}, "of 500"),
        ({"design_space": {"depth": 3}}, "unknown key 'design_space.depth'"),
    ],
)
def test_bad_sections_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        plan(tiny_config(**changes), DIGITS)


def _space_trials(gap: float, n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return [
        trial_record(trial_id=i, group=g, flops=10**6, params=1000,
                     metrics={"error": 20 + rng.normal(0, 1) + (gap if g == "xa" else 0.0)})
        for i, g in enumerate(["xa", "xe"] * n)
    ]  # fmt: skip


def test_recommendation():
    planner = PLANNERS["design_space"]

    def recommend(trials):
        return planner.recommend(trials, completed(trials))

    text = recommend(_space_trials(3.0, 20))
    assert text.startswith("xe's error EDF lies left of xa's (KS D=")
    assert "n=20 and 20" in text and "Best model so far:" in text
    same = recommend(_space_trials(0.0, 20, seed=1))
    assert same.startswith("No significant difference between the error EDFs of")
    few = recommend(_space_trials(3.0, 2))
    assert few.startswith("Too few completed trials to compare xe and xa (n=2 and 2")
    one = recommend([t for t in _space_trials(3.0, 2) if t.group == "xa"])
    assert one.startswith("Only xa has completed trials (n=2, median error")
    three = _space_trials(3.0, 4) + [dataclasses.replace(t, group="xz")
                                     for t in _space_trials(9.0, 2)]  # fmt: skip
    assert recommend(three).startswith("Of 3 spaces, xe and xa have the lowest median error.")


def test_sections_and_their_images():
    trials = design_space_trials(6)
    planner = DesignSpace()
    sections = planner.sections(trials, completed(trials), n_resamples=50, seed=0)
    titles = [s.title for s in sections]
    assert titles == ["Error EDFs", "Trends with bootstrap bands", "Best models: per-block widths",
                      "Random-search efficiency", "Pareto front"]  # fmt: skip
    names = [name for s in sections for name, _ in s.images]
    assert sorted(names) == sorted(planner.images)
    assert block_widths({"stages": [{"depth": 2, "width": 8}, {"depth": 1, "width": 16}]}) == [
        8, 8, 16
    ]  # fmt: skip
