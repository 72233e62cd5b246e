"""Runners: trials run once each, a SIGKILLed study resumes to the same metrics, the Ray
backend matches the local one."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from netscale.study.api import open_or_create, run_study, study_trials
from netscale.study.runner import RunOptions, work

from .conftest import tiny_config

_KEYS = ("top1", "loss", "train_loss", "epochs_run")


def _metrics(study_dir: Path) -> dict[int, tuple]:
    _, trials = study_trials(study_dir)
    assert all(t["status"] == "completed" for t in trials), [t["error"] for t in trials]
    return {t["trial_id"]: tuple(t["metrics"][k] for k in _KEYS) for t in trials}


def test_work_runs_every_trial_once_and_records_epochs(tmp_path):
    config = tiny_config(epochs=2)
    open_or_create(config, tmp_path).close()
    assert work(tmp_path, RunOptions(data="digits", threads=1)) == 4
    _, trials = study_trials(tmp_path)
    assert [t["attempts"] for t in trials] == [1, 1, 1, 1]
    for t in trials:
        assert [h["epoch"] for h in t["history"]] == [1, 2]
        assert t["metrics"]["error"] == pytest.approx(100 - t["metrics"]["top1"])
        assert (tmp_path / "trials" / f"{t['trial_id']:05d}" / "metrics.jsonl").is_file()
    assert work(tmp_path, RunOptions(data="digits", threads=1)) == 0  # nothing left


def _cli(config_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "netscale", "study", "run", str(config_path), "--out", str(out),
           "--threads", "1", "--no-report", *extra]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _config_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(tiny_config(**changes).to_dict()))
    return path


def test_sigkill_twice_then_resume_gives_the_uninterrupted_metrics(tmp_path):
    config = _config_file(tmp_path, epochs=3)
    ref = _cli(config, tmp_path / "ref")
    assert ref.wait(timeout=600) == 0, ref.stderr.read().decode()
    rng = random.Random(7)
    killed = tmp_path / "killed"
    for _ in range(2):
        proc = _cli(config, killed, "--workers", "2")
        time.sleep(rng.uniform(4.0, 9.0))  # start-up takes ~3 s: kill mid-trial
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = _cli(config, killed)
    assert done.wait(timeout=600) == 0, done.stderr.read().decode()
    _, trials = study_trials(killed)
    assert len(trials) == 4  # exactly the planned trials, none duplicated
    assert _metrics(killed) == _metrics(tmp_path / "ref")


def test_two_concurrent_runners_run_each_trial_once(tmp_path):
    config = _config_file(tmp_path, epochs=1)
    procs = [_cli(config, tmp_path / "s") for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read().decode()
    _, trials = study_trials(tmp_path / "s")
    assert [t["attempts"] for t in trials] == [1] * 4
    assert all(t["status"] == "completed" for t in trials)


def test_ray_backend_matches_local_runner(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    config = tiny_config(epochs=1)
    run_study(config, tmp_path / "local", threads=1, report=False)
    result = run_study(config, tmp_path / "ray", backend="ray", workers=2, threads=1,
                       report=False)  # fmt: skip
    assert result["counts"]["completed"] == 4
    assert _metrics(tmp_path / "ray") == _metrics(tmp_path / "local")


def test_rerun_with_another_config_is_refused_and_results_kept(tmp_path):
    config = tiny_config(epochs=1)
    open_or_create(config, tmp_path).close()
    work(tmp_path, RunOptions(data="digits", threads=1), max_trials=1)
    before = study_trials(tmp_path)[1]
    with pytest.raises(ValueError, match=r"holds a different study.*epochs"):
        open_or_create(tiny_config(epochs=2), tmp_path)
    assert study_trials(tmp_path)[1] == before
