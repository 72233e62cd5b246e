"""Teacher -> student on CIFAR-10 (ResNet-RS sec. 6, Noisy-Student style): a teacher trained
on a labeled fraction of the training set labels the rest, a student trains on both, and a
labeled-only run with the student's number of steps says what the pseudo-labels added.

Per seed, with the fast_cifar recipe (docs/pseudo_labels.md gives the same steps by hand):
  teacher      `netscale train SPEC --data npz:labeled.npz --epochs E`
  labels       `netscale predict teacher --data npz:rest.npz --out labels.npz`
  student      `netscale train SPEC --data npz:labeled.npz --epochs E --pseudo labels.npz
                --pseudo-ratio 0.5 --pseudo-targets soft` (twice the teacher's steps: an
                epoch is one pass over the labeled images, each batch half pseudo-labeled)
  labeled-only `netscale train SPEC --data npz:labeled.npz --epochs 2E` (the student's steps)
The recipe's epoch-valued fields (warmup 2.3 and lookahead start 3.0 of its 10 epochs) are
scaled with E so every run keeps the recipe's shape. The split (stratified, seed 0) is the
same for every seed; seeds vary the training. The table also scores the teacher's labels
against the true labels of the unlabeled images (which no run sees).

Run (from the repository root; minutes per run on a CPU):
  .venv/bin/python benchmarks/pseudo_cifar.py --seeds 0 1 2 --out runs/pl [--hard]
Print the table of runs that already exist: the same command (finished runs are kept).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from cifar_fast import summary

RECIPE_EPOCHS, WARMUP, LOOKAHEAD_START = 10, 2.3, 3.0  # fast_cifar's own values


def split(data: str, labeled: float, out: Path) -> tuple[Path, Path, Path]:
    """labeled.npz (the labeled fraction + the test set), rest.npz (the other training
    images, no labels) and rest_labels.npy (their true labels, for scoring only)."""
    from netscale.data import load_data
    from netscale.data.datasets import stratified_split

    paths = out / "labeled.npz", out / "rest.npz", out / "rest_labels.npy"
    if all(p.is_file() for p in paths):
        return paths
    out.mkdir(parents=True, exist_ok=True)
    d = load_data(data)
    rest, kept = stratified_split(d.train.labels, labeled, seed=0)
    x, y = d.train.images.numpy(), d.train.labels.numpy()
    np.savez(paths[0], x_train=x[kept], y_train=y[kept], x_test=d.test.images.numpy(),
             y_test=d.test.labels.numpy(), class_names=np.array(d.class_names))  # fmt: skip
    np.savez(paths[1], x_train=x[rest])
    np.save(paths[2], y[rest])
    return paths


def netscale(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "netscale.cli.main", *args], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def train(spec: str, data: Path, seed: int, epochs: int, out: Path, extra: list[str]) -> Path:
    """One fast_cifar run of `epochs` into `out` (kept when finished, resumed when not)."""
    if (out / "result.json").is_file():
        return out
    scale = epochs / RECIPE_EPOCHS
    cmd = ["train", spec, "--data", f"npz:{data}", "--recipe", "fast_cifar", "--seed", str(seed),
           "--epochs", str(epochs), "--warmup-epochs", f"{WARMUP * scale:g}",
           "--lookahead-start-epochs", f"{LOOKAHEAD_START * scale:g}", "--out", str(out),
           *extra]  # fmt: skip
    if (out / "checkpoints").is_dir():
        cmd.append("--resume")
    netscale(*cmd)
    return out


def label_accuracy(labels: Path, truth: Path) -> float:
    """Top-1 (%) of the teacher's argmax on the unlabeled images."""
    with np.load(labels) as a:
        return float((a["argmax"] == np.load(truth)).mean() * 100)


def run_seed(args: argparse.Namespace, seed: int, files: tuple[Path, Path, Path]) -> dict:
    labeled, rest, truth = files
    root, e, batch = Path(args.out) / f"seed{seed}", args.epochs, ["--batch-size", str(args.batch)]
    teacher = train(args.spec, labeled, seed, e, root / "teacher", batch)
    labels = root / "labels.npz"
    if not labels.is_file():
        netscale("predict", str(teacher), "--data", f"npz:{rest}", "--out", str(labels))
    pseudo = ["--pseudo", str(labels), "--pseudo-ratio", "0.5"]
    runs = {
        "teacher": teacher,
        "labeled-only": train(args.spec, labeled, seed, 2 * e, root / "labeled_only", batch),
        "student": train(
            args.spec,
            labeled,
            seed,
            e,
            root / "student",
            [*batch, *pseudo, "--pseudo-targets", "soft"],
        ),
    }
    if args.hard:
        runs["student (hard)"] = train(args.spec, labeled, seed, e, root / "student_hard",
                                       [*batch, *pseudo, "--pseudo-targets", "hard"])  # fmt: skip
    row = {"seed": seed, "labels": label_accuracy(labels, truth)}
    for name, run in runs.items():
        s = summary(run)
        row[name] = (s["top1"], s["tta"], s["wall_min"], s["cpu"], s["precision"])
    return row


def table(rows: list[dict]) -> str:
    """Markdown: per seed, the teacher's label accuracy and each run's top-1 / 6-view TTA,
    then mean ± sd across seeds."""
    names = [k for k in rows[0] if k not in ("seed", "labels")]
    head = ["seed", "teacher's labels (%)", *(f"{n}: top-1 / 6-view TTA (%)" for n in names)]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r[n][0]:.2f} / {r[n][1]:.2f}" for n in names]
        out.append(f"| {r['seed']} | {r['labels']:.2f} | " + " | ".join(cells) + " |")
    if len(rows) > 1:

        def spread(values: list[float]) -> str:
            return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"

        cells = [f"{spread([r[n][0] for r in rows])} / {spread([r[n][1] for r in rows])}"
                 for n in names]  # fmt: skip
        labels = spread([r["labels"] for r in rows])
        out.append(f"| mean ± sd ({len(rows)} seeds) | {labels} | " + " | ".join(cells) + " |")
    walls = {n: statistics.mean(r[n][2] for r in rows) for n in names}
    where = {f"{r[n][3]}, {r[n][4]}" for r in rows for n in names}
    out.append("")
    times = ", ".join(f"{n} {w:.1f}" for n, w in walls.items())
    out.append(f"Mean wall time per run (min): {times}; measured on: {'; '.join(sorted(where))}.")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="benchmarks/specs/cifar_convpool.yaml")
    parser.add_argument("--data", default="npz:../shared/data/cifar10.npz")
    parser.add_argument("--labeled", type=float, default=0.1, help="labeled fraction (0.1)")
    parser.add_argument("--epochs", type=int, default=20, help="teacher and student epochs")
    parser.add_argument("--batch", type=int, default=256, help="batch size (lr scales)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--hard", action="store_true", help="also a hard-target student")
    parser.add_argument("--out", default="runs/pl")
    args = parser.parse_args()
    files = split(args.data, args.labeled, Path(args.out))
    rows = []
    for seed in args.seeds:
        rows.append(run_seed(args, seed, files))
        print(f"seed {seed} done: {json.dumps(rows[-1])}", file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
