"""Peak memory of a streamed epoch: does it stay flat as the image folder grows?

For each --folder, a fresh Python process loads ``folder:PATH`` and streams one full epoch of
``netscale.data.steps.train_steps`` at --resolution (default 128) with --workers DataLoader
workers (default 2), batch 64, random-resized crop + flip + RandAugment (2 layers, timm's
magnitude 9: see randaugment_fields), dropping each batch once received. A thread samples
the process tree (this process and every descendant: the DataLoader workers) every
--interval seconds (default 0.05) and records the sum of RSS (psutil if installed, else
/proc/PID/statm) and of PSS (/proc/PID/smaps_rollup, every 4th sample: shared pages
divided among the processes that map them, so the forked workers' shared libraries and
copy-on-write pages are not counted twice, as the RSS sum counts them).

The table gives, per folder: the tree's RSS just before the epoch (after load_data), its
peak during the epoch, the peak PSS, the largest peak RSS of the main process and of any
one worker, and for comparison the bytes the decode-into-memory path would need for the
training images: N x mean H x mean W x 3 (uint8 RGB), the mean height and width read from
every file's header (PIL, no decode). (``memfolder:PATH`` actually fits every image to the
folder's most common size, also given.) The last line is the ratio of peaks, largest
folder / smallest.

Run:  .venv/bin/python benchmarks/make_image_folder.py --out /tmp/nsbench_10k \\
          --train 10000 --val 200
      .venv/bin/python benchmarks/make_image_folder.py --out /tmp/nsbench_50k \\
          --train 50000 --val 200     # a few minutes
      .venv/bin/python benchmarks/loader_memory.py --folder /tmp/nsbench_10k \\
          --folder /tmp/nsbench_50k
Prints Markdown tables (docs/data.md).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from machine import cpu, provenance  # benchmarks/machine.py

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 2**20
PSS_EVERY = 4  # samples between PSS readings


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from /proc/*/stat parent ids."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def rss(pid: int) -> int:
    """Resident bytes of ``pid`` (0 when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (0 when gone or unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class Sampler(threading.Thread):
    """Every ``interval`` s: the tree's RSS and PSS sums and each process's RSS."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval, self.stop = interval, threading.Event()
        self.peak_rss = self.peak_pss = self.peak_main = self.peak_worker = 0
        self.samples = 0
        self.most_workers = 0
        self.mean_interval = 0.0
        try:
            import psutil

            self._psutil = psutil
        except ImportError:
            self._psutil = None

    def tree(self) -> list[tuple[int, int]]:
        """(pid, rss) of this process and its descendants."""
        me = os.getpid()
        if self._psutil is not None:
            p = self._psutil.Process(me)
            procs = [p, *p.children(recursive=True)]
            out = []
            for q in procs:
                with contextlib.suppress(self._psutil.Error):
                    out.append((q.pid, q.memory_info().rss))
            return out
        return [(pid, rss(pid)) for pid in descendants(me)]

    def sample(self) -> int:
        me = os.getpid()
        procs = self.tree()
        total = sum(r for _, r in procs)
        self.peak_rss = max(self.peak_rss, total)
        if self.samples % PSS_EVERY == 0:  # smaps_rollup costs ~10 ms a process
            self.peak_pss = max(self.peak_pss, sum(pss(pid) for pid, _ in procs))
        for pid, r in procs:
            if pid == me:
                self.peak_main = max(self.peak_main, r)
            else:
                self.peak_worker = max(self.peak_worker, r)
        self.most_workers = max(self.most_workers, len(procs) - 1)
        self.samples += 1
        return total

    def run(self) -> None:
        start = time.perf_counter()
        while not self.stop.is_set():
            t = time.perf_counter()
            self.sample()
            self.stop.wait(max(0.0, self.interval - (time.perf_counter() - t)))
        self.mean_interval = (time.perf_counter() - start) / max(self.samples, 1)


def randaugment_fields() -> dict:
    """RandAugment as timm's rand-m9-n2 in the installed netscale: with a ``randaug_ops``
    field, timm's ops at 9 on the 0..10 scale; without (commit 836078c), 27 on torchvision's
    0..30 scale."""
    from netscale.data import AugmentConfig

    if "randaug_ops" in {f.name for f in dataclasses.fields(AugmentConfig)}:
        return {"randaug_layers": 2, "randaug_magnitude": 9.0, "randaug_ops": "timm"}
    return {"randaug_layers": 2, "randaug_magnitude": 27.0}


def header_sizes(files: list[Path]) -> tuple[float, float, tuple[int, int]]:
    """Mean height, mean width and the most common (height, width), from file headers."""
    from PIL import Image

    heights, widths, sizes = [], [], Counter()
    for path in files:
        with Image.open(path) as image:  # reads the header only
            w, h = image.size
        heights.append(h)
        widths.append(w)
        sizes[(h, w)] += 1
    return statistics.fmean(heights), statistics.fmean(widths), sizes.most_common(1)[0][0]


def one(folder: Path, args: argparse.Namespace) -> dict:
    """Stream one epoch of ``folder`` in this process; return its numbers."""
    import torch

    from netscale.data import AugmentConfig, load_data
    from netscale.data.steps import train_steps

    data = load_data(f"folder:{folder}")
    files = [p for p, _ in data.train.dataset.files]
    n = len(files)
    cfg = AugmentConfig(crop="resized", flip=True, **randaugment_fields())
    sampler = Sampler(args.interval)
    before = sampler.sample()
    sampler.start()
    t0, images, batches = time.perf_counter(), 0, 0
    for batch in train_steps(
        data,
        cfg,
        resolution=args.resolution,
        per_rank=args.batch,
        seed=0,
        epoch=0,
        workers=args.workers,
    ):
        assert batch.images.dtype == torch.uint8
        images += len(batch.labels)
        batches += 1
        del batch
    seconds = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    mean_h, mean_w, (mode_h, mode_w) = header_sizes(files)  # after: not in the peak
    return {
        "folder": str(folder),
        "n": n,
        "images": images,
        "batches": batches,
        "seconds": seconds,
        "before": before,
        "peak_rss": sampler.peak_rss,
        "peak_pss": sampler.peak_pss,
        "peak_main": sampler.peak_main,
        "peak_worker": sampler.peak_worker,
        "workers_seen": sampler.most_workers,
        "samples": sampler.samples,
        "interval": sampler.mean_interval,
        "mean_h": mean_h,
        "mean_w": mean_w,
        "mode": [mode_h, mode_w],
        "psutil": sampler._psutil is not None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", action="append", help="ImageFolder (repeat: one per size)")
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure this folder, print JSON
    args = p.parse_args()

    if args.one:
        print(json.dumps(one(Path(args.one), args)))
        return
    folders = [Path(f) for f in args.folder or ["/tmp/nsbench_10k", "/tmp/nsbench_50k"]]
    for f in folders:
        if not (f / "train").is_dir():
            sys.exit(
                f"no {f}/train; make it: .venv/bin/python benchmarks/make_image_folder.py"
                f" --out {f} --train N --val 200"
            )
    model, flags = cpu()
    print(f"CPU: {model} ({flags}); {os.cpu_count()} logical CPUs")
    print(provenance())
    results = []
    for f in folders:  # one fresh process per folder: nothing carries over between them
        cmd = [sys.executable, __file__, "--one", str(f)]
        cmd += ["--resolution", str(args.resolution), "--workers", str(args.workers)]
        cmd += ["--batch", str(args.batch), "--interval", str(args.interval)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    source = "psutil" if results[0]["psutil"] else "/proc"
    print(
        f"\nOne epoch of train_steps per folder, {args.resolution} px, {args.workers} workers,"
        f" batch {args.batch}, RSS from {source} every {args.interval * 1000:.0f} ms\n"
    )
    print(
        "| train images | epoch s | images/s | tree RSS before MB | peak tree RSS MB |"
        " peak tree PSS MB | peak main RSS MB | peak worker RSS MB | decoded in memory MB"
        " (N x mean H x mean W x 3) | memfolder MB (N x most common size) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        decoded = r["n"] * r["mean_h"] * r["mean_w"] * 3
        mode = r["n"] * r["mode"][0] * r["mode"][1] * 3
        print(
            f"| {r['n']} | {r['seconds']:.1f} | {r['images'] / r['seconds']:.0f} |"
            f" {r['before'] / MB:.0f} | {r['peak_rss'] / MB:.0f} | {r['peak_pss'] / MB:.0f} |"
            f" {r['peak_main'] / MB:.0f} | {r['peak_worker'] / MB:.0f} |"
            f" {decoded / MB:.0f} ({r['mean_h']:.0f} x {r['mean_w']:.0f}) |"
            f" {mode / MB:.0f} ({r['mode'][0]} x {r['mode'][1]}) |"
        )
    small = min(results, key=lambda r: r["n"])
    large = max(results, key=lambda r: r["n"])
    print(
        f"\nPeak tree RSS, {large['n']} / {small['n']} images:"
        f" {large['peak_rss'] / small['peak_rss']:.2f}x; peak PSS"
        f" {large['peak_pss'] / small['peak_pss']:.2f}x; peak worker RSS"
        f" {large['peak_worker'] / small['peak_worker']:.2f}x (folder size"
        f" {large['n'] / small['n']:.0f}x). Samples (mean interval): "
        + ", ".join(f"{r['samples']} ({r['interval'] * 1000:.0f} ms)" for r in results)
    )


if __name__ == "__main__":
    main()
