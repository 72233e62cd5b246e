"""`netscale search`: a tiny training-aware search end to end (killed mid-trial, resumed by
the same command), its best.yaml, and the configs it refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from netscale.cli.main import main
from netscale.spec import load, spec_id
from netscale.study.api import study_trials
from netscale.study.store import Store

from ..study.conftest import search_config, tiny_config
from .conftest import usage_error


def _by_hand(t) -> float:
    """EfficientNetV2's reward A * S^w * P^v, w = -0.07, v = -0.05 (sec. 3.3)."""
    return (t.metrics["top1"] / 100) * t.metrics["step_ms"] ** -0.07 * t.params**-0.05


def _wait_for(check, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
        assert time.monotonic() < end, "the search did not get there in time"
        time.sleep(0.05)


def test_search_killed_mid_trial_resumes_and_writes_the_best_by_reward(tmp_path, capsys):
    config = tmp_path / "search.yaml"  # 2 candidates, 3 epochs: checkpoints mid-trial
    config.write_text(yaml.safe_dump(search_config(epochs=3, section={"samples": 2}).to_dict()))
    out = tmp_path / "s"
    args = ["search", str(config), "--out", str(out), "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "netscale", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    # killed once trial 1 has written its first epoch's checkpoint (trial 0 is done)
    _wait_for(lambda: (out / "trials" / "00001" / "checkpoints" / "latest").is_file(), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store.open(out)
    first, interrupted = store.trial(0), store.trial(1)
    store.close()
    assert first.status == "completed" and interrupted.status == "running"
    assert main(args) == 0  # the same command resumes it
    lines = capsys.readouterr().out.splitlines()
    _, trials = study_trials(out)
    assert [(t.status, t.attempts) for t in trials] == [("completed", 1), ("completed", 2)]
    assert trials[0].metrics == first.metrics  # a completed result is never redone
    assert [h["epoch"] for h in trials[1].history] == [1, 2, 3]
    for t in trials:
        m = t.metrics
        assert (t.kind, m["device"], m["threads"], m["step_batch"]) == ("search", "cpu", 1, 16)
        assert m["step_ms"] > 0 and m["device_name"] and m["step_precision"] == "fp32"
    best = max(trials, key=_by_hand)
    written = load(out / "best.yaml")
    assert spec_id(written) == best.spec_id
    line = next(x for x in lines if x.startswith("best by reward: "))
    assert line.startswith(f"best by reward: trial {best.trial_id}, ")
    assert f"top-1 {best.metrics['top1']:.2f}%" in line and "ms on cpu (" in line
    assert line.endswith(f"M params -> {out / 'best.yaml'}")
    assert "study search-tiny (training_aware): 2 of 2 planned trials completed" in lines
    html = (out / "report.html").read_text()
    assert "Reward ranking" in html and "Chosen model" in html


def test_other_planners_and_examples_are_refused(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config().to_dict()))
    out = tmp_path / "x"
    err = usage_error(["search", str(config), "--out", str(out)], capsys)
    assert "planner='design_space' is not training_aware" in err
    assert "run this study with `netscale study run`" in err
    err = usage_error(["search", "--example", "anynet-digits", "--out", str(out)], capsys)
    assert "example='anynet-digits' is not a training-aware search; allowed: v2-digits" in err
    assert "exactly one" in usage_error(["search", "--out", str(out)], capsys)
    assert not out.exists()  # refused before anything was created


@pytest.mark.parametrize("flag", ["--no-report", "--format"])
def test_search_takes_only_the_run_flags(tmp_path, capsys, flag):
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--example", "v2-digits", "--out", str(tmp_path), flag])
    assert exit_.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
