"""The training loop: recipe + data + spec -> a trained model and a run directory.

Every random choice derives from (seed, epoch, step, rank): the data order from
(seed, epoch), each step's augmentation and dropout from a generator seeded by
(seed, epoch, step, rank). A run resumed from its last epoch checkpoint therefore replays
the interrupted epoch exactly and ends bit-identical to an uninterrupted run (CPU,
deterministic kernels, same thread count).
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netscale.api import resolve_spec
from netscale.build import build
from netscale.complexity import count
from netscale.data import AugmentConfig, DataSplits, load_data, steps_per_epoch, train_batch
from netscale.data import train_batches as index_batches
from netscale.spec import NetSpec, save
from netscale.spec.io import atomic_write_text
from netscale.training import distributed as dist
from netscale.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from netscale.training.env import environment, matmul_peak
from netscale.training.evaluate import evaluate
from netscale.training.optim import build_optimizer, set_lr, update_ema
from netscale.training.recipe import Recipe, load_recipe, recipe_to_dict
from netscale.training.schedule import Stage, learning_rate, progressive_stages, stage_at

Progress = Callable[[dict[str, Any]], None]


@dataclass
class RunResult:
    """What `train` returns: status "completed" or "diverged", the per-epoch metrics, and
    the final test top-1 (%) of the model and of its EMA (None without EMA)."""

    status: str
    out: Path | None
    epochs: int
    top1: float
    ema_top1: float | None
    wall_s: float
    images_per_s: float
    metrics: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


@dataclass
class _Run:
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
    data_info: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)


def _step_generator(seed: int, epoch: int, step: int, rank: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + step) * 64 + rank)
    return g


def _spec_for(model: Any, data: DataSplits, recipe: Recipe) -> NetSpec:
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


def _device(name: str | None) -> torch.device:
    """The training device: `name`, or CUDA when present, else the CPU."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={name!r} is invalid; allowed: cpu, cuda, cuda:N")
    if dev.type == "cuda" and (
        not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()
    ):
        raise ValueError(
            f"device={name!r} is not available here ({torch.cuda.device_count()} "
            "CUDA devices); use cpu"
        )
    return dev


def _setup(
    model: Any,
    data: str | DataSplits,
    recipe: Recipe,
    out: Path | None,
    seed: int,
    device: str | None,
    minival: float,
) -> _Run:
    splits = data if isinstance(data, DataSplits) else load_data(data, minival=minival, seed=seed)
    spec = _spec_for(model, splits, recipe)
    dev = _device(device)
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
    return _Run(
        spec=spec,
        recipe=recipe,
        data=splits,
        model=net,
        ema=ema,
        optimizer=build_optimizer(net, recipe),
        device=dev,
        seed=seed,
        out=out,
        stages=stages,
        data_info=info,
    )


def _augment(recipe: Recipe, stage: Stage) -> AugmentConfig:
    return AugmentConfig(
        crop_padding=recipe.crop_padding,
        flip=recipe.flip,
        randaug_layers=recipe.randaug_layers,
        randaug_magnitude=stage.randaug_magnitude,
        mixup_alpha=stage.mixup_alpha,
        cutmix_alpha=recipe.cutmix_alpha
        if stage.mixup_alpha or recipe.progressive == "none"
        else 0.0,
        label_smoothing=recipe.label_smoothing,
    )


def _set_dropout(model: nn.Module, rate: float | None) -> None:
    if rate is None:
        return
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = rate


