"""`netscale train` and `netscale eval`: parse, call netscale.train / evaluate_run, print."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# recipe fields settable from the command line: flag -> (field, type)
_FIELDS = {
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "weight_decay": float,
    "warmup_epochs": float,
    "label_smoothing": float,
    "ema_decay": float,
    "dropout_rate": float,
    "drop_path_rate": float,
    "resolution": int,
    "min_resolution": int,
    "precision": str,
    "progressive": str,
    "mixup_alpha": float,
    "randaug_magnitude": float,
}


def add_parsers(commands: Any) -> None:
    """Register `train` and `eval` on the top-level subparsers."""
    p = commands.add_parser("train", help="train a model with a recipe into a run directory")
    p.add_argument("model", help="registered name, or a spec file (.yaml/.yml/.json)")
    p.add_argument(
        "--data",
        default="digits",
        help="digits | npz:PATH | folder:PATH | cifar10 | cifar100 (default digits)",
    )
    p.add_argument("--recipe", default="quick", help="shipped recipe name or a .yaml file")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: best)")
    p.add_argument(
        "--minival",
        type=float,
        default=0.0,
        help="hold out this fraction of the training set as the test split",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    for name, kind in _FIELDS.items():
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"override the recipe's {name}",
        )
    e = commands.add_parser("eval", help="evaluate a run directory's last checkpoint")
    e.add_argument("run", help="run directory written by netscale train")
    e.add_argument("--data", default=None, help="data source (default: the run's)")
    e.add_argument("--ema", action="store_true", help="evaluate the EMA weights")


def _printer(event: dict[str, Any]) -> None:
    if event["event"] == "epoch":
        ema = f" ema {event['ema_top1']:.2f}%" if event.get("ema_top1") is not None else ""
        print(
            f"epoch {event['epoch']}: loss {event['train_loss']:.4f} top1 "
            f"{event['test_top1']:.2f}%{ema} | {event['images_per_s']:.0f} img/s, "
            f"MFU {100 * event['mfu']:.1f}%, {event['resolution']} px, "
            f"{event['epoch_s']:.1f} s",
            file=sys.stderr,
            flush=True,
        )


def run_train(args: argparse.Namespace) -> str:
    """`netscale train ...` == netscale.train(model, data, recipe, out, **options)."""
    from netscale.api import train

    overrides = {k: getattr(args, k) for k in _FIELDS if getattr(args, k) is not None}
    if args.compile:
        overrides["compile"] = True
    result = train(
        args.model,
        args.data,
        args.recipe,
        args.out,
        resume=args.resume,
        seed=args.seed,
        device=args.device,
        minival=args.minival,
        progress=_printer,
        **overrides,
    )
    summary = {
        k: getattr(result, k)
        for k in ("status", "epochs", "top1", "ema_top1", "wall_s", "images_per_s", "message")
    }
    summary["out"] = str(result.out)
    return json.dumps(summary, indent=2)


def run_eval(args: argparse.Namespace) -> str:
    """`netscale eval RUN` == netscale.training.runs.evaluate_run(RUN, data, ema)."""
    from netscale.training.runs import evaluate_run

    return json.dumps(evaluate_run(args.run, data=args.data, ema=args.ema), indent=2)
