"""Speed against the ecosystem: netscale models vs their timm and torchvision counterparts.

Both sides are the same architecture (param counts tested equal in
tests/build/test_counterparts.py), randomly initialized, measured by the same harness
(`netscale.profile`) at the same batch, resolution, precision, threads and memory format
(channels_last), in one process. Runs are interleaved: each repeat measures netscale, timm,
torchvision, then netscale after `optimize_for_inference`, so drift in machine load hits
every side alike; a ratio is taken within a repeat and the table gives the median over
repeats, with the range of the per-repeat ratios beside it (the noise). Modes: train
(forward, cross-entropy, backward, SGD step) and infer (forward under inference_mode);
"infer, optimized" is our BN-folded model against their eager model, and with --compile
"infer, optimized + torch.compile" adds Inductor (compile time excluded: it falls in the
warm-up).

Run (the full setting, --repeats 3 --iters 10, took 25 minutes on 2 CPU cores with batch
8 at 224 px and 64 at 32 px; docs/benchmarks.md has the command it ran):
    python benchmarks/vs_timm.py --batch 8 --small-batch 64 --repeats 3 --iters 10
Quick check:
    python benchmarks/vs_timm.py --models resnet_18@32 --batch 2 --iters 2 --warmup 1 \
        --repeats 1
Models are NAME@PX; rows at <= 64 px use --small-batch. Prints a Markdown table (for
docs/benchmarks.md) to stdout, or writes it to --out. With --profile FILE, every row short
of its goal (eager below 1.0x timm, or optimized below 1.2x) also gets an operator profile
(torch.profiler, self CPU time per step of each aten op; ours, in infer mode ours after
optimize_for_inference, beside timm's; after the timed runs) written to FILE: where the
same-architecture models spend their time differently.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity
from torch.profiler import profile as torch_profile

import netscale
from netscale.build.counterparts import counterpart_model, counterpart_name
from netscale.build.fuse import optimize_for_inference
from netscale.profiling import profile
from netscale.profiling.measure import _make_step, _prepare  # the step profile() times

# one model per family at 224 px, then small-image variants at 32 px
DEFAULT_MODELS = (
    "resnet_50@224",
    "resnet_rs_50@224",
    "regnet_y_400mf@224",
    "efficientnet_b0@224",
    "efficientnet_v2_s@224",
    "convnext_tiny@224",
    "coatnet_0@224",
    "resnet_18@32",
    "regnet_y_400mf@32",
    "efficientnet_b0@32",
    "convnext_atto@32",
)
SOURCES = ("timm", "torchvision")


def _parse_model(text: str) -> tuple[str, int]:
    name, _, px = text.partition("@")
    if not px.isdigit():
        raise SystemExit(f"vs_timm: model {text!r} must be NAME@PX, e.g. resnet_50@224")
    return name, int(px)


def _sides(name: str, px: int, compile: bool) -> dict[str, torch.nn.Module]:
    """Ours and each counterpart that exists, built with the same seed; ours optimized for
    inference; with `compile`, ours optimized then torch.compile'd as well."""
    torch.manual_seed(0)
    sides = {"netscale": netscale.create_model(name, resolution=px)}
    for source in SOURCES:
        if counterpart_name(name, source) is not None:
            torch.manual_seed(0)
            sides[source] = counterpart_model(name, source)
    sides["optimized"] = optimize_for_inference(sides["netscale"])
    if compile:
        sides["compiled"] = sides["optimized"]  # measured with profile(compile=True)
    return sides


def _measure(
    model: torch.nn.Module, px: int, mode: str, args: argparse.Namespace, batch: int, side: str
) -> float:
    return profile(
        model,
        resolution=px,
        batch=batch,
        mode=mode,
        precision=args.precision,
        warmup=args.warmup,
        iters=args.iters,
        warmup_s=args.warmup_s,
        measure_s=args.measure_s,
        compile=side == "compiled",
    ).images_per_s


def _op_profile(
    model: torch.nn.Module, px: int, mode: str, batch: int, steps: int
) -> dict[str, float]:
    """Self CPU time (ms per step) of each aten op over `steps` steps of `mode`, after one
    untimed step: the inputs, layout and step `netscale.profile` times (its own helpers),
    fp32 on the CPU."""
    dev = torch.device("cpu")
    net, x, y, _ = _prepare(model, getattr(model, "spec", None), px, batch, dev, mode, True, 0)
    step = _make_step(net, x, y, mode, dev, torch.float32)
    step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return {
        e.key: e.self_cpu_time_total / 1e3 / steps
        for e in prof.key_averages()
        if e.self_cpu_time_total > 0
    }


