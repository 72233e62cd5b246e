"""One epoch of training and its metrics line.

Every random choice derives from (seed, epoch, step, rank): each step's augmentation and
dropout come from a CPU generator seeded by (seed, epoch, step, rank), so a batch's draws do
not depend on the device (they are tiny and are copied to it with the images). On CUDA the
loss is read back only every 16 steps (each read waits for the GPU).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from netscale.complexity import count
from netscale.data import AugmentConfig, train_batch
from netscale.data.scan import check_corrupt
from netscale.data.steps import Batch, train_steps
from netscale.profiling.device import raise_peak
from netscale.training.distributed import all_sum
from netscale.training.evaluate import evaluate_models, to_device
from netscale.training.lookahead import Lookahead, lookahead_rho, start_step
from netscale.training.precision import autocast_dtype
from netscale.training.progress import Hooks
from netscale.training.recipe import Recipe
from netscale.training.run import Run
from netscale.training.schedule import Stage, epoch_steps, learning_rate, stage_at
from netscale.training.step import update

SYNC_EVERY_CUDA = 16  # CUDA: steps between reads of the loss (divergence check, progress)


def _step_generator(seed: int, epoch: int, step: int, rank: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + step) * 64 + rank)
    return g


def augment_config(recipe: Recipe, stage: Stage) -> AugmentConfig:
    """The augmentation of `stage` of a run with `recipe` (both data paths read it)."""
    return AugmentConfig(
        crop=recipe.crop,
        crop_min_scale=recipe.crop_min_scale,
        random_erasing=recipe.random_erasing,
        crop_padding=recipe.crop_padding,
        flip=recipe.flip,
        randaug_layers=recipe.randaug_layers,
        randaug_magnitude=stage.randaug_magnitude,
        randaug_ops=recipe.randaug_ops,
        randaug_magnitude_std=recipe.randaug_magnitude_std,
        mixup_alpha=stage.mixup_alpha,
        cutmix_alpha=recipe.cutmix_alpha
        if stage.mixup_alpha or recipe.progressive == "none"
        else 0.0,
        label_smoothing=recipe.label_smoothing,
    )


def pseudo_batching(run: Run) -> dict[str, Any]:
    """`train_steps`'s pseudo-label arguments for `run` (none without pseudo-labels)."""
    if run.pseudo is None:
        return {}
    return {"pseudo": run.pseudo.data, "pseudo_per_rank": run.pseudo.per_rank}


def _set_dropout(model: nn.Module, rate: float | None) -> None:
    if rate is None:
        return
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = rate


