"""What a time budget is converted with (budget.py): the seconds of one training step, of
one epoch's evaluation and of one checkpoint write of a run, measured on this device with
this data and recipe.

Everything runs on copies: a deep copy of the model and of its EMA, an optimizer of the
recipe's kind on the copy, batches of the run's own data, shape and augmentation drawn
from a generator of its own, and the global random state forked and restored; the timed
checkpoint goes to a temporary folder under checkpoints/ (removed at once, and by any later
checkpoint write were the process killed). The run's weights, optimizer, counters, random
streams and data order are left exactly as they were, so a budgeted run trains as it would
with the same steps and no measurement. Under torchrun the main rank measures its share of
a step (the gradient all-reduce is not timed); a compiled model is timed uncompiled
(compilation is not counted).
"""

from __future__ import annotations

import copy
import itertools
import os
import shutil
import time
from collections.abc import Generator
from dataclasses import dataclass

import torch
from torch import nn

from netscale.data.steps import Batch, eval_steps, train_steps
from netscale.training.checkpoint import save_checkpoint
from netscale.training.epoch import augment_config, pseudo_batching, step_inputs
from netscale.training.evaluate import SUMS, eval_inputs, score_batch, to_device
from netscale.training.optim import build_optimizer
from netscale.training.precision import autocast_dtype
from netscale.training.recipe import recipe_to_dict
from netscale.training.run import Run
from netscale.training.schedule import Stage, learning_rate
from netscale.training.step import update

WARMUP_STEPS = 1  # untimed steps first (allocations, kernel selection, worker start)
MIN_TIMED_STEPS = 4  # then the mean of at least this many steps is the step time,
MIN_TIMED_S = 0.5  # timed on until this many seconds have passed,
MAX_TIMED_STEPS = 32  # but never more steps than this


@dataclass(frozen=True, slots=True)
class Measurement:
    """step_s: seconds of one training step (batch, augmentation, forward, backward,
    update; the mean over the progressive stages, which share a run's epochs evenly);
    eval_s: seconds of one epoch's evaluation (every model, every view); overhead_s: the
    seconds from the start of `train` to the end of the measurement (set-up and measuring);
    save_s: seconds of writing one checkpoint (0 without a run directory)."""

    step_s: float
    eval_s: float
    overhead_s: float
    save_s: float = 0.0


def measure(run: Run, started: float) -> Measurement:
    """Measure `run` (see the module docstring); `started` is time.perf_counter() at the
    start of `train`."""
    cuda = run.device.type == "cuda"
    with torch.random.fork_rng(devices=[run.device] if cuda else []):
        model = copy.deepcopy(run.model).train()
        ema = copy.deepcopy(run.ema) if run.ema is not None else None
        optimizer = build_optimizer(model, run.recipe)
        times: dict[int, float] = {}  # by resolution: the stages' only cost that differs
        for stage in run.stages:
            if stage.resolution not in times:
                times[stage.resolution] = _step_seconds(run, model, optimizer, ema, stage)
        step_s = sum(times[s.resolution] for s in run.stages) / len(run.stages)
        eval_s = _eval_seconds(run, model)
        save_s = _save_seconds(run, model, ema, optimizer)
    del model, ema, optimizer
    if cuda:
        torch.cuda.empty_cache()
    overhead_s = time.perf_counter() - started
    return Measurement(step_s=step_s, eval_s=eval_s, overhead_s=overhead_s, save_s=save_s)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batches(run: Run, stage: Stage, per_rank: int) -> Generator[Batch, None, None]:
    """The run's batches at `stage`, epoch after epoch (as many as the timing needs)."""
    for epoch in itertools.count():
        yield from train_steps(
            run.data,
            augment_config(run.recipe, stage),
            resolution=stage.resolution,
            per_rank=per_rank,
            seed=run.seed,
            epoch=epoch,
            rank=run.ranks.rank,
            world=run.ranks.world,
            workers=run.workers,
            pin_memory=run.device.type == "cuda",
            **pseudo_batching(run),
        )


