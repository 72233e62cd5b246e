"""Learning-rate schedules and progressive-learning stages as pure functions, and a recipe
fitted to a number of optimizer steps (a time budget's). No torch."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from netscale.training.recipe import Recipe


def learning_rate(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """Learning rate at optimizer step `step` (0-based): linear warmup from
    `warmup_start_ratio` of the peak (0 by default) over `warmup_epochs`, then cosine to
    `min_lr_ratio` of the peak (SGDR without restarts), linear to it (airbench's triangle
    with its warmup), exponential decay by `decay_rate` every `decay_epochs` (EfficientNet
    sec. 5.2), steps of `decay_rate` at the `decay_milestones` fractions of the epochs
    (ResNet's baseline), or constant. The peak is the recipe's lr scaled to its batch size.
    The schedule spans `recipe.steps` steps when set (the last epoch partial), else the
    recipe's epochs."""
    peak = recipe.scaled_lr()
    epoch = (step + 1) / steps_per_epoch  # the lr applied during step `step`
    total = recipe.steps / steps_per_epoch if recipe.steps else recipe.epochs
    warmup = recipe.warmup_epochs
    if warmup > 0 and epoch <= warmup:
        start = recipe.warmup_start_ratio
        return peak * (start + (1.0 - start) * epoch / warmup)
    if recipe.schedule == "constant":
        return peak
    if recipe.schedule == "exponential":
        return peak * recipe.decay_rate ** math.floor((epoch - warmup) / recipe.decay_epochs)
    if recipe.schedule == "step":  # TF's current_epoch >= m * epochs, for each milestone
        passed = sum(epoch > m * total for m in recipe.decay_milestones)
        return peak * recipe.decay_rate**passed
    progress = min(1.0, (epoch - warmup) / max(total - warmup, 1e-9))
    floor = recipe.min_lr_ratio * peak
    if recipe.schedule == "linear":
        return floor + (peak - floor) * (1.0 - progress)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True, slots=True)
class Stage:
    """Settings of one progressive-learning stage, from epoch `start` (inclusive)."""

    start: int
    resolution: int
    dropout_rate: float | None
    randaug_magnitude: float
    mixup_alpha: float


def progressive_stages(
    recipe: Recipe, max_resolution: int, max_dropout: float | None
) -> list[Stage]:
    """Stages of EfficientNetV2 progressive learning with adaptive regularization (sec. 4.2).

    "paper" (Algorithm 1): K stages; image size, RandAugment magnitude, mixup alpha and
    dropout move linearly from their minimum (stage 0) to their maximum (stage K-1).
    "code" (the released automl code): size_i = min + (max - min) * (i + 1) / K, so the
    first stage already trains above the minimum; RandAugment and mixup as the paper;
    dropout is held at its maximum. "none": one stage at the maximum settings.
    Epochs are split evenly; sizes are rounded down to multiples of 8 px (4 below 32 px).
    """
    k = recipe.progressive_stages if recipe.progressive != "none" else 1
    lo_res = recipe.min_resolution or max_resolution
    quantum = 8 if max_resolution >= 32 else 4
    stages = []
    for i in range(k):
        t = i / (k - 1) if k > 1 else 1.0
        t_size = (i + 1) / k if recipe.progressive == "code" else t
        size = lo_res + (max_resolution - lo_res) * t_size
        size = max(quantum, int(size) // quantum * quantum) if i < k - 1 else max_resolution
        dropout = max_dropout
        if recipe.progressive == "paper" and max_dropout is not None:
            dropout = recipe.min_dropout_rate + (max_dropout - recipe.min_dropout_rate) * t
        ra = (
            recipe.min_randaug_magnitude
            + (recipe.randaug_magnitude - recipe.min_randaug_magnitude) * t
        )
        mix = recipe.min_mixup_alpha + (recipe.mixup_alpha - recipe.min_mixup_alpha) * t
        if k == 1:
            ra, mix = recipe.randaug_magnitude, recipe.mixup_alpha
        stages.append(
            Stage(
                start=recipe.epochs * i // k,
                resolution=size,
                dropout_rate=dropout,
                randaug_magnitude=ra,
                mixup_alpha=mix,
            )
        )
    return stages


def stage_at(stages: list[Stage], epoch: int) -> Stage:
    """The stage that trains epoch `epoch` (0-based)."""
    return [s for s in stages if s.start <= epoch][-1]


def epoch_steps(recipe: Recipe, steps_per_epoch: int, epoch: int) -> int:
    """Optimizer steps of epoch `epoch` (0-based): all of them, except in the last epoch of
    a recipe with `steps`, which stops there."""
    if recipe.steps is None:
        return steps_per_epoch
    return max(0, min(steps_per_epoch, recipe.steps - epoch * steps_per_epoch))


def check_steps(recipe: Recipe, steps_per_epoch: int) -> None:
    """ValueError unless a recipe's `steps` end in its last epoch (epochs = ceil(steps /
    steps per epoch)); nothing to check without `steps`."""
    if recipe.steps is None:
        return
    need = math.ceil(recipe.steps / steps_per_epoch)
    if recipe.epochs != need:
        raise ValueError(
            f"steps={recipe.steps} at {steps_per_epoch} steps per epoch takes "
            f"epochs={need} (ceil(steps / steps per epoch)), but the recipe has "
            f"epochs={recipe.epochs}: set epochs to {need}, or leave steps unset"
        )


def fit_to_steps(recipe: Recipe, steps: int, steps_per_epoch: int) -> Recipe:
    """`recipe` fitted to `steps` optimizer steps (a time budget's): epochs = ceil(steps /
    steps per epoch), the last one partial; every epoch-valued field keeps its share of the
    run, i.e. is scaled by steps / the recipe's own steps (warmup_epochs, decay_epochs,
    lookahead_start_epochs; the cosine or linear end and the step milestones follow
    `steps`); the EMA keeps its averaging horizon as a share of the run (`ema_decay_for`).
    Progressive stages split the new epochs."""
    own = recipe.steps or recipe.epochs * steps_per_epoch
    scale = steps / own
    return dataclasses.replace(
        recipe,
        epochs=math.ceil(steps / steps_per_epoch),
        steps=steps,
        warmup_epochs=recipe.warmup_epochs * scale,
        lookahead_start_epochs=recipe.lookahead_start_epochs * scale,
        decay_epochs=recipe.decay_epochs * scale,
        ema_decay=ema_decay_for(recipe.ema_decay, scale),
    )


def ema_decay_for(decay: float, scale: float) -> float:
    """The per-step EMA decay averaging over the same share of a run `scale` times as long:
    a decay d averages over ~1 / (1 - d) steps, so 1 - (1 - d) / scale; never below
    min(d, 0.5) (at least ~2 steps), always below 1; 0 (no EMA) stays 0."""
    if decay == 0.0:
        return 0.0
    fitted = max(1.0 - (1.0 - decay) / scale, min(decay, 0.5))
    return min(fitted, math.nextafter(1.0, 0.0))
