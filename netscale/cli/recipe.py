"""`netscale recipe list` and `netscale recipe show NAME [--model M] [--epochs N]
[--resolution R] [--json]`: the shipped recipes, and one recipe fitted to a model with the
source of every value and its progressive stages
(`netscale.training.model_recipe.explain_recipe`)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `recipe list` and `recipe show` on the top-level subparsers."""
    p = commands.add_parser("recipe", help="list the shipped recipes, show one fitted to a model")
    sub = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    sub.add_parser("list", help="the shipped recipes and their sources")
    show = sub.add_parser("show", help="every value of a recipe with its source, and its stages")
    show.add_argument("recipe", help="shipped recipe name or a .yaml file")
    show.add_argument("--model", help="registered model (or spec file) to fit the recipe to")
    show.add_argument("--epochs", type=int, help="total epochs (default: the recipe's)")
    show.add_argument(
        "--resolution", type=int, help="training resolution in pixels (default: the model's)"
    )
    show.add_argument("--json", action="store_true", help="print as JSON")


def run(args: argparse.Namespace) -> str:
    """The text (or JSON) of `recipe list` / `recipe show`."""
    from netscale.training.recipe import load_recipe, recipe_names

    if args.action == "list":
        rows = [(n, load_recipe(n).source) for n in recipe_names()]
        width = max(len(n) for n, _ in rows)
        return "\n".join(f"{n:<{width}}  {src}" for n, src in rows)
    from netscale.training.model_recipe import explain_recipe

    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs {args.epochs} is invalid: an integer >= 1")
    if args.resolution is not None and args.resolution < 1:
        raise ValueError(f"--resolution {args.resolution} is invalid: pixels >= 1")
    shown = explain_recipe(args.recipe, args.model, epochs=args.epochs, resolution=args.resolution)
    return json.dumps(shown, indent=2) if args.json else _text(shown)


def _text(shown: dict[str, Any]) -> str:
    """The fitted recipe as two tables: values with sources, then the stages."""
    head = f"recipe {shown['recipe']}"
    if shown["model"]:
        head += f" for {shown['model']} at {shown['resolution']} px"
    values = shown["values"]
    width = max(len(k) for k in values)
    lines = [head, ""]
    lines += [f"{k:<{width}}  {v['value']!s:<12}  {v['source']}" for k, v in values.items()]
    lines += ["", "stage  epochs     px   dropout  RandAugment  mixup"]
    for i, s in enumerate(shown["stages"]):
        dropout = "spec" if s["dropout_rate"] is None else f"{s['dropout_rate']:.3g}"
        lines.append(
            f"{i:>5}  {s['epochs'][0]:>3}-{s['epochs'][1]:<4} {s['resolution']:>4}  "
            f"{dropout:>7}  {s['randaug_magnitude']:>11.3g}  {s['mixup_alpha']:>5.3g}"
        )
    lines += [f"note: {n}" for n in shown["notes"]]
    return "\n".join(lines)
