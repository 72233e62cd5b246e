"""The training precision: "fp32", "bf16" (autocast), or "auto", decided by a rule.

"auto" is a deterministic function of what does not change between two runs of the same
work: the device's kind and bf16 capability, and the spec. It never times anything, so
the same command gives the same precision (and so the same numbers) every time on one
machine, however loaded the machine is (issue 11: a timed choice flipped between runs).

- CUDA: bf16 where the GPU has native bf16 (compute capability >= 8.0), else fp32.
- CPU: bf16 where the processor has bf16 units that torch uses (`cpu_bf16_native`: the
  avx512_bf16 or amx_bf16 instructions, torch's ATen kernels at AVX512 capability and
  oneDNN allowed to use them), unless depthwise convolutions weigh too much: bf16 speeds
  dense and grouped convolutions and matmuls up (a training step 1.15-1.66x faster), but
  slows depthwise ones down (memory-bound: their cost follows their outputs, not their
  multiply-adds). So the rule reads `dense_per_depthwise(spec)`, the spec's other
  multiply-adds per depthwise output element, and picks bf16 when it is at least
  `MIN_DENSE_PER_DEPTHWISE` (always, without depthwise convs). Measured on 52 (model,
  resolution) points: EfficientNet-B0/B2 (~160) and EfficientNetV2-B0 (~570-600) run
  1.1-1.9x slower in bf16, ConvNeXt (870-1385) up to 1.8x faster; docs/precision.md
  (`benchmarks/precision_rule.py`) has the table and how each candidate rule scores.
- Anything else (an AVX2-only CPU, an ARM CPU): fp32. There bf16 has no hardware and
  a training step ran 4-12x slower than fp32 (docs/precision.md).

The trainer records the choice with its reason (env.json, every metrics line, each
checkpoint) and a resumed run keeps its recorded precision. Forcing "bf16" on a device
without bf16 units logs a warning.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from netscale.complexity import count
from netscale.spec import NetSpec

logger = logging.getLogger(__name__)

# CPU "auto": bf16 only where the spec does at least this many multiply-adds in its other
# layers per element its depthwise convs output. Measured (docs/precision.md): bf16 lost
# at <= 602 (EfficientNetV2-B0) and won at >= 869 (ConvNeXt-atto) but for V2-S at 32 px
# (905, x0.70); 700 lies in the gap. Our choice of value, from 52 points on one CPU.
MIN_DENSE_PER_DEPTHWISE = 700
# oneDNN ISA limits (ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA) below bf16 arithmetic.
_ONEDNN_NO_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE")
_ONEDNN_NO_BF16 += ("AVX512_CORE_VNNI",)


@dataclass(frozen=True, slots=True)
class PrecisionChoice:
    """The precision a run trains in, what was asked for, and why.

    `capability` names the device's bf16 capability the rule read (e.g. "cpu AVX512
    avx512_bf16" or "cuda sm_90"); `dense_per_depthwise` is the spec's multiply-adds outside
    depthwise convolutions per depthwise output element (CPU "auto" only; None without
    depthwise convolutions)."""

    requested: str
    precision: str
    reason: str
    capability: str = ""
    dense_per_depthwise: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for env.json."""
        return dataclasses.asdict(self)


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision ("bf16" -> bfloat16, "fp32" -> None)."""
    return torch.bfloat16 if precision == "bf16" else None


def cpu_bf16_native() -> tuple[bool, str]:
    """(whether this CPU runs bf16 on bf16 units through torch, a description of why).

    Needs all three: the processor's avx512_bf16 or amx_bf16 instructions (cpuinfo, as
    torch reads it), torch's ATen kernels at AVX512 capability (ATEN_CPU_CAPABILITY can
    lower it) and oneDNN allowed bf16 (ONEDNN_MAX_CPU_ISA can forbid it)."""
    flags = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    units = [name for name in ("amx_bf16", "avx512_bf16") if flags.get(name)]
    aten = torch.backends.cpu.get_cpu_capability()
    limit = (
        os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or ""
    ).upper()
    text = f"cpu {aten} " + ("+".join(units) if units else "no bf16 units")
    if limit:
        text += f" ONEDNN_MAX_CPU_ISA={limit}"
    native = bool(units) and aten in ("AVX512", "AMX") and limit not in _ONEDNN_NO_BF16
    return native, text


def cuda_bf16_native(device: torch.device) -> tuple[bool, str]:
    """(whether the GPU has native bf16: compute capability >= 8.0, its "sm_XY" name)."""
    major, minor = torch.cuda.get_device_capability(device)
    return major >= 8, f"cuda sm_{major}{minor}"


def bf16_capability(device: torch.device) -> tuple[bool, str]:
    """(native bf16 on `device`, the capability's description); the rule's device input."""
    if device.type == "cuda":
        return cuda_bf16_native(device)
    if device.type == "cpu":
        return cpu_bf16_native()
    return False, f"{device.type} (no bf16 rule)"


def dense_per_depthwise(spec: NetSpec) -> float | None:
    """Multiply-adds of the spec's other layers (convs, linears, attention; biases aside) per
    element its depthwise convolutions output; None when it has none. Independent of the
    resolution up to rounding: both grow with the pixels."""
    c = count(spec)
    if not c.depthwise_acts:
        return None
    return (c.flops - c.bias_flops - c.depthwise_flops) / c.depthwise_acts


def choose_precision(
    requested: str, device: torch.device, spec: NetSpec | None = None
) -> PrecisionChoice:
    """Resolve a recipe's precision ("auto", "fp32" or "bf16") on `device` for `spec`.

    Deterministic: the same request, device capability and spec give the same choice (see
    the module docstring). Without `spec`, CPU "auto" treats the model as dense."""
    if requested not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision={requested!r} is invalid; allowed: auto, fp32, bf16")
    if requested == "fp32":
        return PrecisionChoice(requested=requested, precision="fp32", reason="requested")
    native, capability = bf16_capability(device)
    if requested == "bf16":
        if not native:
            logger.warning(
                "precision=bf16 on %s (%s): no native bf16 here, training will be slow "
                "(precision 'auto' would choose fp32)",
                device,
                capability,
            )
        return PrecisionChoice(
            requested=requested, precision="bf16", reason="requested", capability=capability
        )
    if not native:
        return PrecisionChoice(
            requested="auto",
            precision="fp32",
            reason=f"no native bf16 ({capability})",
            capability=capability,
        )
    if device.type != "cpu":
        return PrecisionChoice(
            requested="auto",
            precision="bf16",
            reason=f"native bf16 ({capability})",
            capability=capability,
        )
    return _cpu_auto(spec, capability)


def _cpu_auto(spec: NetSpec | None, capability: str) -> PrecisionChoice:
    """CPU "auto" with bf16 units: bf16 unless depthwise convolutions weigh too much."""
    ratio = dense_per_depthwise(spec) if spec is not None else None
    fast = ratio is None or ratio >= MIN_DENSE_PER_DEPTHWISE
    picked = "bf16" if fast else "fp32"
    if ratio is None:
        why = "no depthwise convs"
    else:
        sign = ">=" if fast else "<"
        why = f"{ratio:.0f} multiply-adds per depthwise output {sign} {MIN_DENSE_PER_DEPTHWISE}"
    return PrecisionChoice(
        requested="auto",
        precision=picked,
        reason=f"bf16 units ({capability}); {why}: {picked} is faster (docs/precision.md)",
        capability=capability,
        dense_per_depthwise=None if ratio is None else round(ratio, 1),
    )
