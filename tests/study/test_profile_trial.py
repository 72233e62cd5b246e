"""Profile trials (study/profile_trial.py) through the runners: a tiny real runtime study on
the CPU with the local runner (and Ray, where installed), resumed without measuring a
completed trial again; the device check; a measurement that fails."""

from __future__ import annotations

import dataclasses

import pytest

from netscale.study.api import open_or_create, run_study, study_trials
from netscale.study.profile_trial import check_device
from netscale.study.runner import RunOptions, execute_trial, work

from .conftest import runtime_config
from .trials import RUNTIME_SETTINGS, runtime_trials

_KEYS = {"runtime_ms", "runtime_p95_ms", "images_per_s", "threads", "device", "device_name",
         "peak_memory_bytes", "steps"}  # fmt: skip


def _measured(study_dir, *, all_done: bool = True) -> dict[int, dict]:
    """Trial id -> metrics of the measured trials (every trial, when `all_done`)."""
    _, trials = study_trials(study_dir)
    if all_done:
        assert all(t.status == "completed" for t in trials), [t.error for t in trials]
    return {t.trial_id: t.metrics for t in trials if t.metrics is not None}


def test_a_tiny_study_runs_locally_and_resumes_without_measuring_again(tmp_path):
    open_or_create(runtime_config(), tmp_path).close()
    assert work(tmp_path, RunOptions(data="unused", threads=1), max_trials=2) == 2  # in-process
    first = _measured(tmp_path, all_done=False)
    assert sorted(first) == [0, 1]
    result = run_study(runtime_config(), tmp_path, threads=1)  # the local runner: 1 worker
    assert result["counts"]["completed"] == 4
    measured = _measured(tmp_path)
    assert {i: measured[i] for i in first} == first  # the first two were not measured again
    _, trials = study_trials(tmp_path)
    for t in trials:
        m = t.metrics
        assert set(m) == _KEYS and m["runtime_ms"] > 0 and m["images_per_s"] > 0
        assert (m["threads"], m["device"], m["steps"]) == (1, "cpu", 2)
        assert (t.kind, t.precision, t.attempts, t.history) == ("profile", "fp32", 1, [])
    assert not (tmp_path / "trials").exists()  # no run directories
    text = result["report"].read_text()
    assert "Runtime versus complexity" in text and "models measured: correlations need" not in text
    again = run_study(runtime_config(), tmp_path, threads=1, report=False)
    assert again["counts"]["completed"] == 4 and _measured(tmp_path) == measured
    assert [t.attempts for t in study_trials(tmp_path)[1]] == [1] * 4


def test_the_study_device_wins_and_a_conflict_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"--device 'cuda' conflicts with the device this "
                       r"study measures on \(cpu, from its config\)"):  # fmt: skip
        run_study(runtime_config(), tmp_path, device="cuda", threads=1)
    assert all(t.status == "pending" for t in study_trials(tmp_path)[1])  # nothing ran
    check_device(runtime_trials(2), "cpu")  # the same device: fine
    check_device([dataclasses.replace(runtime_trials(1)[0], kind="train")], "cuda")


def test_a_failed_measurement_is_the_trials_failure(tmp_path):
    trial = runtime_trials(1)[0]
    trial = dataclasses.replace(trial, recipe={**RUNTIME_SETTINGS, "device": "cuda:99"})
    outcome = execute_trial(trial, tmp_path / "t", RunOptions(data="unused", threads=1))
    assert outcome["status"] == "failed" and outcome["metrics"] is None
    assert "device='cuda:99' is not available here" in outcome["error"]


def test_ray_backend_measures_profile_trials(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    config = runtime_config(section={"samples": 3})
    result = run_study(config, tmp_path, backend="ray", threads=1, report=False)
    assert result["counts"]["completed"] == 3
    _, trials = study_trials(tmp_path)
    assert all(set(t.metrics) == _KEYS and t.precision == "fp32" for t in trials)
