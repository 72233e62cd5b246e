"""The study API: choosing a config, creating or reopening a study, and what status and
export make of a ledger (written here trial by trial: no training)."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
import yaml

from netscale.study import api
from netscale.study.api import (
    export,
    open_or_create,
    resolve_config,
    run_study,
    status,
    study_trials,
)
from netscale.study.config import example_config
from netscale.study.planners import DataShape
from netscale.study.records import TrialPlan
from netscale.study.store import DB_NAME, Store, StoreError

from .conftest import ledger_of_errors, tiny_config


def test_resolve_config_takes_exactly_one_source(tmp_path):
    config = tiny_config()
    assert resolve_config(config, None) is config
    assert resolve_config(None, "anynet-digits") == example_config("anynet-digits")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert resolve_config(path, None) == config
    assert resolve_config(str(path), None) == config
    for both in ((None, None), (config, "anynet-digits")):
        with pytest.raises(ValueError, match="give exactly one of a config file and --example"):
            resolve_config(*both)


@pytest.fixture
def shapes(monkeypatch):
    """The data's shape without loading it: 10 classes, 1 channel (digits)."""
    asked = []

    def data_shape(data):
        asked.append(data)
        return DataShape(num_classes=10, in_width=1)

    monkeypatch.setattr(api, "data_shape", data_shape)
    return asked


def test_open_or_create_plans_once_then_reopens(tmp_path, shapes):
    config = tiny_config()
    store = open_or_create(config, tmp_path / "s")
    first = store.trials()
    store.close()
    assert shapes == ["digits"] and len(first) == 4  # 2 spaces x 2 samples
    assert all(t.spec["head"]["num_classes"] == 10 and t.spec["in_width"] == 1 for t in first)
    study, trials = study_trials(tmp_path / "s")
    assert trials == first
    assert study["name"] == "tiny" and study["planner"] == "design_space"
    assert study["planned"] == 4 and study["config"] == json.loads(json.dumps(config.to_dict()))
    again = open_or_create(config, tmp_path / "s")
    assert again.trials() == first and shapes == ["digits"]  # not planned again
    again.close()


def test_reopening_with_another_config_names_the_differences(tmp_path, shapes):
    open_or_create(tiny_config(), tmp_path).close()
    before = (tmp_path / DB_NAME).read_bytes()
    other = tiny_config(epochs=2, design_space={"samples": 3})
    with pytest.raises(StoreError) as err:
        open_or_create(other, tmp_path)
    message = str(err.value)
    assert f"{str(tmp_path)!r} holds a different study (config keys differ: " in message
    assert "design_space.samples" in message and "epochs" in message
    assert (tmp_path / DB_NAME).read_bytes() == before


def test_out_must_be_a_directory(tmp_path, shapes):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="exists and is not a directory"):
        open_or_create(tiny_config(), tmp_path / "file")
    assert shapes == []  # refused before planning


def _plan(group: str, i: int) -> TrialPlan:
    n = i + 1
    return TrialPlan(group=group, spec={"i": i}, spec_id=f"id{i}", recipe={}, seed=0, epochs=1,
                     flops=100 * n, params=10 * n, acts=i, design={"w1": 8 * n})  # fmt: skip


@pytest.fixture
def ledger(tmp_path):
    """Four trials: a completed in each group (one with a NaN loss), one failed, one
    pending."""
    plans = [_plan("a", 0), _plan("a", 1), _plan("b", 2), _plan("b", 3)]
    store = Store.create(tmp_path, {"name": "led", "planner": "design_space"}, plans)
    ends = [  # claimed in trial order: 0, 1, 2; trial 3 stays pending
        ("fp32", "completed", {"top1": 60.0, "loss": 1.5}, None),
        ("bf16", "failed", None, "out of memory"),
        ("fp32", "completed", {"top1": 70.0, "loss": math.nan}, None),
    ]
    for tid, (precision, end, metrics, error) in enumerate(ends):
        assert store.claim("h:1", 60).trial_id == tid
        store.fix_precision(tid, "h:1", precision)
        assert store.finish(tid, "h:1", end, metrics, error=error)
    store.close()
    return tmp_path


def test_status_counts_groups_precision_and_failures(ledger):
    assert status(ledger) == {
        "name": "led",
        "planner": "design_space",
        "planned": 4,
        "counts": {"completed": 2, "failed": 1, "pending": 1},
        "groups": {"a": {"completed": 1, "failed": 1}, "b": {"completed": 1, "pending": 1}},
        "precision": {"bf16": 1, "fp32": 2},
        "failed": [{"trial_id": 1, "group": "a", "error": "out of memory"}],
    }


