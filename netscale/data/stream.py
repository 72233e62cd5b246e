"""Streamed image sources: decoded per step in DataLoader worker processes, memory bounded
whatever the dataset's size.

- ``folder:PATH``: an ImageFolder (:mod:`netscale.data.scan` lists and checks it before
  training starts). Images are decoded (``decode``), converted to RGB, and cropped at their
  full size by each progressive stage's resolution (:mod:`netscale.data.transforms`).
- ``stream_datasets(train, test, num_classes=...)``: any torch ``Dataset`` of
  (image, label) pairs, the image a PIL image or a uint8 (C, H, W) tensor.

Normalization uses the ImageNet mean and std (the constants every paper here and every
pretrained checkpoint uses): a streamed source is not read twice to measure its own.

A corrupt, truncated, zero-byte or non-image file is skipped: its row leaves the batch,
and the epoch counts it (``skipped_images`` in the run's metrics). More than
``MAX_CORRUPT_FRACTION`` of an epoch's images stops the run with the files' names.

The order of samples and every sample's augmentation are pure functions of (seed, epoch,
index) (:mod:`netscale.data.loader`, :func:`netscale.data.transforms.sample_generator`), so
a run sees the same images with any number of workers, and a resumed run replays them.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from netscale.data.scan import DECODE_ERRORS, FolderListing, scan_folder, unreadable
from netscale.data.transforms import SampleSettings, sample_eval, sample_train

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FolderImages",
    "StreamBatch",
    "StreamSplit",
    "StreamSplits",
    "eval_stream",
    "load_folder_stream",
    "stream_datasets",
    "train_stream",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHCODEC_FORMATS = (".jpg", ".jpeg", ".png", ".webp", ".gif")
PREFETCH_BATCHES = 2  # per worker: memory stays at workers x 2 batches of decoded images
# Workers are forked on Linux (milliseconds; they touch no CUDA state): a process that was
# itself spawned, as a study worker is, would otherwise spawn them too and re-import torch
# in each (about 4 s per loader, measured in a spawned study worker).
_START = "fork" if sys.platform == "linux" else None


class FolderImages(Dataset):
    """(file, label) pairs -> (uint8 (C, H, W) image or None when the file is corrupt, label,
    path). JPEG, PNG, WebP and GIF decode with TorchCodec's ``decode_image`` (measured 1.6x
    faster than PIL: docs/data.md; torchvision.io's decoders, as fast, are deprecated in
    its favour); other formats with PIL."""

    def __init__(self, files: Sequence[tuple[Path, int]]) -> None:
        # bytes and int arrays, not Path objects: ~5x less memory per file, and forked
        # workers share the pages (no reference counts to write)
        self._paths = np.array([os.fsencode(p) for p, _ in files], dtype=np.bytes_)
        self._labels = np.array([label for _, label in files], dtype=np.int64)

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, str]:
        path, label = self.file(index)
        try:
            return decode(path), label, str(path)
        except PermissionError as err:
            raise unreadable(path, err) from None
        except DECODE_ERRORS:
            return None, label, str(path)

    def file(self, index: int) -> tuple[Path, int]:
        """The (path, label) of sample `index`."""
        return Path(os.fsdecode(bytes(self._paths[index]))), int(self._labels[index])

    @property
    def files(self) -> list[tuple[Path, int]]:
        """Every (path, label), in order (builds Path objects: for small uses)."""
        return [self.file(i) for i in range(len(self))]

    def labels(self) -> list[int]:
        """Every label, without decoding."""
        return self._labels.tolist()


def decode(path: Path) -> torch.Tensor:
    """The image at ``path`` as uint8 (C, H, W), C = 1, 3 (or 4 with alpha, from PIL); the
    first frame of an animation. OSError (or another of DECODE_ERRORS) when corrupt."""
    if path.suffix.lower() in TORCHCODEC_FORMATS:
        from torchcodec.decoders import decode_image

        data = path.read_bytes()
        if not data:
            raise OSError(f"{path} is empty")
        try:
            image = decode_image(data, mode="RGB")
        except (RuntimeError, ValueError) as err:
            raise OSError(f"{path}: {err}") from None
        return image[0] if image.ndim == 4 else image
    with Image.open(path) as image:
        image.load()  # decode now: a truncated file fails here
        return pil_to_tensor(image)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """A PIL image as uint8 (C, H, W): RGB, or one channel for grayscale modes."""
    gray = image.mode in ("1", "L", "LA", "I", "I;16", "F")
    image = image.convert("L" if gray else "RGB")
    array = np.asarray(image, dtype=np.uint8).reshape(image.height, image.width, -1)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


@dataclass(frozen=True, slots=True)
class StreamSplit:
    """One streamed split: a Dataset of (image, label[, path]) items and its name."""

    dataset: Dataset
    name: str

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class StreamSplits:
    """A streamed source: the fields of ``DataSplits`` with ``StreamSplit`` splits;
    ``identity`` is what the run's data fingerprint hashes (file names, sizes, labels)."""

    train: StreamSplit
    test: StreamSplit
    num_classes: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    skipped: int = 0
    class_names: tuple[str, ...] = ()
    channels: int = 3
    identity: tuple[Any, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """One step's images, uint8 (B, C, R, R) already cropped, flipped and RandAugmented;
    labels int64 (B,); the files skipped as corrupt in this batch (their rows removed)."""

    images: torch.Tensor
    labels: torch.Tensor
    skipped: tuple[str, ...]


def load_folder_stream(path: Path) -> StreamSplits:
    """A streamed ImageFolder (layout checked now, images decoded per step)."""
    listing = scan_folder(path)
    return StreamSplits(
        train=StreamSplit(FolderImages(listing.train), f"{path.name}/train"),
        test=StreamSplit(FolderImages(listing.val), f"{path.name}/val"),
        num_classes=len(listing.names),
        class_names=listing.names,
        identity=_identity(listing),
    )


def _identity(listing: FolderListing) -> tuple[Any, ...]:
    """(relative path, label, bytes) of every file: a changed file changes the fingerprint."""
    return tuple(
        (str(p.relative_to(listing.root)), label, p.stat().st_size)
        for split in (listing.train, listing.val)
        for p, label in split
    )


def stream_minival(
    splits: StreamSplits, fraction: float, seed: int, split: Callable[..., Any]
) -> StreamSplits:
    """``fraction`` of a streamed folder's train files held out as its test split, stratified
    (``split`` is :func:`netscale.data.datasets.stratified_split`)."""
    base = splits.train.dataset
    if not isinstance(base, FolderImages):
        raise ValueError(
            "minival needs the labels of the training set; a streamed Dataset does not "
            "expose them: hold out a split yourself and pass it as the test Dataset"
        )
    kept, held = split(torch.tensor(base.labels()), fraction, seed=seed)
    stem = splits.train.name.rsplit("/", 1)[0]
    files = base.files
    return dataclasses.replace(
        splits,
        train=StreamSplit(FolderImages([files[i] for i in kept]), f"{stem}/train-minival"),
        test=StreamSplit(FolderImages([files[i] for i in held]), f"{stem}/minival"),
        identity=(*splits.identity, ("minival", fraction, seed)),
    )


def stream_datasets(
    train: Dataset,
    test: Dataset,
    *,
    num_classes: int,
    class_names: Sequence[str] = (),
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    name: str = "dataset",
) -> StreamSplits:
    """A streamed source from two torch Datasets of (image, label) pairs, the image a PIL
    image or a uint8 (C, H, W) tensor; mean and std per channel in [0, 1]."""
    for split, data in (("train", train), ("test", test)):
        if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
            raise TypeError(
                f"stream_datasets: {split}={type(data).__name__} is not a map-style Dataset; "
                "expected an object with __len__ and __getitem__ returning (image, label)"
            )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} is invalid; allowed: an int >= 2")
    if len(mean) != len(std) or len(mean) not in (1, 3):
        raise ValueError(f"mean and std need 1 or 3 values each, got {len(mean)} and {len(std)}")
    return StreamSplits(
        train=StreamSplit(train, f"{name}/train"),
        test=StreamSplit(test, f"{name}/test"),
        num_classes=num_classes,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        class_names=tuple(class_names),
        channels=len(mean),
        identity=(name, len(train), len(test), num_classes),  # type: ignore[arg-type]
    )


