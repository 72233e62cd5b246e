"""Data sources: ``load_data(source)`` -> uint8 tensors in memory with splits and statistics,
or a checked listing to stream (``folder:PATH``).

Sources (the ``source`` string of :func:`load_data`):

- ``digits``: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes, bundled with
  scikit-learn, so it needs no download). The 17 gray levels 0..16 are scaled to uint8 as
  ``round(v * 255 / 16)``; one channel. The train/test split is fixed: a stratified 80/20
  split with seed 0 (1438 train / 359 test), the same for every ``seed`` so test accuracies
  of different runs are comparable.
- ``npz:PATH``: arrays ``x_train``, ``y_train``, ``x_test``, ``y_test`` (uint8 images, NHWC,
  NCHW where unambiguous, or NHW as one channel; integer labels in [0, K)) and optionally
  ``class_names`` (see :mod:`netscale.data.npz` for the exact rules).
- ``folder:PATH``: ``PATH/train/<class>/*`` and ``PATH/val/<class>/*``, streamed: decoded
  per step in worker processes at each stage's resolution, memory bounded
  (:mod:`netscale.data.stream`; returns ``StreamSplits``).
- ``memfolder:PATH``: the same layout decoded once into memory at the folders' most
  common image size (:mod:`netscale.data.folder`): for small folders of small images.
- ``cifar10`` / ``cifar100``: torchvision's CIFAR datasets read from ``root`` (default
  ``$NETSCALE_DATA`` or ``~/.cache/netscale``) with ``download=False``: netscale never
  downloads data.

``minival`` > 0 holds out that fraction of the *training* set as ``test`` (ResNet-RS sec. 4
tuned on a held-out 2% of ImageNet train, "minival"); the real test set is then not used.
The hold-out is stratified by class: each class gives its share of ``round(minival * N)``
images (largest remainders), drawn with ``seed``.

An empty test split is refused (it would report 0% top-1): a source whose test set holds no
images needs ``minival`` > 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from netscale.data.arrays import ArrayDataset, DataSplits
from netscale.data.folder import load_folder
from netscale.data.npz import load_npz
from netscale.data.stream import StreamSplits, load_folder_stream, stream_minival

__all__ = ["ArrayDataset", "DataSplits", "load_data", "stratified_split"]

SOURCES = ("digits", "cifar10", "cifar100", "npz:PATH", "folder:PATH", "memfolder:PATH")
_STATS_CHUNK = 4096  # images per chunk when computing mean/std (bounds float64 memory)


def load_data(
    source: str, *, minival: float = 0.0, seed: int = 0, root: str | None = None
) -> DataSplits | StreamSplits:
    """Load ``source`` (see the module docstring for sources and splits): into memory, or,
    for ``folder:PATH``, its listing, checked, for streaming."""
    if not 0.0 <= minival < 1.0:
        raise ValueError(f"minival={minival!r} must be in [0, 1)")
    if seed < 0:
        raise ValueError(f"seed={seed} must be >= 0")
    kind, _, arg = source.partition(":") if isinstance(source, str) else ("", "", "")
    if kind == "folder" and arg:
        streamed = load_folder_stream(Path(arg).expanduser())
        if minival > 0:
            streamed = stream_minival(streamed, minival, seed, stratified_split)
        _check_test(source, len(streamed.test), streamed.test.name)
        return streamed
    train, test, num_classes, names, skipped = _load_source(source, root)
    if minival > 0:
        train_idx, held_idx = stratified_split(train.labels, minival, seed=seed)
        base = train.name.rsplit("/", 1)[0]
        test = _subset(train, held_idx, f"{base}/minival")
        train = _subset(train, train_idx, f"{base}/train-minival")
    _check_test(source, len(test), test.name)
    mean, std = channel_stats(train.images)
    return DataSplits(train, test, num_classes, mean, std, skipped, names)


def _check_test(source: str, n: int, name: str) -> None:
    if not n:
        raise ValueError(
            f"data source {source!r}: the test split ({name}) holds 0 images, so its "
            "top-1 would be meaningless; add test images or pass minival > 0 to hold out "
            "part of the training set instead"
        )


def _load_source(
    source: str, root: str | None
) -> tuple[ArrayDataset, ArrayDataset, int, tuple[str, ...], int]:
    """Dispatch on the source string; returns (train, test, num_classes, names, skipped)."""
    kind, _, arg = source.partition(":")
    if source == "digits":
        return (*_load_digits(), 0)
    if source in ("cifar10", "cifar100"):
        return (*_load_cifar(source, root), 0)
    if kind == "npz" and arg:
        return (*load_npz(Path(arg).expanduser()), 0)
    if kind == "memfolder" and arg:
        return load_folder(Path(arg).expanduser())
    hint = ""
    if source.endswith(".npz"):
        hint = f" (did you mean 'npz:{source}'?)"
    elif isinstance(source, str) and source and Path(source).is_dir():
        hint = f" (did you mean 'folder:{source}'?)"
    allowed = ", ".join(repr(s) for s in SOURCES)
    raise ValueError(f"unknown data source {source!r}{hint}; allowed: {allowed}")


def _load_digits() -> tuple[ArrayDataset, ArrayDataset, int, tuple[str, ...]]:
    """scikit-learn digits with the fixed stratified 80/20 split of seed 0."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 17 gray levels 0..16 -> uint8 0..255, (1797, 1, 8, 8)
    x = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    full = ArrayDataset(torch.from_numpy(x), torch.from_numpy(digits.target.astype(np.int64)), "")
    train_idx, test_idx = stratified_split(full.labels, 0.2, seed=0)
    names = tuple(str(i) for i in range(10))
    return (
        _subset(full, train_idx, "digits/train"),
        _subset(full, test_idx, "digits/test"),
        10,
        names,
    )