def _train_epoch(
    run: _Run, train_model: nn.Module, rank: int, world: int, progress: Progress | None
) -> tuple[float, int, float] | None:
    """One epoch; returns (mean loss, images, seconds) or None when the loss diverged."""
    r, data = run.recipe, run.data
    stage = stage_at(run.stages, run.epoch)
    _set_dropout(run.model, stage.dropout_rate)
    config = _augment(r, stage)
    per_rank = r.batch_size // world
    n_steps = steps_per_epoch(len(data.train.labels), per_rank, world)
    dtype = torch.bfloat16 if r.precision == "bf16" else None
    run.model.train()
    total, images, t0 = 0.0, 0, time.perf_counter()
    for i, idx in enumerate(
        index_batches(
            len(data.train.labels),
            per_rank,
            seed=run.seed,
            epoch=run.epoch,
            rank=rank,
            world_size=world,
        )
    ):
        g = _step_generator(run.seed, run.epoch, i, rank)
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=g)))  # dropout, drop path
        x, y = train_batch(
            data.train.images[idx],
            data.train.labels[idx],
            config=config,
            resolution=stage.resolution,
            mean=data.mean,
            std=data.std,
            num_classes=data.num_classes,
            generator=g,
            channels_last=r.channels_last,
        )
        x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
        run.lr = learning_rate(r, run.step, n_steps)
        set_lr(run.optimizer, run.lr)
        with torch.autocast(run.device.type, dtype=dtype, enabled=dtype is not None):
            logits = train_model(x)
        loss = torch.sum(-y * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
        if not torch.isfinite(loss):
            return None
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if r.grad_clip:
            nn.utils.clip_grad_norm_(run.model.parameters(), r.grad_clip)
        run.optimizer.step()
        if run.ema is not None:
            update_ema(run.ema, run.model, r.ema_decay)
        run.step += 1
        total, images = total + loss.item(), images + len(idx) * world
        if progress is not None and rank == 0:
            progress(
                {
                    "event": "step",
                    "epoch": run.epoch,
                    "step": i + 1,
                    "steps": n_steps,
                    "loss": loss.item(),
                }
            )
    return total / max(n_steps, 1), images, time.perf_counter() - t0


def _epoch_metrics(
    run: _Run, loss: float, images: int, seconds: float, rank: int, world: int
) -> dict[str, Any]:
    r, data, stage = run.recipe, run.data, stage_at(run.stages, run.epoch)
    eval_res = r.eval_resolution or run.spec.resolution
    kw = dict(
        resolution=eval_res,
        mean=data.mean,
        std=data.std,
        batch_size=r.eval_batch_size,
        device=run.device,
        precision=r.precision,
        rank=rank,
        world_size=world,
        channels_last=r.channels_last,
    )
    top1, test_loss, n_test = evaluate(run.model, data.test, **kw)
    ema_top1 = evaluate(run.ema, data.test, **kw)[0] if run.ema is not None else None
    rate = images / seconds if seconds > 0 else 0.0
    macs = count(run.spec, stage.resolution).flops  # per image, forward
    dtype = torch.bfloat16 if r.precision == "bf16" else torch.float32
    mfu = 3 * macs * rate / (matmul_peak(run.device, dtype) * world)  # fwd + bwd ~ 3x fwd
    return {
        "epoch": run.epoch + 1,
        "step": run.step,
        "train_loss": round(loss, 6),
        "test_top1": round(top1, 4),
        "test_loss": round(test_loss, 6),
        "test_images": n_test,
        "ema_top1": None if ema_top1 is None else round(ema_top1, 4),
        "lr": run.lr,
        "resolution": stage.resolution,
        "dropout_rate": stage.dropout_rate,
        "randaug_magnitude": stage.randaug_magnitude,
        "mixup_alpha": stage.mixup_alpha,
        "images_per_s": round(rate, 2),
        "mfu": round(mfu, 4),
        "epoch_s": round(seconds, 3),
    }


def _write_metrics(out: Path, metrics: list[dict[str, Any]]) -> None:
    atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))


def _prepare_dir(run: _Run, resume: bool) -> None:
    """Rank 0: create the run directory, or check that a resumed one fits this run."""
    out = run.out
    if out is None:
        return
    ckpt = latest_checkpoint(out / "checkpoints") if resume else None
    if ckpt is None:
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(
                f"run directory {str(out)!r} is not empty and holds no "
                "checkpoint to resume; choose another --out"
                if resume
                else f"run directory {str(out)!r} is not empty; pass resume=True "
                "(--resume) to continue it, or choose another --out"
            )
        out.mkdir(parents=True, exist_ok=True)
        save(run.spec, out / "spec.yaml")
        (out / "recipe.json").write_text(json.dumps(recipe_to_dict(run.recipe), indent=2) + "\n")
        (out / "env.json").write_text(json.dumps(environment(run.device), indent=2) + "\n")
        (out / "data.json").write_text(json.dumps(run.data_info, indent=2) + "\n")
        return
    saved = json.loads((out / "recipe.json").read_text())
    if saved != recipe_to_dict(run.recipe):
        diff = sorted(k for k in saved if saved[k] != recipe_to_dict(run.recipe).get(k))
        raise ValueError(
            f"cannot resume {str(out)!r} with a different recipe (fields "
            f"{', '.join(diff)} differ); the run's recipe is in recipe.json"
        )


