"""Evidence for the CPU precision rule: fp32 vs bf16-autocast training steps, side by side.

`choose_precision("auto", cpu, spec)` picks bf16 on a CPU with bf16 units iff the spec has
no depthwise convs or `dense_per_depthwise(spec) >= MIN_DENSE_PER_DEPTHWISE`
(netscale/training/precision.py). This script measures, on models spanning that ratio and
the grouped share (the previous rule's input), one training step (forward, cross-entropy,
backward, SGD-with-momentum update; channels_last, 10 classes) in fp32 and in bf16
autocast, the two ALTERNATELY in one process (warm-up, then rounds of one fp32 block and
one bf16 block), so drift in machine load hits both alike. Rounds during which other
processes took more than --busy of the CPU (from /proc/stat) are not used; a row runs
until --rounds clean rounds (at most --max-rounds). A row gives the median step time of
each precision and the speedup fp32 / bf16 (median over rounds of the round's ratio);
precision_rule_report.py then scores the rule in the code and other candidate rules. A
second pass repeats a few rows in a subprocess with ATEN_CPU_CAPABILITY=avx2
ONEDNN_MAX_CPU_ISA=AVX2, so torch takes the code paths an AVX2-only CPU would.

Run (3 minutes on an idle 2-core machine, longer while other jobs run):
    python benchmarks/precision_rule.py --out docs/precision.md
Quick check:
    python benchmarks/precision_rule.py --models resnet_18@32 efficientnet_b0@32 \
        --rounds 1 --avx2-models resnet_18@32 --avx2-rounds 1
Models are NAME@PX: a registered name or one of this script's AnyNet points (CUSTOM).
Batch: 32 at <= 32 px, 16 at <= 96 px, 8 above (--batches). Prints the Markdown page to
stdout, or writes it to --out; --json also writes the raw rows.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from precision_rule_report import AVX2_ENV, page

import netscale
from netscale.complexity import count
from netscale.families.regnet import anynet
from netscale.spec import NetSpec
from netscale.training.precision import choose_precision, cpu_bf16_native, dense_per_depthwise

_BOTH = (
    *("resnet_18", "resnet_50", "resnet_d_50", "efficientnet_v2_b0", "efficientnet_v2_s"),
    *("coatnet_nano", "convnext_atto", "convnext_pico", "efficientnet_b0", "efficientnet_b2"),
    *("anynet_dw", "regnet_y_200mf", "regnet_x_200mf", "regnet_y_400mf", "regnet_y_800mf"),
    *("regnet_x_800mf", "regnet_y_1_6gf", "regnet_x_1_6gf", "regnet_x_3_2gf"),
    *("anynet_g_half", "anynet_g_half_k5"),
)
_AT_160 = (
    *("resnet_18", "resnet_50", "efficientnet_v2_s", "coatnet_nano", "convnext_atto"),
    *("efficientnet_b0", "anynet_dw", "regnet_y_800mf", "regnet_x_800mf", "anynet_g_half"),
)
DEFAULT_MODELS = (
    *(f"{name}@{px}" for px in (32, 96) for name in _BOTH),
    *(f"{name}@160" for name in _AT_160),
)
DEFAULT_AVX2_MODELS = (
    *("resnet_18@32", "efficientnet_b0@32", "regnet_x_800mf@32", "anynet_g_half@32"),
    "resnet_18@96",
)


def _anynet(name: str, group_widths: tuple[int, ...], kernel: int) -> Callable[[int], NetSpec]:
    """An AnyNet of depths (1, 2, 4, 2), widths (64, 128, 256, 512), bottleneck ratio 1,
    with the given group widths and kxk kernel of its grouped convs."""

    def make(px: int) -> NetSpec:
        spec = anynet(
            (1, 2, 4, 2),
            (64, 128, 256, 512),
            group_widths=group_widths,
            resolution=px,
            num_classes=10,
            name=name,
        )
        return replace(spec, stages=tuple(replace(s, kernel=kernel) for s in spec.stages))

    return make


# AnyNet points that no registered model covers. anynet_g_half, anynet_g_half_k5: 2 groups
# per 3x3 (5x5) conv; grouped convs carry 62% (82%) of the multiply-adds, above any
# registered model (RegNetX-16GF: 46%). anynet_dw: the same network with depthwise 3x3
# convs (group width 1); they carry only ~2% of its multiply-adds.
CUSTOM: dict[str, Callable[[int], NetSpec]] = {
    "anynet_g_half": _anynet("anynet_g_half", (32, 64, 128, 256), 3),
    "anynet_g_half_k5": _anynet("anynet_g_half_k5", (32, 64, 128, 256), 5),
    "anynet_dw": _anynet("anynet_dw", (1, 1, 1, 1), 3),
}


def _parse_model(text: str) -> tuple[str, int]:
    name, _, px = text.partition("@")
    if not px.isdigit():
        raise SystemExit(f"precision_rule: model {text!r} must be NAME@PX, e.g. resnet_50@32")
    return name, int(px)


def model_spec(name: str, px: int) -> NetSpec:
    """The spec measured for NAME@PX: 10 classes at PX pixels."""
    if name in CUSTOM:
        return CUSTOM[name](px)
    return netscale.resolve_spec(name, num_classes=10, resolution=px)


def batch_for(px: int, batches: dict[int, int]) -> int:
    """The batch of the smallest listed resolution >= px (the largest listed one above)."""
    for limit in sorted(batches):
        if px <= limit:
            return batches[limit]
    return batches[max(batches)]


def spec_facts(spec: NetSpec, batch: int) -> dict:
    """What a rule could read from the spec (counted, nothing built), and the real rule's
    pick on this machine: grouped share of multiply-adds, depthwise share of output
    elements, multiply-adds per depthwise output (inf without depthwise convs)."""
    c = count(spec)
    ratio = dense_per_depthwise(spec)
    return {
        "share": c.grouped_flops / c.flops,
        "dw_acts": c.depthwise_acts / c.acts,
        "dense_per_dw": math.inf if ratio is None else ratio,
        "macs_step": c.flops * batch,
        "rule": choose_precision("auto", torch.device("cpu"), spec).precision,
    }


def _steps(spec: NetSpec, batch: int) -> dict[str, Callable[[], None]]:
    """One model, batch and optimizer; a training-step callable per precision."""
    torch.manual_seed(0)
    net = netscale.create_model(spec).train().to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, spec.in_width, spec.resolution, spec.resolution, generator=gen)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, spec.head.num_classes, (batch,), generator=gen)
    # lr is irrelevant to speed; a small one keeps the weights finite over many steps
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)

    def make(bf16: bool) -> Callable[[], None]:
        def step() -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(net(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    return {"fp32": make(False), "bf16": make(True)}


def _timed(step: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def _cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds the whole machine has been busy, of them this process's) so far, from
    /proc/stat (user..steal) and os.times; None where /proc/stat is missing."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait
    own = os.times()
    return busy, own.user + own.system


def _others_share(before: tuple[float, float] | None, wall: float) -> float | None:
    """Share of the machine's CPU time that other processes used over the last `wall` s."""
    after = _cpu_seconds()
    if before is None or after is None or wall <= 0:
        return None
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others) / (wall * (os.cpu_count() or 1))


