"""End to end: one epoch of netscale.train on a streamed image folder, and its data share.

Each run is

    netscale.train(MODEL, "folder:PATH", "quick", out, workers=W, epochs=1, resolution=128,
                   eval_resolution=160, eval_crop_fraction=0.875, crop="resized", flip=True,
                   batch_size=64, precision="fp32")

on the CPU: the quick recipe (SGD + Nesterov, cosine with warmup, label smoothing 0.1) with
a random-resized crop (scale 0.08-1) and flip, decoded and cropped in W DataLoader workers
(W = 0: in the training process itself), then evaluation of the val split at 160 px (the
central 87.5% square). The table gives, from the epoch's metrics line, the training
images/s, epoch_s, data_wait_s (seconds the training loop waited for batches), the data
share of the step time = data_wait_s / epoch_s, the training loss and the test top-1 after
the one epoch (low: one epoch from scratch), plus the whole call's wall time (model build,
evaluation and checkpoint included). Runs alternate the worker counts (A B B A ... with
--repeats 2); every run uses seed 0, so its batches, and hence its loss and top-1, should
not depend on W.

Run:  .venv/bin/python benchmarks/make_image_folder.py --out /tmp/nsbench_2k \\
          --train 2000 --val 500
      .venv/bin/python benchmarks/stream_train.py --folder /tmp/nsbench_2k [--workers 2 0]
      [--repeats 1] [--model efficientnet_v2_b0]
Prints a Markdown table (docs/data.md); a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from machine import cpu, provenance  # benchmarks/machine.py

import netscale


def one_run(model: str, folder: Path, workers: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="stream_train.") as out:
        t0 = time.perf_counter()
        result = netscale.train(
            model,
            f"folder:{folder}",
            "quick",
            out,
            workers=workers,
            epochs=1,
            resolution=128,
            eval_resolution=160,
            eval_crop_fraction=0.875,
            crop="resized",
            flip=True,
            batch_size=batch,
            precision="fp32",
            device="cpu",
        )
        wall = time.perf_counter() - t0
    if result.status != "completed":
        raise SystemExit(f"run with workers={workers} ended {result.status}")
    line = dict(result.metrics[-1])
    line["call_s"] = wall
    line["workers"] = workers
    return line


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", default="/tmp/nsbench_2k", help="ImageFolder (train/, val/)")
    p.add_argument("--model", default="efficientnet_v2_b0")
    p.add_argument("--workers", type=int, nargs="+", default=[2, 0])
    p.add_argument("--repeats", type=int, default=1, help="rounds over --workers (ABBA order)")
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    folder = Path(args.folder)
    if not (folder / "train").is_dir():
        sys.exit(
            f"no {folder}/train; make it: .venv/bin/python benchmarks/make_image_folder.py"
            f" --out {folder} --train 2000 --val 500"
        )
    model, flags = cpu()
    print(f"CPU: {model} ({flags}); {os.cpu_count()} logical CPUs")
    print(provenance())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    lines = []
    for r in range(args.repeats):
        for w in args.workers if r % 2 == 0 else args.workers[::-1]:
            line = one_run(args.model, folder, w, args.batch)
            lines.append(line)
            print(
                f"  workers={w}: {line['images_per_s']} images/s, epoch {line['epoch_s']} s,"
                f" data wait {line['data_wait_s']} s",
                file=sys.stderr,
            )
    first = lines[0]
    print(
        f"\n{args.model}, folder:{folder} ({first['test_images']} test images), 1 epoch of the"
        f" quick recipe at 128 px (random-resized crop + flip), batch {args.batch}, fp32,"
        " eval at 160 px (crop fraction 0.875)\n"
    )
    print(
        "| workers | train images/s | epoch_s | data_wait_s | data share of step time |"
        " train_loss | test top-1 % | skipped | call wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for line in lines:
        share = line["data_wait_s"] / line["epoch_s"] if line["epoch_s"] else 0.0
        print(
            f"| {line['workers']} | {line['images_per_s']:.1f} | {line['epoch_s']:.1f} |"
            f" {line['data_wait_s']:.1f} | {share:.1%} | {line['train_loss']:.4f} |"
            f" {line['test_top1']:.2f} | {line['skipped_images']} | {line['call_s']:.1f} |"
        )
    same = {(x["train_loss"], x["test_top1"]) for x in lines}
    print(
        "\nSame train_loss and test top-1 for every worker count:"
        f" {'yes' if len(same) == 1 else 'no'} ({len(lines)} runs). Top-1 after one epoch"
        " from scratch is low by design: this measures speed, not accuracy."
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
