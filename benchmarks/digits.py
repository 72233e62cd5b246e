"""Digits benchmark: `netscale train` of a small model on scikit-learn's digits, timed as a
user runs it (the whole command: start-up, data, model, 15 epochs, evaluation).

Run:  .venv/bin/python benchmarks/digits.py [--seeds 0 1 2] [--model regnet_y_200mf]
          [--resolution 32]
Prints a Markdown table for docs/results.md. Wall time depends on the machine and on what
else runs on it: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(model: str, seed: int, resolution: int) -> tuple[float, dict]:
    """(wall seconds of the whole command, result summary) for one seed."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "netscale.cli.main",
            "train",
            model,
            "--data",
            "digits",
            "--recipe",
            "quick",
            "--resolution",
            str(resolution),
            "--seed",
            str(seed),
            "--out",
            str(Path(tmp) / "run"),
        ]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return time.perf_counter() - t0, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="regnet_y_200mf")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--resolution", type=int, default=32, help="pixels (default 32)")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        wall, result = run(args.model, seed, args.resolution)
        rows.append((seed, wall, result))
        print(f"seed {seed}: top1 {result['top1']:.2f}% in {wall:.1f} s", file=sys.stderr)
    print("| model | recipe | seed | test top-1 (%) | wall (s) | train images/s |")
    print("|---|---|---|---|---|---|")
    for seed, wall, r in rows:
        print(
            f"| `{args.model}` @ {args.resolution} px | quick (15 epochs) | {seed} | "
            f"{r['top1']:.2f} | {wall:.1f} | {r['images_per_s']:.0f} |"
        )
    top1 = [r["top1"] for _, _, r in rows]
    walls = [w for _, w, _ in rows]
    print(
        f"\nmean top-1 {statistics.mean(top1):.2f}% (min {min(top1):.2f}), mean wall "
        f"{statistics.mean(walls):.1f} s (max {max(walls):.1f}) over {len(rows)} seeds."
    )


if __name__ == "__main__":
    main()