def _round(steps: dict[str, Callable[[], None]], n: int, cap: float) -> dict:
    """One round: a block of `n` fp32 steps, then `n` bf16 steps (a block stops after a
    step over `cap` s), with the share of the CPU other processes took meanwhile."""
    before, t0 = _cpu_seconds(), time.perf_counter()
    out: dict = {}
    for prec in ("fp32", "bf16"):
        out[prec] = []
        while len(out[prec]) < n and not (out[prec] and out[prec][-1] > cap):
            out[prec].append(_timed(steps[prec]))
    out["others"] = _others_share(before, time.perf_counter() - t0)
    return out


def _rounds(steps: dict, args: argparse.Namespace) -> tuple[list[dict], list[dict], bool]:
    """(all rounds, the clean ones, whether a step passed `args.step_cap`). Rounds run
    until `args.rounds` are clean (other processes took at most `args.busy` of the
    machine's CPU meanwhile) or `args.max_rounds` have run; a capped model stops early."""
    capped = False
    for _ in range(args.warmup):  # oneDNN builds its primitives on the first steps
        for prec in ("fp32", "bf16"):
            capped |= _timed(steps[prec]) > args.step_cap
    rounds: list[dict] = []
    clean: list[dict] = []
    while not capped or not rounds:
        rounds.append(_round(steps, args.steps, args.step_cap))
        capped |= max(rounds[-1]["fp32"] + rounds[-1]["bf16"]) > args.step_cap
        clean = [r for r in rounds if r["others"] is None or r["others"] <= args.busy]
        if len(clean) >= args.rounds or len(rounds) >= args.max_rounds:
            break
    return rounds, clean, capped


