"""The training precision: "fp32", "bf16" (autocast), or "auto", decided by a rule.

"auto" is a deterministic function of what does not change between two runs of the same
work: the device's kind and bf16 capability, and the spec. It never times anything, so
the same command gives the same precision (and so the same numbers) every time on one
machine, however loaded the machine is (issue 11: a timed choice flipped between runs).

- CUDA: bf16 where the GPU has native bf16 (compute capability >= 8.0), else fp32.
- CPU: bf16 where the processor has bf16 units that torch uses (`cpu_bf16_native`: the
  avx512_bf16 or amx_bf16 instructions, torch's ATen kernels at AVX512 capability and
  oneDNN allowed to use them), *and* the spec's grouped and depthwise convolutions carry
  less than `MAX_GROUPED_SHARE` of its multiply-adds. bf16 depthwise convolutions run
  slower than fp32 on such CPUs; dense convolutions and matmuls run about 2x faster. The
  measurements behind the rule are in docs/precision.md (`benchmarks/precision_rule.py`).
- Anything else (an AVX2-only CPU, an ARM CPU): fp32. There a bf16 matmul runs hundreds of
  times slower than fp32.

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

# CPU "auto": bf16 only while grouped/depthwise convs carry less than this share of the
# multiply-adds (docs/precision.md has the measurements that set it).
MAX_GROUPED_SHARE = 0.25
# oneDNN ISA limits (ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA) below bf16 arithmetic.
_ONEDNN_NO_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE")
_ONEDNN_NO_BF16 += ("AVX512_CORE_VNNI",)


@dataclass(frozen=True, slots=True)
class PrecisionChoice:
    """The precision a run trains in, what was asked for, and why.

    `capability` names the device's bf16 capability the rule read (e.g. "cpu AVX512
    avx512_bf16" or "cuda sm_90"); `grouped_share` is the share of the spec's multiply-adds
    in grouped or depthwise convolutions (CPU "auto" only)."""

    requested: str
    precision: str
    reason: str
    capability: str = ""
    grouped_share: float | None = None

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


def grouped_share(spec: NetSpec) -> float:
    """Share of the spec's multiply-adds in grouped or depthwise convolutions (0..1)."""
    c = count(spec)
    return c.grouped_flops / c.flops if c.flops else 0.0


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
    share = round(grouped_share(spec), 4) if spec is not None else 0.0
    dense = share < MAX_GROUPED_SHARE
    reason = (
        f"bf16 units ({capability}); grouped/depthwise convs carry {100 * share:.0f}% of "
        f"the multiply-adds ({'<' if dense else '>='} {100 * MAX_GROUPED_SHARE:.0f}%: "
        f"{'bf16' if dense else 'fp32'} is faster, docs/precision.md)"
    )
    return PrecisionChoice(
        requested="auto",
        precision="bf16" if dense else "fp32",
        reason=reason,
        capability=capability,
        grouped_share=share,
    )
