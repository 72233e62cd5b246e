"""ImageFolder-style datasets decoded once into memory (the ``memfolder:PATH`` source): right
for small folders of small images, where decoding once beats decoding every epoch. Large
folders and full-size images stream instead (``folder:PATH``, :mod:`netscale.data.stream`).

- Layout and its checks: :mod:`netscale.data.scan` (shared with the streamed source).
- Decoding: PIL, inside a guard. A corrupt or truncated file is skipped with a
  ``warnings.warn`` naming it, and counted (``DataSplits.skipped``). When more than
  ``MAX_CORRUPT_FRACTION`` (1%) of all image files are corrupt, the load fails with a
  ``ValueError`` listing some of them: that many bad files means a broken copy, not noise.
- Channels: 1 when every image is grayscale, else 3 (RGB; alpha is dropped).
- Size: the most common (width, height) over all decoded images. An image of another
  size is scaled to cover it, keeping its aspect ratio, and center-cropped
  (``PIL.ImageOps.fit``, bilinear), as an evaluation center crop would.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from netscale.data.arrays import ArrayDataset
from netscale.data.scan import DECODE_ERRORS, check_corrupt, scan_folder, unreadable

__all__ = ["load_folder"]

_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def load_folder(
    path: Path,
) -> tuple[ArrayDataset, ArrayDataset, int, tuple[str, ...], int]:
    """Decode ``path/train`` and ``path/val``; returns (train, val, classes, names, skipped)."""
    listing = scan_folder(path)
    names = listing.names
    files = {"train": list(listing.train), "val": list(listing.val)}
    decoded = {s: _decode_all(f) for s, f in files.items()}
    skipped = [p for s in decoded for p in decoded[s][2]]
    check_corrupt(skipped, sum(len(f) for f in files.values()), f"folder source {path}")
    unread = sorted(set(range(len(names))) - set(decoded["train"][1]))
    if unread:
        raise ValueError(
            f"folder source: class directory {path / 'train' / names[unread[0]]} has no "
            "readable images (all are corrupt); every class in train needs at least one"
        )
    images = [im for s in decoded for im in decoded[s][0]]
    size = Counter(im.size for im in images).most_common(1)[0][0]
    mode = "L" if all(im.mode in _GRAY_MODES for im in images) else "RGB"
    sets = [_stack(decoded[s][0], decoded[s][1], size, mode, f"{path.name}/{s}") for s in files]
    return sets[0], sets[1], len(names), names, len(skipped)


def _decode_all(
    files: list[tuple[Path, int]],
) -> tuple[list[Image.Image], list[int], list[Path]]:
    """Decode every file; returns (images, labels, corrupt paths)."""
    images, labels, bad = [], [], []
    for path, label in files:
        image = _decode(path)
        if image is None:
            bad.append(path)
        else:
            images.append(image)
            labels.append(label)
    return images, labels, bad


def _decode(path: Path) -> Image.Image | None:
    """The fully decoded image at ``path``, or None (with a warning) when it is corrupt."""
    try:
        with Image.open(path) as image:
            image.load()  # decode now: a truncated file fails here, not later
            return image.copy()
    except PermissionError as err:  # not corrupt: the user must fix the permissions
        raise unreadable(path, err) from None
    except DECODE_ERRORS as err:
        warnings.warn(f"skipping corrupt image {path}: {err}", stacklevel=2)
        return None


def _stack(
    images: list[Image.Image], labels: list[int], size: tuple[int, int], mode: str, name: str
) -> ArrayDataset:
    """Convert to ``mode``, fit to ``size`` (width, height), stack to uint8 (N, C, H, W)."""
    channels = 1 if mode == "L" else 3
    out = np.empty((len(images), size[1], size[0], channels), dtype=np.uint8)
    for i, image in enumerate(images):
        image = image.convert(mode)
        if image.size != size:
            image = ImageOps.fit(image, size, method=Image.Resampling.BILINEAR)
        out[i] = np.asarray(image).reshape(size[1], size[0], channels)
    x = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    return ArrayDataset(x, torch.tensor(labels, dtype=torch.int64), name)
