"""The labels file ``netscale predict`` writes (labels.npz), read back by training with
pseudo-labels; written and read here, side by side, so its format is spelled in one place.

A numpy ``.npz`` archive (no pickles: strings are numpy unicode arrays, scalars 0-d):

- ``probs`` float32 (N, K): the teacher's softmax probabilities, one row per image;
- ``top_k_index`` int64 (N, k) and ``top_k_prob`` float32 (N, k): the k most probable
  classes of each image, most probable first (k = min(top_k, K));
- ``argmax`` int64 (N,): the most probable class (``top_k_index[:, 0]``);
- ``class_names`` str (K,): the teacher run's class names;
- ``source`` str: the data source labeled, its path absolute (``folder:/data/unlabeled``,
  ``npz:/data/rest.npz``, ``digits``);
- the images' references: ``files`` str (N,) for a folder source (paths relative to the
  folder), else ``split`` str (N,) ("train": an npz's x_train, "test": its x_test) and
  ``index`` int64 (N,) (the row in that split);
- ``weights`` str ("ema" or "final"), ``run`` str (the teacher's run directory),
  ``spec_id`` str, ``checkpoint`` str, ``epoch`` int64: what labeled them;
- ``skipped`` str: corrupt files left out (folder sources);
- ``format`` str ("netscale-labels") and ``version`` int64 (1).

``REQUIRED`` keys must be present for training to read a file; ``format``, ``version``,
``checkpoint``, ``epoch`` and ``skipped`` are optional, so a labels file made by other code
needs only those. Rows of ``probs`` must be finite, non-negative and sum to 1 (within 1e-3).
Written atomically (a temporary file, then a link or rename); an existing file is replaced
only with ``force``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netscale.data.npz import read_npz
from netscale.spec.io import atomic_path

__all__ = ["FORMAT", "REQUIRED", "Predictions", "PseudoSet", "read_predictions"]

FORMAT, VERSION = "netscale-labels", 1
REQUIRED = ("probs", "top_k_index", "top_k_prob", "argmax", "class_names", "source")
REQUIRED += ("weights", "run", "spec_id")
OPTIONAL = ("files", "split", "index", "skipped", "checkpoint", "epoch", "format", "version")
SUM_TOLERANCE = 1e-3
_EXPECTED = (
    "expected a labels file written by netscale predict (arrays "
    + ", ".join(REQUIRED)
    + ", and files, or split and index)"
)
_WHAT = "pseudo-labels"


@dataclass(frozen=True)
class Predictions:
    """What ``netscale.predict`` returns and labels.npz holds (see the module docstring);
    ``path`` and ``sha256`` are the file's once written or read."""

    probs: np.ndarray
    top_k_index: np.ndarray
    top_k_prob: np.ndarray
    argmax: np.ndarray
    class_names: tuple[str, ...]
    source: str
    weights: str
    run: str
    spec_id: str
    checkpoint: str = ""
    epoch: int = 0
    files: np.ndarray | None = None
    split: np.ndarray | None = None
    index: np.ndarray | None = None
    skipped: tuple[str, ...] = ()
    path: Path | None = None
    sha256: str | None = field(default=None, repr=False)

    @classmethod
    def from_probs(cls, probs: np.ndarray, top_k: int, **fields: Any) -> Predictions:
        """Predictions from softmax rows (N, K): top-k (k = min(top_k, K)) and argmax."""
        probs = np.ascontiguousarray(probs, dtype=np.float32)
        k = min(top_k, probs.shape[1])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k].astype(np.int64)
        return cls(
            probs=probs,
            top_k_index=order,
            top_k_prob=np.take_along_axis(probs, order, axis=1),
            argmax=order[:, 0].copy() if k else np.zeros(len(probs), np.int64),
            **fields,
        )

    def __len__(self) -> int:
        return len(self.probs)

    @property
    def num_classes(self) -> int:
        return int(self.probs.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        """The archive's arrays (see the module docstring)."""
        out: dict[str, np.ndarray] = {
            "probs": self.probs,
            "top_k_index": self.top_k_index,
            "top_k_prob": self.top_k_prob,
            "argmax": self.argmax,
            "class_names": np.array(self.class_names, dtype=str),
            "source": np.array(self.source),
            "weights": np.array(self.weights),
            "run": np.array(self.run),
            "spec_id": np.array(self.spec_id),
            "checkpoint": np.array(self.checkpoint),
            "epoch": np.array(self.epoch, dtype=np.int64),
            "skipped": np.array(self.skipped, dtype=str),
            "format": np.array(FORMAT),
            "version": np.array(VERSION, dtype=np.int64),
        }
        if self.files is not None:
            out["files"] = np.asarray(self.files, dtype=str)
        if self.split is not None and self.index is not None:
            out["split"] = np.asarray(self.split, dtype=str)
            out["index"] = np.asarray(self.index, dtype=np.int64)
        return out

    def save(self, path: str | Path, *, force: bool = False) -> Predictions:
        """Write the archive to `path` atomically; an existing file is a FileExistsError
        unless `force`. Returns these predictions with `path` and `sha256` set."""
        path = Path(path)
        check_writable(path, force=force)
        with atomic_path(path, overwrite=force) as tmp, tmp.open("wb") as file:
            np.savez(file, **self.arrays())  # a file object: no ".npz" appended
        return replace(self, path=path, sha256=file_sha256(path))


def check_writable(path: Path, *, force: bool) -> None:
    """Before any work: FileExistsError for an existing `path` (unless `force`), and
    FileNotFoundError when its directory does not exist."""
    if path.exists() and not force:
        raise FileExistsError(
            f"{path} already exists; pass force=True (--force) to replace it, or another --out"
        )
    if path.is_dir():
        raise FileExistsError(f"{path} is a directory; --out needs a file name (labels.npz)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_predictions(path: str | Path) -> Predictions:
    """Read and check a labels file (see the module docstring); every problem is a one-line
    ValueError (FileNotFoundError when there is no file) naming the file."""
    path = Path(path)
    a = read_npz(path, required=REQUIRED, optional=OPTIONAL, expected=_EXPECTED, what=_WHAT)
    where = f"{_WHAT} {path}"
    if "format" in a and (_text(a["format"]) != FORMAT or int(a.get("version", 1)) > VERSION):
        raise ValueError(
            f"{where}: format {_text(a['format'])!r} version {int(a.get('version', 1))}; this "
            f"netscale reads {FORMAT!r} up to version {VERSION}"
        )
    probs = _probs(a["probs"], where)
    n, k = probs.shape
    argmax = _ints(a["argmax"], "argmax", (n,), where)
    if argmax.size and (argmax.min() < 0 or argmax.max() >= k):
        raise ValueError(f"{where}: argmax holds classes outside [0, {k - 1}]")
    names = tuple(str(s) for s in np.asarray(a["class_names"]).reshape(-1))
    if names and len(names) != k:
        raise ValueError(f"{where}: {len(names)} class_names for {k} classes (probs {probs.shape})")
    source = _text(a["source"])
    files = split = index = None
    if source.startswith("folder:"):
        if "files" not in a:
            raise ValueError(f"{where}: missing array 'files' (the labeled folder's images)")
        files = _strings(a["files"], "files", n, where)
    else:
        if "split" not in a or "index" not in a:
            raise ValueError(f"{where}: missing arrays 'split' and 'index' of source {source!r}")
        split = _strings(a["split"], "split", n, where)
        index = _ints(a["index"], "index", (n,), where)
    return Predictions(
        probs=probs,
        top_k_index=np.asarray(a["top_k_index"]),
        top_k_prob=np.asarray(a["top_k_prob"]),
        argmax=argmax,
        class_names=names,
        source=source,
        weights=_text(a["weights"]),
        run=_text(a["run"]),
        spec_id=_text(a["spec_id"]),
        checkpoint=_text(a["checkpoint"]) if "checkpoint" in a else "",
        epoch=int(a["epoch"]) if "epoch" in a else 0,
        files=files,
        split=split,
        index=index,
        skipped=tuple(str(s) for s in np.asarray(a.get("skipped", [])).reshape(-1)),
        path=path,
        sha256=file_sha256(path),
    )


def _text(value: np.ndarray) -> str:
    return str(np.asarray(value).reshape(-1)[0]) if np.asarray(value).size else ""


def _probs(p: np.ndarray, where: str) -> np.ndarray:
    if p.ndim != 2 or p.dtype.kind != "f" or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(
            f"{where}: probs has dtype {p.dtype} and shape {p.shape}; allowed: floats "
            "(N, K) with N >= 1 images and K >= 2 classes"
        )
    p = p.astype(np.float32)
    sums = p.sum(axis=1, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(sums) | (p.min(axis=1) < 0) | (abs(sums - 1) > SUM_TOLERANCE))
    if bad.size:
        raise ValueError(
            f"{where}: probs row {int(bad[0])} is not a probability distribution (sum "
            f"{sums[bad[0]]:.4g}); rows must be finite, >= 0 and sum to 1"
        )
    return p


def _ints(x: np.ndarray, key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if x.shape != shape or x.dtype.kind not in "iu":
        raise ValueError(
            f"{where}: {key} has dtype {x.dtype} and shape {x.shape}; allowed: ints {shape}"
        )
    return x.astype(np.int64)


def _strings(x: np.ndarray, key: str, n: int, where: str) -> np.ndarray:
    if x.shape != (n,) or x.dtype.kind not in "US":
        raise ValueError(
            f"{where}: {key} has dtype {x.dtype} and shape {x.shape}; allowed: strings ({n},)"
        )
    return x.astype(str)


@dataclass(frozen=True, slots=True)
class PseudoSet:
    """Pseudo-labeled images in memory, to train on: ``images`` uint8 (M, C, H, W),
    ``labels`` int64 (M,) the teacher's argmax, ``probs`` float32 (M, K) its probabilities
    for soft targets (None: hard targets, the one-hot of ``labels``)."""

    images: torch.Tensor
    labels: torch.Tensor
    probs: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device) -> PseudoSet:
        probs = None if self.probs is None else self.probs.to(device)
        return PseudoSet(self.images.to(device), self.labels.to(device), probs)
