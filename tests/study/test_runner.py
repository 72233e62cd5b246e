"""Runners: trials run once each, a SIGKILLed study resumes to the same metrics, the Ray
backend matches the local one."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from netscale.study import runner
from netscale.study.api import open_or_create, run_study, study_trials
from netscale.study.runner import RunOptions, WorkerError, execute_trial, run_local, work
from netscale.study.store import Store
from netscale.training import precision
from netscale.training.precision import PrecisionChoice

from .conftest import tiny_config

_KEYS = ("top1", "loss", "train_loss", "epochs_run")


def _metrics(study_dir: Path) -> dict[int, tuple]:
    _, trials = study_trials(study_dir)
    assert all(t.status == "completed" for t in trials), [t.error for t in trials]
    return {t.trial_id: tuple(t.metrics[k] for k in _KEYS) for t in trials}


def _rule(calls: list, picks: str = "fp32"):
    """A stand-in for the precision rule that answers `picks` for "auto" (whatever this
    machine's CPU) and records what it was asked."""

    def choose(requested, device, spec=None):
        calls.append((requested, device.type, spec is not None))
        if requested != "auto":
            return PrecisionChoice(requested=requested, precision=requested, reason="requested")
        return PrecisionChoice(requested=requested, precision=picks, reason="test rule")

    return choose


def test_work_runs_every_trial_once_and_records_epochs(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(precision, "choose_precision", _rule(calls))
    config = tiny_config(epochs=2)
    open_or_create(config, tmp_path).close()
    assert work(tmp_path, RunOptions(data="digits", threads=1, device="cpu")) == 4
    _, trials = study_trials(tmp_path)
    assert [t.attempts for t in trials] == [1, 1, 1, 1]
    # the rule ran on "auto" once per trial, at its first claim, with the trial's spec;
    # training itself was only ever asked for the stored precision (nothing to time)
    assert [c for c in calls if c[0] == "auto"] == [("auto", "cpu", True)] * 4
    assert {c[0] for c in calls} <= {"auto", "fp32"}
    for t in trials:
        assert t.recipe["precision"] == "auto" and t.precision == "fp32"
        assert [h["epoch"] for h in t.history] == [1, 2]
        assert t.metrics["error"] == pytest.approx(100 - t.metrics["top1"])
        run_dir = tmp_path / "trials" / f"{t.trial_id:05d}"
        assert (run_dir / "metrics.jsonl").is_file()
        # training was told the stored precision: nothing left for it to decide (or time)
        assert json.loads((run_dir / "recipe.json").read_text())["precision"] == "fp32"
        env = json.loads((run_dir / "env.json").read_text())["precision"]
        assert (env["requested"], env["precision"], env["reason"]) == ("fp32", "fp32", "requested")
    assert work(tmp_path, RunOptions(data="digits", threads=1)) == 0  # nothing left


def test_later_attempts_train_in_the_stored_precision(tmp_path, monkeypatch):
    open_or_create(tiny_config(epochs=1), tmp_path).close()
    store = Store.open(tmp_path)
    store.claim("otherhost:1", 60)  # a worker elsewhere fixed bf16, then died
    assert store.fix_precision(0, "otherhost:1", "bf16") == "bf16"
    store._db.execute("UPDATE trials SET lease_expires=0")
    store.close()

    def no_rule(*args, **kwargs):
        raise AssertionError("the precision of a trial is decided at its first claim only")

    seen = []

    def fake_execute(trial, out, options, on_epoch=None):
        seen.append((trial.trial_id, trial.precision))
        return {"status": "completed", "metrics": {"top1": 1.0}, "history": [], "error": None}

    monkeypatch.setattr(precision, "choose_precision", no_rule)
    monkeypatch.setattr(runner, "execute_trial", fake_execute)
    assert work(tmp_path, RunOptions(data="digits"), max_trials=1) == 1
    assert seen == [(0, "bf16")]
    trial = study_trials(tmp_path)[1][0]
    assert (trial.attempts, trial.precision, trial.status) == (2, "bf16", "completed")


def _fake_train(recipes: list):
    def train(spec, *, recipe, out, resume, **kwargs):
        recipes.append((recipe.precision, resume))
        return SimpleNamespace(status="completed", metrics=[], message="", top1=50.0,
                               ema_top1=None, wall_s=1.0, images_per_s=1.0, epochs=1, steps=11,
                               step_s=None)  # fmt: skip

    return train


def test_execute_trial_trains_in_the_stored_precision(tmp_path, monkeypatch):
    import netscale.training.loop

    recipes: list = []
    monkeypatch.setattr(netscale.training.loop, "train", _fake_train(recipes))
    monkeypatch.setattr(runner, "_data", lambda options: None)
    trial = study_trials(_planned(tmp_path))[1][0]
    out = tmp_path / "run"
    assert (
        execute_trial(replace(trial, precision="bf16"), out, RunOptions(data="digits"))["status"]
        == "completed"
    )
    # a run directory from before the ledger fixed precisions (its recipe says "auto") is
    # started again, not resumed in another precision
    (out / "checkpoints" / "ckpt-000001").mkdir(parents=True)
    (out / "checkpoints" / "ckpt-000001" / "state.pt").write_bytes(b"")
    (out / "recipe.json").write_text(json.dumps({**trial.recipe, "precision": "auto"}))
    execute_trial(replace(trial, precision="fp32"), out, RunOptions(data="digits"))
    assert not out.exists()  # removed before training (the fake train writes nothing)
    out.mkdir()
    (out / "checkpoints" / "ckpt-000001").mkdir(parents=True)
    (out / "checkpoints" / "ckpt-000001" / "state.pt").write_bytes(b"")
    (out / "recipe.json").write_text(json.dumps({**trial.recipe, "precision": "fp32"}))
    execute_trial(replace(trial, precision="fp32"), out, RunOptions(data="digits"))
    assert recipes == [("bf16", False), ("fp32", False), ("fp32", True)]


def _planned(tmp_path: Path) -> Path:
    open_or_create(tiny_config(epochs=1), tmp_path / "study").close()
    return tmp_path / "study"


def test_any_exception_in_a_worker_fails_the_trial(tmp_path, monkeypatch):
    study = _planned(tmp_path)

    def boom(trial, out, options, on_epoch=None):
        raise KeyError("no such field")

    monkeypatch.setattr(runner, "execute_trial", boom)
    assert work(study, RunOptions(data="digits"), max_trials=1) == 1
    # inside execute_trial too: torch refuses the thread count, the trial fails (not running)
    monkeypatch.undo()
    monkeypatch.setattr(precision, "choose_precision", _rule([]))
    monkeypatch.setattr("torch.set_num_threads", lambda n: (_ for _ in ()).throw(OSError("x")))
    assert work(study, RunOptions(data="digits"), max_trials=1) == 1
    # and deciding the precision: a device this machine does not have
    assert work(study, RunOptions(data="digits", device="tpu"), max_trials=1) == 1
    trials = study_trials(study)[1]
    assert [t.status for t in trials] == ["failed", "failed", "failed", "pending"]
    assert trials[0].error == "KeyError: 'no such field'"
    assert trials[1].error == "OSError: x"
    assert trials[2].error.startswith("ValueError: device='tpu' is invalid; allowed: cpu")
    assert trials[2].precision is None and trials[1].precision == "fp32"


@pytest.mark.parametrize("threads", [0, -2, 1.5, True])
def test_threads_and_workers_are_checked_up_front(tmp_path, threads):
    with pytest.raises(ValueError, match=r"^threads=.* is invalid: --threads .*integer >= 1"):
        RunOptions(data="digits", threads=threads)
    with pytest.raises(ValueError, match=r"^threads=.* is invalid: --threads .*integer >= 1"):
        run_study(tiny_config(), tmp_path / "s", threads=threads)
    with pytest.raises(ValueError, match=r"^workers=0 is invalid: --workers .*integer >= 1"):
        run_study(tiny_config(), tmp_path / "s", workers=0)
    assert not (tmp_path / "s").exists()  # refused before anything was created


def test_a_worker_killed_from_outside_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "choose_precision", _rule([]))
    study = _planned(tmp_path)

    def kill_workers(counts):  # as the OOM killer would, before they claim anything
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(WorkerError) as err:
        run_local(study, RunOptions(data="digits"), workers=2, monitor=kill_workers)
    text = str(err.value)
    assert "worker 1 of 2 was killed by SIGKILL; worker 2 of 2 was killed by SIGKILL" in text
    assert "4 trials not finished: run the same command again" in text and "\n" not in text


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
    # "auto" is a rule, so both studies fixed the same precision for every trial
    ref_trials = study_trials(tmp_path / "ref")[1]
    assert [t.precision for t in trials] == [t.precision for t in ref_trials]
    assert all(t.precision in ("fp32", "bf16") for t in trials)


def test_two_concurrent_runners_run_each_trial_once(tmp_path):
    config = _config_file(tmp_path, epochs=1)
    procs = [_cli(config, tmp_path / "s") for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read().decode()
    _, trials = study_trials(tmp_path / "s")
    assert [t.attempts for t in trials] == [1] * 4
    assert all(t.status == "completed" for t in trials)


def test_ray_backend_matches_local_runner(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    config = tiny_config(epochs=1)
    run_study(config, tmp_path / "local", threads=1, report=False)
    result = run_study(config, tmp_path / "ray", backend="ray", workers=2, threads=1,
                       report=False)  # fmt: skip
    assert result["counts"]["completed"] == 4
    assert _metrics(tmp_path / "ray") == _metrics(tmp_path / "local")
    # the driver fixed each trial's precision (decided by a Ray task) before training it
    stored = [[t.precision for t in study_trials(tmp_path / b)[1]] for b in ("ray", "local")]
    assert stored[0] == stored[1] and set(stored[0]) <= {"fp32", "bf16"}


def test_rerun_with_another_config_is_refused_and_results_kept(tmp_path):
    config = tiny_config(epochs=1)
    open_or_create(config, tmp_path).close()
    work(tmp_path, RunOptions(data="digits", threads=1), max_trials=1)
    before = study_trials(tmp_path)[1]
    with pytest.raises(ValueError, match=r"holds a different study.*epochs"):
        open_or_create(tiny_config(epochs=2), tmp_path)
    assert study_trials(tmp_path)[1] == before


def test_a_study_trains_on_a_streamed_folder_in_worker_processes(tmp_path):
    """Local study workers are processes; a streamed folder starts DataLoader workers in
    them (threads=2: two decoding processes per trial)."""
    from ..data.test_stream import make_jpeg_folder

    root = make_jpeg_folder(tmp_path / "data", per_class=10, val=2, classes=tuple("abcd"))
    config = tiny_config(data=f"folder:{root}", recipe_overrides={"batch_size": 8})
    result = run_study(config, tmp_path / "s", workers=1, threads=2, report=False)
    assert result["counts"]["completed"] == 4, result
