"""Write a class-balanced, shuffled subset of CIFAR-10 as an npz for short studies.

Usage: python benchmarks/cifar_subset.py --train 10000 --test 5000 --out /tmp/cifar10_10k.npz
Reads ../shared/data/cifar10.npz (or --src); picks the subset with numpy's default_rng(--seed)
so the same command always writes the same file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10.npz"


def balanced(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` indices, the same number per class, in a random order."""
    classes = np.unique(labels)
    per = n // len(classes)
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per] for c in classes]
    return rng.permutation(np.concatenate(picks))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", default=str(SRC))
    p.add_argument("--train", type=int, default=10_000)
    p.add_argument("--test", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    data = np.load(args.src)
    rng = np.random.default_rng(args.seed)
    tr = balanced(data["y_train"], args.train, rng)
    te = balanced(data["y_test"], args.test, rng)
    np.savez(
        args.out,
        x_train=data["x_train"][tr],
        y_train=data["y_train"][tr],
        x_test=data["x_test"][te],
        y_test=data["y_test"][te],
    )
    print(f"wrote {args.out}: {len(tr)} train / {len(te)} test images")


if __name__ == "__main__":
    main()