def _image(item: Any) -> tuple[torch.Tensor | None, int, str]:
    """A dataset item -> (uint8 (C, H, W) or None for a corrupt file, label, path or '')."""
    if not isinstance(item, tuple | list) or len(item) not in (2, 3):
        raise TypeError(
            f"a streamed dataset item must be (image, label), got {type(item).__name__}"
        )
    image, label = item[0], int(item[1])
    path = str(item[2]) if len(item) == 3 else ""
    if isinstance(image, Image.Image):
        image = pil_to_tensor(image)
    elif isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] not in (1, 3, 4):
            raise TypeError(
                f"a streamed image tensor must be uint8 (C, H, W) with C 1, 3 or 4, got "
                f"{image.dtype} {tuple(image.shape)}"
            )
    elif image is not None:
        raise TypeError(
            f"a streamed image must be a PIL image or a uint8 tensor, got {type(image).__name__}"
        )
    return image, label, path


class _TrainView(Dataset):
    """index -> (uint8 (C, R, R), label, '') or, for a corrupt file, (zeros, -1, path)."""

    def __init__(self, base: Dataset, settings: SampleSettings) -> None:
        self.base, self.settings = base, settings

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        image, label, path = _image(self.base[index])
        s = self.settings
        if image is None:
            return (
                torch.zeros((s.channels, s.resolution, s.resolution), dtype=torch.uint8),
                -1,
                path,
            )
        return sample_train(image, index, s), label, ""


