"""The training precision: "fp32", "bf16" (autocast), or "auto", chosen by measurement.

bf16 autocast pays only where the device has bf16 arithmetic. A CPU without bf16 units
(AVX2 only) runs a bf16 matmul about 500x slower than fp32 and its bf16 convolutions fall
back to a slow reference kernel (a small ResNet trained at 12 images/s in bf16 against 221
in fp32, measured on this project's 2-core AMD EPYC); a GPU with bf16 tensor cores runs
bf16 several times faster. "auto" therefore measures, on the training device:

1. the bf16 : fp32 matmul speed ratio, the two timed alternately at one size in blocks of
   equal length (side by side, so load from other processes hits both alike). bf16 must
   beat fp32; on CUDA the device must also have native bf16 (compute capability >= 8.0),
   and then bf16 is chosen.
2. on a CPU that passes (1), one training step of the actual model in each precision:
   depthwise and grouped convolutions can be slower in bf16 even where matmuls are faster
   (an EfficientNet-B0 at 32 px ran 2.2x slower in bf16 on a CPU with bf16 units), so the
   bf16 step must take at most 90% of the fp32 step's time.

The trainer records the choice with its evidence (env.json, every metrics line, each
checkpoint) and a resumed run keeps its recorded precision. Forcing "bf16" where its matmul
measures at least 2x slower logs a warning with the measured ratio.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from netscale.profiling.device import time_matmul

logger = logging.getLogger(__name__)

MAX_STEP_RATIO = 0.9  # auto on a CPU: bf16 step time at most this share of fp32's
WARN_SLOWDOWN = 2.0  # forced bf16: warn where its matmul measures this many times slower
PROBE_ROUNDS = 5  # alternating fp32/bf16 matmul blocks; the best of each counts
PROBE_BUDGET_S = 0.5  # stop alternating after this many seconds (at least 2 rounds)
BLOCK_S = 0.005  # seconds of back-to-back matmuls per timed block
MAX_BLOCK_REPS = 256


@dataclass(frozen=True, slots=True)
class PrecisionChoice:
    """The precision a run trains in, what was asked for, and the measurements behind it.

    `bf16_matmul_speedup` is fp32 time / bf16 time of one matmul (> 1: bf16 is faster);
    `step_fp32_s` / `step_bf16_s` are one training step of the model (CPU "auto" only)."""

    requested: str
    precision: str
    reason: str
    bf16_matmul_speedup: float | None = None
    step_fp32_s: float | None = None
    step_bf16_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for env.json."""
        return dataclasses.asdict(self)


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision ("bf16" -> bfloat16, "fp32" -> None)."""
    return torch.bfloat16 if precision == "bf16" else None


def native_bf16(device: torch.device) -> bool:
    """False for a CUDA device without bf16 hardware (it would emulate); True otherwise
    (a CPU's bf16 speed is measured, not looked up)."""
    if device.type != "cuda":
        return True
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.4 has no including_emulation and does not count emulation
        return torch.cuda.is_bf16_supported()


def bf16_matmul_speedup(device: torch.device, *, size: int | None = None) -> float:
    """fp32 time / bf16 time of an n x n matmul (n = 256 on a CPU, 4096 on CUDA).

    Each dtype is timed in blocks of back-to-back matmuls lasting about 5 ms, fp32 and
    bf16 blocks alternating, for up to 5 rounds or 0.5 s; the best block of each counts. A
    single 0.2 ms matmul would be at the mercy of one descheduled thread on a busy machine;
    blocks of equal length see the same share of the CPU."""
    n = size or (4096 if device.type == "cuda" else 256)
    dtypes = (torch.float32, torch.bfloat16)
    reps = {}
    for dtype in dtypes:  # calibrate: matmuls per block
        once = min(time_matmul(device, dtype, n, 2))
        reps[dtype] = max(1, min(MAX_BLOCK_REPS, math.ceil(BLOCK_S / max(once, 1e-9))))
    best = dict.fromkeys(dtypes, math.inf)
    spent = 0.0
    for i in range(PROBE_ROUNDS):
        for dtype in dtypes:
            block = sum(time_matmul(device, dtype, n, reps[dtype]))
            best[dtype] = min(best[dtype], block / reps[dtype])
            spent += block
        if i >= 1 and spent >= PROBE_BUDGET_S:
            break
    return float(f"{best[torch.float32] / best[torch.bfloat16]:.4g}")


def choose_precision(
    requested: str,
    device: torch.device,
    *,
    step_seconds: Callable[[str], float] | None = None,
) -> PrecisionChoice:
    """Resolve a recipe's precision ("auto", "fp32" or "bf16") on `device`.

    `step_seconds(precision)` times one training step of the model being trained; "auto"
    calls it on a CPU whose bf16 matmul beats fp32 (see the module docstring)."""
    if requested == "fp32":
        return PrecisionChoice(requested=requested, precision="fp32", reason="requested")
    if requested == "bf16":
        speedup = bf16_matmul_speedup(device)
        if speedup * WARN_SLOWDOWN <= 1.0:
            logger.warning(
                "precision=bf16 on %s: a bf16 matmul measures %.0fx slower than fp32 here; "
                "training will be slow (precision 'auto' would choose fp32)",
                device,
                1.0 / speedup,
            )
        return PrecisionChoice(
            requested=requested, precision="bf16", reason="requested", bf16_matmul_speedup=speedup
        )
    if requested != "auto":
        raise ValueError(f"precision={requested!r} is invalid; allowed: auto, fp32, bf16")
    return _auto(device, step_seconds)


def _auto(device: torch.device, step_seconds: Callable[[str], float] | None) -> PrecisionChoice:
    def choice(precision: str, reason: str, **kw: float | None) -> PrecisionChoice:
        return PrecisionChoice(requested="auto", precision=precision, reason=reason, **kw)

    if not native_bf16(device):
        return choice("fp32", f"{device} has no native bf16")
    speedup = bf16_matmul_speedup(device)
    if speedup <= 1.0:
        return choice(
            "fp32",
            f"bf16 matmul measures {1 / speedup:.1f}x slower than fp32",
            bf16_matmul_speedup=speedup,
        )
    if device.type == "cuda" or step_seconds is None:
        return choice(
            "bf16", f"bf16 matmul measures {speedup:.1f}x faster", bf16_matmul_speedup=speedup
        )
    t32, t16 = step_seconds("fp32"), step_seconds("bf16")
    picked = "bf16" if t16 <= MAX_STEP_RATIO * t32 else "fp32"
    return choice(
        picked,
        f"bf16 matmul {speedup:.1f}x faster; a training step of this model "
        f"{t32 / t16:.2f}x as fast in bf16 (needs >= {1 / MAX_STEP_RATIO:.2f}x)",
        bf16_matmul_speedup=speedup,
        step_fp32_s=t32,
        step_bf16_s=t16,
    )


def time_train_step(
    model: nn.Module,
    shape: tuple[int, int, int, int],
    device: torch.device,
    precision: str,
    *,
    channels_last: bool = True,
    repeats: int = 2,
) -> float:
    """Best seconds of one forward + backward of a copy of `model` (train mode) on random
    images of `shape` (B, C, H, W) in `precision`, after a warm-up step. The model, its
    gradients and buffers and the global RNG are left as they were."""
    probe = copy.deepcopy(model).train()
    g = torch.Generator(device=device)
    g.manual_seed(0)
    x = torch.randn(shape, generator=g, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    dtype = autocast_dtype(precision)
    devices = [device.index or 0] if device.type == "cuda" else []
    best = math.inf
    with torch.random.fork_rng(devices=devices):
        for i in range(repeats + 1):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = probe(x)
            out.float().sum().backward()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i > 0:
                best = min(best, time.perf_counter() - t0)
    return best
