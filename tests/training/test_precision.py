"""Precision: "auto" picks bf16 only where it measures faster; forced bf16 warns; the probes."""

import logging

import pytest
import torch

from netscale.build import build
from netscale.profiling import device as env
from netscale.profiling.device import grow_probe, matmul_peak
from netscale.training import precision
from netscale.training.precision import choose_precision, time_train_step

from .conftest import tiny_spec

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


def _fake_speedup(monkeypatch, value):
    monkeypatch.setattr(precision, "bf16_matmul_speedup", lambda device, **kw: value)


def _no_step(name):
    raise AssertionError("the model step must not be timed here")


def test_auto_keeps_fp32_where_bf16_matmul_is_slower(monkeypatch):
    _fake_speedup(monkeypatch, 1 / 500)  # this project's AVX2-only CPU
    choice = choose_precision("auto", CPU, step_seconds=_no_step)
    assert choice.precision == "fp32" and choice.requested == "auto"
    assert "500.0x slower" in choice.reason and choice.bf16_matmul_speedup == 1 / 500


@pytest.mark.parametrize(("bf16_step", "expected"), [(0.95, "fp32"), (0.5, "bf16")])
def test_auto_on_a_bf16_cpu_also_times_the_model(monkeypatch, bf16_step, expected):
    """Matmuls faster in bf16 are not enough on a CPU: the model's step must be >= 1.11x."""
    _fake_speedup(monkeypatch, 4.0)
    times = {"fp32": 1.0, "bf16": bf16_step}
    choice = choose_precision("auto", CPU, step_seconds=times.__getitem__)
    assert choice.precision == expected
    assert (choice.step_fp32_s, choice.step_bf16_s) == (1.0, bf16_step)


def test_auto_on_cuda_follows_the_matmul(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    _fake_speedup(monkeypatch, 6.0)
    assert choose_precision("auto", CUDA, step_seconds=_no_step).precision == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    choice = choose_precision("auto", CUDA, step_seconds=_no_step)
    assert choice.precision == "fp32" and "no native bf16" in choice.reason


def test_forced_bf16_warns_with_the_measured_ratio(monkeypatch, caplog):
    _fake_speedup(monkeypatch, 1 / 480)
    with caplog.at_level(logging.WARNING, logger="netscale.training.precision"):
        choice = choose_precision("bf16", CPU)
    assert choice.precision == "bf16" and choice.reason == "requested"
    assert "480x slower than fp32" in caplog.text
    caplog.clear()
    _fake_speedup(monkeypatch, 0.8)  # a little slower: no warning
    with caplog.at_level(logging.WARNING, logger="netscale.training.precision"):
        choose_precision("bf16", CPU)
    assert caplog.text == ""


def test_fp32_measures_nothing(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("fp32 needs no probe")

    monkeypatch.setattr(precision, "bf16_matmul_speedup", boom)
    assert choose_precision("fp32", CPU).to_dict()["precision"] == "fp32"
    with pytest.raises(ValueError, match="precision='fp16' is invalid; allowed: auto, fp32"):
        choose_precision("fp16", CPU)


def test_real_probe_on_this_device_is_consistent():
    choice = choose_precision("auto", CPU)
    assert choice.bf16_matmul_speedup > 0
    if choice.bf16_matmul_speedup <= 1.0:
        assert choice.precision == "fp32"


def test_time_train_step_leaves_model_and_rng_alone():
    torch.manual_seed(0)
    model = build(tiny_spec()).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    seconds = time_train_step(model, (4, 1, 8, 8), CPU, "fp32", repeats=1)
    assert seconds > 0
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def _simulated(rate: float, stall_at: int | None = None):
    """A fake timer: an n x n matmul takes n^3 / rate seconds (+50 ms at `stall_at`)."""
    spent = []

    def time_size(n: int, k: int) -> list[float]:
        t = n**3 / rate + (0.05 if n == stall_at else 0.0)
        spent.extend([t] * k)
        return [t] * k

    return time_size, spent


def test_matmul_probe_stops_early_for_a_slow_dtype():
    slow, spent = _simulated(0.3e9 / 2)  # bf16 here: ~0.3 GFLOP/s = 0.15 G multiply-adds/s
    rate, sizes = grow_probe(slow, start=128, max_size=1024, target_s=0.005, budget_s=1.0)
    assert sizes == [128, 256] and rate == pytest.approx(0.15e9)
    assert sum(spent) < 1.0  # a fixed 1024 probe would take 6 x 7 s
    fast, _ = _simulated(75e9)
    rate, sizes = grow_probe(fast, start=128, max_size=1024, target_s=0.005, budget_s=1.0)
    assert sizes == [128, 256, 512, 1024] and rate == pytest.approx(75e9)


def test_matmul_probe_survives_a_stalled_first_size():
    stalled, _ = _simulated(75e9, stall_at=128)
    rate, sizes = grow_probe(stalled, start=128, max_size=1024, target_s=0.005, budget_s=1.0)
    assert sizes == [128, 256, 512, 1024] and rate == pytest.approx(75e9)


def test_matmul_peak_is_cached_and_leaves_the_global_rng(monkeypatch):
    rng = torch.get_rng_state()
    first = matmul_peak(CPU, torch.float32, max_size=256)
    assert first > 0 and torch.equal(torch.get_rng_state(), rng)
    monkeypatch.setattr(env, "grow_probe", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert matmul_peak(CPU, torch.float32, max_size=256) == first
