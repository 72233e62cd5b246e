"""The compound-search planner: phi=1 candidates of the alpha, beta, gamma grid; its table
and its recommendation."""

from __future__ import annotations

import pytest

from netscale.study.config import parse_config
from netscale.study.findings import completed
from netscale.study.planners import PLANNERS, DataShape, plan

from ..trials import compound_trials

DIGITS = DataShape(num_classes=10, in_width=1)


def test_plan_uses_the_grid():
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


def test_recommendation_and_sections():
    planner = PLANNERS["compound_search"]
    trials = compound_trials()
    done = completed(trials)
    text = planner.recommend(trials, done)
    assert text.startswith("Lowest mean error: a=1.2,b=1.1,g=1.15 (10.10%, of 2 candidates).")
    only_base = [t for t in done if t.group == "base"]
    assert planner.recommend(only_base, only_base).startswith("Only the unscaled base")
    one = [t for t in done if t.group in ("base", "a=1.4,b=1.0,g=1.2")]
    assert planner.recommend(one, one).startswith("Only candidate a=1.4,b=1.0,g=1.2 has")
    sections = planner.sections(trials, done, n_resamples=50, seed=0)
    assert [s.title for s in sections] == ["Compound-coefficient candidates", "Pareto front"]
    assert "<td>a=1.2,b=1.1,g=1.15</td><td>3</td><td>10.10%</td>" in sections[0].body[0]
