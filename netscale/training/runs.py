"""Reading run directories back: evaluate a finished or interrupted run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from netscale.build import build
from netscale.data import load_data
from netscale.spec import load
from netscale.training.checkpoint import latest_checkpoint, load_checkpoint
from netscale.training.evaluate import evaluate
from netscale.training.recipe import recipe_from_dict


def evaluate_run(
    run: str | os.PathLike[str], *, data: str | None = None, ema: bool = False, device: str = "cpu"
) -> dict[str, Any]:
    """Top-1 (%) and loss of a run's latest checkpoint on `data` (default: the run's data
    source, read from its result or the caller). Returns a JSON-ready dict."""
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
    model = build(spec)
    holder = build(spec) if ema else None
    state = load_checkpoint(ckpt, model=model, ema=holder)
    target = holder if holder is not None else model
    top1, loss, n = evaluate(
        target,
        splits.test,
        resolution=recipe.eval_resolution or spec.resolution,
        mean=splits.mean,
        std=splits.std,
        batch_size=recipe.eval_batch_size,
        device=device,
        precision=recipe.precision,
    )
    return {
        "run": str(out),
        "checkpoint": ckpt.name,
        "epoch": state["epoch"],
        "ema": ema,
        "data": data or info["source"],
        "test_images": n,
        "top1": round(top1, 4),
        "loss": round(loss, 6),
    }
