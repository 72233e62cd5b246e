"""`netscale export NAME --format onnx --out model.onnx` is
`netscale.build.export.export(NAME, "model.onnx", format="onnx")`: the model in eval mode,
BatchNorm folded (unless --no-optimize), batch dimension dynamic."""

from __future__ import annotations

import argparse
from typing import Any

from netscale.cli.format import millions

_FORMATS = ("onnx", "torch-export")  # netscale.build.export.FORMATS, without importing torch


def add_parser(commands: Any) -> None:
    """Register the `export` subcommand on the top-level subparsers."""
    p = commands.add_parser(
        "export",
        help="export a model to ONNX or a torch.export program",
        description="Export a model (eval mode, BatchNorm folded) to ONNX or torch.export.",
    )
    p.add_argument("model", help="registered name, or a spec file (.yaml/.yml/.json)")
    p.add_argument("--format", choices=_FORMATS, default="onnx", help="default onnx")
    p.add_argument("--out", required=True, help="file to write (.onnx, .pt2)")
    p.add_argument("--resolution", type=int, help="input pixels (default: the spec's)")
    p.add_argument(
        "--optimize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fold BatchNorm into convs first (default on)",
    )


def run(args: argparse.Namespace) -> str:
    """Run `netscale export` and return what it prints."""
    from netscale.build.export import export
    from netscale.complexity import count
    from netscale.families import resolve_spec

    path = export(
        args.model,
        args.out,
        format=args.format,
        resolution=args.resolution,
        optimize=args.optimize,
    )
    overrides = {"resolution": args.resolution} if args.resolution is not None else {}
    spec = resolve_spec(args.model, **overrides)
    cx = count(spec)
    io = "input 'images' (batch, C, H, W) -> output 'logits'" if args.format == "onnx" else ""
    return (
        f"wrote {path} ({args.format}, {path.stat().st_size / 2**20:.1f} MiB): {spec.name} "
        f"at {cx.resolution}x{cx.resolution} px, {millions(cx.params)} params"
        + (f"; {io}" if io else "")
    )
