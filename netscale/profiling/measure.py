"""Measured speed and memory of one model on one device, beside its analytic complexity.

A step is one forward (mode "infer", under `torch.inference_mode`) or one training step
(mode "train": forward, cross-entropy on random labels, backward, SGD-with-momentum
update). bf16 runs under `torch.autocast` with fp32 weights, as mixed-precision training
does. Warm-up and measurement stop at a count or a time budget, whichever comes first, so a
slow device (bf16 convs on a CPU without bf16 units take seconds per step) cannot hang a
profile; at least one step is always measured.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import gc
import resource
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from netscale.build.export import ModelLike, load_model
from netscale.complexity import count
from netscale.profiling.device import matmul_peak, resolve_device

MODES = ("infer", "train")
PRECISIONS = ("fp32", "bf16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileResult:
    """One measurement. Times in ms, rates per second, memory in bytes.

    images_per_s = batch x measured steps / their total time; latency_ms and
    latency_p95_ms: median and 95th percentile of one step's time (a whole batch).
    peak_memory_bytes: on CUDA `torch.cuda.max_memory_allocated` over warm-up and
    measurement (weights, gradients, optimizer state and activations); on the CPU the
    peak growth of the resident set over its value before the first step (see
    `memory_method`). macs_per_s: achieved multiply-adds per second (training counts 3x the
    forward: forward + backward); mfu: macs_per_s over the device's measured matmul peak
    (peak_macs_per_s) at this precision. params/flops/acts: analytic per image
    (netscale.complexity); for a module without a netscale spec, params are counted, flops
    come from torch's FlopCounterMode (multiply-adds, biases not counted) and acts are None.
    """

    name: str
    device: str
    mode: str
    precision: str
    batch: int
    resolution: int
    channels_last: bool
    compile: bool
    threads: int
    warmup_steps: int
    steps: int
    images_per_s: float
    latency_ms: float
    latency_p95_ms: float
    peak_memory_bytes: int
    memory_method: str
    macs_per_s: float | None
    peak_macs_per_s: float | None
    mfu: float | None
    params: int
    flops: int | None
    acts: int | None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def profile(
    model: ModelLike,
    *,
    device: str | torch.device = "cpu",
    batch: int = 8,
    resolution: int | None = None,
    mode: str = "infer",
    precision: str = "fp32",
    channels_last: bool = True,
    compile: bool = False,
    warmup: int = 3,
    iters: int = 10,
    warmup_s: float = 10.0,
    measure_s: float = 30.0,
    seed: int = 0,
) -> ProfileResult:
    """Measure throughput, latency, peak memory and MFU of `model` (a registered name, spec
    file, NetSpec or nn.Module) on `device` with random inputs of `batch` x `resolution` px
    (default: the spec's). Warm-up runs `warmup` steps or `warmup_s` seconds, measurement
    `iters` steps or `measure_s` seconds, whichever ends first. A module passed in is copied,
    never modified. Raises ValueError for an invalid argument or an unavailable device."""
    _check_args(batch=batch, mode=mode, precision=precision, warmup=warmup, iters=iters)
    _check_budgets(warmup_s, measure_s)
    dev = resolve_device(device)
    dtype = _DTYPES[precision]
    if dtype == torch.bfloat16 and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision='bf16' is not supported on {dev}; use fp32")
    net, spec, res = load_model(model, resolution=resolution, seed=seed)
    net = copy.deepcopy(net) if net is model else net  # never change the caller's module
    net, x, y, cx = _prepare(net, spec, res, batch, dev, mode, channels_last, seed)
    step = _make_step(torch.compile(net) if compile else net, x, y, mode, dev, dtype)
    times, warm, mem, method = _run(step, dev, warmup, iters, warmup_s, measure_s)
    params, flops, acts = cx
    ips = batch * len(times) / sum(times)
    macs = (3 if mode == "train" else 1) * flops * ips if flops is not None else None
    # measured, time-capped matmul peak (a few small matmuls for bf16 on this CPU)
    peak = matmul_peak(dev, dtype) if macs is not None else None
    return ProfileResult(
        name=spec.name if spec is not None else type(net).__name__,
        device=str(dev),
        mode=mode,
        precision=precision,
        batch=batch,
        resolution=res,
        channels_last=channels_last,
        compile=compile,
        threads=torch.get_num_threads(),
        warmup_steps=warm,
        steps=len(times),
        images_per_s=ips,
        latency_ms=1e3 * statistics.median(times),
        latency_p95_ms=1e3 * _percentile(times, 0.95),
        peak_memory_bytes=mem,
        memory_method=method,
        macs_per_s=macs,
        peak_macs_per_s=peak,
        mfu=macs / peak if macs is not None and peak else None,
        params=params,
        flops=flops,
        acts=acts,
    )


def _check_args(*, batch: int, mode: str, precision: str, warmup: int, iters: int) -> None:
    for name, value, low in (("batch", batch, 1), ("warmup", warmup, 0), ("iters", iters, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r} is invalid; allowed: an int >= {low}")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is invalid; allowed: {', '.join(MODES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is invalid; allowed: {', '.join(PRECISIONS)}")


def _check_budgets(warmup_s: float, measure_s: float) -> None:
    for name, value in (("warmup_s", warmup_s), ("measure_s", measure_s)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{name}={value!r} is invalid; allowed: seconds > 0")


def _prepare(
    net: nn.Module,
    spec: Any,
    res: int,
    batch: int,
    dev: torch.device,
    mode: str,
    channels_last: bool,
    seed: int,
) -> tuple[nn.Module, torch.Tensor, torch.Tensor, tuple[int, int | None, int | None]]:
    """The module on `dev` in `mode`, random images (B, C, res, res) and labels (B,) from a
    generator seeded with `seed`, and (params, flops, acts) per image."""
    net = net.to(dev)
    gen = torch.Generator().manual_seed(seed)
    in_width = spec.in_width if spec is not None else 3
    x = torch.randn(batch, in_width, res, res, generator=gen).to(dev)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    params, flops, acts, num_classes = _complexity(net, spec, x[:1], res)
    y = torch.randint(0, num_classes, (batch,), generator=gen).to(dev)
    return net.train(mode == "train"), x, y, (params, flops, acts)


def _complexity(
    net: nn.Module, spec: Any, x1: torch.Tensor, res: int
) -> tuple[int, int | None, int | None, int]:
    """(params, flops, acts, num_classes) per image: analytic from the spec if there is
    one, else counted params and FlopCounterMode multiply-adds (it counts 2 per MAC)."""
    if spec is not None:
        cx = count(spec, res)
        return cx.params, cx.flops, cx.acts, spec.head.num_classes
    was_training = net.training
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = net.eval()(x1)
    net.train(was_training)
    params = sum(p.numel() for p in net.parameters())
    return params, counter.get_total_flops() // 2, None, out.shape[-1]


def _make_step(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, mode: str, dev: torch.device, dtype: Any
) -> Any:
    """A no-argument callable running one step; mixed precision through autocast."""
    use_amp = dtype != torch.float32

    def autocast() -> Any:
        return torch.autocast(dev.type, dtype=dtype, enabled=use_amp)

    if mode == "infer":

        def infer() -> None:
            with torch.inference_mode(), autocast():
                net(x)

        return infer
    # lr is irrelevant to speed; a small one keeps the weights finite over many steps
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)

    def train() -> None:
        with autocast():
            loss = F.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return train


def _run(
    step: Any, dev: torch.device, warmup: int, iters: int, warmup_s: float, measure_s: float
) -> tuple[list[float], int, int, str]:
    """(step times in s, warm-up steps run, peak memory bytes, memory method). CPU memory
    is sampled during warm-up (so the sampler cannot disturb the timed steps), or during
    measurement when there is no warm-up."""

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def loop(n: int, budget: float, least: int) -> list[float]:
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < n and (len(times) < least or time.perf_counter() - start < budget):
            t0 = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t0)
        return times

    mem = _CudaPeak(dev) if dev.type == "cuda" else _RssPeak()
    with mem:
        warm = len(loop(warmup, warmup_s, 0))
        if warm:
            mem.stop()
        times = loop(iters, measure_s, 1)
    return times, warm, mem.peak, mem.method


class _CudaPeak:
    """torch.cuda.max_memory_allocated over the whole block."""

    method = "cuda_max_allocated"

    def __init__(self, dev: torch.device) -> None:
        self.dev, self.peak = dev, 0

    def __enter__(self) -> _CudaPeak:
        torch.cuda.synchronize(self.dev)
        torch.cuda.reset_peak_memory_stats(self.dev)
        return self

    def stop(self) -> None:
        """Peaks of later steps are the same; CUDA keeps counting at no cost."""

    def __exit__(self, *exc: object) -> None:
        self.peak = int(torch.cuda.max_memory_allocated(self.dev))


class _RssPeak:
    """Peak resident-set growth of this process, sampled every `period_s` by a thread.

    The baseline is taken after gc and glibc's malloc_trim, so freed memory the allocator
    kept from earlier work is returned first. Limits: spikes shorter than the period can be
    missed; any other thread's allocations in the window count; memory the allocator still
    caches can hide reuse. Without /proc (not Linux) it falls back to the growth of
    getrusage's ru_maxrss, which is zero unless the process reaches a new lifetime peak.
    """

    def __init__(self, period_s: float = 0.002) -> None:
        self.period_s, self.peak = period_s, 0
        self.method = "rss_sampled" if _rss() is not None else "ru_maxrss_delta"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _RssPeak:
        gc.collect()
        _malloc_trim()
        self._base = _rss() or _maxrss()
        self._max = self._base
        if self.method == "rss_sampled":
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.period_s):
            self._max = max(self._max, _rss() or 0)

    def stop(self) -> None:
        """Stop sampling; the peak so far is kept (later calls change nothing)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        current = _rss() if self.method == "rss_sampled" else _maxrss()
        self._max = max(self._max, current or 0)
        self.peak = max(0, self._max - self._base)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _rss() -> int | None:
    """Resident set size in bytes from /proc/self/statm, or None where it is absent."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except (OSError, IndexError, ValueError):
        return None


def _maxrss() -> int:
    """The process's lifetime peak RSS in bytes (ru_maxrss: kB on Linux, bytes on macOS)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024


def _malloc_trim() -> None:
    """Return glibc's free heap memory to the OS (a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _percentile(values: list[float], q: float) -> float:
    """The q-quantile with linear interpolation (numpy's default method)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
