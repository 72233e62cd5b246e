"""ImageFolder-style datasets decoded once into memory.

Layout: ``PATH/train/<class>/<image>`` and ``PATH/val/<class>/<image>``; classes are the
sorted subdirectory names of ``train`` (``val`` may lack some, but not add any). Files
with the extensions in ``IMAGE_EXTENSIONS`` (any case) are read; others are ignored.

- Checked before decoding: every class directory of ``train`` holds at least one image
  file (an empty one would become a class with no examples); a class directory of ``val``
  must name a class of ``train``; a directory or file that cannot be read is an error, not
  a skipped image. A ``val`` with no images at all is refused by ``load_data`` unless
  ``minival`` replaces it.

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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from netscale.data.arrays import ArrayDataset

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
        if not _readable(where, Path.is_dir):
            raise FileNotFoundError(
                f"folder source: {where} is not a directory; expected {path}/train/<class>/* "
                f"and {path}/val/<class>/* ({split} missing)"
            )
    names = _class_names(splits["train"], splits["val"])
    files = {s: _list_images(where, names, s == "train") for s, where in splits.items()}
    decoded = {s: _decode_all(f) for s, f in files.items()}
    skipped = [p for s in decoded for p in decoded[s][2]]
    _check_corrupt(skipped, sum(len(f) for f in files.values()), path)
    unread = sorted(set(range(len(names))) - set(decoded["train"][1]))
    if unread:
        raise ValueError(
            f"folder source: class directory {splits['train'] / names[unread[0]]} has no "
            "readable images (all are corrupt); every class in train needs at least one"
        )
    images = [im for s in decoded for im in decoded[s][0]]
    size = Counter(im.size for im in images).most_common(1)[0][0]
    mode = "L" if all(im.mode in _GRAY_MODES for im in images) else "RGB"
    sets = [_stack(decoded[s][0], decoded[s][1], size, mode, f"{path.name}/{s}") for s in splits]
    return sets[0], sets[1], len(names), names, len(skipped)


def _class_names(train: Path, val: Path) -> tuple[str, ...]:
    """Sorted subdirectory names of ``train``; ``val`` may lack some but not add any."""
    names = tuple(d.name for d in _entries(train) if _readable(d, Path.is_dir))
    if not names:
        raise ValueError(f"folder source: no class directories in {train}")
    extra = [d for d in _entries(val) if _readable(d, Path.is_dir) and d.name not in names]
    if extra:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise ValueError(
            f"folder source: {', '.join(str(d) for d in extra[:5])}: class in val but not in "
            f"train; val may only hold classes of {train} ({shown})"
        )
    return names


def _list_images(split_dir: Path, names: tuple[str, ...], required: bool) -> list[tuple[Path, int]]:
    """Sorted (file, label) pairs of the image files of each class directory; with
    ``required`` (train) every class directory must hold at least one image file."""
    out = []
    for label, name in enumerate(names):
        class_dir = split_dir / name
        present = _readable(class_dir, Path.is_dir)
        files = [p for p in _entries(class_dir) if _is_image(p)] if present else []
        if required and not files:
            raise ValueError(
                f"folder source: class directory {class_dir} holds no image files "
                f"({' '.join(IMAGE_EXTENSIONS)}); every class in train needs at least one "
                "image: add images or remove the directory"
            )
        out.extend((p, label) for p in files)
    return out


def _entries(directory: Path) -> list[Path]:
    """The sorted entries of ``directory``; an unreadable directory is a one-line error."""
    try:
        return sorted(directory.iterdir())
    except OSError as err:
        raise ValueError(
            f"folder source: cannot read directory {directory} ({err.strerror or err}); "
            "every directory under train/ and val/ must be readable"
        ) from None


def _readable(path: Path, test: Callable[[Path], bool]) -> bool:
    """``test(path)`` (Path.is_dir / is_file), with a stat failure a one-line error."""
    try:
        return test(path)
    except OSError as err:
        raise ValueError(
            f"folder source: cannot access {path} ({err.strerror or err}); every file and "
            "directory under train/ and val/ must be readable"
        ) from None


def _is_image(path: Path) -> bool:
    """True for a regular file with an image extension."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and _readable(path, Path.is_file)


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
        raise ValueError(
            f"folder source: cannot read {path} ({err.strerror}); every image file under "
            "train/ and val/ must be readable"
        ) from None
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
