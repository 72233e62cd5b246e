"""`netscale scale`: scale a model by explicit factors or to a FLOPs budget, print its card.

`netscale scale NAME --phi 2` is `netscale.scaling.scale(resolve_spec(NAME), phi=2)`;
`--width 1.4 --depth 1.8 --resolution 380` is `scale(spec, width_mult=1.4, depth_mult=1.8,
resolution=380)`; `--rule resnet_rs --regime long --target-flops 4G` is
`netscale.scaling.scale_to(spec, "resnet_rs", "4G", regime="long")`. The card is
`netscale.api.model_card` of the result; `--out` writes the spec with `netscale.spec.save`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from netscale.cli.format import format_card, giga
from netscale.complexity import count
from netscale.families import model_card, resolve_spec
from netscale.scaling import REGIMES, RULES, scale, scale_to
from netscale.spec import NetSpec, save

_EXPLICIT = ("phi", "width", "depth", "resolution")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the `scale` subcommand on the top-level subparsers."""
    p = commands.add_parser(
        "scale",
        help="scale a model (compound phi, width/depth/resolution, or to a FLOPs budget)",
        description="Scale a model by explicit factors or to a FLOPs budget; print its card.",
    )
    p.add_argument("model", help="registered name, or a spec file (.yaml/.yml/.json)")
    p.add_argument("--phi", type=float, help="EfficientNet compound coefficient (>= 0)")
    p.add_argument("--width", type=float, help="width multiplier (> 0; multiples of 8)")
    p.add_argument("--depth", type=float, help="depth multiplier (> 0; stage depths round up)")
    p.add_argument("--resolution", type=int, help="input resolution in pixels")
    p.add_argument("--rule", help=f"rule to scale to --target-flops: {', '.join(RULES)}")
    p.add_argument("--regime", choices=REGIMES, help="resnet_rs: long (depth) or short (width)")
    p.add_argument(
        "--target-flops", help="budget in multiply-adds, suffix K/M/G/T allowed (e.g. 4G)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.05,
        help="allowed relative miss of --target-flops (default 0.05)",
    )
    p.add_argument("--name", help="name of the scaled spec (default: derived from the base)")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.add_argument("--out", help="also save the scaled spec (.yaml/.yml/.json)")


def _scaled(args: argparse.Namespace, base: NetSpec) -> tuple[NetSpec, dict[str, Any]]:
    """The scaled spec and a JSON-ready summary of how it was made."""
    explicit = [f"--{k}" for k in _EXPLICIT if getattr(args, k) is not None]
    if args.target_flops is None:
        if args.rule is not None or args.regime is not None:
            raise ValueError("--rule and --regime need --target-flops")
        if not explicit:
            raise ValueError(
                "nothing to scale: give --phi, --width/--depth/--resolution or --target-flops"
            )
        spec = scale(
            base,
            phi=args.phi,
            width_mult=args.width,
            depth_mult=args.depth,
            resolution=args.resolution,
            name=args.name,
        )
        given = {k: getattr(args, k) for k in _EXPLICIT if getattr(args, k) is not None}
        return spec, {"base": base.name, **given}
    if explicit:
        raise ValueError(f"{explicit[0]} cannot be combined with --target-flops; use --rule")
    options = {"regime": args.regime} if args.regime is not None else {}
    rule = args.rule or "compound"
    result = scale_to(
        base, rule, args.target_flops, tolerance=args.tolerance, name=args.name, **options
    )
    return result.spec, {"base": base.name, **result.summary()}


def _header(summary: dict[str, Any], base_flops: int, flops: int) -> str:
    line = f"{summary['base'] or '(unnamed spec)'} -> {summary.get('name', '')}"
    if "rule" in summary:
        line += (
            f" by rule {summary['rule']} ({summary['coefficient_name']} "
            f"{summary['coefficient']:.4g}): target {giga(int(summary['target_flops']))}, "
            f"got {giga(flops)} ({summary['error']:+.1%})"
        )
    else:
        factors = ", ".join(f"{k} {v:g}" for k, v in summary.items() if k in _EXPLICIT)
        line += f" by {factors}: {giga(flops)}"
    return line + f" multiply-adds, {flops / base_flops:.2f}x the base's {giga(base_flops)}"


def run(args: argparse.Namespace) -> str:
    """Scale, optionally save, and return the text (or JSON) to print."""
    base = resolve_spec(args.model)
    spec, summary = _scaled(args, base)
    summary["name"] = spec.name
    if args.out:
        save(spec, args.out)
    card = model_card(spec)
    if args.json:
        return json.dumps({**card, "scaling": summary}, indent=2)
    base_flops = count(resolve_spec(base)).flops
    text = _header(summary, base_flops, card["complexity"]["flops"]) + "\n\n" + format_card(card)
    return text + (f"\nsaved to {args.out}" if args.out else "")
