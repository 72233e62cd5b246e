"""`netscale train` and `netscale eval`: parse, call netscale.train / evaluate_run, print.

`netscale train` shows progress on stderr with `ConsoleProgress`: a bar per epoch on a
terminal, one line per epoch otherwise (logs, pipes); the JSON summary goes to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from netscale.cli.format import Failed

# Every Recipe field is a flag (generated, so a new field needs no CLI edit): --epochs N,
# --batch-size N, ...; a boolean field is --field / --no-field. Absent: the recipe's value.
# `name` and `source` describe a recipe file, they do not change training.
_NOT_FLAGS = ("name", "source", "decay_milestones")  # a list: set it in a recipe file
_NOT_FLAGS += ("steps",)  # set by --budget (or a recipe file)
_HELP = {
    "compile": "torch.compile the model",
    "sync_bn": "SyncBatchNorm across ranks (CUDA only)",
    "eval_flip": "also report top-1 with flip test-time augmentation",
    "precision": "auto (bf16 on bf16 hardware unless depthwise convs dominate; "
    "docs/precision.md), fp32 or bf16",
    "resolution": "training resolution in pixels (default: the data's, raised to the "
    "network's total stride when smaller; for a streamed folder, the model's)",
    "crop": "pad (random crop of --crop-padding pixels) or resized (Inception "
    "random-resized crop, area from --crop-min-scale to 1)",
    "eval_crop_fraction": "evaluate the central square of this share of the shorter side "
    "(ImageNet practice: 0.875)",
    "random_erasing": "probability per image of random erasing",
}


def add_parsers(commands: Any) -> None:
    """Register `train` and `eval` on the top-level subparsers."""
    p = commands.add_parser("train", help="train a model with a recipe into a run directory")
    p.add_argument("model", help="registered name, or a spec file (.yaml/.yml/.json)")
    p.add_argument(
        "--data",
        default="digits",
        help="digits | npz:PATH | folder:PATH (streamed) | memfolder:PATH (decoded once "
        "into memory) | cifar10 | cifar100 (default digits)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes decoding a streamed source (default: one per CPU, at most 8; "
        "results do not depend on it)",
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
    p.add_argument(
        "--budget",
        default=None,
        metavar="DURATION",
        help="train to this wall time: 90s, 15m, 1h, 1h30m. Measured once on a new run "
        "(a step, an evaluation, a checkpoint) and turned into optimizer steps; the lr "
        "schedule, progressive stages and EMA are fitted to them (recorded in "
        "OUT/budget.json; --resume reads it back and needs the same --budget)",
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="write TensorBoard scalars to OUT/tensorboard (needs netscale[tensorboard])",
    )
    pseudo = p.add_argument_group("pseudo-labels (a teacher's labels file: netscale predict)")
    pseudo.add_argument(
        "--pseudo",
        default=None,
        metavar="LABELS.npz",
        help="train on these pseudo-labeled images beside the labeled --data (in memory)",
    )
    pseudo.add_argument(
        "--pseudo-ratio",
        type=float,
        default=None,
        help="share of each batch taken from the pseudo-labeled images, in (0, 1) (default "
        "0.5); an epoch stays one pass over the labeled data",
    )
    pseudo.add_argument(
        "--pseudo-targets",
        default=None,
        help="soft (the teacher's probabilities, default) | hard (one-hot of its argmax, "
        "label-smoothed as the labels)",
    )
    _add_recipe_flags(p)
    _add_eval(commands)


def recipe_flags() -> dict[str, type]:
    """Recipe field -> its Python type (int, float, str or bool), for every field that is
    a command-line flag."""
    from netscale.training.recipe import Recipe

    kinds = {"int": int, "float": float, "str": str, "bool": bool}
    return {
        f.name: kinds[str(f.type).replace(" | None", "")]
        for f in dataclasses.fields(Recipe)
        if f.name not in _NOT_FLAGS
    }


def _add_recipe_flags(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("recipe overrides (default: the recipe's value)")
    for name, kind in recipe_flags().items():
        flag = "--" + name.replace("_", "-")
        text = _HELP.get(name, f"the recipe's {name}")
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            group.add_argument(flag, type=kind, default=None, help=text)


def _add_eval(commands: Any) -> None:
    e = commands.add_parser("eval", help="evaluate a run directory's last checkpoint")
    e.add_argument("run", help="run directory written by netscale train")
    e.add_argument("--data", default=None, help="data source (default: the run's)")
    e.add_argument("--ema", action="store_true", help="evaluate the EMA weights")
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    e.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also report flip-TTA top-1 (default: the recipe's eval_flip)",
    )


def run_train(args: argparse.Namespace) -> str | Failed:
    """`netscale train ...` == netscale.train(model, data, recipe, out, **options) with a
    ConsoleProgress on stderr. Returns the JSON summary (Failed when the run diverged)."""
    from netscale.spec.io import json_text
    from netscale.training.distributed import shutdown
    from netscale.training.loop import train
    from netscale.training.progress import ConsoleProgress
    from netscale.training.tensorboard_log import MissingExtraError

    overrides = {k: getattr(args, k) for k in recipe_flags() if getattr(args, k) is not None}
    try:
        with ConsoleProgress() as progress:
            result = train(
                args.model,
                args.data,
                args.recipe,
                args.out,
                resume=args.resume,
                seed=args.seed,
                device=args.device,
                minival=args.minival,
                progress=progress,
                tensorboard=args.tensorboard,
                workers=args.workers,
                budget=args.budget,
                pseudo=args.pseudo,
                pseudo_ratio=args.pseudo_ratio,
                pseudo_targets=args.pseudo_targets,
                **overrides,
            )
    except MissingExtraError as err:  # a one-line usage error, like a bad option value
        raise ValueError(str(err)) from None
    shutdown()  # under torchrun: every rank finished; close the process group cleanly
    keys = ("status", "epochs", "top1", "top1_flip", "ema_top1", "ema_top1_flip")
    summary = {k: getattr(result, k) for k in keys}
    summary.update(
        {k: getattr(result, k) for k in ("precision", "wall_s", "images_per_s", "message")}
    )
    summary.update({k: getattr(result, k) for k in ("steps", "budget_s", "step_s")})
    summary["out"] = str(result.out)
    text = json_text(summary, indent=2)
    if result.status == "diverged":
        return Failed(text, f"run diverged: {result.message}")
    return text


def run_eval(args: argparse.Namespace) -> str:
    """`netscale eval RUN` == netscale.training.runs.evaluate_run(RUN, data, ema, device,
    flip)."""
    from netscale.training.runs import evaluate_run

    result = evaluate_run(
        args.run, data=args.data, ema=args.ema, device=args.device, flip=args.flip
    )
    return json.dumps(result, indent=2)
