"""Test-set evaluation: top-1 and loss, every image counted exactly once over all ranks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from netscale.data import ArrayDataset, eval_batch, eval_indices
from netscale.training.distributed import all_sum


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: ArrayDataset,
    *,
    resolution: int,
    mean,
    std,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    rank: int = 0,
    world_size: int = 1,
    channels_last: bool = True,
) -> tuple[float, float, int]:
    """(top-1 accuracy in %, mean cross-entropy, images evaluated) of `model` on `data`.

    Rank r evaluates images r, r + world, ... (no padding, no duplicates); the correct
    counts, losses and image counts are summed over ranks."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    dtype = torch.bfloat16 if precision == "bf16" else None
    idx_all = eval_indices(len(data.labels), rank=rank, world_size=world_size)
    correct = loss = 0.0
    for start in range(0, len(idx_all), batch_size):
        idx = idx_all[start : start + batch_size]
        x = eval_batch(
            data.images[idx], resolution=resolution, mean=mean, std=std, channels_last=channels_last
        ).to(device)
        y = data.labels[idx].to(device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(x).float()
        correct += (logits.argmax(-1) == y).sum().item()
        loss += F.cross_entropy(logits, y, reduction="sum").item()
    correct, loss, n = all_sum([correct, loss, float(len(idx_all))], device)
    model.train(was_training)
    return 100.0 * correct / max(n, 1.0), loss / max(n, 1.0), int(n)
