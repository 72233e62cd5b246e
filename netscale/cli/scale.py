"""`netscale scale`: scale a model by explicit factors or to a FLOPs budget, print its card.

`netscale scale NAME --phi 2` is `netscale.scaling.scale(resolve_spec(NAME), phi=2)`;
`--width 1.4 --depth 1.8 --resolution 380` is `scale(spec, width_mult=1.4, depth_mult=1.8,
resolution=380)`; `--rule resnet_rs --regime long --target-flops 4G` is
`netscale.scaling.scale_to(spec, "resnet_rs", "4G", regime="long")`; `--rule compound
--target-latency 20ms --batch 1 --device cpu` (or `--target-throughput 500 --mode train`)
is `netscale.profiling.scale_to_speed(spec, "compound", target_latency_s="20ms", batch=1,
device="cpu")`, which measures. The card is `netscale.api.model_card` of the result;
`--out` writes the spec with `netscale.spec.save` (a speed search that missed its
tolerance saves nothing and exits 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from netscale.cli.format import Failed, format_card, giga
from netscale.complexity import count
from netscale.families import model_card, resolve_spec
from netscale.scaling import REGIMES, RULES, scale, scale_to
from netscale.spec import NetSpec, save

_EXPLICIT = ("phi", "width", "depth", "resolution")
_SPEED = ("target_latency", "target_throughput")
_SPEED_SETTINGS = ("batch", "device", "mode", "precision", "channels_last", "fresh")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the `scale` subcommand on the top-level subparsers."""
    p = commands.add_parser(
        "scale",
        help="scale a model (compound phi, width/depth/resolution, or to a FLOPs budget or a "
        "measured speed)",
        description="Scale a model by explicit factors, to a FLOPs budget, or to a latency or "
        "throughput measured on a device; print its card.",
    )
    p.add_argument("model", help="registered name, or a spec file (.yaml/.yml/.json)")
    p.add_argument("--phi", type=float, help="EfficientNet compound coefficient (>= 0)")
    p.add_argument("--width", type=float, help="width multiplier (> 0; multiples of 8)")
    p.add_argument("--depth", type=float, help="depth multiplier (> 0; stage depths round up)")
    p.add_argument("--resolution", type=int, help="input resolution in pixels")
    p.add_argument(
        "--rule", help=f"rule to scale to a target (default compound): {', '.join(RULES)}"
    )
    p.add_argument("--regime", choices=REGIMES, help="resnet_rs: long (depth) or short (width)")
    p.add_argument(
        "--target-flops", help="budget in multiply-adds, suffix K/M/G/T allowed (e.g. 4G)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        help="allowed relative miss of the target (default 0.05 for --target-flops, 0.1 for "
        "a measured speed, checked on a re-measurement)",
    )
    speed = p.add_argument_group("measured speed (the rule's coefficient bisected on timings)")
    speed.add_argument(
        "--target-latency",
        help="median time of one inference step of --batch images: 20ms, 0.02s, 500us",
    )
    speed.add_argument("--target-throughput", help="images per second (--mode infer or train)")
    speed.add_argument("--batch", type=int, help="images per step (default 1)")
    speed.add_argument("--device", help="cpu, cuda or cuda:N (default cpu)")
    speed.add_argument("--mode", choices=("infer", "train"), help="default infer")
    speed.add_argument("--precision", choices=("fp32", "bf16"), help="default fp32")
    speed.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="channels_last weights and inputs (default on)",
    )
    speed.add_argument(
        "--fresh",
        action="store_true",
        default=None,
        help="measure every spec again instead of reusing $NETSCALE_CACHE/speed.json",
    )
    p.add_argument("--name", help="name of the scaled spec (default: derived from the base)")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.add_argument("--out", help="also save the scaled spec (.yaml/.yml/.json)")


def _scaled(args: argparse.Namespace, base: NetSpec) -> tuple[NetSpec, dict[str, Any]]:
    """The scaled spec and a JSON-ready summary of how it was made."""
    explicit = [f"--{k}" for k in _EXPLICIT if getattr(args, k) is not None]
    settings = [_flag(k) for k in _SPEED_SETTINGS if getattr(args, k) is not None]
    if settings:
        raise ValueError(f"{settings[0]} needs --target-latency or --target-throughput")
    if args.target_flops is None:
        if args.rule is not None or args.regime is not None:
            raise ValueError(
                "--rule and --regime need --target-flops, --target-latency or --target-throughput"
            )
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
    tolerance = args.tolerance if args.tolerance is not None else 0.05
    result = scale_to(base, rule, args.target_flops, tolerance=tolerance, name=args.name, **options)
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


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def run(args: argparse.Namespace) -> str | Failed:
    """Scale, optionally save, and return the text (or JSON) to print."""
    base = resolve_spec(args.model)
    if any(getattr(args, k) is not None for k in _SPEED):
        return _run_speed(args, base)
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