def test_export_jsonl(ledger):
    rows = [json.loads(line) for line in export(ledger).splitlines()]
    assert [r["trial_id"] for r in rows] == [0, 1, 2, 3]
    assert rows[0] == {
        "trial_id": 0, "group": "a", "spec_id": "id0", "status": "completed",
        "precision": "fp32", "seed": 0, "epochs": 1, "budget_s": None, "flops": 100,
        "params": 10, "acts": 0, "metrics": {"top1": 60.0, "loss": 1.5}, "design": {"w1": 8},
    }  # fmt: skip
    assert rows[2]["metrics"] == {"top1": 70.0, "loss": None}  # NaN: null, not invalid JSON
    assert rows[1]["metrics"] is None and rows[3]["status"] == "pending"
    assert "NaN" not in export(ledger)


def test_export_csv_flattens_metrics_and_design(ledger):
    text = export(ledger, "csv")
    table = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0].split(",") == [
        "trial_id", "group", "spec_id", "status", "precision", "seed", "epochs", "budget_s",
        "flops", "params", "acts", "metrics.top1", "metrics.loss", "design.w1",
    ]  # fmt: skip
    assert len(table) == 4 and not text.endswith("\n")
    assert table[0]["metrics.top1"] == "60.0" and table[0]["design.w1"] == "8"
    assert table[2]["metrics.loss"] == ""  # NaN: an empty cell
    assert table[3]["metrics.top1"] == "" and table[3]["precision"] == ""  # pending


def test_export_rejects_other_formats_before_reading(tmp_path):
    with pytest.raises(ValueError, match="format='xlsx' is invalid; allowed: jsonl, csv"):
        export(tmp_path / "nowhere", "xlsx")
    with pytest.raises(StoreError, match="holds no study"):
        export(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "slurm"}, "backend='slurm' is invalid; allowed: local, ray"),
        ({"workers": 0}, "workers=0 is invalid: --workers"),
        ({"threads": 0}, "threads=0 is invalid: --threads"),
        ({"workers": True}, "workers=True is invalid"),
    ],
)
def test_run_study_checks_its_options_first(tmp_path, shapes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_study(tiny_config(), tmp_path / "s", **kwargs)
    assert not (tmp_path / "s").exists() and shapes == []


def test_run_study_of_a_finished_study_starts_no_worker(tmp_path, shapes, monkeypatch):
    from netscale.study import runner

    def no_worker(*args, **kwargs):
        raise AssertionError("nothing is left to run")

    monkeypatch.setattr(runner, "run_local", no_worker)
    config = tiny_config()
    store = open_or_create(config, tmp_path)
    for t in store.trials():
        store.claim("h:1", 60)
        store.finish(t.trial_id, "h:1", "completed", {"top1": 50.0, "error": 50.0})
    store.close()
    seen = []
    result = run_study(config, tmp_path, report=False, monitor=seen.append)
    assert result["report"] is None
    assert result["counts"]["completed"] == 4 and seen == [result["counts"]]


def test_compare_ranks_the_models_both_studies_completed(tmp_path):
    from scipy import stats

    short = {("a", i): 60.0 - i for i in range(6)} | {("b", i): 50.0 + i for i in range(6, 10)}
    long = {("a", i): 30.0 - i for i in range(6)} | {("b", i): 40.0 - i for i in range(6, 10)}
    long[("b", 9)] = 24.0
    long[("b", 11)] = 10.0  # only in B: not matched
    a = ledger_of_errors(tmp_path / "a", "short", short, epochs=1)
    b = ledger_of_errors(tmp_path / "b", "long", long, epochs=4)
    info = api.compare(a, b)
    keys = sorted(short)
    expected = stats.spearmanr([short[k] for k in keys], [long[k] for k in keys]).statistic
    assert info["matched"] == 10
    assert info["all"]["n"] == 10 and info["all"]["rho"] == pytest.approx(expected)
    assert info["all"]["low"] <= info["all"]["rho"] <= info["all"]["high"]
    assert info["groups"]["a"]["rho"] == pytest.approx(1.0)  # same order within a
    assert info["groups"]["b"]["rho"] == pytest.approx(-1.0)  # reversed within b
    assert info["a"] | {"dir": None} == {"dir": None, "name": "short", "trained": "1 epoch",
                                         "completed": 10, "planned": 11}  # fmt: skip
    assert info["b"]["trained"] == "4 epochs" and info["b"]["completed"] == 11
    # best quarter (2 models): A's best are a5, a4 (55, 56); B's are b9, a5 (24, 25)
    assert info["top_quarter"] == {"size": 2, "shared": 1}


def test_compare_needs_three_shared_models(tmp_path):
    a = ledger_of_errors(tmp_path / "a", "x", {("a", 0): 1.0, ("a", 1): 2.0}, epochs=1)
    b = ledger_of_errors(tmp_path / "b", "y", {("a", 0): 1.0, ("a", 1): 2.0}, epochs=2)
    with pytest.raises(ValueError, match=r"2 models completed in both .* needs 3 or more"):
        api.compare(a, b)
