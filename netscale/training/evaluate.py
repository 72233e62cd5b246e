"""Test-set evaluation: top-1 and loss, every image counted exactly once over all ranks.

With `flip`, each batch is also run mirrored (left-right) and the two logits are averaged
before the argmax: flip test-time augmentation as airbench does, which helps models trained
with random flips. The single-view top-1 and loss come from the same pass, so both are
reported. Sums stay on the device and are read once at the end (one sync on CUDA).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netscale.data import ArrayDataset, eval_batch
from netscale.data.steps import Batch, eval_steps
from netscale.data.stream import StreamSplit
from netscale.training.distributed import all_sum
from netscale.training.precision import autocast_dtype


@dataclass(frozen=True, slots=True)
class EvalResult:
    """top1: single-view accuracy (%); loss: mean cross-entropy; images: images evaluated
    over all ranks; top1_flip: accuracy (%) of logits averaged with the mirrored image's,
    None unless asked for."""

    top1: float
    loss: float
    images: int
    top1_flip: float | None = None


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`t` on `device`; a CPU tensor bound for CUDA goes through pinned memory without
    blocking the host."""
    if t.device == device:
        return t
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _logits(model: nn.Module, x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
        return model(x).float()  # (B, classes)


def evaluate(model: nn.Module, data: ArrayDataset | StreamSplit, **kw: Any) -> EvalResult:
    """Top-1 (%), loss and image count of `model` on `data` (see `evaluate_models`)."""
    return evaluate_models([model], data, **kw)[0]


@torch.no_grad()
def evaluate_models(
    models: Sequence[nn.Module],
    data: ArrayDataset | StreamSplit,
    *,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    rank: int = 0,
    world_size: int = 1,
    channels_last: bool = True,
    flip: bool = False,
    crop_fraction: float = 1.0,
    workers: int = 0,
) -> list[EvalResult]:
    """Top-1 (%), loss and image count of each of `models` on `data`, in one pass over it
    (and flip-TTA top-1 with `flip`). Each image is the central square of `crop_fraction` of
    its shorter side resized to `resolution` (the whole image at 1.0, for square images).

    Rank r evaluates images r, r + world, ... (no padding, no duplicates); the correct
    counts, losses and image counts are summed over ranks. `precision` is "fp32" or "bf16".
    Corrupt files of a streamed split are left out of the counts."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision={precision!r} is invalid here; allowed: fp32, bf16")
    device = torch.device(device)
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    dtype = autocast_dtype(precision)
    sums = torch.zeros((len(models), 3), dtype=torch.float64, device=device)
    images = 0
    batches = eval_steps(
        data,
        resolution=resolution,
        crop_fraction=crop_fraction,
        batch_size=batch_size,
        channels=len(mean),
        rank=rank,
        world=world_size,
        workers=workers,
        pin_memory=device.type == "cuda",
    )
    for batch in batches:
        if not len(batch.labels):
            continue
        x = eval_inputs(batch, device, resolution, mean, std, channels_last, crop_fraction)
        y = to_device(batch.labels, device)
        images += len(batch.labels)
        for k, model in enumerate(models):
            score_batch(sums[k], model, x, y, dtype, flip, channels_last)
    totals = all_sum([*sums.flatten().tolist(), float(images)], device)
    for m, mode in zip(models, modes, strict=True):
        m.train(mode)
    return _results(totals, len(models), flip)


def _results(totals: list[float], n_models: int, flip: bool) -> list[EvalResult]:
    """EvalResults from the summed (correct, loss, correct with flip) per model and the
    image count (last)."""
    d = max(totals[-1], 1.0)
    return [
        EvalResult(
            top1=100.0 * totals[3 * k] / d,
            loss=totals[3 * k + 1] / d,
            images=int(totals[-1]),
            top1_flip=100.0 * totals[3 * k + 2] / d if flip else None,
        )
        for k in range(n_models)
    ]


def eval_inputs(
    batch: Batch,
    device: torch.device,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    channels_last: bool,
    crop_fraction: float,
) -> torch.Tensor:
    """An evaluation batch on `device`, center-cropped (unless the workers did), resized and
    normalized: the model's input (B, C, R, R)."""
    return eval_batch(
        to_device(batch.images, device),
        resolution=resolution,
        mean=mean,
        std=std,
        channels_last=channels_last,
        crop_fraction=1.0 if batch.sampled else crop_fraction,
    )


def score_batch(
    sums: torch.Tensor,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    dtype: torch.dtype | None,
    flip: bool,
    channels_last: bool,
) -> None:
    """Add (correct, summed loss, correct with flip TTA) of one batch to `sums`."""
    logits = _logits(model, x, dtype)
    sums[0] += (logits.argmax(-1) == y).sum()
    sums[1] += F.cross_entropy(logits, y, reduction="sum")
    if flip:
        mirrored = x.flip(3)
        if channels_last:
            mirrored = mirrored.contiguous(memory_format=torch.channels_last)
        both = (logits + _logits(model, mirrored, dtype)) / 2
        sums[2] += (both.argmax(-1) == y).sum()
