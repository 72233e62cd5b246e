"""profile(): result schema, analytic numbers, MFU arithmetic, time budgets, memory
sampling, the caller's module left untouched, and clear errors."""

import dataclasses
import time

import numpy as np
import pytest
import torch
from torch import nn

from netscale.build import build
from netscale.complexity import count
from netscale.profiling import ProfileResult, profile
from netscale.profiling.measure import _percentile, _RssPeak
from netscale.spec import HeadSpec, NetSpec, StageSpec, StemSpec

FAST = {"batch": 2, "warmup": 1, "iters": 2}


def tiny_spec(resolution: int = 16) -> NetSpec:
    stages = (
        StageSpec(block="bottleneck", depth=1, width=16, stride=2, group_width=8),
        StageSpec(block="mbconv", depth=1, width=16, stride=2, se_ratio=0.25),
    )
    return NetSpec(
        name="tiny",
        stem=StemSpec(kind="conv", width=8, stride=1),
        stages=stages,
        head=HeadSpec(num_classes=7),
        resolution=resolution,
    )


def test_schema_and_analytic_numbers():
    r = profile(tiny_spec(), **FAST)
    fields = {f.name for f in dataclasses.fields(ProfileResult)}
    assert set(r.to_dict()) == fields
    cx = count(tiny_spec())
    assert (r.params, r.flops, r.acts) == (cx.params, cx.flops, cx.acts)
    assert (r.name, r.device, r.mode, r.precision) == ("tiny", "cpu", "infer", "fp32")
    assert (r.batch, r.resolution, r.steps, r.warmup_steps) == (2, 16, 2, 1)
    assert r.threads == torch.get_num_threads()
    assert r.images_per_s > 0 and 0 < r.latency_ms <= r.latency_p95_ms
    assert r.macs_per_s == pytest.approx(r.flops * r.images_per_s)
    assert r.mfu == pytest.approx(r.macs_per_s / r.peak_macs_per_s)
    assert r.memory_method == "rss_sampled" and r.peak_memory_bytes >= 0


def test_train_mode_counts_three_forwards_and_keeps_the_module():
    torch.manual_seed(0)
    model = build(tiny_spec())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = profile(model, mode="train", channels_last=True, **FAST)
    assert r.mode == "train"
    assert r.macs_per_s == pytest.approx(3 * r.flops * r.images_per_s)
    assert model.training and all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert next(model.parameters()).is_contiguous()  # not converted to channels_last


def test_resolution_is_applied_to_the_spec():
    r = profile(tiny_spec(), resolution=32, **FAST)
    cx = count(tiny_spec(32))
    assert r.resolution == 32 and r.flops == cx.flops


def test_module_without_spec_uses_the_flop_counter():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    r = profile(model, resolution=8, **FAST)
    conv = 3 * 3 * 3 * 4 * 8 * 8  # multiply-adds per image, biases not counted
    assert r.flops == conv + 4 * 8 * 8 * 10
    assert r.params == sum(p.numel() for p in model.parameters())
    assert r.acts is None and r.name == "Sequential"
    with pytest.raises(ValueError, match="resolution is needed"):
        profile(model)


def test_bf16_runs_under_autocast():
    r = profile(tiny_spec(), precision="bf16", mode="train", batch=2, warmup=0, iters=1)
    assert r.precision == "bf16" and r.steps == 1 and r.warmup_steps == 0
    assert r.mfu == pytest.approx(r.macs_per_s / r.peak_macs_per_s)


def test_time_budget_caps_the_number_of_steps():
    t0 = time.perf_counter()
    r = profile(tiny_spec(), batch=1, warmup=10_000, iters=10_000, warmup_s=0.2, measure_s=0.2)
    assert time.perf_counter() - t0 < 10
    assert 1 <= r.steps < 10_000 and r.warmup_steps < 10_000


def test_rss_sampler_sees_a_large_allocation():
    with _RssPeak(period_s=0.001) as mem:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, pages touched
        time.sleep(0.05)
        del x
    assert mem.peak >= 48 * 2**20
    with _RssPeak(period_s=0.001) as mem:
        time.sleep(0.01)
    assert mem.peak < 16 * 2**20


def test_percentile_matches_numpy():
    values = [5.0, 1.0, 3.0, 9.0, 2.0, 7.0]
    for q in (0.0, 0.5, 0.95, 1.0):
        assert _percentile(values, q) == pytest.approx(np.percentile(values, 100 * q))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch": 0}, "batch=0 is invalid; allowed: an int >= 1"),
        ({"batch": True}, "batch=True is invalid"),
        ({"iters": 0}, "iters=0 is invalid"),
        ({"warmup": -1}, "warmup=-1 is invalid"),
        ({"mode": "eval"}, "mode='eval' is invalid; allowed: infer, train"),
        ({"precision": "fp16"}, "precision='fp16' is invalid; allowed: fp32, bf16"),
        ({"device": "tpu"}, "device='tpu' is invalid; allowed: cpu, cuda, cuda:N"),
        ({"measure_s": 0}, "measure_s=0 is invalid"),
        ({"resolution": 0}, "resolution=0 is invalid"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        profile(tiny_spec(), **kwargs)


def test_unavailable_device():
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU, on any machine
    with pytest.raises(ValueError, match="is not available here"):
        profile(tiny_spec(), device=missing)