def _run_speed(args: argparse.Namespace, base: NetSpec) -> str | Failed:
    """Scale to a measured latency or throughput (netscale.profiling.scale_to_speed)."""
    given = [_flag(k) for k in _SPEED if getattr(args, k) is not None]
    if len(given) > 1:
        raise ValueError("--target-latency and --target-throughput are exclusive: give one")
    if args.target_flops is not None:
        raise ValueError(f"{given[0]} cannot be combined with --target-flops: give one target")
    explicit = [f"--{k}" for k in _EXPLICIT if getattr(args, k) is not None]
    if explicit:
        raise ValueError(f"{explicit[0]} cannot be combined with {given[0]}; use --rule")
    from netscale.profiling.speed import scale_to_speed

    options = {"regime": args.regime} if args.regime is not None else {}
    settings = {
        "batch": args.batch if args.batch is not None else 1,
        "device": args.device or "cpu",
        "mode": args.mode or "infer",
        "precision": args.precision or "fp32",
        "channels_last": args.channels_last if args.channels_last is not None else True,
        "fresh": bool(args.fresh),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = scale_to_speed(
            base,
            args.rule or "compound",
            target_latency_s=args.target_latency,
            target_throughput=args.target_throughput,
            tolerance=args.tolerance if args.tolerance is not None else 0.1,
            name=args.name,
            **settings,
            **options,
        )
    for w in caught:  # one line each, not Python's file:line form
        print(f"netscale: warning: {w.message}", file=sys.stderr)
    summary = {"base": base.name, **result.summary()}
    card = model_card(result.spec)
    if args.json:
        text = json.dumps({**card, "scaling": summary}, indent=2)
    else:
        text = "\n".join([_speed_header(summary), *_speed_lines(result), "", format_card(card)])
    if not result.within_tolerance:
        return Failed(text, _missed(result))
    if args.out:
        save(result.spec, args.out)
        text += "" if args.json else f"\nsaved to {args.out}"
    return text


def _speed_header(summary: dict[str, Any]) -> str:
    flops, base_flops = summary["flops"], summary["base_flops"]
    return (
        f"{summary['base'] or '(unnamed spec)'} -> {summary['name']} by rule "
        f"{summary['rule']} ({summary['coefficient_name']} {summary['coefficient']:.4g}): "
        f"{giga(flops)} multiply-adds, {flops / base_flops:.2f}x the base's {giga(base_flops)}"
    )


def _speed_text(result: Any, value: float) -> str:
    from netscale.profiling.speed import format_seconds

    if result.metric == "latency":
        return format_seconds(value)
    return f"{value:.4g} images/s"


def _speed_lines(result: Any) -> list[str]:
    """target, achieved (re-measured) and its miss, device, measurements taken / cached."""
    layout = "channels_last" if result.channels_last else "contiguous"
    per = f"at batch {result.batch}"
    verdict = "within" if result.within_tolerance else "beyond"
    cache = result.cache_path or "no cache"
    return [
        f"target:       {result.metric} {_speed_text(result, result.target)} {per} "
        f"({result.mode}, {result.precision}, {layout}, {result.resolution} px)",
        f"achieved:     {_speed_text(result, result.achieved)} re-measured, "
        f"{result.miss:+.1%} ({verdict} the {result.tolerance:.0%} tolerance; the search "
        f"measured {_speed_text(result, result.searched)})",
        f"device:       {result.device} ({result.machine})",
        f"measurements: {result.taken} taken, {result.cached} from the cache ({cache}); "
        f"{len(result.measurements)} specs measured",
    ]


def _missed(result: Any) -> str:
    """The one-line error of a re-measurement beyond the tolerance."""
    line = (
        f"the re-measured {result.metric} {_speed_text(result, result.achieved)} misses the "
        f"target {_speed_text(result, result.target)} by {result.miss:+.1%}, beyond the "
        f"{result.tolerance:.0%} tolerance"
    )
    if result.bracket is not None:
        metric = "latency_s" if result.metric == "latency" else "images_per_s"
        lo, hi = (_speed_text(result, getattr(p.measurement, metric)) for p in result.bracket)
        line += f"; the two adjacent specs measured {lo} and {hi}, one rounding step apart"
    if abs(result.searched / result.achieved - 1.0) > result.tolerance:
        line += (
            f"; the same spec measured {_speed_text(result, result.searched)} during the "
            "search, so this device's speed itself varied by more than the tolerance (a busy "
            "or shared machine: measure on a quiet one)"
        )
    return line + "; try another rule, a larger --tolerance, or --fresh; nothing saved"
