"""Index order for training and evaluation: pure functions of (seed, epoch, rank).

An epoch's order is a permutation drawn from ``numpy.random.default_rng((seed, epoch))``,
so it is a pure function of (seed, epoch): a resumed run recomputes it instead of saving
it, and every rank computes the same one. Step ``s`` of an epoch takes the global batch
``order[s * B * W : (s + 1) * B * W]`` (``B`` the per-rank batch, ``W`` the world size)
and rank ``r`` takes its ``r``-th contiguous slice of ``B``. So a single process with batch
``B * W`` sees exactly the union of the ranks' batches, in rank order. The last partial
global batch is dropped so every rank runs the same number of steps.

Pseudo-labeled images (training with pseudo-labels) come in an order of their own,
``pseudo_batches``: the permutations ``default_rng((seed, epoch, PSEUDO_STREAM, c))`` for
cycles c = 0, 1, ... laid end to end (each image once per cycle), global step ``s`` taking
positions ``[s * P * W, (s + 1) * P * W)`` and rank ``r`` its ``r``-th slice of ``P``: a
pure function of (seed, epoch, step, rank), however many steps the labeled set gives.

Evaluation shards are unpadded (``r::W``): every test image is evaluated exactly once over
all ranks, and the trainer all-reduces (correct, count) sums.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["epoch_order", "eval_indices", "pseudo_batches", "steps_per_epoch", "train_batches"]

PSEUDO_STREAM = 1  # keeps the pseudo-labeled images' order apart from the labeled one's


def epoch_order(n: int, *, seed: int, epoch: int) -> torch.Tensor:
    """int64 permutation of range(n), a pure function of (seed, epoch)."""
    if n < 0 or seed < 0 or epoch < 0:
        raise ValueError(f"n={n}, seed={seed}, epoch={epoch} must all be >= 0")
    rng = np.random.default_rng([seed, epoch])
    return torch.from_numpy(rng.permutation(n).astype(np.int64))


def steps_per_epoch(n: int, batch_size: int, world_size: int = 1) -> int:
    """Full global batches (``batch_size`` per rank x ``world_size``) in ``n`` samples."""
    _check_world(batch_size, 0, world_size)
    steps = n // (batch_size * world_size)
    if steps == 0:
        raise ValueError(
            f"{n} samples hold no full global batch of {batch_size} x {world_size} ranks; "
            "lower the batch size"
        )
    return steps


def train_batches(
    n: int,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    start_step: int = 0,
) -> Iterator[torch.Tensor]:
    """Yield this rank's index batches of ``epoch`` from step ``start_step`` on (drop_last)."""
    _check_world(batch_size, rank, world_size)
    steps = steps_per_epoch(n, batch_size, world_size)
    if not 0 <= start_step <= steps:
        raise ValueError(f"start_step={start_step} must be in [0, {steps}]")
    order = epoch_order(n, seed=seed, epoch=epoch)
    global_batch = batch_size * world_size
    for step in range(start_step, steps):
        begin = step * global_batch + rank * batch_size
        yield order[begin : begin + batch_size]


def pseudo_batches(
    n: int, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> Iterator[torch.Tensor]:
    """This rank's index batches of ``batch_size`` into ``n`` pseudo-labeled images, one per
    step of ``epoch`` from step 0 on, without end (see the module docstring)."""
    _check_world(batch_size, rank, world_size)
    if n < 1:
        raise ValueError(f"n={n} pseudo-labeled images: need at least one")
    cycle, order = -1, torch.empty(0, dtype=torch.int64)
    for step in itertools.count():
        begin = (step * world_size + rank) * batch_size
        parts, at = [], begin
        while at < begin + batch_size:
            c, offset = divmod(at, n)
            if c != cycle:  # positions only grow, so each cycle's permutation is drawn once
                rng = np.random.default_rng([seed, epoch, PSEUDO_STREAM, c])
                cycle, order = c, torch.from_numpy(rng.permutation(n).astype(np.int64))
            take = min(n - offset, begin + batch_size - at)
            parts.append(order[offset : offset + take])
            at += take
        yield parts[0] if len(parts) == 1 else torch.cat(parts)


def eval_indices(n: int, *, rank: int = 0, world_size: int = 1) -> torch.Tensor:
    """Rank ``rank``'s unpadded evaluation shard ``range(n)[rank::world_size]``."""
    _check_world(1, rank, world_size)
    return torch.arange(rank, n, world_size, dtype=torch.int64)


def _check_world(batch_size: int, rank: int, world_size: int) -> None:
    """Raise ValueError for a non-positive batch/world size or a rank out of range."""
    if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(
            f"need batch_size >= 1, world_size >= 1, 0 <= rank < world_size; got "
            f"batch_size={batch_size}, rank={rank}, world_size={world_size}"
        )
