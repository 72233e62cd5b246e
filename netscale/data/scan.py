"""The ImageFolder layout, listed and checked before any image is decoded.

Layout: ``PATH/train/<class>/<image>`` and ``PATH/val/<class>/<image>``; classes are the
sorted subdirectory names of ``train`` (``val`` may lack some, but not add any). Files with
the extensions in ``IMAGE_EXTENSIONS`` (any case) are read; others are ignored.

Each of these is a one-line ``ValueError`` (or ``FileNotFoundError`` for a missing split)
before training starts: a missing ``train`` or ``val`` directory; no class directories; an
empty class directory in ``train`` (it would be a class with no examples); a ``val`` class
unknown to ``train``; a directory or image file that cannot be read (permissions): that is
the user's to fix, not a corrupt image to skip.

Both readers of this layout use it: ``folder.py`` (decoded once into memory) and
``stream.py`` (decoded per step in worker processes).

An unlabeled folder (``scan_images``, read by ``netscale predict``: :mod:`netscale.data.unlabeled`)
is flat: the image files directly in ``PATH``, sorted by name; subdirectories are not read.
A folder with no image files directly in it is a one-line ``ValueError``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
# More corrupt files than this share of those read means a broken copy, not noise: the load
# (in memory) or the epoch (streamed) stops with a list of them.
MAX_CORRUPT_FRACTION = 0.01
# What PIL raises on a bad file: OSError covers UnidentifiedImageError and "image file is
# truncated"; the others come from malformed headers and decompression bombs.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


@dataclass(frozen=True, slots=True)
class FolderListing:
    """The (file, label) pairs of each split, sorted by class then file name."""

    root: Path
    names: tuple[str, ...]
    train: tuple[tuple[Path, int], ...]
    val: tuple[tuple[Path, int], ...]


def scan_folder(path: Path) -> FolderListing:
    """List and check ``path/train`` and ``path/val`` (see the module docstring)."""
    splits = {s: path / s for s in ("train", "val")}
    for split, where in splits.items():
        if not readable(where, Path.is_dir):
            raise FileNotFoundError(
                f"folder source: {where} is not a directory; expected {path}/train/<class>/* "
                f"and {path}/val/<class>/* ({split} missing)"
            )
    names = _class_names(splits["train"], splits["val"])
    train = _list_images(splits["train"], names, required=True)
    val = _list_images(splits["val"], names, required=False)
    return FolderListing(path, names, tuple(train), tuple(val))


def scan_images(path: Path) -> tuple[Path, ...]:
    """The image files directly in ``path`` (an unlabeled folder), sorted; subdirectories
    are not read (see the module docstring)."""
    if not readable(path, Path.is_dir):
        raise FileNotFoundError(f"folder source: {path} is not a directory")
    entries = _entries(path)
    files = tuple(p for p in entries if _is_image(p))
    if not files:
        subdirs = [d.name for d in entries if readable(d, Path.is_dir)]
        seen = f" (it holds only subdirectories: {', '.join(subdirs[:5])}" if subdirs else ""
        seen += ", ...)" if len(subdirs) > 5 else (")" if subdirs else "")
        raise ValueError(
            f"folder source: {path} holds no image files ({' '.join(IMAGE_EXTENSIONS)}){seen}; "
            "an unlabeled folder has its images directly in it (subdirectories are not read), "
            f"a labeled one is {path}/train/<class>/* and {path}/val/<class>/*"
        )
    return files


def check_corrupt(bad: Sequence[Path], total: int, where: str) -> None:
    """Fail when more than MAX_CORRUPT_FRACTION of the ``total`` files read are corrupt."""
    if len(bad) > MAX_CORRUPT_FRACTION * total:
        shown = ", ".join(str(p) for p in bad[:5])
        raise ValueError(
            f"{where}: {len(bad)} of {total} image files are corrupt, more than "
            f"the allowed {MAX_CORRUPT_FRACTION:.0%}; repair or remove them (first: {shown})"
        )


def unreadable(path: Path, err: OSError) -> ValueError:
    """The one-line error for an image file the process may not read."""
    return ValueError(
        f"folder source: cannot read {path} ({err.strerror or err}); every image file under "
        "train/ and val/ must be readable"
    )


def _class_names(train: Path, val: Path) -> tuple[str, ...]:
    """Sorted subdirectory names of ``train``; ``val`` may lack some but not add any."""
    names = tuple(d.name for d in _entries(train) if readable(d, Path.is_dir))
    if not names:
        raise ValueError(f"folder source: no class directories in {train}")
    extra = [d for d in _entries(val) if readable(d, Path.is_dir) and d.name not in names]
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
        present = readable(class_dir, Path.is_dir)
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


def readable(path: Path, test: Callable[[Path], bool]) -> bool:
    """``test(path)`` (Path.is_dir / is_file), with a stat failure a one-line error."""
    try:
        return test(path)
    except OSError as err:
        raise ValueError(
            f"folder source: cannot access {path} ({err.strerror or err}); every file and "
            "directory under train/ and val/ must be readable"
        ) from None


def _is_image(path: Path) -> bool:
    """True for a regular, readable file with an image extension (an image file this
    process may not read is an error, not a file to skip)."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS or not readable(path, Path.is_file):
        return False
    if not os.access(path, os.R_OK):
        raise unreadable(path, PermissionError(13, "Permission denied"))
    return True
