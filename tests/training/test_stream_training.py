"""Training on a streamed ImageFolder: workers, exact resume after SIGKILL, corrupt files,
evaluation at its own resolution and crop."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import netscale
from netscale.spec import save

from ..data.test_stream import make_jpeg_folder
from .conftest import tiny_spec, without_timing

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
RECIPE = dict(epochs=3, batch_size=8, lr=0.05, resolution=16, crop="resized", flip=True,
              randaug_layers=1, randaug_magnitude=5.0, eval_resolution=20,
              eval_crop_fraction=0.875, precision="fp32")  # fmt: skip


def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_streamed_training_does_not_depend_on_the_workers(tmp_path):
    root = make_jpeg_folder(tmp_path / "data", per_class=8, val=2)
    runs = [
        netscale.train(
            tiny_spec(),
            f"folder:{root}",
            "quick",
            tmp_path / f"w{w}",
            workers=w,
            **{**RECIPE, "epochs": 2},
        )
        for w in (0, 2)
    ]
    assert runs[0].status == "completed" and runs[0].epochs == 2
    assert without_timing(runs[0].metrics) == without_timing(runs[1].metrics)
    line = runs[0].metrics[-1]
    assert line["test_images"] == 6 and line["skipped_images"] == 0
    assert line["resolution"] == 16  # trained at 16 px, evaluated at 20 px
    data = json.loads((tmp_path / "w0" / "data.json").read_text())
    assert data["train_images"] == 24 and data["source"] == f"folder:{root}"


def _cli(*args):
    return [sys.executable, "-m", "netscale.cli.main", *args]


def test_exact_resume_of_a_streamed_run_after_sigkill(tmp_path):
    root = make_jpeg_folder(tmp_path / "data", per_class=8, val=2)
    spec = str(save(tiny_spec(), tmp_path / "tiny.yaml"))
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in RECIPE.items() if k != "flip"]
    args = [spec, "--data", f"folder:{root}", "--recipe", "quick", "--flip", *flags]
    args += ["--workers", "2"]
    subprocess.run(_cli("train", *args, "--out", str(tmp_path / "ref")), env=ENV, check=True,
                   capture_output=True)  # fmt: skip
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli("train", *args, "--out", str(out)), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    metrics = out / "metrics.jsonl"
    while proc.poll() is None and not (metrics.exists() and metrics.read_text().strip()):
        time.sleep(0.01)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(_cli("train", *args, "--out", str(out), "--resume"), env=ENV, check=True,
                   capture_output=True)  # fmt: skip
    assert killed  # the run was killed after its first epoch, before its last
    assert without_timing(_metrics(out)) == without_timing(_metrics(tmp_path / "ref"))


def test_corrupt_files_are_counted_and_too_many_stop_the_run(tmp_path):
    root = make_jpeg_folder(tmp_path / "data", per_class=8, val=2)
    (root / "train" / "ant" / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    kw = {**RECIPE, "epochs": 1, "batch_size": 5}
    with pytest.raises(
        ValueError, match=r"epoch 1 of data/train: 1 of 25 image files are corrupt.*bad.jpg"
    ):
        netscale.train(tiny_spec(), f"folder:{root}", "quick", tmp_path / "a", workers=0, **kw)
    many = make_jpeg_folder(tmp_path / "many", per_class=40, val=2)
    (many / "train" / "bee" / "bad.jpg").write_bytes(b"")
    result = netscale.train(tiny_spec(), f"folder:{many}", "quick", None, workers=0,
                            **{**kw, "batch_size": 121})  # fmt: skip
    assert result.metrics[0]["skipped_images"] == 1  # 1 of 121: within the 1% allowed


def test_progressive_stages_crop_streamed_images_at_their_own_resolution(tmp_path):
    root = make_jpeg_folder(tmp_path / "data", per_class=8, val=2)
    kw = {**RECIPE, "epochs": 2, "progressive": "paper", "progressive_stages": 2}
    result = netscale.train(tiny_spec(), f"folder:{root}", "quick", None, workers=0,
                            **{**kw, "min_resolution": 12, "resolution": 20})  # fmt: skip
    assert [m["resolution"] for m in result.metrics] == [12, 20]
