"""Run directories that survive a crash: restart before the first checkpoint, refuse a
mismatched resume, damaged files, leftovers, divergence (issue 11, item 6)."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import netscale
from netscale.cli.main import main
from netscale.spec import save
from netscale.training import epoch
from netscale.training.checkpoint import CheckpointError, latest_checkpoint
from netscale.training.runs import evaluate_run

from .conftest import tiny_spec, without_timing

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


class _Stop(Exception):
    pass


def _stop_at_start(tmp_path, **kw):
    """A run that fails after creating its directory, before its first checkpoint."""

    class Fail:
        def on_start(self, info):
            raise _Stop

        def __call__(self, metrics):
            pass

    with pytest.raises(_Stop):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path, progress=Fail(), **kw)
    assert (tmp_path / "spec.yaml").is_file()
    assert latest_checkpoint(tmp_path / "checkpoints") is None


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_stopped_before_its_first_checkpoint_starts_again(tmp_path, resume):
    _stop_at_start(tmp_path / "r", epochs=1)
    reference = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "ref", epochs=1)
    seen = []

    class Watch:
        def on_start(self, info):
            seen.append(info)

        def __call__(self, metrics):
            pass

    again = netscale.train(
        tiny_spec(), "digits", "quick", tmp_path / "r", epochs=1, resume=resume, progress=Watch()
    )
    assert again.status == "completed"
    assert without_timing(again.metrics) == without_timing(reference.metrics)
    assert "stopped before its first checkpoint" in seen[0]["notes"][0]


def test_a_directory_of_other_files_is_never_touched(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"holds no netscale run \(found notes.txt\)"):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path, epochs=1, resume=True)
    assert (tmp_path / "notes.txt").read_text() == "mine" and len(os.listdir(tmp_path)) == 1


def test_sigkill_before_the_first_checkpoint_then_the_same_command(tmp_path):
    spec = str(save(tiny_spec(), tmp_path / "tiny.yaml"))
    cmd = [sys.executable, "-m", "netscale.cli.main", "train", spec, "--epochs", "2"]
    ref = tmp_path / "ref"
    subprocess.run([*cmd, "--out", str(ref)], env=ENV, check=True, capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(out)], env=ENV, stderr=subprocess.DEVNULL)
    while proc.poll() is None and not (out / "env.json").exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest_checkpoint(out / "checkpoints") is None
    subprocess.run([*cmd, "--out", str(out)], env=ENV, check=True, capture_output=True)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    refs = [json.loads(x) for x in (ref / "metrics.jsonl").read_text().splitlines()]
    assert without_timing(lines) == without_timing(refs)


def _npz(path, rng, n=256):
    x = rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)
    y = np.arange(n) % 10
    np.savez(path, x_train=x, y_train=y, x_test=x[:16], y_test=y[:16])
    return f"npz:{path}"


def test_resume_refuses_another_spec_data_or_seed(tmp_path):
    run = tmp_path / "run"
    _stopped_run(run)
    silu = dataclasses.replace(tiny_spec(), act="silu")
    cases = [
        (dict(data=_npz(tmp_path / "other.npz", np.random.default_rng(0))), "another data"),
        (dict(seed=1), r"another data \(seed: 0 -> 1"),
        (dict(model=netscale.api.resolve_spec("resnet_18")), "another spec"),
        (dict(model=silu), r"another spec \(act: 'relu' -> 'silu'\)"),
    ]
    for kw, message in cases:
        args = {"model": tiny_spec(), "data": "digits", **kw}
        with pytest.raises(ValueError, match=message):
            netscale.train(
                args.pop("model"), args.pop("data"), "quick", run, epochs=2, resume=True, **args
            )
    done = netscale.train(tiny_spec(), "digits", "quick", run, epochs=2, resume=True)
    assert done.epochs == 2  # the refusals left the run intact


def _stop_after_one(metrics):
    if metrics["epoch"] == 1:
        raise _Stop


def _stopped_run(tmp_path):
    with pytest.raises(_Stop):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path, epochs=2, progress=_stop_after_one)
    return latest_checkpoint(tmp_path / "checkpoints")


@pytest.mark.parametrize("name", ["model.safetensors", "state.pt"])
def test_damaged_checkpoint_is_a_one_line_error(tmp_path, name, capsys):
    ckpt = _stopped_run(tmp_path)
    data = (ckpt / name).read_bytes()
    (ckpt / name).write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match=f"{name} is damaged"):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path, epochs=2, resume=True)
    with pytest.raises(CheckpointError, match=f"{name} is damaged"):
        evaluate_run(tmp_path)
    assert main(["eval", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is damaged" in err


def test_leftovers_go_and_damaged_metrics_come_back_from_the_checkpoint(tmp_path):
    reference = netscale.train(tiny_spec(), "digits", "quick", tmp_path / "ref", epochs=2)
    run = tmp_path / "run"
    ckpt = _stopped_run(run)
    partial = ckpt.parent / ".tmp-ckpt-0002-99999"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    (run / "metrics.jsonl").write_text('{"epoch": 1, "train_lo')  # torn line
    done = netscale.train(tiny_spec(), "digits", "quick", run, epochs=2, resume=True)
    assert not partial.exists()
    assert without_timing(done.metrics) == without_timing(reference.metrics)
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2]


def test_emptied_metrics_do_not_drop_the_history(tmp_path):
    _stopped_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text("")
    done = netscale.train(tiny_spec(), "digits", "quick", tmp_path, epochs=2, resume=True)
    assert [m["epoch"] for m in done.metrics] == [1, 2]


def test_divergence_in_the_first_epoch_says_so_and_writes_valid_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(epoch, "learning_rate", lambda recipe, step, n: 1e12)
    spec = save(tiny_spec(), tmp_path / "tiny.yaml")
    code = main(["train", str(spec), "--epochs", "2", "--out", str(tmp_path / "r")])
    captured = capsys.readouterr()
    assert code == 1
    assert "run diverged" in captured.err and "no checkpoint was written" in captured.err
    summary = _strict_json(captured.out)
    assert summary["status"] == "diverged" and summary["top1"] is None
    result = (tmp_path / "r" / "result.json").read_text()
    assert _strict_json(result)["top1"] is None


def _strict_json(text):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_small_images_train_at_the_total_stride_and_say_so(tmp_path, capsys):
    """The obvious command: a stride-32 network on 8 px digits."""
    spec = netscale.api.resolve_spec("resnet_18")
    path = save(spec, tmp_path / "r18.yaml")
    out = tmp_path / "r"
    args = ["train", str(path), "--data", "npz:" + str(_tiny_npz(tmp_path)), "--epochs", "1"]
    assert main([*args, "--batch-size", "16", "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("note: the data's 8 px images are smaller") and "32 px" in err[0]
    assert "at 32 px" in err[1]
    code = main([*args, "--resolution", "8", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "--resolution 32 or more" in err and err.count("\n") == 1


def _tiny_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 8, 8, 3), dtype=np.uint8)
    y = np.arange(32) % 4
    np.savez(tmp_path / "tiny.npz", x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])
    return tmp_path / "tiny.npz"


def test_absurd_resolution_is_refused_before_anything_is_written(tmp_path, capsys):
    spec = save(tiny_spec(), tmp_path / "tiny.yaml")
    out = tmp_path / "r"
    code = main(["train", str(spec), "--resolution", "100000", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "lower --resolution or --batch-size" in err and "GiB" in err
    assert not out.exists()


def test_mfu_never_exceeds_one_when_the_probe_ran_under_load(tmp_path, monkeypatch):
    from netscale.profiling import device

    monkeypatch.setattr(device, "_PEAK", {})
    monkeypatch.setattr(device, "grow_probe", lambda *a, **k: (1.0, [128]))  # 1 MAC/s
    result = netscale.train(tiny_spec(), "digits", "quick", tmp_path, epochs=1)
    assert 0 < result.metrics[0]["mfu"] <= 1.0
    assert torch.get_num_threads() == 1
