"""Images to label, and the same images read back by reference.

``netscale predict`` labels the images of a source (``load_unlabeled``); its labels file
(:mod:`netscale.data.pseudo`) keeps a reference to each image instead of the image, and
training with pseudo-labels reads them back (``read_back``). Sources and references:

- ``folder:PATH``: an unlabeled folder, the image files directly in PATH, sorted by name
  (subdirectories are not read: :func:`netscale.data.scan.scan_images`), or, when PATH has
  ``train/`` or ``val/``, an ImageFolder checked as training checks it
  (:func:`netscale.data.scan.scan_folder`; split "train" reads train/, "test" val/, "all"
  both). Referenced by each file's path relative to PATH (``files``). Decoded in worker
  processes as evaluation streams a folder; a corrupt file is left out and named.
- ``npz:PATH``: its ``x_train`` and/or ``x_test``; no labels needed, so an unlabeled npz may
  hold just ``x_train``. Referenced by (``split``, ``index``): split "train" is x_train,
  "test" x_test.
- ``digits``, ``cifar10``, ``cifar100``: their fixed train and test splits, referenced by
  (``split``, ``index``).

Split "all" (the default) takes every split the source has, train first.

Read back, the images are fitted to the labeled set they train beside: converted to its
channel count (gray repeated, RGB to luma as PIL's "L"), and where their size differs, the
central crop of its aspect ratio resized to its size (bilinear, antialiased).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from netscale.data.arrays import ArrayDataset
from netscale.data.datasets import load_data
from netscale.data.npz import load_npz_images
from netscale.data.scan import DECODE_ERRORS, scan_folder, scan_images
from netscale.data.stream import FolderImages, StreamSplit, decode
from netscale.data.transforms import as_channels

__all__ = ["SPLITS", "Unlabeled", "load_unlabeled", "read_back", "source_kind"]

SPLITS = ("train", "test", "all")
SOURCES = ("folder:PATH", "npz:PATH", "digits", "cifar10", "cifar100")
_IN_MEMORY = ("digits", "cifar10", "cifar100")


@dataclass(frozen=True, slots=True)
class Unlabeled:
    """Images to label. ``parts``: each split read, its labels the images' row numbers
    0..N-1 over all parts (so the rows a corrupt file left out are known); each row's
    reference: ``files`` (a folder) or ``split`` and ``index`` (every other source);
    ``source``: the source string with its path made absolute."""

    source: str
    parts: tuple[ArrayDataset | StreamSplit, ...]
    files: np.ndarray | None = None  # str (N,)
    split: np.ndarray | None = None  # str (N,)
    index: np.ndarray | None = None  # int64 (N,)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)


def source_kind(source: str) -> tuple[str, str]:
    """("folder" | "npz" | "memory", the source string with its path made absolute); a
    source predict cannot read is a one-line ValueError naming the allowed ones."""
    kind, _, arg = source.partition(":") if isinstance(source, str) else ("", "", "")
    if kind in ("folder", "npz") and arg:
        return kind, f"{kind}:{Path(arg).expanduser().resolve()}"
    if source in _IN_MEMORY:
        return "memory", source
    hint = (
        " (use 'folder:PATH': the files are referenced one by one)" if kind == "memfolder" else ""
    )
    allowed = ", ".join(repr(s) for s in SOURCES)
    raise ValueError(f"data source {source!r} cannot be labeled{hint}; allowed: {allowed}")


def load_unlabeled(source: str, split: str = "all") -> Unlabeled:
    """The images of `source` to label (see the module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is invalid; allowed: {', '.join(SPLITS)}")
    kind, canonical = source_kind(source)
    path = Path(canonical.partition(":")[2])
    if kind == "folder":
        return _folder(canonical, path, split)
    arrays = load_npz_images(path, split) if kind == "npz" else _memory_splits(source)
    names = ("train", "test") if split == "all" else (split,)
    parts, splits, rows = [], [], []
    for name in names:
        if name not in arrays:
            continue
        images, start = arrays[name], sum(len(p) for p in parts)
        labels = torch.arange(start, start + len(images), dtype=torch.int64)
        parts.append(ArrayDataset(images, labels, f"{_stem(canonical)}/{name}"))
        splits += [name] * len(images)
        rows.append(np.arange(len(images), dtype=np.int64))
    out = Unlabeled(
        canonical,
        tuple(parts),
        split=np.array(splits, dtype=str),
        index=np.concatenate(rows) if rows else np.zeros(0, np.int64),
    )
    if not len(out):
        raise ValueError(f"data source {source!r} holds no images in split {split!r}")
    return out


def _folder(canonical: str, path: Path, split: str) -> Unlabeled:
    """An ImageFolder when PATH has train/ or val/, else a flat folder of images."""
    if (path / "train").is_dir() or (path / "val").is_dir():
        listing = scan_folder(path)  # every layout check of a training folder
        chosen = {"train": listing.train, "test": listing.val, "all": listing.train + listing.val}
        files = [p for p, _ in chosen[split]]
        if not files:
            raise ValueError(f"folder source {path}: split {split!r} holds no image files")
    else:
        if split != "all":
            raise ValueError(
                f"folder source {path} is an unlabeled folder (no train/ or val/): it has no "
                f"split {split!r}; pass split 'all' (--split all)"
            )
        files = list(scan_images(path))
    dataset = FolderImages([(p, row) for row, p in enumerate(files)])
    rel = np.array([p.relative_to(path).as_posix() for p in files], dtype=str)
    return Unlabeled(canonical, (StreamSplit(dataset, path.name),), files=rel)


def _memory_splits(source: str) -> dict[str, torch.Tensor]:
    splits = load_data(source)
    return {"train": splits.train.images, "test": splits.test.images}  # type: ignore[union-attr]


def _stem(source: str) -> str:
    return Path(source.partition(":")[2]).stem if ":" in source else source


def read_back(
    source: str,
    *,
    files: Sequence[str] | None = None,
    split: Sequence[str] | None = None,
    index: Sequence[int] | None = None,
    channels: int,
    size: tuple[int, int],
) -> torch.Tensor:
    """The referenced images of `source` as uint8 (M, channels, H, W), fitted to `size`
    (H, W) (see the module docstring). A file that is gone, unreadable or corrupt, or an
    index out of range, is a one-line ValueError."""
    kind, _ = source_kind(source)
    path = Path(source.partition(":")[2])
    if kind == "folder":
        if files is None:
            raise ValueError(f"folder source {path}: the labels give no files to read back")
        images = [_fit(_decode(path / f), channels, size) for f in files]
        return torch.stack(images) if images else torch.zeros((0, channels, *size), torch.uint8)
    if split is None or index is None:
        raise ValueError(f"data source {source!r}: the labels give no split and index")
    arrays = load_npz_images(path, "all") if kind == "npz" else _memory_splits(source)
    split, index = np.asarray(split, dtype=str), np.asarray(index, dtype=np.int64)
    target = (channels, *size)
    out = torch.empty((len(index), *target), dtype=torch.uint8)
    for name in np.unique(split).tolist():
        rows = np.flatnonzero(split == name)
        images = arrays.get(name)
        if images is None:
            raise ValueError(f"data source {source!r} has no split {name!r} to read back")
        wanted = index[rows]
        bad = wanted[(wanted < 0) | (wanted >= len(images))]
        if bad.size:
            raise ValueError(
                f"data source {source!r}: index {int(bad[0])} is out of range for its split "
                f"{name!r} of {len(images)} images; was the source changed after labeling?"
            )
        picked = images[torch.from_numpy(wanted)]
        if tuple(picked.shape[1:]) != target:
            picked = torch.stack([_fit(x, channels, size) for x in picked])
        out[torch.from_numpy(rows)] = picked
    return out


def _decode(file: Path) -> torch.Tensor:
    try:
        return decode(file)
    except (FileNotFoundError, PermissionError) as err:
        raise ValueError(f"cannot read back the labeled image {file} ({err})") from None
    except DECODE_ERRORS as err:
        raise ValueError(f"cannot read back the labeled image {file}: corrupt ({err})") from None


def _fit(image: torch.Tensor, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (C, H, W) -> (channels, size[0], size[1]): the channels converted, then the
    central crop of the target's aspect ratio resized to it (when the size differs)."""
    x = as_channels(image, channels)
    h, w = x.shape[1:]
    if (h, w) == tuple(size):
        return x.contiguous()
    scale = max(size[0] / h, size[1] / w)
    ch, cw = min(h, round(size[0] / scale)), min(w, round(size[1] / scale))
    top, left = (h - ch) // 2, (w - cw) // 2
    return TF.resized_crop(x, top, left, ch, cw, list(size), antialias=True).contiguous()
