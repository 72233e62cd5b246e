"""``npz:PATH`` sources: a numpy ``.npz`` archive, read without unpickling and checked up front.

Arrays (other keys are ignored):

- ``x_train``, ``x_test``: uint8 images (0..255) in one of these layouts:

  - NHWC ``(N, H, W, C)`` with C 1 (gray) or 3 (RGB);
  - NCHW ``(N, C, H, W)`` with C 1 or 3, accepted where it is unambiguous: dim 1 is 1 or 3
    and the last dim is not (it is then transposed to NHWC);
  - NHW ``(N, H, W)``: one channel.

  A 4-D array whose dim 1 and last dim are both 1 or 3 (e.g. ``(N, 3, 8, 3)``) could be
  either layout and is refused, as is one where neither is 1 or 3 (e.g. RGBA). Both splits
  must have the same channel count; their image sizes may differ (evaluation resizes).
- ``y_train``, ``y_test``: one class index per image, shape ``(N,)`` or ``(N, 1)``, of an
  integer dtype (a float array is accepted when every value is a whole number). Labels lie
  in ``[0, K)`` where K is ``len(class_names)`` when given, else max label + 1, which may
  not exceed the number of training images (a stray label such as 1e9 would otherwise build
  a 1e9-class head).
- ``class_names`` (optional): a 1-D array of strings (or integers), one per class.

``x_train`` must hold at least one image; an empty test split is refused by ``load_data``
unless ``minival`` replaces it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from netscale.data.arrays import ArrayDataset

__all__ = ["load_npz", "load_npz_images", "read_npz"]

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members / an empty zip
_CHANNELS = (1, 3)
_EXPECTED = (
    "expected a numpy .npz archive (numpy.savez) with x_train, y_train, x_test, y_test "
    "and optionally class_names"
)
_LAYOUTS = "allowed: NHWC (N, H, W, C) or NCHW (N, C, H, W) with C 1 or 3, or NHW (N, H, W)"


def load_npz(path: Path) -> tuple[ArrayDataset, ArrayDataset, int, tuple[str, ...]]:
    """Read and check ``path``; returns (train, test, num_classes, class_names)."""
    arrays = read_npz(path)
    names = _class_names(arrays.get("class_names"), path)
    images = {s: _to_nhwc(arrays[f"x_{s}"], f"x_{s}", path) for s in ("train", "test")}
    if not len(images["train"]):
        raise ValueError(f"npz source {path}: x_train holds 0 images; it needs at least one")
    train_c, test_c = images["train"].shape[3], images["test"].shape[3]
    if len(images["test"]) and test_c != train_c:
        raise ValueError(
            f"npz source {path}: x_test has {test_c} channel(s) but x_train has {train_c}; "
            "both splits need the same channel count"
        )
    labels = {
        f"y_{s}": _labels(arrays[f"y_{s}"], f"y_{s}", len(images[s]), path)
        for s in ("train", "test")
    }
    num_classes = _num_classes(labels, len(images["train"]), names, path)
    sets = [_dataset(images[s], labels[f"y_{s}"], f"{path.stem}/{s}") for s in ("train", "test")]
    return sets[0], sets[1], num_classes, names


def load_npz_images(path: Path, split: str) -> dict[str, torch.Tensor]:
    """Only the images of ``path``, no labels needed (what ``netscale predict`` labels):
    ``split`` "train" (x_train), "test" (x_test) or "all" (each of them present, at least
    one); returns {"train": uint8 (N, C, H, W), ...}, checked as ``load_npz`` checks them."""
    wanted = {"train": ("train",), "test": ("test",), "all": ("train", "test")}[split]
    keys = tuple(f"x_{s}" for s in wanted)
    expected = f"expected a numpy .npz archive (numpy.savez) with {' and/or '.join(keys)}"
    if split == "all":
        arrays = read_npz(path, required=(), optional=keys, expected=expected)
        if not arrays:
            raise ValueError(f"npz source {path}: holds neither x_train nor x_test; {expected}")
    else:
        arrays = read_npz(path, required=keys, optional=(), expected=expected)
    out = {}
    for key, x in arrays.items():
        nhwc = _to_nhwc(x, key, path)
        out[key[2:]] = torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()
    return out


def read_npz(
    path: Path,
    required: tuple[str, ...] = REQUIRED,
    optional: tuple[str, ...] = ("class_names",),
    expected: str = _EXPECTED,
    what: str = "npz source",
) -> dict[str, np.ndarray]:
    """The arrays `required` (each must be there) and `optional` (where present) of
    ``path``; never unpickles. Errors open with `what` and the path and end with
    `expected`."""
    try:
        if not path.is_file():
            raise FileNotFoundError(f"{what}: no file at {path}")
        with path.open("rb") as file:
            head = file.read(4)
    except PermissionError as err:
        raise ValueError(f"{what} {path}: cannot read the file ({err.strerror})") from None
    if not head:
        raise ValueError(f"{what} {path}: the file is empty (0 bytes); {expected}")
    if head not in _ZIP_MAGIC:
        raise ValueError(f"{what} {path}: not an npz archive (no zip header); {expected}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in required if k not in archive.files]
            if missing:
                raise ValueError(f"{what} {path}: missing arrays {missing}; {expected}")
            keys = [*required, *(k for k in optional if k in archive.files)]
            return {k: _member(archive, k, path, expected, what) for k in keys}
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise ValueError(f"{what} {path}: not a readable npz archive ({err}); {expected}") from None


def _member(
    archive: np.lib.npyio.NpzFile, key: str, path: Path, expected: str, what: str
) -> np.ndarray:
    """``archive[key]`` as an array; an object (pickled) array is refused, not unpickled."""
    try:
        value = archive[key]
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ValueError(
                f"{what} {path}: array {key!r} has dtype object (pickled Python objects), "
                "which netscale never unpickles; allowed: uint8 images, integer labels, "
                "string class_names"
            ) from None
        raise ValueError(f"{what} {path}: array {key!r} is not a readable .npy ({err})") from None
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{what} {path}: member {key!r} is not a .npy array; {expected}")
    return value


def _class_names(value: np.ndarray | None, path: Path) -> tuple[str, ...]:
    """The optional class_names as strings (a 1-D array of strings or integers)."""
    if value is None:
        return ()
    if value.ndim != 1 or value.dtype.kind not in "USiu":
        raise ValueError(
            f"npz source {path}: array 'class_names' has dtype {value.dtype} and shape "
            f"{value.shape}; allowed: a 1-D array of strings (or integers), one per class"
        )
    if value.dtype.kind == "S":
        return tuple(n.decode("utf-8", "replace") for n in value)
    return tuple(str(n) for n in value)


def _to_nhwc(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    """uint8 images in NHWC, NCHW (unambiguous) or NHW -> (N, H, W, C) with C 1 or 3."""
    if x.dtype != np.uint8:
        raise ValueError(
            f"npz source {path}: array {key!r} has dtype {x.dtype}; allowed: uint8 images "
            "(0..255); convert, e.g. (x * 255).round().astype('uint8') for floats in [0, 1]"
        )
    if x.ndim == 3:
        x = x[..., None]  # NHW: one channel
    elif x.ndim == 4:
        x = _channels_last(x, key, path)
    else:
        raise ValueError(f"npz source {path}: array {key!r} has shape {x.shape}; {_LAYOUTS}")
    if 0 in x.shape[1:3]:
        raise ValueError(f"npz source {path}: array {key!r} of shape {x.shape} has empty images")
    return x


def _channels_last(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    """A 4-D image array as NHWC: NCHW is transposed where only dim 1 can be channels."""
    first, last = x.shape[1] in _CHANNELS, x.shape[3] in _CHANNELS
    if last and not first:
        return x
    if first and not last:
        return x.transpose(0, 2, 3, 1)  # NCHW -> NHWC
    if first:
        why = "is ambiguous: dim 1 and the last dim are both 1 or 3 (NCHW or NHWC?)"
    else:
        why = "has no channel dim: neither dim 1 nor the last dim is 1 (gray) or 3 (RGB)"
    raise ValueError(f"npz source {path}: array {key!r} of shape {x.shape} {why}; {_LAYOUTS}")


def _labels(y: np.ndarray, key: str, n: int, path: Path) -> np.ndarray:
    """One whole-number label per image, shape (n,); values are range-checked later."""
    if y.ndim == 2 and y.shape[1:] == (1,):
        y = y[:, 0]
    if y.shape != (n,):
        raise ValueError(
            f"npz source {path}: array {key!r} has shape {y.shape}; allowed: ({n},) or "
            f"({n}, 1), one label per image of x_{key[2:]}"
        )
    if np.issubdtype(y.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.floor(y)))
        if bad.size:
            raise ValueError(
                f"npz source {path}: {key}[{bad[0]}]={y[bad[0]].item()!r} is not an integer "
                "class index; labels must be whole numbers in [0, K)"
            )
    elif not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"npz source {path}: array {key!r} has dtype {y.dtype}; allowed: integer class "
            "indices (int8..int64, uint8..uint64, or floats holding whole numbers)"
        )
    return y


def _num_classes(
    labels: dict[str, np.ndarray], num_train: int, names: tuple[str, ...], path: Path
) -> int:
    """K: len(names), else max label + 1 (at most ``num_train``); labels must lie in [0, K)."""
    # (value, key, index) of each non-empty array's smallest and largest label
    lows = [(y.min().item(), k, int(np.argmin(y))) for k, y in labels.items() if y.size]
    highs = [(y.max().item(), k, int(np.argmax(y))) for k, y in labels.items() if y.size]
    low, key, i = min(lows, key=lambda t: t[0])
    if low < 0:
        raise ValueError(
            f"npz source {path}: {key}[{i}]={low!r} is negative; labels must be class "
            "indices in [0, K)"
        )
    top, key, i = max(highs, key=lambda t: t[0])
    if names and top >= len(names):
        raise ValueError(
            f"npz source {path}: {key}[{i}]={top!r} is out of range; with "
            f"{len(names)} class_names labels must lie in [0, {len(names) - 1}]"
        )
    if not names and top + 1 > num_train:
        raise ValueError(
            f"npz source {path}: {key}[{i}]={top!r} would make {int(top) + 1} classes, "
            f"more than the {num_train} training images; labels must be class indices in "
            "[0, K) with K = max label + 1 at most the number of training images"
        )
    return len(names) or int(top) + 1


def _dataset(images: np.ndarray, labels: np.ndarray, name: str) -> ArrayDataset:
    """NHWC uint8 images and checked labels -> ArrayDataset (N, C, H, W) / int64."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # NCHW input: no copy
    return ArrayDataset(x, torch.from_numpy(labels.astype(np.int64)), name)