class _EvalView(Dataset):
    """index -> (uint8 (C, R, R) center crop, label, '') or (zeros, -1, path) if corrupt."""

    def __init__(self, base: Dataset, resolution: int, crop_fraction: float, channels: int):
        self.base, self.resolution = base, resolution
        self.crop_fraction, self.channels = crop_fraction, channels

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        image, label, path = _image(self.base[index])
        r, c = self.resolution, self.channels
        if image is None:
            return _blank(c, r), -1, path
        return sample_eval(image, r, self.crop_fraction, c), label, ""


def _blank(channels: int, resolution: int) -> torch.Tensor:
    return torch.zeros((channels, resolution, resolution), dtype=torch.uint8)


def _collate(items: list[tuple[torch.Tensor, int, str]]) -> StreamBatch:
    """Stack a batch, dropping the rows of corrupt files (and naming them)."""
    keep = [item for item in items if item[1] >= 0]
    bad = tuple(item[2] for item in items if item[1] < 0)
    if not keep:
        shape = items[0][0].shape if items else (0, 0, 0)
        return StreamBatch(
            torch.empty((0, *shape), dtype=torch.uint8), torch.empty(0, dtype=torch.int64), bad
        )
    first = keep[0][0]
    if first.is_floating_point() and first.stride()[0] == 1:  # channels-last samples
        images = torch.stack([t.permute(1, 2, 0) for t, _, _ in keep]).permute(0, 3, 1, 2)
    else:
        images = torch.stack([item[0] for item in keep])
    labels = torch.tensor([item[1] for item in keep], dtype=torch.int64)
    return StreamBatch(images, labels, bad)


def _loader(view: Dataset, batches: Iterable[Sequence[int]], workers: int, pin: bool) -> DataLoader:
    return DataLoader(
        view,
        batch_sampler=[[int(i) for i in b] for b in batches],
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin,
        prefetch_factor=PREFETCH_BATCHES if workers else None,
        multiprocessing_context=_START if workers else None,
    )


def train_stream(
    split: StreamSplit,
    settings: SampleSettings,
    batches: Iterable[torch.Tensor],
    *,
    workers: int,
    pin_memory: bool = False,
) -> Iterator[StreamBatch]:
    """The StreamBatch of each index batch in ``batches`` (this rank's, from
    :func:`netscale.data.loader.train_batches`), decoded and augmented in ``workers``
    processes (0: in this process)."""
    yield from _loader(_TrainView(split.dataset, settings), batches, workers, pin_memory)


def eval_stream(
    split: StreamSplit,
    indices: torch.Tensor,
    *,
    resolution: int,
    crop_fraction: float,
    batch_size: int,
    channels: int = 3,
    workers: int,
    pin_memory: bool = False,
) -> Iterator[StreamBatch]:
    """Center-cropped evaluation batches of ``indices`` (this rank's shard)."""
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    view = _EvalView(split.dataset, resolution, crop_fraction, channels)
    yield from _loader(view, batches, workers, pin_memory)
