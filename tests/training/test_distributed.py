"""Two gloo processes under torchrun against one process with the same global batch."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from netscale.training.distributed import check_sync_bn

from .conftest import without_timing

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _torchrun(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        "-m",
        "netscale.cli.main",
        *args,
    ]


def test_two_process_ddp_matches_one_process(tmp_path, tiny_path):
    args = [
        "train",
        tiny_path,
        "--data",
        "digits",
        "--recipe",
        "quick",
        "--epochs",
        "3",
        "--batch-size",
        "128",
    ]
    subprocess.run(
        [sys.executable, "-m", "netscale.cli.main", *args, "--out", str(tmp_path / "one")],
        env=ENV,
        check=True,
        capture_output=True,
    )
    run = _torchrun(*args, "--out", str(tmp_path / "two"))
    done = subprocess.run(run, env=ENV, capture_output=True, text=True, timeout=300)
    # on failure, all of it: which rank died how, and what each printed before
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-12000:])
    one, two = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert [m["step"] for m in one] == [m["step"] for m in two]
    # every one of the 359 test images is evaluated exactly once over both ranks
    assert all(m["test_images"] == 359 for m in one + two)
    # Each rank takes half of every global batch, so gradients are the single process's
    # up to BatchNorm, whose statistics come from 64 images per rank instead of 128:
    # the runs agree closely, not bit for bit.
    for a, b in zip(without_timing(one), without_timing(two), strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.03)
        assert abs(b["test_top1"] - a["test_top1"]) <= 3.0


def test_sync_bn_on_cpu_ranks_is_a_clear_error(tmp_path, tiny_path):
    """torch refuses SyncBatchNorm on CPU ranks (DDP: "SyncBatchNorm layers only work with
    GPU modules", after the run directory exists); the run must stop before it starts,
    with a message saying why and what to do."""
    run = _torchrun("train", tiny_path, "--epochs", "1", "--sync-bn", "--out", str(tmp_path / "r"))
    done = subprocess.run(run, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "netscale: error: sync_bn=True cannot run on 2 CPU ranks" in done.stderr
    assert "only work with GPU modules" not in done.stderr  # torch's own error, from DDP
    assert not (tmp_path / "r").exists()  # stopped before the run directory was made


def test_sync_bn_check():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    check_sync_bn(True, cpu, 1)  # one process: nothing to synchronize
    check_sync_bn(True, cuda, 2)
    check_sync_bn(False, cpu, 2)
    with pytest.raises(ValueError, match="only CUDA tensors"):
        check_sync_bn(True, cpu, 4)
