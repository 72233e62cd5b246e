"""`netscale profile`: measured speed and memory beside params/FLOPs/acts, or the
FLOPs/activations/params-vs-runtime correlation study of a design space.

`netscale profile NAME... --batch 8 --mode train` is `netscale.profiling.profile(NAME,
batch=8, mode="train")` for each NAME; `netscale profile --space regnet_x --samples 50
--flops 200M:800M --out DIR` is the study of the `runtime_correlation` planner
(`netscale.study.api.run_study` with a config whose section holds these flags) in the study
directory DIR: one worker, the ledger, the report; the same command again resumes it.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import sys
from pathlib import Path
from typing import Any

from netscale.cli.format import Failed, table

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
        "--out",
        help="study directory: ledger and report.html (default correlation_SPACE; an existing "
        "one of the same study is resumed)",
    )


def run(args: argparse.Namespace) -> str | Failed:
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


class _Progress:
    """Prints "[done/total] models measured" to stderr each time a model is measured."""

    def __init__(self) -> None:
        self.last = -1

    def __call__(self, counts: dict[str, int]) -> None:
        done = counts["completed"] + counts["failed"] + counts["diverged"]
        if done != self.last:
            print(f"[{done}/{sum(counts.values())}] models measured", file=sys.stderr, flush=True)
            self.last = done


def _study_config(args: argparse.Namespace) -> Any:
    """The `runtime_correlation` study config the --space flags describe."""
    from netscale.profiling.device import resolve_device
    from netscale.study.config import parse_config

    resolve_device(args.device)  # an unavailable device: a usage error before anything runs
    section = {"space": args.space, "samples": args.samples, **_measure_options(args, batch=64)}
    if args.flops is not None:
        section["flops"] = list(_flops_band(args.flops))
    data = {"name": f"correlation-{Path(args.space).stem}", "planner": "runtime_correlation",
            "seed": args.seed, "runtime_correlation": section}  # fmt: skip
    return parse_config(data, source="netscale profile --space")


def _study(args: argparse.Namespace) -> str | Failed:
    from netscale.study import api
    from netscale.study.runner import WorkerError

    config = _study_config(args)
    out = Path(args.out or f"correlation_{Path(args.space).stem}")
    try:
        result = api.run_study(config, out, monitor=None if args.json or args.csv else _Progress())
    except WorkerError as err:
        return Failed(api.summary(out), str(err))
    text = _study_text(args, out, result["report"])
    failed = result["counts"]["failed"]
    if failed:
        return Failed(
            text,
            f"{failed} of {sum(result['counts'].values())} models could not be measured; "
            f"`netscale study status {out}` shows why",
        )
    return text


def _study_text(args: argparse.Namespace, out: Path, report: Path) -> str:
    """The correlation table, the recommendation and the report's path; or, with --json,
    the correlations, the fit and every trial; with --csv, one row per trial."""
    from netscale.spec.io import json_text
    from netscale.study import api
    from netscale.study.findings import completed
    from netscale.study.planners import recommend
    from netscale.study.planners.runtime import analyse
    from netscale.study.runtime_fit import markdown_table

    if args.csv:
        return api.export(out, "csv")
    study, trials = api.study_trials(out)
    result = analyse(completed(trials))
    if args.json:
        correlations = [dataclasses.asdict(c) for c in result.correlations] if result else []
        fit = dataclasses.asdict(result.fit) if result and result.fit else None
        rows = [json.loads(line) for line in api.export(out).splitlines()]
        data = {"study": study["name"], "dir": str(out), "correlations": correlations,
                "fit": fit, "trials": rows}  # fmt: skip
        return json_text(data, indent=2)
    table_text = markdown_table(result.correlations, result.fit, result.batch) if result else ""
    return f"{table_text}\n{recommend(study, trials)}\nreport: {report}"
