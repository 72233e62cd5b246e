"""Fast CIFAR-10: `netscale train` of a spec with the fast_cifar recipe over several seeds,
and the Markdown rows docs/results.md shows (final top-1 plain / flip TTA / 6-view TTA,
wall time, training images/s and MFU, the processor each run recorded in env.json).

Run (each seed is a full training run; minutes to tens of minutes on a CPU):
  .venv/bin/python benchmarks/cifar_fast.py --spec benchmarks/specs/cifar_convpool_w96.yaml \
      --seeds 0 1 2 --out runs/cifar_fast [-- --batch-size 512 --lr 1.3]
Summarize run directories that already exist (no training):
  .venv/bin/python benchmarks/cifar_fast.py --runs runs/cifar_fast/seed0 runs/cifar_fast/seed1

Arguments after `--` go to `netscale train` unchanged (recipe overrides). The data is
../shared/data/cifar10.npz unless --data says otherwise. Wall time and MFU depend on what
else runs on the machine: the table prints both as measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path


def train(spec: str, data: str, seed: int, out: Path, extra: list[str]) -> Path:
    """Train one seed into `out` (resumed when `out` holds an unfinished run)."""
    cmd = [sys.executable, "-m", "netscale.cli.main", "train", spec, "--data", data]
    cmd += ["--recipe", "fast_cifar", "--seed", str(seed), "--out", str(out), *extra]
    if (out / "checkpoints").is_dir() and not (out / "result.json").is_file():
        cmd.append("--resume")
    if not (out / "result.json").is_file():
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def summary(run: Path) -> dict:
    """The final metrics of a finished run directory, with its timing and processor."""
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    env = json.loads((run / "env.json").read_text())
    recipe = json.loads((run / "recipe.json").read_text())
    last = lines[-1]
    return {
        "run": str(run),
        "seed": json.loads((run / "data.json").read_text())["seed"],
        "epochs": last["epoch"],
        "batch": recipe["batch_size"],
        "top1": last["test_top1"],
        "flip": last["test_top1_flip"],
        "tta": last["test_top1_tta"],
        "wall_min": last["wall_s"] / 60,
        "images_per_s": statistics.median(m["images_per_s"] for m in lines),
        "mfu": statistics.median(m["mfu"] for m in lines),
        "precision": last["precision"],
        "cpu": f"{env['device_name']} ({env['bf16_capability'] or env['cpu_capability']})",
    }


def table(rows: list[dict]) -> str:
    """Markdown rows per seed, then mean and sample standard deviation."""
    out = [
        "| seed | epochs | batch | top-1 (%) | flip TTA (%) | 6-view TTA (%) | wall (min) | "
        "images/s (median epoch) | MFU (median epoch) | precision | processor |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['seed']} | {r['epochs']} | {r['batch']} | {r['top1']:.2f} | {r['flip']:.2f} "
            f"| {r['tta']:.2f} | {r['wall_min']:.1f} | {r['images_per_s']:.0f} | "
            f"{r['mfu']:.1%} | {r['precision']} | {r['cpu']} |"
        )
    if len(rows) > 1:
        cells = []
        for key in ("top1", "flip", "tta"):
            values = [r[key] for r in rows]
            cells.append(f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}")
        walls = [r["wall_min"] for r in rows]
        out.append(
            f"| mean ± sd ({len(rows)} seeds) | | | {' | '.join(cells)} | "
            f"{statistics.mean(walls):.1f} | | | | |"
        )
    return "\n".join(out)


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="benchmarks/specs/cifar_convpool_w96.yaml")
    parser.add_argument("--data", default="npz:../shared/data/cifar10.npz")
    parser.add_argument("--seeds", type=int, nargs="*", default=[])
    parser.add_argument("--out", default="runs/cifar_fast", help="folder of seed<N> runs")
    parser.add_argument("--runs", nargs="*", default=[], help="summarize these runs too")
    args = parser.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    for seed in args.seeds:
        runs.append(train(args.spec, args.data, seed, Path(args.out) / f"seed{seed}", extra))
        print(f"seed {seed} done: {runs[-1]}", file=sys.stderr)
    if not runs:
        parser.error("nothing to do: give --seeds to train or --runs to summarize")
    print(table([summary(r) for r in runs]))


if __name__ == "__main__":
    main()