def _restore(run: _Run) -> None:
    """Every rank: load the latest checkpoint (weights, EMA, optimizer, counters)."""
    if run.out is None:
        return
    ckpt = latest_checkpoint(run.out / "checkpoints")
    if ckpt is None:
        return
    state = load_checkpoint(ckpt, model=run.model, ema=run.ema)
    run.optimizer.load_state_dict(state["optimizer"])
    run.epoch, run.step, run.seed = state["epoch"], state["step"], state["seed"]
    path = run.out / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    run.metrics = [m for m in map(json.loads, lines) if m["epoch"] <= run.epoch]


def train(
    model: Any,
    data: str | DataSplits = "digits",
    recipe: str | Recipe = "quick",
    out: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    seed: int = 0,
    device: str | None = None,
    minival: float = 0.0,
    progress: Progress | None = None,
    **overrides: Any,
) -> RunResult:
    """Train `model` (a registered name, spec file, NetSpec or netscale Net) on `data` with
    `recipe` (a shipped name, YAML file or Recipe; `overrides` replace its fields) and
    write the run to `out`. Under torchrun, runs data-parallel (rank 0 writes)."""
    rec = load_recipe(recipe, **overrides)
    rank, world = dist.init()
    run = _setup(model, data, rec, Path(out) if out is not None else None, seed, device, minival)
    if world > 1 and rec.batch_size % world:
        raise ValueError(f"batch_size={rec.batch_size} must be divisible by the {world} ranks")
    if rank == 0:
        _prepare_dir(run, resume)
    dist.barrier()
    if resume:
        _restore(run)
        if rank == 0 and run.out is not None:
            _write_metrics(run.out, run.metrics)  # drop lines the checkpoint does not hold
    train_model = dist.wrap(run.model, run.device, world)
    if rec.compile:
        train_model = torch.compile(train_model, dynamic=rec.progressive != "none")
    return _loop(run, train_model, rank, world, progress)


def _loop(
    run: _Run, train_model: nn.Module, rank: int, world: int, progress: Progress | None
) -> RunResult:
    t_start, status, message = time.perf_counter(), "completed", ""
    images_total, seconds_total = 0, 0.0
    while run.epoch < run.recipe.epochs:
        result = _train_epoch(run, train_model, rank, world, progress)
        if result is None:
            status = "diverged"
            message = (
                f"loss became non-finite in epoch {run.epoch + 1}; the last good checkpoint is kept"
            )
            break
        loss, images, seconds = result
        images_total, seconds_total = images_total + images, seconds_total + seconds
        line = _epoch_metrics(run, loss, images, seconds, rank, world)
        run.metrics.append(line)
        run.epoch += 1
        if rank == 0 and run.out is not None:
            _write_metrics(run.out, run.metrics)
            state = {
                "optimizer": run.optimizer.state_dict(),
                "step": run.step,
                "seed": run.seed,
                "recipe": recipe_to_dict(run.recipe),
            }
            save_checkpoint(
                run.out / "checkpoints", epoch=run.epoch, model=run.model, ema=run.ema, state=state
            )
        if progress is not None and rank == 0:
            progress({"event": "epoch", **line})
    last = run.metrics[-1] if run.metrics else {}
    result = RunResult(
        status=status,
        out=run.out,
        epochs=run.epoch,
        top1=last.get("test_top1", float("nan")),
        ema_top1=last.get("ema_top1"),
        wall_s=round(time.perf_counter() - t_start, 3),
        images_per_s=round(images_total / seconds_total, 2) if seconds_total else 0,
        metrics=run.metrics,
        message=message,
    )
    if rank == 0 and run.out is not None:
        summary = {k: v for k, v in asdict(result).items() if k != "metrics"}
        summary["out"] = str(run.out)
        (run.out / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
    return result
