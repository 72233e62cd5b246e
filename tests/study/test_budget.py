"""Studies to a time budget: `budget:` in a config, stored with the study (in seconds), given
to every trial; each trial converts it on the device that first trains it and a resumed
trial reads its run directory's record. The measurement is replaced by fixed numbers."""

from __future__ import annotations

import json

import pytest

from netscale.study import api
from netscale.study.api import open_or_create, study_trials
from netscale.study.config import StudyConfigError
from netscale.study.planners import DataShape, plan
from netscale.study.runner import RunOptions, execute_trial, trial_dir, work
from netscale.study.store import StoreError
from netscale.training import budget
from netscale.training.step_time import Measurement

from .conftest import runtime_config, tiny_config

# 1 s of set-up, 0.125 s a step, 0.5 s an epoch's evaluation and checkpoint: a 4 s budget
# holds 16 steps of digits (11 an epoch), as in tests/training/test_budget.py.
FIXED = Measurement(step_s=0.125, eval_s=0.375, save_s=0.125, overhead_s=1.0)
OPTIONS = RunOptions(data="digits", threads=1, device="cpu")


def _budgeted(**changes):
    """Two tiny trials (one space, two samples) of 2 epochs' recipe trained in fp32 to 4 s
    each."""
    overrides = {"batch_size": 128, "precision": "fp32"}
    space = {"spaces": ["anynet_xa"], "samples": 2}
    return tiny_config(budget="4s", epochs=2, recipe_overrides=overrides, design_space=space,
                       **changes)  # fmt: skip


@pytest.fixture
def fixed(monkeypatch):
    monkeypatch.setattr(budget, "measure", lambda run, started: FIXED)


@pytest.fixture
def shapes(monkeypatch):
    """The data's shape without loading it: 10 classes, 1 channel (digits)."""
    monkeypatch.setattr(api, "data_shape", lambda data: DataShape(num_classes=10, in_width=1))


def test_budget_is_stored_in_seconds():
    config = tiny_config(budget="1h30m")
    assert config.budget == 5400.0 and config.to_dict()["budget"] == 5400.0
    assert tiny_config(budget="90m") == config  # one study, however it is written
    assert tiny_config(budget=90).budget == 90.0 and tiny_config().budget is None


@pytest.mark.parametrize("bad", ["15x", "90", 0, -5, True, [1]])
def test_a_bad_budget_is_named(bad):
    with pytest.raises(StudyConfigError, match=r"tiny: budget=.* is invalid: a duration > 0"):
        tiny_config(budget=bad)


def test_every_trial_gets_the_budget():
    trials = plan(tiny_config(budget="2m"), DataShape(10, 1))
    assert len(trials) == 4 and {t.budget_s for t in trials} == {120.0}
    assert {t.budget_s for t in plan(tiny_config(), DataShape(10, 1))} == {None}
    with pytest.raises(StudyConfigError, match="budget=1m is invalid for the runtime_correlation"):
        plan(runtime_config(budget="1m"), None)  # profile trials are measured, not trained
    with pytest.raises(StudyConfigError, match=r"recipe_overrides.steps cannot be honoured"):
        plan(tiny_config(recipe_overrides={"steps": 5}), DataShape(10, 1))


def test_reopening_with_another_budget_is_refused(tmp_path, shapes):
    open_or_create(tiny_config(budget="1m"), tmp_path).close()
    open_or_create(tiny_config(budget="60s"), tmp_path).close()  # the same 60 seconds
    for other in (tiny_config(budget="2m"), tiny_config()):
        with pytest.raises(StoreError, match=r"config keys differ: budget\)"):
            open_or_create(other, tmp_path)


def test_a_budgeted_study_plans_and_runs_two_trials(tmp_path, fixed):
    open_or_create(_budgeted(), tmp_path).close()
    assert work(tmp_path, OPTIONS) == 2
    _, trials = study_trials(tmp_path)
    assert len(trials) == 2 and all(t.status == "completed" for t in trials)
    for t in trials:
        assert t.budget_s == 4.0 and t.epochs == 2  # as planned: the recipe's epochs
        run_dir = trial_dir(tmp_path, t.trial_id)
        record = json.loads((run_dir / "budget.json").read_text())
        assert (record["steps"], record["epochs"], record["recipe_steps"]) == (16, 2, 22)
        recipe = json.loads((run_dir / "recipe.json").read_text())
        assert (recipe["epochs"], recipe["steps"]) == (2, 16)
        assert [h["step"] for h in t.history] == [11, 16] and t.history[-1]["lr"] == 0.0
        assert (t.metrics["steps"], t.metrics["step_s"], t.metrics["epochs_run"]) == (16, 0.125, 2)


class _Stop(Exception):
    pass


def test_a_resumed_trial_reads_its_record(tmp_path, fixed, monkeypatch):
    open_or_create(_budgeted(), tmp_path).close()
    _, (trial, _) = study_trials(tmp_path)
    reference = execute_trial(trial, tmp_path / "ref", OPTIONS)

    def stop(line):
        raise _Stop

    stopped = execute_trial(trial, tmp_path / "t", OPTIONS, on_epoch=stop)
    assert stopped["status"] == "failed" and (tmp_path / "t" / "budget.json").is_file()

    def must_not_measure(run, started):
        raise AssertionError("a resumed trial must read its recorded steps")

    monkeypatch.setattr(budget, "measure", must_not_measure)
    resumed = execute_trial(trial, tmp_path / "t", OPTIONS)
    assert resumed["status"] == "completed", resumed["error"]
    timing = ("wall_s", "images_per_s", "mfu", "epoch_s", "data_wait_s", "peak_memory_mb")
    strip = [{k: v for k, v in h.items() if k not in timing} for h in resumed["history"]]
    assert strip == [{k: v for k, v in h.items() if k not in timing}
                     for h in reference["history"]]  # fmt: skip
    assert resumed["metrics"]["steps"] == 16