def measure(text: str, args: argparse.Namespace) -> dict:
    """One row: the spec's facts, fp32 and bf16 timed side by side. Times and the speedup
    come from the clean rounds (from all rounds if none was clean: the row is then noisy,
    and the report leaves it out)."""
    name, px = _parse_model(text)
    spec = model_spec(name, px)
    batch = batch_for(px, args.batches)
    rounds, clean, capped = _rounds(_steps(spec, batch), args)
    used = clean or rounds
    med = {p: statistics.median(t for r in used for t in r[p]) for p in ("fp32", "bf16")}
    ratios = [statistics.median(r["fp32"]) / statistics.median(r["bf16"]) for r in used]
    row = {
        "model": name,
        "px": px,
        "batch": batch,
        **spec_facts(spec, batch),
        "fp32_ms": 1e3 * med["fp32"],
        "bf16_ms": 1e3 * med["bf16"],
        "speedup": statistics.median(ratios),
        "rounds": len(used),
        "rounds_run": len(rounds),
        "noisy": not clean,
        "capped": capped,
    }
    print(
        f"{text}: fp32 {row['fp32_ms']:.1f} ms, bf16 {row['bf16_ms']:.1f} ms, "
        f"x{row['speedup']:.2f} ({len(clean)} clean of {len(rounds)} rounds"
        f"{', capped' if capped else ''})",
        file=sys.stderr,
        flush=True,
    )
    return row


def _machine() -> tuple[str, str]:
    """(the processor's model name, its bf16 and AMX flags) from /proc/cpuinfo."""
    name, flags = platform.processor() or "unknown CPU", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            if key.strip() == "flags":
                found = [f for f in value.split() if "bf16" in f or f.startswith("amx")]
                flags = " ".join(found) or "no bf16 flags"
                break
    except OSError:
        pass
    return name, flags + ("" if "amx" in flags else ", no AMX")


def _method(main: dict, args: argparse.Namespace, seconds: float) -> list[str]:
    """The page's account of how its rows were measured."""
    cmd = " ".join(["python benchmarks/precision_rule.py", *args.argv])
    return [
        f"Command: `{cmd}` ({seconds / 60:.1f} minutes).",
        f"Processor: {main['cpu']} ({main['flags']}); {main['threads']} torch threads; torch "
        f"{torch.__version__}; {datetime.date.today().isoformat()}. Rule capability: "
        f"`{main['capability']}`.",
        "",
        "One training step (forward, cross-entropy, backward, SGD-with-momentum update) at "
        "the given batch, channels_last, 10 classes, random inputs. fp32 and bf16 autocast "
        "are measured side by side in one process, interleaved: after "
        f"{args.warmup} warm-up step(s) of each, rounds of {args.steps} fp32 step(s) then "
        f"{args.steps} bf16 step(s), until {args.rounds} rounds are clean or "
        f"{args.max_rounds} have run. A round is clean when other processes took at most "
        f"{100 * args.busy:.0f}% of the machine's CPU time during it (from /proc/stat; this "
        "machine was shared with other jobs); times and speedups come from clean rounds "
        "only. ms/step is the median over those steps of a precision; the speedup is the "
        "median over those rounds of the round's fp32 / bf16 ratio (> 1: bf16 faster). "
        "Multiply-adds per depthwise output: `dense_per_depthwise(spec)`, the rule's input "
        "(- without depthwise convs). `rule picks`: what "
        '`choose_precision("auto", cpu, spec)` picks on this machine. Grouped share: '
        "`count(spec).grouped_flops / flops`, the previous rule's input, kept to show why "
        "it was dropped. `anynet_g_half` and `anynet_g_half_k5` are AnyNet points of this "
        "script with 2 groups per 3x3 (5x5) conv, reaching grouped shares no registered "
        "model has; `anynet_dw` is the same network with depthwise 3x3 convs.",
    ]


