"""Reading run directories back: evaluate a finished or interrupted run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from netscale.build import build
from netscale.data import load_data
from netscale.data.steps import default_workers
from netscale.data.stream import StreamSplits
from netscale.spec import load
from netscale.training.checkpoint import latest_checkpoint, load_checkpoint
from netscale.training.evaluate import evaluate
from netscale.training.precision import choose_precision
from netscale.training.recipe import recipe_from_dict


def evaluate_run(
    run: str | os.PathLike[str],
    *,
    data: str | None = None,
    ema: bool = False,
    device: str = "cpu",
    flip: bool | None = None,
) -> dict[str, Any]:
    """Top-1 (%) and loss of a run's latest checkpoint on `data` (default: the run's data
    source), in the precision the run trained in; with `flip` (default: the recipe's
    eval_flip) also the flip-TTA top-1. Returns a JSON-ready dict."""
    out = Path(run)
    if not (out / "spec.yaml").is_file():
        raise FileNotFoundError(f"{str(out)!r} is not a netscale run directory (no spec.yaml)")
    ckpt = latest_checkpoint(out / "checkpoints")
    if ckpt is None:
        raise FileNotFoundError(f"run {str(out)!r} has no complete checkpoint yet")
    spec = load(out / "spec.yaml")
    recipe = recipe_from_dict(json.loads((out / "recipe.json").read_text()))
    info = json.loads((out / "data.json").read_text())
    splits = load_data(data or info["source"], minival=info["minival"], seed=info["seed"])
    dev = torch.device(device)
    model = build(spec).to(dev)
    holder = build(spec).to(dev) if ema else None
    state = load_checkpoint(ckpt, model=model, ema=holder)
    target = holder if holder is not None else model
    precision = state.get("precision") or choose_precision(recipe.precision, dev, spec).precision
    flip = recipe.eval_flip if flip is None else flip
    res = evaluate(
        target,
        splits.test,
        resolution=recipe.eval_resolution or spec.resolution,
        mean=splits.mean,
        std=splits.std,
        batch_size=recipe.eval_batch_size,
        device=dev,
        precision=precision,
        flip=flip,
        crop_fraction=recipe.eval_crop_fraction,
        channels_last=recipe.channels_last,
        workers=default_workers() if isinstance(splits, StreamSplits) else 0,
    )
    return {
        "run": str(out),
        "checkpoint": ckpt.name,
        "epoch": state["epoch"],
        "ema": ema,
        "data": data or info["source"],
        "precision": precision,
        "test_images": res.images,
        "top1": round(res.top1, 4),
        "top1_flip": None if res.top1_flip is None else round(res.top1_flip, 4),
        "loss": round(res.loss, 6),
    }
