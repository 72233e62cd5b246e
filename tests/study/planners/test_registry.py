"""The planner registry (`netscale.study.planners`): every planner registered under its
name, the config and the report reaching planners only through it, and a torch-, scipy-
and matplotlib-free import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from netscale.study.config import example_config, list_examples, parse_config
from netscale.study.planners import (
    PLANNERS,
    DataShape,
    Planner,
    get_planner,
    plan,
    recommend,
    report_images,
    report_sections,
)

from ..conftest import tiny_config
from ..trials import trial_record

DIGITS = DataShape(num_classes=10, in_width=1)


def test_every_planner_is_registered_under_its_name():
    assert list(PLANNERS) == ["design_space", "scaling", "compound_search", "ablation",
                              "runtime_correlation", "training_aware"]  # fmt: skip
    for name, planner in PLANNERS.items():
        assert isinstance(planner, Planner) and planner.name == name
        assert planner.defaults and planner.images
        assert get_planner(name) is planner
    assert report_images() == {n for p in PLANNERS.values() for n in p.images}
    with pytest.raises(ValueError, match="unknown planner 'nas'; expected one of design_space"):
        get_planner("nas")


def test_every_example_plans(fake_device):  # speed-matched examples measure when planned
    assert {"anynet-digits", "scaling-digits", "ablation-digits"} <= set(list_examples())
    for name in list_examples():
        assert plan(example_config(name), DIGITS)


def test_config_checks_the_section_through_the_registry():
    with pytest.raises(ValueError, match="planner='nas' is invalid; allowed: design_space"):
        tiny_config(planner="nas")
    with pytest.raises(ValueError, match=r"planner=\['design_space'\] is invalid"):
        parse_config({"name": "x", "planner": ["design_space"]})
    with pytest.raises(ValueError, match=r"tiny: unknown key 'design_space\.depth'"):
        tiny_config(design_space={"depth": 3})  # at parse time, before any data is loaded


def test_no_trials_and_unknown_planners():
    empty = tiny_config(design_space={"samples": 1})
    planner = PLANNERS["design_space"]
    original = planner.plan
    try:
        planner.plan = lambda config, shape: []  # type: ignore[method-assign]
        with pytest.raises(ValueError, match="the design_space planner produced no trials"):
            plan(empty, DIGITS)
    finally:
        planner.plan = original  # type: ignore[method-assign]
    pending = [trial_record(status="pending")]
    text = recommend({"planner": "ablation", "planned": 3}, pending)
    assert text == "No completed trials yet (0 of 3 planned): nothing to conclude."
    with pytest.raises(ValueError, match="unknown planner 'nas'"):
        recommend({"planner": "nas"}, pending)
    with pytest.raises(ValueError, match="unknown planner 'nas'"):
        report_sections({"planner": "nas"}, pending, n_resamples=10, seed=0)


def test_config_and_registry_import_no_torch_scipy_or_matplotlib():
    code = (
        "import sys\n"
        "from netscale.study import config, planners\n"
        "config.example_config('anynet-digits')\n"
        "heavy = [m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, f'imported {heavy}'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