def step_inputs(
    run: Run, batch: Batch, stage: Stage, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch on the run's device, augmented for `stage` with `generator`: the model's
    input and soft targets (soft pseudo-labels among them as they come)."""
    r, data = run.recipe, run.data
    soft = None if batch.soft is None else to_device(batch.soft, run.device)
    return train_batch(
        to_device(batch.images, run.device),  # uint8 (or worker-normalized float)
        to_device(batch.labels, run.device),
        config=augment_config(r, stage),
        resolution=stage.resolution,
        mean=data.mean,
        std=data.std,
        num_classes=data.num_classes,
        generator=generator,
        channels_last=r.channels_last,
        sampled=batch.sampled,
        soft_targets=soft,
    )


def _train_step(
    run: Run, train_model: nn.Module, batch: Batch, i: int, per_epoch: int, stage: Stage
) -> torch.Tensor | None:
    """Step `i` of the epoch on `batch`: seed its randomness, augment the batch, and apply
    the pure update (step.py); returns the loss (None when every image of the batch was a
    corrupt file: the step counts, the weights stay)."""
    r = run.recipe
    g = _step_generator(run.seed, run.epoch, i, run.ranks.rank)
    torch.manual_seed(int(torch.randint(2**62, (1,), generator=g)))  # dropout, drop path
    run.lr = learning_rate(r, run.step, per_epoch)
    run.step += 1
    if not len(batch.labels):
        return None
    x, y = step_inputs(run, batch, stage, g)
    loss = update(
        run.model,
        train_model,
        run.optimizer,
        run.ema,
        x,
        y,
        lr=run.lr,
        autocast=autocast_dtype(run.precision),
        grad_clip=r.grad_clip,
        ema_decay=r.ema_decay,
        ema_step=run.step if r.ema_warmup else None,  # run.step counts this step
    )
    _lookahead_step(run, per_epoch)
    return loss


def _lookahead_step(run: Run, per_epoch: int) -> None:
    """After optimizer step `run.step`: every `lookahead_every` steps from the start step
    on, start the slow weights, or sync them with the model (lookahead.py)."""
    r = run.recipe
    k = r.lookahead_every
    if not k or run.step % k or run.step < start_step(r, per_epoch):
        return
    if run.lookahead is None:
        run.lookahead = Lookahead(run.model)
    else:
        total = r.steps or r.epochs * per_epoch
        run.lookahead.sync(run.model, lookahead_rho(r, run.step, total))


@dataclass
class EpochResult:
    """What an epoch trained: mean loss, images (over all ranks), seconds, seconds spent
    waiting for batches (this rank's), and the corrupt files skipped (this rank's)."""

    loss: float
    images: int
    seconds: float
    data_seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)


def train_epoch(run: Run, train_model: nn.Module, hooks: Hooks) -> EpochResult | None:
    """One epoch; None when the loss diverged.

    The loss is summed on the device (float64) and read every `sync_every` steps: a
    non-finite sum stops the epoch (on CUDA up to 15 steps late; the epoch is discarded).
    Streamed data skips corrupt files; more than MAX_CORRUPT_FRACTION of the epoch's
    images stops the run with their names (a ValueError)."""
    r, data, (rank, world) = run.recipe, run.data, (run.ranks.rank, run.ranks.world)
    stage = stage_at(run.stages, run.epoch)
    _set_dropout(run.model, stage.dropout_rate)
    per_rank = r.batch_size // world
    per_epoch = run.steps_per_epoch()  # a pass over the labeled set
    n_steps = epoch_steps(r, per_epoch, run.epoch)  # fewer in the last epoch of `steps`
    sync_every = 1 if run.device.type == "cpu" else SYNC_EVERY_CUDA
    run.model.train()
    # the slow weights equal the model's at an epoch boundary (lookahead.py), so a resumed
    # run starts them from the restored model exactly as an uninterrupted run holds them
    started = r.lookahead_every and run.step and run.step >= start_step(r, per_epoch)
    run.lookahead = Lookahead(run.model) if started else None
    loss_sum = torch.zeros((), dtype=torch.float64, device=run.device)
    t0, skipped, images = time.perf_counter(), [], 0
    batches = train_steps(
        data,
        augment_config(r, stage),
        resolution=stage.resolution,
        per_rank=per_rank,
        seed=run.seed,
        epoch=run.epoch,
        rank=rank,
        world=world,
        workers=run.workers,
        pin_memory=run.device.type == "cuda",
        **pseudo_batching(run),
    )
    waited, ready = 0.0, time.perf_counter()
    for i, batch in enumerate(itertools.islice(batches, n_steps)):
        waited += time.perf_counter() - ready
        skipped.extend(batch.skipped)
        images += len(batch.images)
        loss = _train_step(run, train_model, batch, i, per_epoch, stage)
        ready = time.perf_counter()
        if loss is None:
            continue
        loss_sum += loss
        if (i + 1) % sync_every and i + 1 < n_steps:
            continue
        running, last = torch.stack([loss_sum, loss.double()]).tolist()
        if running != running or abs(running) == float("inf"):  # NaN or inf
            return None
        if hooks.wants_steps and run.ranks.main:
            hooks.step(_step_event(run, i + 1, n_steps, last, (i + 1) * per_rank * world, t0))
    total = float(loss_sum)
    if total != total or abs(total) == float("inf"):
        return None
    if run.lookahead is not None:  # the model ends the epoch on the slow weights
        run.lookahead.sync(run.model, 1.0)
    if skipped:
        check_corrupt(skipped, n_steps * per_rank, f"epoch {run.epoch + 1} of {data.train.name}")
    seconds = time.perf_counter() - t0
    return EpochResult(total / max(n_steps, 1), images * world, seconds, waited, skipped)


def _step_event(
    run: Run, step: int, n_steps: int, loss: float, images: int, t0: float
) -> dict[str, Any]:
    """What on_step hooks receive (progress.py)."""
    return {
        "epoch": run.epoch + 1,
        "epochs": run.recipe.epochs,
        "step": step,
        "steps": n_steps,
        "global_step": run.step,
        "loss": loss,
        "lr": run.lr,
        "images": images,
        "seconds": time.perf_counter() - t0,
    }


def _evaluate_both(run: Run) -> dict[str, Any]:
    """Test metrics of the model and of its EMA (None without EMA), in one pass; flip-TTA
    top-1s are None unless the recipe asks for them, 6-view TTA top-1s (six forward passes)
    are measured after the last epoch only."""
    r, data = run.recipe, run.data
    models = [run.model] + ([run.ema] if run.ema is not None else [])
    results = evaluate_models(
        models,
        data.test,
        resolution=r.eval_resolution or run.spec.resolution,
        mean=data.mean,
        std=data.std,
        batch_size=r.eval_batch_size,
        device=run.device,
        precision=run.precision,
        rank=run.ranks.rank,
        world_size=run.ranks.world,
        channels_last=r.channels_last,
        flip=r.eval_flip,
        crop_fraction=r.eval_crop_fraction,
        workers=run.workers,
        translate=r.eval_translate if run.epoch + 1 == r.epochs else 0,  # 6 passes: once
    )
    res, ema = results[0], (results[1] if len(results) > 1 else None)

    def pct(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    return {
        "test_top1": pct(res.top1),
        "test_top1_flip": pct(res.top1_flip),
        "test_top1_tta": pct(res.top1_tta),
        "test_loss": round(res.loss, 6),
        "test_images": res.images,
        "ema_top1": pct(ema.top1) if ema else None,
        "ema_top1_flip": pct(ema.top1_flip) if ema else None,
        "ema_top1_tta": pct(ema.top1_tta) if ema else None,
    }


def epoch_metrics(run: Run, result: EpochResult) -> dict[str, Any]:
    """The metrics line of the epoch just trained: losses, test top-1 (model, EMA, flip
    TTA), lr, stage settings, precision, images/s, MFU, epoch seconds, peak CUDA memory."""
    stage = stage_at(run.stages, run.epoch)
    test = _evaluate_both(run)
    seconds = result.seconds
    rate = result.images / seconds if seconds > 0 else 0.0
    macs = count(run.spec, stage.resolution).flops  # per image, forward
    achieved = 3 * macs * rate / run.ranks.world  # per device; fwd + bwd ~ 3x fwd
    # The device did this much, so its peak is at least this (a probe under load measures
    # low): MFU never exceeds 1.
    peak = raise_peak(run.device, autocast_dtype(run.precision) or torch.float32, achieved)
    mfu = achieved / peak
    memory = None
    if run.device.type == "cuda":
        memory = round(torch.cuda.max_memory_allocated(run.device) / 2**20, 1)
    return {
        "epoch": run.epoch + 1,
        "step": run.step,
        "train_loss": round(result.loss, 6),
        **test,
        "lr": run.lr,
        "resolution": stage.resolution,
        "dropout_rate": stage.dropout_rate,
        "randaug_magnitude": stage.randaug_magnitude,
        "mixup_alpha": stage.mixup_alpha,
        "precision": run.precision,
        "images_per_s": round(rate, 2),
        "mfu": round(mfu, 4),
        "epoch_s": round(seconds, 3),
        "data_wait_s": round(result.data_seconds, 3),
        "peak_memory_mb": memory,
        "skipped_images": int(all_sum([float(len(result.skipped))], run.device)[0]),
    }
