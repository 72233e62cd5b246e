"""Device helpers: the matmul-peak probe, and the peak recorded per machine on disk."""

import json

import pytest
import torch

from netscale.profiling import device as dev
from netscale.profiling.device import grow_probe, matmul_peak, peak_cache_file, raise_peak

CPU = torch.device("cpu")


def _simulated(rate: float, stall_at: int | None = None):
    """A fake timer: an n x n matmul takes n^3 / rate seconds (+50 ms at `stall_at`)."""
    spent = []

    def time_size(n: int, k: int) -> list[float]:
        t = n**3 / rate + (0.05 if n == stall_at else 0.0)
        spent.extend([t] * k)
        return [t] * k

    return time_size, spent


def test_matmul_probe_stops_early_for_a_slow_dtype():
    slow, spent = _simulated(0.3e9 / 2)  # bf16 without bf16 units: ~0.15 G multiply-adds/s
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


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty peak cache (in memory and on disk) and a probe that returns `probe.rate`."""
    monkeypatch.setenv("NETSCALE_CACHE", str(tmp_path))
    monkeypatch.setattr(dev, "_PEAK", {})

    class Probe:
        rate = 10e9

    monkeypatch.setattr(dev, "grow_probe", lambda *a, **k: (Probe.rate, [128]))
    return Probe


def test_peak_is_the_best_probe_this_machine_has_seen(fresh, monkeypatch):
    assert matmul_peak(CPU, torch.float32) == 10e9
    table = json.loads(peak_cache_file().read_text())
    assert list(table.values()) == [10e9]
    monkeypatch.setattr(dev, "_PEAK", {})  # a new process, probing under load
    fresh.rate = 2e9
    assert matmul_peak(CPU, torch.float32) == 10e9  # the recorded peak stands
    monkeypatch.setattr(dev, "_PEAK", {})
    fresh.rate = 12e9  # a quieter probe raises it
    assert matmul_peak(CPU, torch.float32) == 12e9
    assert list(json.loads(peak_cache_file().read_text()).values()) == [12e9]


def test_training_faster_than_the_probe_raises_the_peak(fresh):
    fresh.rate = 1e9  # probed under heavy load
    assert raise_peak(CPU, torch.float32, 5e9) == 5e9  # MFU = achieved / peak <= 1
    assert matmul_peak(CPU, torch.float32) == 5e9
    assert raise_peak(CPU, torch.float32, 3e9) == 5e9


def test_damaged_cache_is_replaced_not_fatal(fresh):
    peak_cache_file().write_text("{not json")
    assert matmul_peak(CPU, torch.float32) == 10e9
    assert json.loads(peak_cache_file().read_text())


def test_real_probe_is_cached_and_leaves_the_global_rng(monkeypatch, tmp_path):
    monkeypatch.setenv("NETSCALE_CACHE", str(tmp_path))
    rng = torch.get_rng_state()
    first = matmul_peak(CPU, torch.float32, max_size=256)
    assert first > 0 and torch.equal(torch.get_rng_state(), rng)
    monkeypatch.setattr(dev, "grow_probe", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert matmul_peak(CPU, torch.float32, max_size=256) == first


def test_machine_fingerprint_is_the_device_part_of_the_peak_fingerprint():
    machine = dev.machine_fingerprint(CPU)
    assert machine.startswith(dev.device_name(CPU) + "|")
    assert machine.endswith(f"|threads={torch.get_num_threads()}")
    assert dev._fingerprint(CPU, torch.float32, 1024).startswith(machine + "|torch=")
