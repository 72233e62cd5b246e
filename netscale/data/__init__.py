"""Data: in-memory uint8 datasets, batched tensor augmentation and deterministic index order.

- ``load_data(source, minival=, seed=, root=) -> DataSplits`` (datasets.py): ``digits``,
  ``npz:PATH``, ``folder:PATH``, ``cifar10``, ``cifar100``; ``minival`` holds out part of
  the training set as the test split.
- ``AugmentConfig``, ``train_batch``, ``eval_batch`` (augment.py): random crop, flip,
  RandAugment, mixup/CutMix and label smoothing on whole batches, all randomness from one
  ``torch.Generator``.
- ``epoch_order``, ``train_batches``, ``steps_per_epoch``, ``eval_indices`` (loader.py):
  per-epoch permutations as pure functions of (seed, epoch), rank shards, resume by step;
  ``pseudo_batches``, the order of pseudo-labeled images.
- ``load_unlabeled``, ``read_back`` (unlabeled.py): images to label, by reference;
  ``Predictions``, ``read_predictions``, ``PseudoSet`` (pseudo.py): the labels file.
"""

from netscale.data.augment import AugmentConfig, eval_batch, train_batch
from netscale.data.datasets import ArrayDataset, DataSplits, load_data
from netscale.data.loader import epoch_order, eval_indices, steps_per_epoch, train_batches

__all__ = [
    "ArrayDataset",
    "AugmentConfig",
    "DataSplits",
    "epoch_order",
    "eval_batch",
    "eval_indices",
    "load_data",
    "steps_per_epoch",
    "train_batch",
    "train_batches",
]
