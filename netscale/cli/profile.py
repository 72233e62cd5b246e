"""`netscale profile`: measured speed and memory beside params/FLOPs/acts, or the
FLOPs/activations/params-vs-runtime correlation study of a design space.

`netscale profile NAME... --batch 8 --mode train` is `netscale.profiling.profile(NAME,
batch=8, mode="train")` for each NAME; `netscale profile --space regnet_x --samples 50
--flops 200M:800M --out DIR` is `netscale.profiling.correlation.correlation_study(
"regnet_x", 50, flops=(2e8, 8e8))` then `write_study(result, DIR)`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

from netscale.cli.format import table

_COLUMNS = (
    ("model", "name"),
    ("device", "device"),
    ("mode", "mode"),
    ("precision", "precision"),
    ("batch", "batch"),
    ("res (px)", "resolution"),
    ("images/s", "images_per_s"),
    ("latency p50 (ms)", "latency_ms"),
    ("p95 (ms)", "latency_p95_ms"),
    ("peak mem (MiB)", "peak_memory_bytes"),
    ("GMAC/s", "macs_per_s"),
    ("MFU (%)", "mfu"),
    ("params (M)", "params"),
    ("GMACs/image", "flops"),
    ("acts (M)", "acts"),
)
_UNITS = {
    "peak_memory_bytes": (2**20, "{:.1f}"),
    "macs_per_s": (1e9, "{:.2f}"),
    "mfu": (0.01, "{:.1f}"),
    "params": (1e6, "{:.2f}"),
    "flops": (1e9, "{:.3f}"),
    "acts": (1e6, "{:.2f}"),
    "images_per_s": (1, "{:.1f}"),
    "latency_ms": (1, "{:.2f}"),
    "latency_p95_ms": (1, "{:.2f}"),
}


def add_parser(commands: Any) -> None:
    """Register the `profile` subcommand on the top-level subparsers."""
    p = commands.add_parser(
        "profile",
        help="measure speed and memory of models, or correlate runtime with complexity",
        description="Measure throughput, latency, peak memory and MFU beside params/FLOPs/"
        "acts; or, with --space, the runtime-vs-complexity study of a design space.",
    )
    p.add_argument("models", nargs="*", metavar="NAME", help="registered names or spec files")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--batch", type=int, help="images per step (default 8; 64 with --space)")
    p.add_argument("--resolution", type=int, help="input pixels (default: the spec's)")
    p.add_argument("--mode", choices=("infer", "train"), default="infer")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="channels_last weights and inputs (default on)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--warmup", type=int, default=3, help="warm-up steps (default 3)")
    p.add_argument("--iters", type=int, default=10, help="measured steps (default 10)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the results as JSON")
    out.add_argument("--csv", action="store_true", help="print the results as CSV")
    study = p.add_argument_group("correlation study (with --space)")
    study.add_argument("--space", help="design space to sample (e.g. regnet_x)")
    study.add_argument("--samples", type=int, default=50, help="models to sample (default 50)")
    study.add_argument(
        "--flops",
        help="sampling band LO:HI in multiply-adds at the space's resolution (e.g. 200M:800M)",
    )
    study.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    study.add_argument(
        "--out", help="directory for the plot and tables (default correlation_SPACE)"
    )


def run(args: argparse.Namespace) -> str:
    """Run `netscale profile` and return what it prints."""
    if args.space is not None:
        if args.models:
            raise ValueError("give model names or --space, not both")
        return _study(args)
    if not args.models:
        raise ValueError("give at least one model name or spec file, or --space SPACE")
    if args.out is not None or args.flops is not None:
        raise ValueError("--out and --flops apply to --space studies only")
    from netscale.profiling import profile

    results = [profile(name, **_measure_options(args, batch=8)).to_dict() for name in args.models]
    if args.json:
        return json.dumps(results, indent=2)
    if args.csv:
        return _csv(results)
    return table([c for c, _ in _COLUMNS], [_row(r) for r in results]) + (
        "\nGMACs/image: analytic multiply-adds per image; GMAC/s and MFU count 3x for train "
        "(forward + backward); MFU is against the measured matmul peak."
    )


def _measure_options(args: argparse.Namespace, *, batch: int) -> dict[str, Any]:
    return {
        "device": args.device,
        "batch": args.batch if args.batch is not None else batch,
        "resolution": args.resolution,
        "mode": args.mode,
        "precision": args.precision,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "warmup": args.warmup,
        "iters": args.iters,
    }


def _row(result: dict[str, Any]) -> list[str]:
    cells = []
    for _, key in _COLUMNS:
        value = result[key]
        if value is None:
            cells.append("-")
        elif key in _UNITS:
            div, fmt = _UNITS[key]
            cells.append(fmt.format(value / div))
        else:
            cells.append(str(value))
    return cells


def _csv(results: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(results[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(results)
    return buffer.getvalue().rstrip("\n")


def _flops_band(text: str) -> tuple[int, int]:
    from netscale.scaling.naming import parse_flops

    lo, sep, hi = text.partition(":")
    try:
        if not sep:
            raise ValueError
        band = int(parse_flops(lo)), int(parse_flops(hi))
    except ValueError:
        raise ValueError(
            f"--flops={text!r} is invalid; expected LO:HI multiply-adds with optional K/M/G/T "
            "suffixes (e.g. 200M:800M)"
        ) from None
    return band


def _progress(i: int, n: int, result: Any) -> None:
    print(
        f"[{i}/{n}] {result.flops / 1e9:.3f} GMACs, {result.acts / 1e6:.2f} M acts: "
        f"{result.latency_ms:.1f} ms per batch",
        file=sys.stderr,
        flush=True,
    )


def _study(args: argparse.Namespace) -> str:
    from netscale.profiling.correlation import correlation_study, markdown_table, write_study

    band = _flops_band(args.flops) if args.flops is not None else None
    result = correlation_study(
        args.space,
        args.samples,
        flops=band,
        seed=args.seed,
        progress=None if args.json or args.csv else _progress,
        **_measure_options(args, batch=64),
    )
    paths = write_study(result, args.out or f"correlation_{args.space}")
    if args.json:
        return json.dumps(result.to_dict(), indent=2)
    if args.csv:
        return paths["csv"].read_text().rstrip("\n")
    written = ", ".join(str(p) for p in paths.values())
    return markdown_table(result) + f"\nwrote {written}"
