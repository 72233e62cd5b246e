"""Reading run directories back: a run's latest checkpoint loaded (`load_run`), and
evaluated (`evaluate_run`); `predict.py` labels images with it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netscale.build import build
from netscale.data import load_data
from netscale.data.steps import default_workers
from netscale.data.stream import StreamSplits
from netscale.spec import NetSpec, load
from netscale.training.checkpoint import latest_checkpoint, load_checkpoint
from netscale.training.evaluate import evaluate
from netscale.training.precision import choose_precision
from netscale.training.recipe import Recipe, recipe_from_dict

WEIGHTS = ("auto", "ema", "final")


@dataclass(frozen=True)
class LoadedRun:
    """A run directory's latest checkpoint, loaded: `model` holds the weights chosen
    (`weights`: "ema" or "final"), in eval mode on the device; `precision` is the one the
    run trained in; `info` is its data.json."""

    out: Path
    spec: NetSpec
    recipe: Recipe
    info: dict[str, Any]
    checkpoint: Path
    epoch: int
    model: nn.Module
    weights: str
    precision: str


def load_run(
    run: str | os.PathLike[str], *, weights: str = "auto", device: str = "cpu"
) -> LoadedRun:
    """Load the latest checkpoint of `run`: `weights` "ema" (an error when the run keeps no
    EMA), "final" (the trained weights) or "auto" (the EMA when the run keeps one, else the
    trained weights)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights={weights!r} is invalid; allowed: {', '.join(WEIGHTS)}")
    out = Path(run)
    if not (out / "spec.yaml").is_file():
        raise FileNotFoundError(f"{str(out)!r} is not a netscale run directory (no spec.yaml)")
    ckpt = latest_checkpoint(out / "checkpoints")
    if ckpt is None:
        raise FileNotFoundError(f"run {str(out)!r} has no complete checkpoint yet")
    spec = load(out / "spec.yaml")
    recipe = recipe_from_dict(json.loads((out / "recipe.json").read_text()))
    info = json.loads((out / "data.json").read_text())
    has_ema = (ckpt / "ema.safetensors").is_file()
    if weights == "ema" and not has_ema:
        raise ValueError(
            f"run {str(out)!r} keeps no EMA weights (its recipe's ema_decay is "
            f"{recipe.ema_decay}); use the trained weights (weights='final', --final)"
        )
    chosen = "ema" if weights == "ema" or (weights == "auto" and has_ema) else "final"
    dev = torch.device(device)
    model = build(spec).to(dev)
    holder = build(spec).to(dev) if chosen == "ema" else None
    state = load_checkpoint(ckpt, model=model, ema=holder)
    precision = state.get("precision") or choose_precision(recipe.precision, dev, spec).precision
    return LoadedRun(
        out=out,
        spec=spec,
        recipe=recipe,
        info=info,
        checkpoint=ckpt,
        epoch=state["epoch"],
        model=(holder if holder is not None else model).eval(),
        weights=chosen,
        precision=precision,
    )


def run_statistics(
    loaded: LoadedRun,
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[str, ...]]:
    """(mean, std, class names) of the data the run trained on: what its inputs were
    normalized with. data.json records them; for runs written before it did, the run's
    data source is loaded again."""
    info = loaded.info
    if "mean" in info and "std" in info:
        names = tuple(info.get("class_names") or ())
        return tuple(info["mean"]), tuple(info["std"]), names
    try:
        splits = load_data(info["source"], minival=info["minival"], seed=info["seed"])
    except (ValueError, FileNotFoundError) as err:
        raise ValueError(
            f"run {str(loaded.out)!r}: data.json records no mean/std and its data source "
            f"cannot be loaded to measure them ({err})"
        ) from None
    return tuple(splits.mean), tuple(splits.std), tuple(splits.class_names)


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
    eval_flip) also the flip-TTA top-1. `ema` scores the EMA weights (the trained ones when
    the run keeps no EMA). Returns a JSON-ready dict."""
    loaded = load_run(run, weights="auto" if ema else "final", device=device)
    recipe, spec, info = loaded.recipe, loaded.spec, loaded.info
    splits = load_data(data or info["source"], minival=info["minival"], seed=info["seed"])
    flip = recipe.eval_flip if flip is None else flip
    res = evaluate(
        loaded.model,
        splits.test,
        resolution=recipe.eval_resolution or spec.resolution,
        mean=splits.mean,
        std=splits.std,
        batch_size=recipe.eval_batch_size,
        device=torch.device(device),
        precision=loaded.precision,
        flip=flip,
        crop_fraction=recipe.eval_crop_fraction,
        channels_last=recipe.channels_last,
        workers=default_workers() if isinstance(splits, StreamSplits) else 0,
    )
    return {
        "run": str(loaded.out),
        "checkpoint": loaded.checkpoint.name,
        "epoch": loaded.epoch,
        "ema": ema,
        "data": data or info["source"],
        "precision": loaded.precision,
        "test_images": res.images,
        "top1": round(res.top1, 4),
        "top1_flip": None if res.top1_flip is None else round(res.top1_flip, 4),
        "loss": round(res.loss, 6),
    }
