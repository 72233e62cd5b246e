"""Test-set evaluation: top-1 and loss, every image counted exactly once over all ranks.

With `flip`, each batch is also run mirrored (left-right) and the two logits are averaged
before the argmax: flip test-time augmentation as airbench does, which helps models trained
with random flips. With `translate` t > 0 as well, airbench's 6-view TTA is scored too:
the flip-averaged logits of the image (weight 1/2) and of the image shifted by t pixels
up-left and down-right (reflect padding; 1/4 each). The single-view top-1 and loss come
from the same pass, so all are reported. Sums stay on the device and are read once at the
end (one sync on CUDA).
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

SUMS = 4  # per model: correct, summed loss, correct with flip TTA, correct with 6-view TTA


@dataclass(frozen=True, slots=True)
class EvalResult:
    """top1: single-view accuracy (%); loss: mean cross-entropy; images: images evaluated
    over all ranks; top1_flip: accuracy (%) of logits averaged with the mirrored image's,
    None unless asked for; top1_tta: accuracy (%) of the 6-view flip + translate TTA, None
    unless asked for."""

    top1: float
    loss: float
    images: int
    top1_flip: float | None = None
    top1_tta: float | None = None


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`t` on `device`; a CPU tensor bound for CUDA goes through pinned memory without
    blocking the host."""
    if t.device == device:
        return t
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def model_logits(model: nn.Module, x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """`model`'s float32 logits (B, classes) of `x`, under autocast to `dtype` (None: fp32)."""
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
    translate: int = 0,
) -> list[EvalResult]:
    """Top-1 (%), loss and image count of each of `models` on `data`, in one pass over it
    (and flip-TTA top-1 with `flip`, 6-view TTA top-1 with `translate` > 0 as well). Each
    image is the central square of `crop_fraction` of its shorter side resized to
    `resolution` (the whole image at 1.0, for square images).

    Rank r evaluates images r, r + world, ... (no padding, no duplicates); the correct
    counts, losses and image counts are summed over ranks. `precision` is "fp32" or "bf16".
    Corrupt files of a streamed split are left out of the counts."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision={precision!r} is invalid here; allowed: fp32, bf16")
    if translate and not flip:
        raise ValueError(f"translate={translate} needs flip=True (the TTA views are flipped)")
    device = torch.device(device)
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    dtype = autocast_dtype(precision)
    sums = torch.zeros((len(models), SUMS), dtype=torch.float64, device=device)
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
            score_batch(sums[k], model, x, y, dtype, flip, channels_last, translate)
    totals = all_sum([*sums.flatten().tolist(), float(images)], device)
    for m, mode in zip(models, modes, strict=True):
        m.train(mode)
    return _results(totals, len(models), flip, translate)


def _results(totals: list[float], n_models: int, flip: bool, translate: int) -> list[EvalResult]:
    """EvalResults from the summed (correct, loss, correct with flip, correct with 6-view
    TTA) per model and the image count (last)."""
    d = max(totals[-1], 1.0)
    return [
        EvalResult(
            top1=100.0 * totals[SUMS * k] / d,
            loss=totals[SUMS * k + 1] / d,
            images=int(totals[-1]),
            top1_flip=100.0 * totals[SUMS * k + 2] / d if flip else None,
            top1_tta=100.0 * totals[SUMS * k + 3] / d if translate else None,
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
    translate: int = 0,
) -> None:
    """Add (correct, summed loss, correct with flip TTA, correct with 6-view TTA) of one
    batch to `sums` (SUMS values)."""
    logits = model_logits(model, x, dtype)
    sums[0] += (logits.argmax(-1) == y).sum()
    sums[1] += F.cross_entropy(logits, y, reduction="sum")
    if not flip:
        return
    both = (logits + model_logits(model, _mirror(x, channels_last), dtype)) / 2
    sums[2] += (both.argmax(-1) == y).sum()
    if not translate:
        return
    t, size = translate, x.shape[-1]
    padded = F.pad(x, (t, t, t, t), mode="reflect")
    tta = both / 2
    for at in (0, 2 * t):  # shifted up-left and down-right by t pixels: 1/4 each
        view = padded[:, :, at : at + size, at : at + size]
        if channels_last:
            view = view.contiguous(memory_format=torch.channels_last)
        mirrored = model_logits(model, _mirror(view, channels_last), dtype)
        tta = tta + (model_logits(model, view, dtype) + mirrored) / 8
    sums[3] += (tta.argmax(-1) == y).sum()


def _mirror(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """`x` flipped left-right, in the memory format the model runs in."""
    mirrored = x.flip(3)
    return mirrored.contiguous(memory_format=torch.channels_last) if channels_last else mirrored
