"""Test-set evaluation: top-1 and loss, every image counted exactly once over all ranks.

With `flip`, each batch is also run mirrored (left-right) and the two logits are averaged
before the argmax: flip test-time augmentation as airbench does, which helps models trained
with random flips. The single-view top-1 and loss come from the same pass, so both are
reported. Sums stay on the device and are read once at the end (one sync on CUDA).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from netscale.data import ArrayDataset, eval_batch, eval_indices
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


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: ArrayDataset,
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
) -> EvalResult:
    """Top-1 (%), loss and image count of `model` on `data` (and flip-TTA top-1 with `flip`).

    Rank r evaluates images r, r + world, ... (no padding, no duplicates); the correct
    counts, losses and image counts are summed over ranks. `precision` is "fp32" or "bf16"."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision={precision!r} is invalid here; allowed: fp32, bf16")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    dtype = autocast_dtype(precision)
    idx_all = eval_indices(len(data.labels), rank=rank, world_size=world_size)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # correct, loss, correct_flip
    for start in range(0, len(idx_all), batch_size):
        idx = idx_all[start : start + batch_size].to(data.images.device)
        x = eval_batch(
            to_device(data.images[idx], device),
            resolution=resolution,
            mean=mean,
            std=std,
            channels_last=channels_last,
        )  # (B, C, R, R)
        y = to_device(data.labels[idx], device)
        logits = _logits(model, x, dtype)
        sums[0] += (logits.argmax(-1) == y).sum()
        sums[1] += F.cross_entropy(logits, y, reduction="sum")
        if flip:
            mirrored = x.flip(3)
            if channels_last:
                mirrored = mirrored.contiguous(memory_format=torch.channels_last)
            both = (logits + _logits(model, mirrored, dtype)) / 2
            sums[2] += (both.argmax(-1) == y).sum()
    correct, loss, flipped, n = all_sum([*sums.tolist(), float(len(idx_all))], device)
    model.train(was_training)
    d = max(n, 1.0)
    return EvalResult(
        top1=100.0 * correct / d,
        loss=loss / d,
        images=int(n),
        top1_flip=100.0 * flipped / d if flip else None,
    )
