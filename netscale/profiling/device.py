"""Devices: resolve a device name, name the processor, and measure its matmul peak.

Below `training` and `profiling` (both use it); MFU everywhere is measured against
`matmul_peak`, a measured, not a datasheet, number.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from netscale.spec.io import atomic_write


def resolve_device(name: str | torch.device | None) -> torch.device:
    """The device `name` (cpu, cuda, cuda:N), or CUDA when present and `name` is None, else
    the CPU; ValueError for anything else or a GPU that is not here. A CUDA device without
    an index is the current one (under torchrun: the rank's local GPU)."""
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={name!r} is invalid; allowed: cpu, cuda, cuda:N")
    if dev.type == "cuda" and (
        not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()
    ):
        raise ValueError(
            f"device={name!r} is not available here ({torch.cuda.device_count()} "
            "CUDA devices); use cpu"
        )
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name from /proc/cpuinfo ("unknown" if unreadable):
    results are only comparable between runs on the same processor."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


_PEAK: dict[tuple[str, str, int], float] = {}
START_SIZE = 128  # first probe matmul: n x n @ n x n
TARGET_S = 0.005  # stop growing once one matmul takes this long (seconds): it is measurable
BUDGET_S = 1.0  # and once the probe has spent this long in all (seconds)
REPEATS = 3  # timings per size; the best counts


def matmul_peak(device: torch.device, dtype: torch.dtype, *, max_size: int | None = None) -> float:
    """Measured matmul throughput (multiply-adds per second) of `dtype` on `device`.

    The best rate over square matmuls of growing size (128, 256, ... up to `max_size`,
    default 1024 on a CPU and 8192 on CUDA), best of 3 timings each after a warm-up. From
    the second size on, growth stops once a single matmul takes 5 ms or the probe has spent
    1 s, so a dtype the device runs slowly (bf16 on a CPU without bf16 units: ~0.3 GFLOP/s)
    stops at 256 and the probe stays well under a second (it took 40 s at a fixed 1024).
    MFU in the run log is achieved multiply-adds per second over this number (a measured,
    not a datasheet, peak). A probe on a loaded machine measures low (MFU then read up to
    820%), so the peak is the best of every probe on this machine: recorded on disk per
    machine fingerprint (`peak_cache_file`), raised by `raise_peak` when training itself
    measures faster. Cached per process; draws from its own generator, not the global RNG."""
    cap = max_size or _default_size(device)
    key = (str(device), str(dtype), cap)
    if key not in _PEAK:
        probed = grow_probe(
            lambda n, k: time_matmul(device, dtype, n, k),
            start=START_SIZE,
            max_size=cap,
            target_s=TARGET_S,
            budget_s=BUDGET_S,
        )[0]
        _PEAK[key] = _record_peak(_fingerprint(device, dtype, cap), probed)
    return _PEAK[key]


def _default_size(device: torch.device) -> int:
    """The largest probe matmul (n x n) `matmul_peak` grows to by default."""
    return 8192 if device.type == "cuda" else 1024


def raise_peak(device: torch.device, dtype: torch.dtype, rate: float) -> float:
    """Raise the recorded peak of (`device`, `dtype`) to `rate` multiply-adds/s if higher
    (training measured faster than the probe did); returns the peak now recorded."""
    cap = _default_size(device)
    key = (str(device), str(dtype), cap)
    peak = max(matmul_peak(device, dtype), rate)
    if peak > _PEAK[key]:
        _PEAK[key] = _record_peak(_fingerprint(device, dtype, cap), peak)
    return _PEAK[key]


def peak_cache_file() -> Path:
    """Where measured peaks are recorded: $NETSCALE_CACHE/device_peaks.json (default
    ~/.cache/netscale)."""
    root = os.environ.get("NETSCALE_CACHE") or Path.home() / ".cache" / "netscale"
    return Path(root) / "device_peaks.json"


def machine_fingerprint(device: torch.device) -> str:
    """What a speed measured on `device` depends on besides the work: the processor (or
    GPU), the ISA torch uses on it and, on a CPU, the threads: "NAME|ISA/ONEDNN|threads=N"."""
    isa = torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else device.type
    isa += "/" + (os.environ.get("ONEDNN_MAX_CPU_ISA") or "-")
    threads = torch.get_num_threads() if device.type == "cpu" else 0
    return f"{device_name(device)}|{isa}|threads={threads}"


def _fingerprint(device: torch.device, dtype: torch.dtype, cap: int) -> str:
    """What a peak depends on: processor (or GPU), ISA torch uses, threads, torch, dtype."""
    return f"{machine_fingerprint(device)}|torch={torch.__version__}|{dtype}|{cap}"


def _record_peak(fingerprint: str, rate: float) -> float:
    """max(rate, the recorded peak of `fingerprint`), recorded; an unreadable or
    unwritable cache only loses the memory of earlier probes."""
    path = peak_cache_file()
    try:
        table = json.loads(path.read_text()) if path.is_file() else {}
        table = table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        table = {}
    recorded = table.get(fingerprint)
    best = max(rate, recorded) if isinstance(recorded, int | float) else rate
    if best != recorded:
        table[fingerprint] = best
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(table, indent=1, sort_keys=True) + "\n")
        except OSError:
            pass
    return best


def grow_probe(
    time_size: Callable[[int, int], list[float]],
    *,
    start: int,
    max_size: int,
    target_s: float,
    budget_s: float,
    repeats: int = REPEATS,
) -> tuple[float, list[int]]:
    """(best multiply-adds per second, sizes timed) of n x n matmuls, n = start, 2 start, ...
    <= max_size, where `time_size(n, k)` returns the seconds of k back-to-back matmuls of
    size n. The first timing of each size is a warm-up (allocation, thread wake-up) and is
    dropped; the best of the other `repeats` counts. From the second size on, growth stops
    after a size whose best time reaches `target_s`, or once the timings have used
    `budget_s` in all."""
    best_rate, sizes, spent, n = 0.0, [], 0.0, start
    while n <= max_size:
        times = time_size(n, repeats + 1)
        spent += sum(times[1:])
        sizes.append(n)
        best = max(min(times[1:]), 1e-12)
        best_rate = max(best_rate, n**3 / best)
        # Never stop at the first size alone: a stalled thread (shared machine) can make
        # one size look slow; the next one, 8x the work, shows whether it really is.
        if len(sizes) > 1 and (best >= target_s or spent >= budget_s):
            break
        n *= 2
    return best_rate, sizes


def time_matmul(device: torch.device, dtype: torch.dtype, n: int, k: int) -> list[float]:
    """Seconds of each of k back-to-back n x n matmuls (CUDA: between synchronizations)."""
    g = torch.Generator(device=device)
    g.manual_seed(n)
    a = torch.randn(n, n, device=device, generator=g).to(dtype)
    b = torch.randn(n, n, device=device, generator=g).to(dtype)
    times = []
    for _ in range(k):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return times