def _profile_section(name: str, px: int, mode: str, batch: int, steps: int, top: int) -> str:
    """Markdown: the ops with the largest self time on any side; ours (and in infer mode
    ours after optimize_for_inference) beside timm's."""
    models = _sides(name, px, compile=False)
    keys = ["netscale", "optimized", "timm"] if mode == "infer" else ["netscale", "timm"]
    prof = {k: _op_profile(models[k], px, mode, batch, steps) for k in keys}
    ops = sorted(
        set().union(*prof.values()), key=lambda op: -max(p.get(op, 0) for p in prof.values())
    )
    names = {"netscale": "netscale", "optimized": "netscale optimized", "timm": "timm"}
    lines = [
        f"### `{name}` @ {px} px, batch {batch}, {mode} ({steps} profiled steps)",
        "",
        "| aten op | " + " | ".join(f"{names[k]} ms/step" for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for op in ops[:top]:
        cells = " | ".join(f"{prof[k].get(op, 0.0):.1f}" for k in keys)
        lines.append(f"| `{op}` | {cells} |")
    lines += ["| all ops | " + " | ".join(f"{sum(prof[k].values()):.1f}" for k in keys) + " |", ""]
    return "\n".join(lines)


def _row_runs(name: str, px: int, mode: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """images/s of each side, one entry per repeat, measured A/B/A/B."""
    batch = args.small_batch if px <= 64 else args.batch
    sides = _sides(name, px, args.compile)
    if mode == "train":  # BN folding is for inference only
        sides = {k: v for k, v in sides.items() if k not in ("optimized", "compiled")}
    runs: dict[str, list[float]] = {side: [] for side in sides}
    for rep in range(args.repeats):
        for side, model in sides.items():
            runs[side].append(_measure(model, px, mode, args, batch, side))
            print(
                f"{name}@{px} {mode} repeat {rep + 1}: {side} {runs[side][-1]:.1f} images/s",
                file=sys.stderr,
                flush=True,
            )
    return runs


def _ratios(ours: list[float], theirs: list[float]) -> list[float]:
    """Ours / theirs within each repeat."""
    return [a / b for a, b in zip(ours, theirs, strict=True)]


def _ratio(ours: list[float], theirs: list[float] | None, spread: bool = False) -> str:
    """The median of the per-repeat ratios; with `spread`, their range after it."""
    if not theirs:
        return "-"
    ratios = _ratios(ours, theirs)
    text = f"{statistics.median(ratios):.2f}"
    return f"{text} ({min(ratios):.2f}-{max(ratios):.2f})" if spread and len(ratios) > 1 else text


def _speed(runs: list[float] | None) -> str:
    return f"{statistics.median(runs):.1f}" if runs else "-"


def _rows(name: str, px: int, args: argparse.Namespace, profiles: list[str]) -> list[str]:
    batch = args.small_batch if px <= 64 else args.batch
    lines = []
    for mode in args.modes:
        runs = _row_runs(name, px, mode, args)
        timm_runs = runs.get("timm")
        short = timm_runs and (
            round(statistics.median(_ratios(runs["netscale"], timm_runs)), 2) < 1.0
            or (
                mode == "infer"
                and round(statistics.median(_ratios(runs["optimized"], timm_runs)), 2) < 1.2
            )
        )
        if args.profile and short:
            profiles.append(_profile_section(name, px, mode, batch, args.profile_steps, 12))
        variants = [("netscale", mode)]
        if mode == "infer":
            variants.append(("optimized", "infer, optimized"))
        if mode == "infer" and args.compile:
            variants.append(("compiled", "infer, optimized + torch.compile"))
        for key, label in variants:
            timm, tv = runs.get("timm"), runs.get("torchvision")
            lines.append(
                f"| `{name}` | {px} | {batch} | {label} | {_speed(runs[key])} | {_speed(timm)} "
                f"| {_ratio(runs[key], timm, spread=True)} | {_speed(tv)} "
                f"| {_ratio(runs[key], tv, spread=True)} |"
            )
    return lines


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="NAME@PX")
    parser.add_argument(
        "--modes", nargs="+", choices=("train", "infer"), default=["train", "infer"]
    )
    parser.add_argument("--batch", type=int, default=32, help="batch of rows above 64 px")
    parser.add_argument("--small-batch", type=int, default=128, help="batch of rows <= 64 px")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup-s", type=float, default=30.0, help="warm-up cap (s)")
    parser.add_argument("--measure-s", type=float, default=60.0, help="measurement cap (s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--compile", action="store_true", help="add a row: optimized + torch.compile (infer)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="write operator profiles of the rows short of 1.0x timm (eager) or 1.2x "
        "(optimized) to this file",
    )
    parser.add_argument("--profile-steps", type=int, default=3, help="steps per profile")
    args = parser.parse_args()
    if args.profile_steps < 1:
        raise SystemExit(f"vs_timm: --profile-steps must be >= 1, got {args.profile_steps}")
    if args.profile and args.precision != "fp32":
        raise SystemExit("vs_timm: --profile profiles fp32 steps; drop --precision or --profile")
    if args.threads:
        torch.set_num_threads(args.threads)
    lines = [
        "| model | px | batch | mode | netscale images/s | timm images/s "
        "| ours / timm (range over repeats) | torchvision images/s "
        "| ours / torchvision (range) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    profiles: list[str] = []
    for text in args.models:
        lines += _rows(*_parse_model(text), args, profiles)
    today = datetime.date.today().isoformat()
    lines += [
        "",
        f"{today}, {_cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{args.precision}, channels_last; median of {args.repeats} interleaved repeats of "
        f"{args.iters} steps after {args.warmup} warm-up steps.",
        "Command: `python benchmarks/vs_timm.py " + " ".join(sys.argv[1:]) + "`",
    ]
    table = "\n".join(lines) + "\n"
    if args.out is None:
        print(table, end="")
    else:
        args.out.write_text(table)
    if args.profile:
        head = f"Operator profiles of the rows short of their goal ({today}, {_cpu_name()})\n\n"
        args.profile.write_text(head + "\n".join(profiles))


if __name__ == "__main__":
    main()
