"""ImageFolder-style datasets decoded once into memory.

Layout: ``PATH/train/<class>/<image>`` and ``PATH/val/<class>/<image>``; classes are the
sorted subdirectory names of ``train`` (``val`` may lack some, but not add any). Files
with the extensions in ``IMAGE_EXTENSIONS`` (any case) are read; others are ignored.

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

from netscale.data.datasets import ArrayDataset

__all__ = ["IMAGE_EXTENSIONS", "MAX_CORRUPT_FRACTION", "load_folder"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
MAX_CORRUPT_FRACTION = 0.01
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
# What PIL raises on a bad file: OSError covers UnidentifiedImageError and "image file is
# truncated"; the others come from malformed headers and decompression bombs.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def load_folder(
    path: Path,
) -> tuple[ArrayDataset, ArrayDataset, int, tuple[str, ...], int]:
    """Decode ``path/train`` and ``path/val``; returns (train, val, classes, names, skipped)."""
    splits = {s: path / s for s in ("train", "val")}
    for split, where in splits.items():
        if not where.is_dir():
            raise FileNotFoundError(
                f"folder source: {where} is not a directory; expected {path}/train/<class>/* "
                f"and {path}/val/<class>/* ({split} missing)"
            )
    names = tuple(sorted(d.name for d in splits["train"].iterdir() if d.is_dir()))
    if not names:
        raise ValueError(f"folder source: no class directories in {splits['train']}")
    extra = sorted({d.name for d in splits["val"].iterdir() if d.is_dir()} - set(names))
    if extra:
        raise ValueError(f"folder source: classes {extra} are in val but not in train")
    files = {s: _list_images(where, names) for s, where in splits.items()}
    decoded = {s: _decode_all(f) for s, f in files.items()}
    skipped = [p for s in decoded for p in decoded[s][2]]
    _check_corrupt(skipped, sum(len(f) for f in files.values()), path)
    images = [im for s in decoded for im in decoded[s][0]]
    if not decoded["train"][0]:
        raise ValueError(f"folder source: no readable images under {splits['train']}")
    size = Counter(im.size for im in images).most_common(1)[0][0]
    mode = "L" if all(im.mode in _GRAY_MODES for im in images) else "RGB"
    sets = [_stack(decoded[s][0], decoded[s][1], size, mode, f"{path.name}/{s}") for s in splits]
    return sets[0], sets[1], len(names), names, len(skipped)


def _list_images(split_dir: Path, names: tuple[str, ...]) -> list[tuple[Path, int]]:
    """Sorted (file, label) pairs of the image files of each class directory."""
    out = []
    for label, name in enumerate(names):
        class_dir = split_dir / name
        if class_dir.is_dir():
            files = sorted(p for p in class_dir.iterdir() if _is_image(p))
            out.extend((p, label) for p in files)
    return out


def _is_image(path: Path) -> bool:
    """True for a regular file with an image extension."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


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
    except _DECODE_ERRORS as err:
        warnings.warn(f"skipping corrupt image {path}: {err}", stacklevel=2)
        return None


def _check_corrupt(bad: list[Path], total: int, path: Path) -> None:
    """Fail when more than MAX_CORRUPT_FRACTION of the ``total`` files are corrupt."""
    if len(bad) > MAX_CORRUPT_FRACTION * total:
        shown = ", ".join(str(p) for p in bad[:5])
        raise ValueError(
            f"folder source {path}: {len(bad)} of {total} image files are corrupt, more than "
            f"the allowed {MAX_CORRUPT_FRACTION:.0%}; repair or remove them (first: {shown})"
        )


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
