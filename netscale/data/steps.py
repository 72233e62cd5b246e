"""The batches a training epoch and an evaluation read, from either kind of source.

- In memory (``DataSplits``): each step's stored uint8 images, by the index batches of
  :mod:`netscale.data.loader`; the trainer augments the whole batch
  (:func:`netscale.data.augment.train_batch`).
- Streamed (``StreamSplits``): the same index batches, decoded and cropped, flipped and
  RandAugmented per sample in worker processes (:mod:`netscale.data.stream`); the trainer
  runs the batch-level steps (``train_batch(..., sampled=True)``).

With pseudo-labels (in memory only), each step's batch is its labeled images followed by
``pseudo_per_rank`` pseudo-labeled ones (:func:`netscale.data.loader.pseudo_batches`):
hard targets join the labels (the teacher's argmax), soft ones come as ``Batch.soft``.

Both read one ``AugmentConfig`` with one meaning per field. Evaluation is the central
square of ``crop_fraction`` of each image resized to the test resolution, on both paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from netscale.data.arrays import ArrayDataset, DataSplits
from netscale.data.augment import AugmentConfig
from netscale.data.loader import eval_indices, pseudo_batches, train_batches
from netscale.data.pseudo import PseudoSet
from netscale.data.stream import StreamSplit, StreamSplits, eval_stream, train_stream
from netscale.data.transforms import SampleSettings

__all__ = ["Batch", "default_workers", "eval_steps", "train_steps"]

MAX_DEFAULT_WORKERS = 8


@dataclass(frozen=True, slots=True)
class Batch:
    """uint8 images (B, C, H, W) and int64 labels (B,); ``sampled`` when each image was
    already cropped, flipped and RandAugmented (streamed); ``skipped``: corrupt files whose
    rows were dropped; ``soft``: float32 (P, classes) target probabilities of the last P
    images (soft pseudo-labels), ``labels`` then covering the first B - P."""

    images: torch.Tensor
    labels: torch.Tensor
    sampled: bool = False
    skipped: tuple[str, ...] = ()
    soft: torch.Tensor | None = None


def default_workers() -> int:
    """Decoding processes when none are asked for: one per CPU, at most 8."""
    return max(1, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))


def train_steps(
    data: DataSplits | StreamSplits,
    config: AugmentConfig,
    *,
    resolution: int,
    per_rank: int,
    seed: int,
    epoch: int,
    rank: int = 0,
    world: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
    pseudo: PseudoSet | None = None,
    pseudo_per_rank: int = 0,
) -> Iterator[Batch]:
    """This rank's batches of ``epoch`` (see the module docstring): ``per_rank`` images,
    ``pseudo_per_rank`` of them from ``pseudo`` when given."""
    n = len(data.train)
    labeled = per_rank - (pseudo_per_rank if pseudo is not None else 0)
    index = train_batches(n, labeled, seed=seed, epoch=epoch, rank=rank, world_size=world)
    if isinstance(data, DataSplits):
        images, labels = data.train.images, data.train.labels
        if pseudo is not None:
            yield from _with_pseudo(
                images, labels, index, pseudo, pseudo_per_rank, seed, epoch, rank, world
            )
            return
        for idx in index:
            idx = idx.to(images.device)
            yield Batch(images[idx], labels[idx])
        return
    if pseudo is not None:
        raise ValueError("pseudo-labeled images train only beside labeled data held in memory")
    # on a CPU the workers also normalize (they have the spare cores; measured 1.3x more
    # images/s than normalizing in the training process: docs/data.md); for CUDA the
    # uint8 batch crosses the bus (a quarter of the bytes) and is normalized on the GPU
    norm = (data.mean, data.std) if workers > 0 and not pin_memory else None
    settings = SampleSettings(config, resolution, seed, epoch, data.channels, norm)
    for b in train_stream(data.train, settings, index, workers=workers, pin_memory=pin_memory):
        yield Batch(b.images, b.labels, sampled=True, skipped=b.skipped)


def _with_pseudo(
    images: torch.Tensor,
    labels: torch.Tensor,
    index: Iterator[torch.Tensor],
    pseudo: PseudoSet,
    per_rank: int,
    seed: int,
    epoch: int,
    rank: int,
    world: int,
) -> Iterator[Batch]:
    """Labeled batches with ``per_rank`` pseudo-labeled images appended to each."""
    extra = pseudo_batches(
        len(pseudo), per_rank, seed=seed, epoch=epoch, rank=rank, world_size=world
    )
    for idx, pidx in zip(index, extra, strict=False):
        idx, pidx = idx.to(images.device), pidx.to(pseudo.images.device)
        x = torch.cat([images[idx], pseudo.images[pidx].to(images.device)])
        if pseudo.probs is None:  # hard: the teacher's argmax joins the labels
            yield Batch(x, torch.cat([labels[idx], pseudo.labels[pidx].to(labels.device)]))
        else:
            yield Batch(x, labels[idx], soft=pseudo.probs[pidx].to(images.device))


def eval_steps(
    split: ArrayDataset | StreamSplit,
    *,
    resolution: int,
    crop_fraction: float,
    batch_size: int,
    channels: int = 3,
    rank: int = 0,
    world: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[Batch]:
    """This rank's evaluation batches (``eval_indices``: each image once over all ranks);
    streamed images come center-cropped at ``resolution``, stored ones whole (the crop is
    :func:`netscale.data.augment.eval_batch`'s)."""
    indices = eval_indices(len(split), rank=rank, world_size=world)
    if isinstance(split, ArrayDataset):
        for start in range(0, len(indices), batch_size):
            idx = indices[start : start + batch_size].to(split.images.device)
            yield Batch(split.images[idx], split.labels[idx])
        return
    for b in eval_stream(
        split,
        indices,
        resolution=resolution,
        crop_fraction=crop_fraction,
        batch_size=batch_size,
        channels=channels,
        workers=workers,
        pin_memory=pin_memory,
    ):
        yield Batch(b.images, b.labels, sampled=True, skipped=b.skipped)
