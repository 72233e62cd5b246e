"""The study's records: frozen, keyword-only data; a config in file form; a planned trial
as the ledger hands it back."""

from __future__ import annotations

import dataclasses
import json

import pytest

from netscale.study.config import parse_config
from netscale.study.records import (
    TRIAL_KINDS,
    StudyConfig,
    StudyConfigError,
    Trial,
    TrialPlan,
)
from netscale.study.store import Store

from .trials import trial_record


def _plan(**changes) -> TrialPlan:
    fields = dict(group="g", spec={"name": "net"}, spec_id="abc123", recipe={"lr": 0.1},
                  seed=1, epochs=2, flops=10, params=20, acts=30)  # fmt: skip
    return TrialPlan(**{**fields, **changes})


def test_config_in_file_form_puts_the_section_under_the_planner():
    config = StudyConfig(name="s", planner="design_space", section={"samples": 4})
    data = config.to_dict()
    assert data == {
        "name": "s",
        "planner": "design_space",
        "data": "digits",
        "recipe": "quick",
        "recipe_overrides": {},
        "epochs": 5,
        "seed": 0,
        "minival": 0.0,
        "design_space": {"samples": 4},
    }
    assert "section" not in data and json.loads(json.dumps(data)) == data


def test_config_file_form_reads_back():
    config = parse_config(
        {"name": "t", "planner": "design_space", "epochs": 1,
         "design_space": {"spaces": ["anynet_xa"], "samples": 2, "flops": ["50K", "400K"]}},
        source="test",
    )  # fmt: skip
    assert parse_config(config.to_dict(), source="again") == config


def test_records_are_frozen_and_keyword_only():
    config = StudyConfig(name="s", planner="p")
    plan = _plan()
    trial = trial_record()
    for record, field in ((config, "name"), (plan, "group"), (trial, "status")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, "x")
        assert not hasattr(record, "__dict__")  # slots: no stray attributes either
    with pytest.raises(TypeError):
        StudyConfig("s", "p")  # type: ignore[misc]
    with pytest.raises(TypeError):
        TrialPlan("g", {}, "id", {}, 0, 1, 1, 1, 1)  # type: ignore[misc]


def test_defaults_are_not_shared_between_records():
    a, b = _plan(), _plan()
    assert a.design == {} and a.meta == {} and a.design is not b.design
    c, d = StudyConfig(name="c", planner="p"), StudyConfig(name="d", planner="p")
    assert c.section is not d.section and c.recipe_overrides is not d.recipe_overrides


def test_kinds():
    assert TRIAL_KINDS[0] == "train" and "profile" in TRIAL_KINDS
    assert _plan().kind == "train" and trial_record().kind == "train"


def test_a_trial_holds_every_field_of_its_plan():
    plan_fields = {f.name for f in dataclasses.fields(TrialPlan)}
    trial_fields = {f.name for f in dataclasses.fields(Trial)}
    assert plan_fields <= trial_fields
    assert trial_fields - plan_fields == {
        "trial_id", "status", "attempts", "error", "lease_owner", "precision", "metrics",
        "history",
    }  # fmt: skip


def test_plans_come_back_from_the_ledger_as_trials(tmp_path):
    plans = [
        _plan(design={"w1": 8.0}, meta={"space": "anynet_xa"}),
        _plan(group="h", seed=2, kind="profile", epochs=0, recipe={"batch": 2}),
    ]
    store = Store.create(tmp_path, {"name": "s", "planner": "p"}, plans)
    try:
        trials = store.trials()
    finally:
        store.close()
    assert [t.trial_id for t in trials] == [0, 1]
    for plan, trial in zip(plans, trials, strict=True):
        assert isinstance(trial, Trial)
        for f in dataclasses.fields(TrialPlan):
            assert getattr(trial, f.name) == getattr(plan, f.name), f.name
        assert (trial.status, trial.attempts, trial.error, trial.lease_owner) == (
            "pending",
            0,
            None,
            None,
        )
        assert (trial.precision, trial.metrics, trial.history) == (None, None, [])


def test_config_errors_are_value_errors():
    assert issubclass(StudyConfigError, ValueError)
