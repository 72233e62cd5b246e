"""Progress: the hooks train() calls, and the console display (bar on a tty, lines else)."""

import io

import pytest
import torch

import netscale
from netscale.spec import load
from netscale.training.precision import choose_precision
from netscale.training.progress import ConsoleProgress, Hooks, format_epoch

from .conftest import tiny_spec

EPOCH_KEYS = ("epoch", "step", "test_top1", "train_loss", "lr", "images_per_s", "wall_s")


class _Recorder:
    def __init__(self):
        self.events = []

    def on_start(self, info):
        self.events.append(("start", info))

    def on_step(self, event):
        self.events.append(("step", event))

    def __call__(self, metrics):
        self.events.append(("epoch", metrics))

    def on_end(self, result):
        self.events.append(("end", result))


def test_plain_callable_gets_each_epoch_line_and_an_object_gets_steps_too(tmp_path):
    lines = []
    result = netscale.train(
        tiny_spec(),
        "digits",
        "quick",
        tmp_path / "a",
        epochs=2,
        ema_decay=0.9,
        progress=lines.append,
    )
    assert [m["epoch"] for m in lines] == [1, 2]
    assert lines == [{"event": "epoch", **m} for m in result.metrics]
    assert all(m[k] is not None for m in lines for k in (*EPOCH_KEYS, "ema_top1"))
    rec = _Recorder()
    netscale.train(tiny_spec(), "digits", "quick", tmp_path / "b", epochs=2, progress=rec)
    kinds = [kind for kind, _ in rec.events]
    info = rec.events[0][1]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    rule = choose_precision("auto", torch.device("cpu"), load(tmp_path / "b" / "spec.yaml"))
    assert info["precision"] == rule.precision and info["steps_per_epoch"] == 11  # 1438 // 128
    steps = [e for kind, e in rec.events if kind == "step"]
    assert len(steps) == 22  # every step on a CPU
    assert [e["global_step"] for e in steps] == list(range(1, 23))
    assert steps[-1]["step"] == steps[-1]["steps"] == 11 and steps[-1]["epoch"] == 2


def test_hooks_dispatch_only_what_each_hook_handles():
    seen = []
    hooks = Hooks(seen.append, None)
    assert not hooks.wants_steps
    hooks.start({"x": 1})
    hooks.step({"step": 1})
    hooks.epoch({"epoch": 1})
    assert seen == [{"event": "epoch", "epoch": 1}]
    assert Hooks(_Recorder()).wants_steps
    with pytest.raises(ValueError, match="expected a callable that takes each epoch's metrics"):
        Hooks(object())


INFO = {
    "model": "tiny",
    "params": 6818,
    "flops": 61258,
    "resolution": 8,
    "data": "digits",
    "train_images": 1438,
    "test_images": 359,
    "device": "cpu",
    "world_size": 1,
    "precision": "fp32",
    "precision_reason": "auto: no native bf16 (cpu AVX2 no bf16 units)",
    "epochs": 2,
    "start_epoch": 0,
    "steps_per_epoch": 3,
    "batch_size": 128,
}
LINE = {
    "epoch": 1,
    "train_loss": 1.5,
    "test_top1": 90.0,
    "test_top1_flip": 91.25,
    "ema_top1": None,
    "images_per_s": 500.0,
    "mfu": 0.02,
    "resolution": 8,
    "epoch_s": 1.0,
    "peak_memory_mb": None,
}


def _drive(display):
    display.on_start(INFO)
    for step in (1, 2, 3):
        display.on_step(
            {
                "epoch": 1,
                "epochs": 2,
                "step": step,
                "steps": 3,
                "global_step": step,
                "loss": 2.0 / step,
                "lr": 0.1,
                "images": 128 * step,
                "seconds": 0.25 * step,
            }
        )
    display(LINE)
    display.on_end(None)


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_console_lines_when_not_a_terminal():
    out = io.StringIO()
    display = ConsoleProgress(out)
    assert not display.bar
    _drive(display)
    text = out.getvalue()
    assert "\r" not in text and len(text.splitlines()) == 2
    assert text.startswith("train tiny: 6.82k params, 61.3k MACs/image at 8 px | digits")
    assert "fp32 (auto: no native bf16 (cpu AVX2 no bf16 units))" in text
    assert text.splitlines()[1] == format_epoch(LINE, 2)
    assert "epoch 1/2: loss 1.5000 top1 90.00% (flip 91.25%) | 500 img/s" in text


def test_console_bar_on_a_terminal():
    out = _Tty()
    with ConsoleProgress(out, refresh_s=0.0) as display:
        assert display.bar
        _drive(display)
    text = out.getvalue()
    assert "epoch 1/2" in text and "3/3" in text and "512 img/s" in text  # 384 images / 0.75 s
    assert "loss 0.6667" in text  # the bar's postfix at the last step
    assert format_epoch(LINE, 2) + "\n" in text  # the epoch's line replaces the bar
    assert display._bar is None
