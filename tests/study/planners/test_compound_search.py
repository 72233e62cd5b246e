"""The compound-search planner: phi=1 candidates of the alpha, beta, gamma grid (the paper's
always among them); its table and its recommendation."""

from __future__ import annotations

import pytest

from netscale.scaling import compound_grid
from netscale.study.config import parse_config
from netscale.study.findings import completed
from netscale.study.planners import PLANNERS, DataShape, plan
from netscale.study.planners.compound_search import PAPER_COEFFICIENTS

from ..trials import compound_trials

DIGITS = DataShape(num_classes=10, in_width=1)
PAPER = (1.2, 1.1, 1.15)  # EfficientNet sec. 3.3


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


def _candidates(**section):
    config = parse_config(
        {"name": "c", "planner": "compound_search", "epochs": 1,
         "compound_search": {"base": "resnet_18", "small_images": True, "resolution": 16,
                             **section}}
    )  # fmt: skip
    trials = plan(config, DIGITS)
    return [(t.design["alpha"], t.design["beta"], t.design["gamma"]) for t in trials[1:]], trials


@pytest.mark.parametrize(
    ("section", "closest", "paper_last"),
    [
        ({}, 7, True),  # the default 8 candidates: the 7 closest to 2, then the paper's
        ({"candidates": 1}, 0, True),
        ({"candidates": 84}, 84, False),  # the paper's is the grid's 84th closest: in place
        ({"candidates": 200}, 111, False),  # the whole grid, the paper's once
        ({"step": 0.1, "candidates": 3}, 2, True),  # a grid without 1.15: still trained
    ],
)
def test_the_papers_coefficients_always_train(section, closest, paper_last):
    found, trials = _candidates(**section)
    grid = [(c.alpha, c.beta, c.gamma) for c in compound_grid(section.get("step", 0.05))]
    assert found == grid[:closest] + ([PAPER] if paper_last else [])
    assert found.count(PAPER) == 1
    (paper,) = [t for t in trials if t.group == "a=1.2,b=1.1,g=1.15"]
    assert paper.meta == {"paper": True} and paper.design["phi"] == 1.0
    assert all(t.meta == {} for t in trials if t is not paper)
    assert (PAPER_COEFFICIENTS.alpha, PAPER_COEFFICIENTS.beta, PAPER_COEFFICIENTS.gamma) == PAPER


def test_bad_grid_is_named():
    with pytest.raises(ValueError, match=r"compound_search\.step=0 is invalid"):
        _candidates(step=0)


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
