"""The training loop: run directory, determinism, exact resume after SIGKILL, divergence."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

import netscale
from netscale.spec import load
from netscale.training import epoch, run
from netscale.training.checkpoint import latest_checkpoint
from netscale.training.precision import choose_precision
from netscale.training.runs import evaluate_run

from .conftest import assert_same_weights, stop_after_first_epoch, tiny_spec, without_timing

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "netscale.cli.main", *args]


def _lines(out) -> int:
    path = out / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_run_directory_and_determinism(tmp_path):
    a = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "a", epochs=2, ema_decay=0.9)
    assert a.status == "completed" and a.epochs == 2 and a.top1 > 30
    for name in (
        "spec.yaml",
        "recipe.json",
        "env.json",
        "data.json",
        "metrics.jsonl",
        "result.json",
    ):
        assert (tmp_path / "a" / name).is_file(), name
    assert latest_checkpoint(tmp_path / "a" / "checkpoints").name == "ckpt-0002"
    line = _metrics(tmp_path / "a")[-1]
    assert line["test_images"] == 359 and line["ema_top1"] is not None and line["mfu"] > 0
    # what a progress callable receives each epoch (the same line)
    for key in ("epoch", "step", "test_top1", "train_loss", "lr", "images_per_s", "wall_s"):
        assert line[key] is not None, key
    # quick asks for "auto": the rule's choice for this machine and the fitted spec
    rule = choose_precision("auto", torch.device("cpu"), load(tmp_path / "a" / "spec.yaml"))
    assert line["precision"] == a.precision == rule.precision
    assert line["peak_memory_mb"] is None and line["test_top1_flip"] is None
    assert a.metrics[0]["wall_s"] < line["wall_s"]
    env = json.loads((tmp_path / "a" / "env.json").read_text())
    assert env["precision"] == rule.to_dict() and env["bf16_capability"] == rule.capability
    b = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "b", epochs=2, ema_decay=0.9)
    assert without_timing(a.metrics) == without_timing(b.metrics)
    ev = evaluate_run(tmp_path / "a")
    assert ev["top1"] == pytest.approx(a.top1) and ev["test_images"] == 359


def test_refuses_to_overwrite_and_to_resume_another_recipe(tmp_path):
    netscale.train(tiny_spec(), "digits", "quick", tmp_path, epochs=1)
    with pytest.raises(FileExistsError, match=r"holds a run with a checkpoint \(ckpt-0001\); pass"):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path, epochs=1)
    with pytest.raises(ValueError, match=r"another recipe \(epochs: 1 -> 3\)"):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path, epochs=3, resume=True)


def test_diverged_run_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real = epoch.learning_rate

    def explode_in_epoch_two(recipe, step, steps_per_epoch):
        return 1e12 if step >= steps_per_epoch else real(recipe, step, steps_per_epoch)

    monkeypatch.setattr(epoch, "learning_rate", explode_in_epoch_two)
    result = netscale.train(tiny_spec(), "digits", "quick", tmp_path, epochs=3)
    assert result.status == "diverged" and "non-finite" in result.message
    assert result.epochs == 1 and len(_metrics(tmp_path)) == 1
    ckpt = latest_checkpoint(tmp_path / "checkpoints")
    assert ckpt.name == "ckpt-0001"
    state = torch.load(ckpt / "state.pt", weights_only=True)
    assert state["epoch"] == 1
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


def test_exact_resume_after_sigkill(tmp_path, tiny_path):
    """Kill the run with SIGKILL at random moments (seeded), resume, compare bit for bit."""
    args = [tiny_path, "--data", "digits", "--recipe", "quick", "--epochs", "4", "--lr", "0.05"]
    subprocess.run(
        _cli("train", *args, "--out", str(tmp_path / "ref")),
        env=ENV,
        check=True,
        capture_output=True,
    )
    reference = without_timing(_metrics(tmp_path / "ref"))
    rng = random.Random(0)
    out = tmp_path / "killed"
    kills = 0
    for epochs_done in (1, 2, 3):  # kill during epochs 2, 3 and 4, at a random moment
        resume = ["--resume"] if out.exists() else []
        proc = subprocess.Popen(
            _cli("train", *args, "--out", str(out), *resume),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while proc.poll() is None and _lines(out) < epochs_done:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    subprocess.run(
        _cli("train", *args, "--out", str(out), "--resume"),
        env=ENV,
        check=True,
        capture_output=True,
    )
    assert kills >= 1
    assert without_timing(_metrics(out)) == reference


def test_resume_in_process_keeps_recorded_precision(tmp_path, monkeypatch):
    """A run stopped after its first epoch and resumed ends as an uninterrupted one, in the
    precision it recorded, without measuring again."""
    kw = dict(epochs=2, precision="auto")
    reference = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "ref", **kw)

    stop_after_first_epoch(tiny_spec(), tmp_path / "r", **kw)
    assert _lines(tmp_path / "r") == 1

    def must_not_measure(*args, **kwargs):
        raise AssertionError("a resumed run must reuse its recorded precision")

    monkeypatch.setattr(run, "choose_precision", must_not_measure)
    resumed = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "r", resume=True, **kw)
    assert resumed.precision == reference.precision
    assert without_timing(resumed.metrics) == without_timing(reference.metrics)
    walls = [m["wall_s"] for m in _metrics(tmp_path / "r")]
    assert walls[1] > walls[0]  # wall time continues across the resume


def test_resume_in_process_with_tf_rmsprop_and_ema_warmup(tmp_path):
    """The EfficientNet settings (TF-style RMSProp, EMA warmed up with the step count, TF's
    BatchNorm momentum and epsilon): a run stopped after its first epoch and resumed ends
    with the metrics, weights, EMA and optimizer state of an uninterrupted one."""
    kw = dict(
        epochs=2,
        precision="fp32",
        optimizer="rmsprop",
        lr=0.004,
        weight_decay=1e-5,
        ema_decay=0.9999,
        ema_warmup=True,
        bn_momentum=0.01,
        bn_eps=1e-3,
    )
    reference = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "ref", **kw)
    assert reference.status == "completed" and reference.ema_top1 is not None

    stop_after_first_epoch(tiny_spec(), tmp_path / "r", **kw)
    resumed = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "r", resume=True, **kw)
    assert without_timing(resumed.metrics) == without_timing(reference.metrics)
    assert_same_weights(tmp_path / "ref", tmp_path / "r", ("model.safetensors", "ema.safetensors"))
    a, b = (latest_checkpoint(tmp_path / d / "checkpoints") for d in ("ref", "r"))
    sa, sb = (torch.load(c / "state.pt", weights_only=True)["optimizer"] for c in (a, b))
    assert sa["param_groups"] == sb["param_groups"]
    for key, st in sa["state"].items():
        assert set(st) == {"square_avg", "momentum_buffer"}
        assert all(torch.equal(st[k], sb["state"][key][k]) for k in st)
