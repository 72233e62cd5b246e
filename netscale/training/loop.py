"""The training loop: recipe + data + spec -> a trained model and a run directory.

`train` creates the Run (run.py: set-up, run directory, checkpoint format, ranks), opens
it (new, restarted or resumed; precision settled), runs the epoch loop (an epoch in
epoch.py, a step in step.py), and reports progress to the caller's hook (progress.py) and
optionally to TensorBoard. Every random choice derives from
(seed, epoch, step, rank), so a run resumed from its last epoch checkpoint replays the
interrupted epoch exactly and ends bit-identical to an uninterrupted run (CPU,
deterministic kernels, same thread count); the precision a run chose is recorded in each
checkpoint and kept on resume.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netscale.complexity import count
from netscale.profiling.device import resolve_device
from netscale.training import budget as time_budget
from netscale.training import distributed as dist
from netscale.training import rundir
from netscale.training.duration import parse_duration
from netscale.training.epoch import epoch_metrics, train_epoch
from netscale.training.model_recipe import FitRequest
from netscale.training.precision import PrecisionChoice
from netscale.training.progress import Hooks, Progress
from netscale.training.pseudo import pseudo_options
from netscale.training.recipe import Recipe, load_recipe, recipe_sources
from netscale.training.run import Run
from netscale.training.tensorboard_log import TensorBoardLog, require_tensorboard

__all__ = ["TIMING_KEYS", "Progress", "RunResult", "train"]

# Metrics-line fields that measure time or memory: they differ between any two runs.
TIMING_KEYS = ("images_per_s", "mfu", "epoch_s", "data_wait_s", "wall_s", "peak_memory_mb")


@dataclass
class RunResult:
    """What `train` returns: status "completed" or "diverged", the per-epoch metrics, the
    final test top-1 (%) of the model and of its EMA (None without EMA), flip-TTA top-1s
    (None without eval_flip), 6-view TTA top-1s (None without eval_translate), the
    precision the run trained in, the optimizer steps taken, and with a time budget the
    budget and the measured seconds per step (budget.py)."""

    status: str
    out: Path | None
    epochs: int
    top1: float | None  # None when no epoch completed
    ema_top1: float | None
    wall_s: float
    images_per_s: float
    metrics: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    precision: str = ""
    top1_flip: float | None = None
    ema_top1_flip: float | None = None
    top1_tta: float | None = None
    ema_top1_tta: float | None = None
    steps: int = 0
    budget_s: float | None = None
    step_s: float | None = None


def train(
    model: Any,
    data: Any = "digits",
    recipe: Any = "quick",
    out: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    seed: int = 0,
    device: str | None = None,
    minival: float = 0.0,
    progress: Progress | None = None,
    tensorboard: bool = False,
    workers: int | None = None,
    budget: str | float | None = None,
    pseudo: str | os.PathLike[str] | None = None,
    pseudo_ratio: float | None = None,
    pseudo_targets: str | None = None,
    **overrides: Any,
) -> RunResult:
    """Train `model` (a registered name, spec file, NetSpec or netscale Net) on `data` (a
    source string, DataSplits or StreamSplits) with `recipe` (a shipped name or YAML file,
    fitted to a registered model's published values (model_recipe.py), or a Recipe, taken
    as it is; `overrides` replace its fields) and write the run to `out`. Under torchrun, runs
    data-parallel (rank 0 writes and reports). `progress` is called with each epoch's
    metrics line, and may have on_start / on_step / on_end methods (progress.py);
    `tensorboard` also writes scalars to OUT/tensorboard. `workers`: decoding processes of
    a streamed source (`folder:PATH`, `stream_datasets`; default one per CPU, at most 8;
    the results do not depend on it). `budget`: train to this wall time ("15m", "1h30m",
    or seconds): converted once into steps that the schedule is fitted to (budget.py).
    `pseudo`: a labels file of `netscale predict` whose images train beside the labeled
    ones, `pseudo_ratio` (default 0.5, in (0, 1)) of each batch, with `pseudo_targets`
    "soft" (the teacher's probabilities, the default) or "hard" (its argmax, label-smoothed
    as the labels); an epoch stays one pass over the labeled set (pseudo.py)."""
    started = time.perf_counter()
    pseudo_request = pseudo_options(pseudo, pseudo_ratio, pseudo_targets)
    budget_s = None if budget is None else parse_duration(budget)
    rec = load_recipe(recipe, **overrides)
    fit = None  # a Recipe object is taken as it is; a named recipe is fitted to the model
    if not isinstance(recipe, Recipe):
        fit = FitRequest(frozenset(overrides), recipe_sources(recipe))
    Hooks(progress)  # a progress that is not callable fails here, before any work
    ranks = dist.init()
    dev = resolve_device(device)
    _check_options(rec, ranks, dev, tensorboard=tensorboard, out=out)
    run = Run.create(
        model,
        data,
        rec,
        Path(out) if out is not None else None,
        seed=seed,
        device=dev,
        minival=minival,
        ranks=ranks,
        workers=workers,
        fit=fit,
        pseudo=pseudo_request,
    )
    choice = _open(run, resume, budget_s, started)
    train_model = dist.wrap(run.model, dev, ranks.world, sync_bn=rec.sync_bn)
    if rec.compile:
        train_model = torch.compile(train_model, dynamic=rec.progressive != "none")
    board = None
    if tensorboard and ranks.main and run.out is not None:  # purge steps past the checkpoint
        board = TensorBoardLog(run.out / "tensorboard", purge_step=run.step or None)
    hooks = Hooks(progress, board) if ranks.main else Hooks()
    try:
        hooks.start(_start_info(run, choice))
        result = _loop(run, train_model, hooks)
        hooks.end(result)
    finally:
        if board is not None:
            board.close()
    return result


def _check_options(
    rec: Recipe, ranks: dist.Ranks, dev: torch.device, *, tensorboard: bool, out: Any
) -> None:
    """The checks `train` makes before any work: batch per rank, SyncBN, TensorBoard."""
    if ranks.world > 1 and rec.batch_size % ranks.world:
        raise ValueError(
            f"batch_size={rec.batch_size} must be divisible by the {ranks.world} ranks"
        )
    dist.check_sync_bn(rec.sync_bn, dev, ranks.world)
    if tensorboard:
        if out is None:
            raise ValueError("tensorboard=True needs a run directory: pass out=... (--out)")
        if ranks.main:
            require_tensorboard()  # fail before any work when the package is missing


def _open(run: Run, resume: bool, budget_s: float | None, started: float) -> PrecisionChoice:
    """Open the run (new, restarted or resumed); with a time budget, a resumed run takes
    its recorded steps first and a fresh one measures and converts (budget.py)."""
    time_budget.resume_recorded(run, budget_s, resume)
    choice = run.open(resume)
    if budget_s is not None and run.budget is None:
        time_budget.convert(run, budget_s, started)
    return choice


def _start_info(run: Run, choice: PrecisionChoice) -> dict[str, Any]:
    """What on_start hooks receive: the model, data, device, precision and schedule."""
    c, r = count(run.spec), run.recipe
    n_train = len(run.data.train)
    return {
        "model": run.spec.name,
        "params": c.params,
        "flops": c.flops,
        "resolution": run.spec.resolution,
        "data": run.data_info["source"],
        "train_images": n_train,
        "test_images": len(run.data.test),
        "device": str(run.device),
        "world_size": run.ranks.world,
        "precision": choice.precision,
        "precision_reason": f"{choice.requested}: {choice.reason}",
        "epochs": r.epochs,
        "start_epoch": run.epoch,
        "steps_per_epoch": run.steps_per_epoch(),
        "batch_size": r.batch_size,
        "out": None if run.out is None else str(run.out),
        "notes": list(run.notes),
        "pseudo": None if run.pseudo is None else dict(run.pseudo.info),
    }


def _loop(run: Run, train_model: nn.Module, hooks: Hooks) -> RunResult:
    """The epoch loop: train, measure, record and checkpoint each epoch until the recipe's
    last, or until the loss diverges."""
    t_start, status, message = time.perf_counter(), "completed", ""
    images, seconds = 0, 0.0  # this call's training images and seconds
    while run.epoch < run.recipe.epochs:
        if run.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(run.device)
        result = train_epoch(run, train_model, hooks)
        if result is None:
            status, message = "diverged", _diverged_message(run)
            break
        images, seconds = images + result.images, seconds + result.seconds
        line = epoch_metrics(run, result)
        line["wall_s"] = round(run.wall_offset + time.perf_counter() - t_start, 3)
        run.metrics.append(line)
        run.epoch += 1
        run.save()
        hooks.epoch(line)
    result = _result(run, status, message, time.perf_counter() - t_start, images, seconds)
    if run.ranks.main and run.out is not None:
        summary = {k: v for k, v in asdict(result).items() if k != "metrics"}
        summary["out"] = str(run.out)
        rundir.write_json(run.out / "result.json", summary)
    return result


def _diverged_message(run: Run) -> str:
    """What a diverged run tells the user: where, what was kept, what to try."""
    text = f"the training loss became non-finite (NaN or inf) in epoch {run.epoch + 1}"
    if run.out is not None and run.epoch > 0:
        text += f"; the checkpoint of epoch {run.epoch} in {run.out / 'checkpoints'} is kept"
    elif run.out is not None:
        text += "; no epoch completed, so no checkpoint was written"
    return text + "; try a lower --lr, more --warmup-epochs or precision fp32"


def _result(
    run: Run, status: str, message: str, wall: float, images: int, seconds: float
) -> RunResult:
    """The RunResult of this call: its last metrics line, wall time and training speed."""
    last = run.metrics[-1] if run.metrics else {}
    return RunResult(
        status=status,
        out=run.out,
        epochs=run.epoch,
        top1=last.get("test_top1"),
        ema_top1=last.get("ema_top1"),
        wall_s=round(wall, 3),
        images_per_s=round(images / seconds, 2) if seconds else 0,
        metrics=run.metrics,
        message=message,
        precision=run.precision,
        top1_flip=last.get("test_top1_flip"),
        ema_top1_flip=last.get("ema_top1_flip"),
        top1_tta=last.get("test_top1_tta"),
        ema_top1_tta=last.get("ema_top1_tta"),
        steps=run.step,
        budget_s=run.budget["budget_s"] if run.budget else None,
        step_s=run.budget["step_s"] if run.budget else None,
    )
