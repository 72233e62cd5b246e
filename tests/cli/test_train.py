"""`netscale train` / `netscale eval` from the command line."""

import json
import sys

import pytest
import torch

from netscale.cli.main import main
from netscale.spec import load, save
from netscale.training.precision import choose_precision
from tests.training.conftest import tiny_spec


def test_train_then_eval(tmp_path, capsys):
    spec = save(tiny_spec(), tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    args = ["train", str(spec), "--data", "digits", "--epochs", "1", "--eval-flip"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["status"] == "completed" and summary["epochs"] == 1
    rule = choose_precision("auto", torch.device("cpu"), load(out / "spec.yaml")).precision
    assert summary["precision"] == rule and summary["top1_flip"] is not None
    # not a terminal: a header line and one plain line per epoch, no bar
    err = captured.err.splitlines()
    assert err[0].startswith("train tiny:") and f"{rule} (auto: " in err[0]
    assert err[1].startswith("epoch 1/1: loss") and "img/s" in err[1] and "MFU" in err[1]
    assert len(err) == 2 and "\r" not in captured.err
    assert main(["eval", str(out)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["top1"] == summary["top1"] and evaluated["test_images"] == 359
    assert evaluated["top1_flip"] == summary["top1_flip"]  # the recipe's eval_flip
    assert evaluated["precision"] == rule
    assert main(["eval", str(out), "--no-flip"]) == 0
    assert json.loads(capsys.readouterr().out)["top1_flip"] is None


def test_errors_are_one_line(tmp_path, capsys):
    spec = save(tiny_spec(), tmp_path / "tiny.yaml")
    code = main(["train", str(spec), "--recipe", "fastest", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "unknown recipe 'fastest'" in err
    code = main(["train", str(spec), "--data", "imagenet", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "imagenet" in err
    for device, message in (
        ("tpu", "device='tpu' is invalid; allowed: cpu, cuda"),
        ("cuda:7", "device='cuda:7' is not available here"),
    ):
        code = main(["train", str(spec), "--device", device, "--out", str(tmp_path / "d")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "d").exists()
    code = main(["train", str(spec), "--precision", "fp16", "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "allowed: auto, fp32, bf16" in err
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a netscale run directory" in capsys.readouterr().err


def test_tensorboard_missing_is_one_line(tmp_path, capsys, monkeypatch):
    spec = save(tiny_spec(), tmp_path / "tiny.yaml")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # not installed
    code = main(["train", str(spec), "--tensorboard", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "pip install 'netscale[tensorboard]'" in err


class _Called(Exception):
    pass


def test_every_recipe_field_is_a_flag(monkeypatch):
    """The flags are generated from Recipe: a new field needs no CLI edit."""
    import dataclasses

    from netscale.cli import train as train_cli
    from netscale.training.recipe import Recipe

    seen = {}

    def fake_train(*args, **kwargs):
        seen.update(kwargs)
        raise _Called

    monkeypatch.setattr("netscale.training.loop.train", fake_train)
    flags = train_cli.recipe_flags()
    assert set(flags) == {f.name for f in dataclasses.fields(Recipe)} - {
        "name",
        "source",
        "decay_milestones",
        "steps",  # set by --budget
    }
    args = ["train", "tiny", "--out", "x", "--warmup-epochs", "0.5", "--no-channels-last"]
    with pytest.raises(_Called):
        main([*args, "--min-mixup-alpha", "0.1", "--compile"])
    assert seen["warmup_epochs"] == 0.5 and seen["channels_last"] is False
    assert seen["min_mixup_alpha"] == 0.1 and seen["compile"] is True
    assert "lr" not in seen  # absent flags keep the recipe's value


def test_budget_flag(tmp_path, capsys, monkeypatch):
    """--budget reaches train() as written; a bad one is a one-line usage error naming the
    allowed forms; a budgeted run's summary says its steps, budget and seconds per step."""
    from netscale.training import budget
    from netscale.training.step_time import Measurement

    spec = save(tiny_spec(), tmp_path / "tiny.yaml")
    code = main(["train", str(spec), "--budget", "15x", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "budget='15x' is invalid: a duration > 0 with units, Ns, Nm, Nh" in err
    fixed = Measurement(step_s=0.125, eval_s=0.375, save_s=0.125, overhead_s=1.0)
    monkeypatch.setattr(budget, "measure", lambda run, started: fixed)
    args = ["train", str(spec), "--budget", "4s", "--precision", "fp32", "--out"]
    assert main([*args, str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert (summary["steps"], summary["budget_s"], summary["step_s"]) == (16, 4.0, 0.125)
    assert summary["epochs"] == 2
    assert "note: budget 4s: 16 steps (0.125 s per step" in captured.err
