"""Data parallelism under torchrun: process group, barriers, DDP wrapping, reductions.

SyncBN (`sync_bn`): torch's SyncBatchNorm synchronizes batch statistics only for CUDA (or
XPU/HPU) tensors; on CPU ranks (gloo) DistributedDataParallel refuses it ("SyncBatchNorm
layers only work with GPU modules", torch 2.14) and its forward rejects CPU tensors.
`check_sync_bn` turns that into a clear error before the run starts. With one process
there is nothing to synchronize and `sync_bn` changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as torch_dist
from torch import nn


@dataclass(frozen=True, slots=True)
class Ranks:
    """This process's place among the ranks of a run: rank r of `world` (one process: 0 of
    1). The run's distributed context: it travels inside the Run, not through every call."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """The rank that writes files and reports progress."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank."""
        barrier()

    def broadcast(self, obj: Any) -> Any:
        """The main rank's `obj` on every rank."""
        return broadcast_object(obj)


def init() -> Ranks:
    """This process's ranks; initializes the process group under torchrun (gloo on CPU,
    NCCL on CUDA), or returns rank 0 of 1 for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Ranks()
    # Ranks on one machine share its cores; oversubscribed threads stall every small op.
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    if not torch_dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch_dist.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return Ranks(torch_dist.get_rank(), torch_dist.get_world_size())


def shutdown() -> None:
    """End the process group after a run every rank finished (no-op for one process): a
    barrier, so no rank still talks to another, then `destroy_process_group`. A rank that
    exits with its gloo connections open can abort the rank still closing its own
    (SIGABRT at exit, seen intermittently under load in a two-rank test)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op for one process)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (identity for one process); picklable objects only."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return obj
    box = [obj]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


def check_sync_bn(sync_bn: bool, device: torch.device, world: int) -> None:
    """Raise ValueError where SyncBN is asked for but cannot run (several CPU ranks)."""
    if sync_bn and world > 1 and device.type == "cpu":
        raise ValueError(
            f"sync_bn=True cannot run on {world} CPU ranks: torch's SyncBatchNorm "
            "synchronizes only CUDA tensors (gloo on CPU is unsupported); train without "
            "sync_bn (--no-sync-bn) on CPUs, or on CUDA devices"
        )


def wrap(model: nn.Module, device: torch.device, world: int, *, sync_bn: bool = False) -> nn.Module:
    """DistributedDataParallel around `model` when there are several ranks; with `sync_bn`,
    its BatchNorm layers become SyncBatchNorm first (in place: same parameters, same
    state-dict keys, so checkpoints and the EMA copy are unaffected)."""
    if world == 1:
        return model
    check_sync_bn(sync_bn, device, world)
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks (identity for one process)."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch_dist.all_reduce(t)
    return t.tolist()