def _step_seconds(
    run: Run,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: nn.Module | None,
    stage: Stage,
) -> float:
    """Mean seconds of a training step at `stage`: after WARMUP_STEPS untimed steps, at
    least MIN_TIMED_STEPS and on until MIN_TIMED_S have passed (at most MAX_TIMED_STEPS)."""
    per_rank = run.recipe.batch_size // run.ranks.world
    per_epoch = run.steps_per_epoch()
    lr = learning_rate(run.recipe, 0, per_epoch)
    generator = torch.Generator().manual_seed(run.seed)
    batches = _batches(run, stage, per_rank)

    def step(i: int) -> None:
        _train_step(run, (model, optimizer, ema), next(batches), stage, generator, lr, i)

    for i in range(WARMUP_STEPS):
        step(i)
    _sync(run.device)
    start, timed = time.perf_counter(), 0
    while timed < MIN_TIMED_STEPS or (
        timed < MAX_TIMED_STEPS and time.perf_counter() - start < MIN_TIMED_S
    ):
        step(WARMUP_STEPS + timed)
        timed += 1
    _sync(run.device)
    seconds = (time.perf_counter() - start) / timed
    batches.close()  # a streamed source's decoding workers stop here
    return seconds


def _train_step(
    run: Run,
    copies: tuple[nn.Module, torch.optim.Optimizer, nn.Module | None],
    batch: Batch,
    stage: Stage,
    generator: torch.Generator,
    lr: float,
    i: int,
) -> None:
    """One step as epoch.py trains it (augmentation, update), on the copies."""
    r, (model, optimizer, ema) = run.recipe, copies
    x, y = step_inputs(run, batch, stage, generator)
    if len(y):
        update(
            model,
            model,
            optimizer,
            ema,
            x,
            y,
            lr=lr,
            autocast=autocast_dtype(run.precision),
            grad_clip=r.grad_clip,
            ema_decay=r.ema_decay,
            ema_step=i + 1 if r.ema_warmup else None,
        )


@torch.no_grad()
def _eval_seconds(run: Run, model: nn.Module) -> float:
    """Seconds of one epoch's evaluation: one batch timed (after an untimed pass), scaled
    to this rank's share of the test set, times the models evaluated (2 with an EMA) and
    the views (2 with flip TTA, 6 with translate TTA too)."""
    r, data = run.recipe, run.data
    resolution = r.eval_resolution or run.spec.resolution
    batch = next(
        eval_steps(
            data.test,
            resolution=resolution,
            crop_fraction=r.eval_crop_fraction,
            batch_size=r.eval_batch_size,
            channels=len(data.mean),
            rank=run.ranks.rank,
            world=run.ranks.world,
        )
    )
    model.eval()
    dtype = autocast_dtype(run.precision)
    sums = torch.zeros(SUMS, dtype=torch.float64, device=run.device)  # what evaluate() adds up
    start = 0.0
    for timed in (False, True):
        if timed:
            _sync(run.device)
            start = time.perf_counter()
        x = eval_inputs(
            batch, run.device, resolution, data.mean, data.std, r.channels_last,
            r.eval_crop_fraction,
        )  # fmt: skip
        y = to_device(batch.labels, run.device)
        score_batch(sums, model, x, y, dtype, r.eval_flip, r.channels_last, r.eval_translate)
    _sync(run.device)
    seconds = time.perf_counter() - start
    model.train()
    share = -(-len(data.test) // run.ranks.world)  # this rank's images, at most
    models = 2 if run.ema is not None else 1
    return seconds / max(len(batch.labels), 1) * share * models


def _save_seconds(
    run: Run, model: nn.Module, ema: nn.Module | None, optimizer: torch.optim.Optimizer
) -> float:
    """Seconds of writing one checkpoint of the copies (weights, EMA, optimizer state), into
    a folder that `checkpoint.clean_partial` removes (`.tmp-ckpt-*`), as the run's own
    checkpoints are written; 0 without a run directory or on a rank that writes none."""
    if run.out is None or not run.ranks.main:
        return 0.0
    folder = run.out / "checkpoints" / f".tmp-ckpt-budget-{os.getpid()}"
    state = {"optimizer": optimizer.state_dict(), "recipe": recipe_to_dict(run.recipe)}
    start = time.perf_counter()
    try:
        save_checkpoint(folder, epoch=0, model=model, ema=ema, state=state)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
