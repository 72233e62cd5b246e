"""The in-memory data containers every source produces: ``ArrayDataset`` (uint8 images and
int64 labels) and ``DataSplits`` (train, test, classes, statistics). The bottom of the data
package: the source readers (datasets.py, npz.py, folder.py) import it, never each other."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, slots=True)
class ArrayDataset:
    """Images and labels held in memory: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    name: str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"{self.name}: images must be uint8 (N, C, H, W), got "
                f"{self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(
                f"{self.name}: labels must be int64 of shape ({self.images.shape[0]},), got "
                f"{self.labels.dtype} {tuple(self.labels.shape)}"
            )
        if not self.images.is_contiguous():
            raise ValueError(f"{self.name}: images must be contiguous")

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True, slots=True)
class DataSplits:
    """Train and held-out sets, class count and train per-channel statistics in [0, 1]."""

    train: ArrayDataset
    test: ArrayDataset
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    skipped: int = 0
    class_names: tuple[str, ...] = ()
