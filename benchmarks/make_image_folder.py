"""Build an ImageFolder of variable-size JPEGs from CIFAR-10, for decode and loader benchmarks.

Writes OUT/train/<class>/*.jpg and OUT/val/<class>/*.jpg (val from the test split). Each
32x32 image is upscaled with PIL bicubic to a size drawn per image, width and height each
uniform in [128, 320] px independently (so aspect ratios vary), and saved as JPEG quality 90.
Images are taken class-interleaved from a seeded shuffle, so any count is class-balanced
(to within one image); a count larger than the split reuses its images cyclically, each
reuse with its own size draw (so --train 50000 or --val 20000 work). The same command with
the same --seed always writes the same files.

Safe to rerun: refuses a non-empty OUT unless --force, and even then only replaces a folder
that holds nothing but train/ and val/. Writes OUT.tmp and renames it to OUT at the end, so
OUT is never left half-written.

Run:  .venv/bin/python benchmarks/make_image_folder.py --out /tmp/nsfolder [--train 10000]
      [--val 2000] [--seed 0] [--workers 2] [--force]
Needs ../shared/data/cifar10.npz (CIFAR-10, or --src); prints a Markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SRC = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10.npz"
CIFAR10 = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
MIN_SIDE, MAX_SIDE, QUALITY = 128, 320, 90


def interleaved_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """All indices: a random permutation within each class, classes taken in turn."""
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[rng.permutation(idx)] = np.arange(len(idx))
    return np.lexsort((labels, rank))  # by rank within class, then by class


def _write(task: tuple[str, np.ndarray, int, int]) -> int:
    path, pixels, width, height = task
    image = Image.fromarray(pixels).resize((width, height), Image.Resampling.BICUBIC)
    image.save(path, "JPEG", quality=QUALITY)
    return os.path.getsize(path)


def _tasks(root: Path, x: np.ndarray, y: np.ndarray, n: int, names, rng: np.random.Generator):
    """(path, pixels, width, height) for `n` images of one split; draws from `rng` eagerly."""
    order = interleaved_order(y, rng)
    sizes = rng.integers(MIN_SIDE, MAX_SIDE + 1, size=(n, 2))  # one (w, h) per written image
    for name in names:
        (root / name).mkdir(parents=True)
    return [
        (
            str(root / names[y[src]] / f"{i:06d}.jpg"),
            x[src],
            int(sizes[i, 0]),
            int(sizes[i, 1]),
        )
        for i, src in enumerate(order[np.arange(n) % len(order)])
    ]


def _replaceable(path: Path) -> bool:
    """True for a folder this script may delete: empty, or holding only train/ and val/."""
    return path.is_dir() and {p.name for p in path.iterdir()} <= {"train", "val"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder to create (OUT/train, OUT/val)")
    p.add_argument("--src", default=str(SRC), help="CIFAR-10 npz (x_train, y_train, ...)")
    p.add_argument("--train", type=int, default=10_000, help="train images (up to 50000)")
    p.add_argument("--val", type=int, default=2_000, help="val images, from the test split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="processes writing JPEGs")
    p.add_argument("--force", action="store_true", help="replace an existing image folder")
    args = p.parse_args()
    if args.train < 0 or args.val < 0 or args.workers < 1:
        p.error("--train and --val must be >= 0, --workers >= 1")

    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        if not args.force:
            p.error(f"{out} exists and is not empty; pass --force to replace it")
        if not _replaceable(out):
            p.error(f"{out} holds more than train/ and val/; not deleting it, even with --force")
    if tmp.exists():  # left over from an interrupted run
        if not _replaceable(tmp):
            p.error(f"{tmp} exists and holds more than train/ and val/; remove it yourself")
        shutil.rmtree(tmp)

    data = np.load(args.src)
    names = [str(c) for c in data["class_names"]] if "class_names" in data.files else list(CIFAR10)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    tmp.mkdir(parents=True)
    splits = {
        "train": _tasks(tmp / "train", data["x_train"], data["y_train"], args.train, names, rng),
        "val": _tasks(tmp / "val", data["x_test"], data["y_test"], args.val, names, rng),
    }
    written = {}
    if args.workers == 1:
        for split, tasks in splits.items():
            written[split] = sum(map(_write, tasks))
    else:
        with multiprocessing.Pool(args.workers) as pool:
            for split, tasks in splits.items():
                written[split] = sum(pool.imap_unordered(_write, tasks, chunksize=64))
    if out.exists():  # empty, or a replaceable image folder with --force
        old = Path(tempfile.mkdtemp(prefix=out.name + ".old.", dir=out.parent))
        out.rename(old / out.name)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
    seconds = time.perf_counter() - start

    print(f"wrote {out} (seed {args.seed}, {args.workers} workers, {seconds:.1f} s)\n")
    print("| split | images | bytes | MB | KB/image |")
    print("|---|---|---|---|---|")
    for split, tasks in splits.items():
        n, b = len(tasks), written[split]
        print(f"| {split} | {n} | {b} | {b / 1e6:.1f} | {b / 1e3 / max(n, 1):.1f} |")
    n, b = sum(len(t) for t in splits.values()), sum(written.values())
    print(f"| total | {n} | {b} | {b / 1e6:.1f} | {b / 1e3 / max(n, 1):.1f} |")
    print(f"\n{n} images, {b} bytes in {seconds:.1f} s ({n / seconds:.0f} images/s)")


if __name__ == "__main__":
    main()
