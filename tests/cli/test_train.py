"""`netscale train` / `netscale eval` from the command line."""

import json

from netscale.cli.main import main
from netscale.spec import save
from tests.training.conftest import tiny_spec


def test_train_then_eval(tmp_path, capsys):
    spec = save(tiny_spec(), tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    code = main(["train", str(spec), "--data", "digits", "--epochs", "1", "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["status"] == "completed" and summary["epochs"] == 1
    assert "epoch 1: loss" in captured.err and "img/s" in captured.err and "MFU" in captured.err
    assert main(["eval", str(out)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["top1"] == summary["top1"] and evaluated["test_images"] == 359


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
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a netscale run directory" in capsys.readouterr().err