def run_all(models: list[str], args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    native, capability = cpu_bf16_native()
    rows = [measure(text, args) for text in models]
    cpu, flags = _machine()
    return {
        "rows": rows,
        "cpu": cpu,
        "flags": flags,
        "capability": capability,
        "native": native,
        "aten": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }


def run_avx2(args: argparse.Namespace) -> dict:
    """The AVX2 pass in a subprocess (the variables must be set before torch loads)."""
    cmd = [sys.executable, __file__, "--worker", "--models", *args.avx2_models]
    cmd += ["--rounds", str(args.avx2_rounds), "--max-rounds", str(2 * args.avx2_rounds)]
    cmd += ["--steps", "1", "--warmup", "1", "--busy", str(args.busy)]
    cmd += ["--step-cap", str(args.avx2_step_cap), "--threads", str(args.threads)]
    cmd += ["--batches", *(f"{k}:{v}" for k, v in args.batches.items())]
    out = subprocess.run(
        cmd, env={**os.environ, **AVX2_ENV}, check=True, stdout=subprocess.PIPE, text=True
    )
    return json.loads(out.stdout)


def _batches(items: list[str]) -> dict[int, int]:
    out = {}
    for item in items:
        px, _, batch = item.partition(":")
        if not (px.isdigit() and batch.isdigit()):
            raise SystemExit(f"precision_rule: --batches {item!r} must be PX:BATCH, e.g. 32:32")
        out[int(px)] = int(batch)
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="NAME@PX")
    p.add_argument("--batches", nargs="+", default=["32:32", "96:16", "160:8"], help="PX:BATCH")
    p.add_argument("--rounds", type=int, default=8, help="clean fp32/bf16 block pairs")
    p.add_argument("--max-rounds", type=int, default=16, help="rounds at most per row")
    p.add_argument("--busy", type=float, default=0.1, help="clean: others took <= this CPU")
    p.add_argument("--steps", type=int, default=1, help="timed steps per block")
    p.add_argument("--warmup", type=int, default=2, help="warm-up steps per precision")
    p.add_argument("--step-cap", type=float, default=60.0, help="stop a model past this (s)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--avx2-models", nargs="*", default=list(DEFAULT_AVX2_MODELS))
    p.add_argument("--avx2-rounds", type=int, default=2)
    p.add_argument("--avx2-step-cap", type=float, default=20.0)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, default=None, help="also write raw rows here")
    p.add_argument("--out", type=Path, default=None, help="write the page here")
    return p


def main() -> None:
    args = _parser().parse_args()
    args.batches = _batches(args.batches)
    args.argv = sys.argv[1:]
    if args.worker:  # the AVX2 pass: rows as JSON on stdout
        print(json.dumps(run_all(args.models, args)))
        return
    start = time.perf_counter()
    main_pass = run_all(args.models, args)
    avx2 = run_avx2(args) if args.avx2_models else None
    text = page(main_pass, avx2, args, _method(main_pass, args, time.perf_counter() - start))
    if args.json is not None:
        args.json.write_text(json.dumps({"main": main_pass, "avx2": avx2}, indent=1))
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
