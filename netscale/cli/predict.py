"""`netscale predict RUN --data SOURCE --out labels.npz`: netscale.predict, then a JSON
summary (which weights labeled, how many images, how confident)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(commands: Any) -> None:
    """Register `predict` on the top-level subparsers."""
    p = commands.add_parser(
        "predict",
        help="label images with a run's last checkpoint: a labels file for --pseudo",
    )
    p.add_argument("run", help="run directory written by netscale train (the teacher)")
    p.add_argument(
        "--data",
        required=True,
        help="folder:PATH (an unlabeled folder: its images directly in PATH; or an "
        "ImageFolder with train/ and val/) | npz:PATH (x_train and/or x_test; no labels "
        "needed) | digits | cifar10 | cifar100",
    )
    p.add_argument("--out", required=True, help="labels file to write (labels.npz)")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--ema",
        dest="weights",
        action="store_const",
        const="ema",
        help="the EMA weights (the default when the run keeps an EMA)",
    )
    which.add_argument(
        "--final",
        dest="weights",
        action="store_const",
        const="final",
        help="the trained weights (the default when the run keeps no EMA)",
    )
    p.set_defaults(weights="auto")
    p.add_argument("--top-k", type=int, default=5, help="most probable classes listed (default 5)")
    p.add_argument(
        "--batch-size", type=int, default=None, help="images per forward pass (default: "
        "the recipe's eval_batch_size)",
    )  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument(
        "--split",
        default="all",
        help="train | test | all (default): which split of the source to label",
    )
    p.add_argument("--workers", type=int, default=None, help="decoding processes of a folder")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")


def run(args: argparse.Namespace) -> str:
    """`netscale predict RUN ...` == netscale.training.predict.predict(RUN, data, out=...,
    weights=..., top_k=..., ...). Returns the JSON summary."""
    import numpy as np

    from netscale.training.predict import predict

    found = predict(
        args.run,
        args.data,
        out=args.out,
        weights=args.weights,
        top_k=args.top_k,
        batch_size=args.batch_size,
        device=args.device,
        split=args.split,
        force=args.force,
        workers=args.workers,
    )
    chosen = {"auto": "the default", "ema": "--ema", "final": "--final"}[args.weights]
    counts = np.bincount(found.argmax, minlength=found.num_classes)
    summary = {
        "out": str(found.path),
        "run": found.run,
        "checkpoint": found.checkpoint,
        "epoch": found.epoch,
        "weights": found.weights,
        "weights_note": f"{'EMA' if found.weights == 'ema' else 'trained (final)'} weights "
        f"({chosen})",
        "source": found.source,
        "split": args.split,
        "images": len(found),
        "skipped": list(found.skipped),
        "classes": found.num_classes,
        "top_k": int(found.top_k_index.shape[1]),
        "mean_top1_prob": round(float(found.top_k_prob[:, 0].mean()), 4),
        "argmax_counts": dict(zip(found.class_names, counts.tolist(), strict=True)),
        "sha256": found.sha256,
    }
    return json.dumps(summary, indent=2)
