"""A run in progress: its mutable state, how it is set up (data, spec, model, EMA,
optimizer) on a device, restored from a checkpoint, and which precision it trains in."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netscale.api import resolve_spec
from netscale.build import build
from netscale.data import ArrayDataset, DataSplits, load_data
from netscale.spec import NetSpec
from netscale.training import distributed as dist
from netscale.training import rundir
from netscale.training.checkpoint import latest_checkpoint, load_checkpoint
from netscale.training.optim import build_optimizer
from netscale.training.precision import PrecisionChoice, choose_precision, time_train_step
from netscale.training.recipe import Recipe
from netscale.training.schedule import Stage, progressive_stages

DATA_ON_GPU_SHARE = 0.25  # move datasets to the GPU when they take at most this share of it
PROBE_BATCH = 16  # images per step when "auto" precision times the model


@dataclass
class RunState:
    """Mutable state of a run in progress."""

    spec: NetSpec
    recipe: Recipe
    data: DataSplits
    model: nn.Module
    ema: nn.Module | None
    optimizer: torch.optim.Optimizer
    device: torch.device
    seed: int
    out: Path | None
    stages: list[Stage]
    epoch: int = 0
    step: int = 0
    lr: float = 0.0
    precision: str = "fp32"
    wall_offset: float = 0.0  # wall seconds of earlier segments of a resumed run
    data_info: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)


def spec_for(model: Any, data: DataSplits, recipe: Recipe) -> NetSpec:
    """The spec to train: `model`'s, fitted to the data (classes, channels, resolution) and
    the recipe's dropout / stochastic-depth overrides."""
    spec = model.spec if isinstance(model, nn.Module) and hasattr(model, "spec") else None
    spec = spec or resolve_spec(model)
    channels, size = data.train.images.shape[1], data.train.images.shape[-1]
    overrides: dict[str, Any] = {
        "num_classes": data.num_classes,
        "in_width": channels,
        "resolution": recipe.resolution or size,
    }
    if recipe.dropout_rate is not None:
        overrides["dropout_rate"] = recipe.dropout_rate
    if recipe.drop_path_rate is not None:
        overrides["drop_path_rate"] = recipe.drop_path_rate
    return resolve_spec(spec, **overrides)


def place_data(splits: DataSplits, device: torch.device) -> DataSplits:
    """Move the uint8 train and test sets to a CUDA device when they fit comfortably;
    otherwise each batch is copied over (pinned, non-blocking) and augmented there."""
    if device.type != "cuda":
        return splits
    sets = (splits.train, splits.test)
    size = sum(s.images.nbytes + s.labels.nbytes for s in sets)
    if size > DATA_ON_GPU_SHARE * torch.cuda.get_device_properties(device).total_memory:
        return splits

    def move(s: ArrayDataset) -> ArrayDataset:
        return ArrayDataset(images=s.images.to(device), labels=s.labels.to(device), name=s.name)

    return dataclasses.replace(splits, train=move(splits.train), test=move(splits.test))


def setup_run(
    model: Any,
    data: str | DataSplits,
    recipe: Recipe,
    out: Path | None,
    seed: int,
    dev: torch.device,
    minival: float,
) -> RunState:
    """Load the data, build the model (same initial weights on every rank), its EMA copy
    and optimizer on `dev`, and the progressive-learning stages."""
    splits = data if isinstance(data, DataSplits) else load_data(data, minival=minival, seed=seed)
    spec = spec_for(model, splits, recipe)
    torch.manual_seed(seed)  # identical initial weights on every rank
    net = build(spec).to(dev)
    if recipe.channels_last:
        net = net.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(net).eval().requires_grad_(False) if recipe.ema_decay else None
    stages = progressive_stages(recipe, spec.resolution, spec.head.dropout_rate)
    info = {
        "source": data if isinstance(data, str) else splits.train.name,
        "minival": minival,
        "seed": seed,
        "train_images": len(splits.train.labels),
        "test_images": len(splits.test.labels),
        "skipped_images": splits.skipped,
    }
    return RunState(
        spec=spec,
        recipe=recipe,
        data=place_data(splits, dev),
        model=net,
        ema=ema,
        optimizer=build_optimizer(net, recipe),
        device=dev,
        seed=seed,
        out=out,
        stages=stages,
        data_info=info,
    )


def restore(run: RunState) -> str | None:
    """Every rank: load the latest checkpoint (weights, EMA, optimizer, counters) and the
    metrics it covers; returns the precision the run recorded (None if none)."""
    if run.out is None:
        return None
    ckpt = latest_checkpoint(run.out / "checkpoints")
    if ckpt is None:
        return None
    state = load_checkpoint(ckpt, model=run.model, ema=run.ema)
    run.optimizer.load_state_dict(state["optimizer"])
    run.epoch, run.step, run.seed = state["epoch"], state["step"], state["seed"]
    run.metrics = rundir.read_metrics(run.out, upto_epoch=run.epoch)
    if run.metrics:
        run.wall_offset = run.metrics[-1].get("wall_s") or 0.0
    return state.get("precision")


def run_precision(run: RunState, saved: str | None, rank: int, world: int) -> PrecisionChoice:
    """The recorded precision of a resumed run, else rank 0's choice, on every rank."""
    requested = run.recipe.precision
    if saved is not None:
        return PrecisionChoice(
            requested=requested, precision=saved, reason="recorded by the resumed run"
        )
    choice = None
    if rank == 0:
        batch = max(2, min(PROBE_BATCH, run.recipe.batch_size // world))
        size = run.spec.resolution  # the last (largest) progressive stage's
        shape = (batch, run.data.train.images.shape[1], size, size)

        def step_seconds(precision: str) -> float:
            return time_train_step(
                run.model, shape, run.device, precision, channels_last=run.recipe.channels_last
            )

        choice = choose_precision(requested, run.device, step_seconds=step_seconds)
    return dist.broadcast_object(choice)
