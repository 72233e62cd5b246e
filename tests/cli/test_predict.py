"""`netscale predict` and `netscale train --pseudo` from the command line: the teacher ->
student loop of docs/pseudo_labels.md on digits, and one-line errors."""

import json

import numpy as np

from netscale.cli.main import main
from netscale.data.pseudo import read_predictions
from netscale.spec import save
from tests.training.conftest import tiny_spec


def test_teacher_labels_then_student_trains(tmp_path, capsys):
    spec = str(save(tiny_spec(), tmp_path / "tiny.yaml"))
    teacher, labels = tmp_path / "teacher", tmp_path / "labels.npz"
    flags = ["--epochs", "1", "--batch-size", "64", "--precision", "fp32"]
    assert main(["train", spec, "--data", "digits", *flags, "--ema-decay", "0.9",
                 "--out", str(teacher)]) == 0  # fmt: skip
    capsys.readouterr()
    args = ["predict", str(teacher), "--data", "digits", "--split", "test", "--out", str(labels)]
    assert main([*args, "--top-k", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["weights"] == "ema" and "EMA weights (the default)" in summary["weights_note"]
    assert (summary["images"], summary["classes"], summary["top_k"]) == (359, 10, 3)
    assert summary["out"] == str(labels) and sum(summary["argmax_counts"].values()) == 359
    assert read_predictions(labels).sha256 == summary["sha256"]
    before = labels.read_bytes()
    assert main([*args, "--final"]) == 2  # never overwritten without --force
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists; pass force=True (--force)" in err
    assert labels.read_bytes() == before
    assert main([*args, "--final", "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == "final"
    student = tmp_path / "student"
    pseudo = ["--pseudo", str(labels), "--pseudo-ratio", "0.25", "--pseudo-targets", "hard"]
    assert main(["train", spec, "--data", "digits", *flags, *pseudo, "--out", str(student)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and out["steps"] == 1438 // 48
    info = json.loads((student / "data.json").read_text())["pseudo"]
    assert (info["targets"], info["ratio"], info["images"]) == ("hard", 0.25, 359)


def test_errors_are_one_line(tmp_path, capsys):
    spec = str(save(tiny_spec(), tmp_path / "tiny.yaml"))
    (tmp_path / "empty").mkdir()
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    save(tiny_spec(), run / "spec.yaml")
    np.savez(tmp_path / "bad.npz", probs=np.ones((2, 10)) / 10)
    out = str(tmp_path / "l.npz")
    for argv, message in (
        (["predict", str(run), "--data", "digits", "--out", out], "has no complete checkpoint"),
        (["predict", str(tmp_path), "--data", "digits", "--out", out], "not a netscale run"),
        (["train", spec, "--pseudo", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "s")],
         "pseudo-labels " + str(tmp_path / "bad.npz") + ": missing arrays ['top_k_index'"),
        (["train", spec, "--pseudo", str(tmp_path / "bad.npz"), "--pseudo-targets", "x",
          "--out", str(tmp_path / "s")], "pseudo_targets='x' is invalid; allowed: soft, hard"),
        (["train", spec, "--pseudo", str(tmp_path / "bad.npz"), "--pseudo-ratio", "1",
          "--out", str(tmp_path / "s")], "pseudo_ratio=1.0 is invalid"),
        (["train", spec, "--pseudo", str(tmp_path / "empty"), "--out", str(tmp_path / "s")],
         "pseudo-labels: no file at"),
    ):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "s").exists() and not (tmp_path / "l.npz").exists()
