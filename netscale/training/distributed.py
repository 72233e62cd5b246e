"""Data parallelism under torchrun: process group, barriers, DDP wrapping, reductions."""

from __future__ import annotations

import os

import torch
import torch.distributed as torch_dist
from torch import nn


def init() -> tuple[int, int]:
    """(rank, world size); initializes the process group under torchrun (gloo on CPU,
    NCCL on CUDA), or returns (0, 1) for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    # Ranks on one machine share its cores; oversubscribed threads stall every small op.
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    if not torch_dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch_dist.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return torch_dist.get_rank(), torch_dist.get_world_size()


def barrier() -> None:
    """Wait for every rank (no-op for one process)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()


def wrap(model: nn.Module, device: torch.device, world: int) -> nn.Module:
    """DistributedDataParallel around `model` when there are several ranks."""
    if world == 1:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks (identity for one process)."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch_dist.all_reduce(t)
    return t.tolist()