def _from_nhwc(x: np.ndarray, y: np.ndarray, name: str) -> ArrayDataset:
    """uint8 (N, H, W, C) numpy images and integer labels -> ArrayDataset (N, C, H, W)."""
    images = torch.from_numpy(x).permute(0, 3, 1, 2)
    return ArrayDataset(images.contiguous(), torch.from_numpy(y.astype(np.int64)), name)


def default_root() -> Path:
    """Where torchvision datasets are looked for: ``$NETSCALE_DATA`` or ``~/.cache/netscale``."""
    return Path(os.environ.get("NETSCALE_DATA", "~/.cache/netscale")).expanduser()


def _load_cifar(
    source: str, root: str | None
) -> tuple[ArrayDataset, ArrayDataset, int, tuple[str, ...]]:
    """CIFAR-10/100 from torchvision files under ``root``; never downloads."""
    from torchvision import datasets

    where = Path(root).expanduser() if root else default_root()
    cls = datasets.CIFAR10 if source == "cifar10" else datasets.CIFAR100
    try:
        parts = [cls(str(where), train=t, download=False) for t in (True, False)]
    except RuntimeError as err:
        raise FileNotFoundError(
            f"{source}: no valid torchvision copy in {where / cls.base_folder}; netscale "
            "never downloads data: put the extracted python-version archive there, "
            "pass root= (or set NETSCALE_DATA), or use 'npz:PATH'"
        ) from err
    sets = [
        _from_nhwc(p.data, np.asarray(p.targets), f"{source}/{s}")
        for p, s in zip(parts, ("train", "test"), strict=True)
    ]
    names = tuple(parts[0].classes)
    return sets[0], sets[1], len(names), names


def stratified_split(
    labels: torch.Tensor, fraction: float, *, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into (kept, held) with ``round(fraction * N)`` held, stratified by class.

    Class c holds out floor(fraction * n_c) images plus one more for the classes with the
    largest remainders until the total is reached; the images are drawn with ``seed``.
    Both index tensors are sorted.
    """
    y = labels.numpy()
    classes, counts = np.unique(y, return_counts=True)
    total = round(fraction * len(y))
    if not 0 < total < len(y):
        raise ValueError(f"fraction={fraction} of {len(y)} images leaves an empty split")
    quota = fraction * counts
    take = np.floor(quota).astype(np.int64)
    extra = np.argsort(-(quota - take), kind="stable")[: total - int(take.sum())]
    take[extra] += 1
    rng = np.random.default_rng(seed)
    held = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take, strict=True)]
    mask = np.zeros(len(y), dtype=bool)
    mask[np.concatenate(held)] = True
    return torch.from_numpy(np.flatnonzero(~mask)), torch.from_numpy(np.flatnonzero(mask))


def _subset(data: ArrayDataset, idx: torch.Tensor, name: str) -> ArrayDataset:
    """The rows ``idx`` of ``data`` as a new contiguous dataset."""
    return ArrayDataset(data.images[idx].contiguous(), data.labels[idx].contiguous(), name)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 (N, C, H, W) images scaled to [0, 1]."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for chunk in images.split(_STATS_CHUNK):
        x = chunk.to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())
