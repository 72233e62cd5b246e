"""Training-loader throughput on a streamed image folder: netscale's train_steps against timm.

Both loaders read the same ImageFolder (JPEGs) with the same transforms, --workers DataLoader
workers (default 2) and batches of --batch (default 64) at --resolution (default 224):
RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3), horizontal flip (p=0.5), RandAugment with
2 layers at timm's magnitude 9 of 10 (``rand-m9-n2``) = netscale's randaug_magnitude 9 on
the same 0-10 scale (27 on torchvision's 0-30 scale before ``randaug_ops``: randaugment_fields).

  netscale  ``netscale.data.steps.train_steps`` (decode with TorchCodec, crop, flip and
            RandAugment per sample in the workers; uint8 batches), then in this process
            ``train_batch(..., sampled=True)``: to float, normalize, channels_last (the work
            a training step does before the model; no erasing, mixup or smoothing here).
  timm      ``timm.data.create_loader(ImageDataset(folder/train), is_training=True,
            auto_augment="rand-m9-n2", re_prob=0, use_prefetcher=False)``: PIL decode, crop,
            flip, RandAugment, ToTensor and Normalize in the workers (float32 batches); no
            mixup. Built with persistent_workers=False so that, as netscale's train_steps
            does every epoch, each round starts its own workers and stops them before the
            other loader runs.

A third contender, "netscale workers only", is netscale's train_steps without the main
process's train_batch: what the workers alone deliver (uint8, not normalized).

Rounds alternate the three (order reversed every round), each a fresh epoch; the first
--skip batches of a round (worker start-up, prefetch fill) are not timed, then --batches full
batches are. One untimed warm-up round of each comes first. The table gives the median over
rounds of images/s and the ratio netscale / timm; also the time to the first batch of a
fresh epoch, and for netscale the main process's CPU seconds per batch in train_batch.

--profile adds a per-stage table, measured inside one DataLoader worker process (one torch
thread, as the loaders' workers run; stages alternate over the same files): decode, crop,
flip, RandAugment and collate for each loader, every RandAugment op alone, and the main
process's train_batch(sampled=True). --sweep adds netscale's images/s at
1, 2 and 3 workers.

Run:  .venv/bin/python benchmarks/make_image_folder.py --out /tmp/nsbench_10k \\
          --train 10000 --val 200
      .venv/bin/python benchmarks/loader.py --folder /tmp/nsbench_10k [--rounds 4]
      [--batches 30] [--profile] [--sweep]
Prints Markdown tables (docs/data.md). Measure nothing else on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import PIL
import timm
import torch
import torchvision
from machine import cpu  # benchmarks/machine.py
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from netscale.data import AugmentConfig, load_data, train_batch
from netscale.data import randaugment as ra
from netscale.data.steps import train_steps
from netscale.data.stream import IMAGENET_MEAN, IMAGENET_STD, StreamSplits

TIMM_AA = "rand-m9-n2"
WORKERS_ONLY = "netscale workers only (no train_batch)"
SCALE = (0.08, 1.0)
TIMM_OPS = {  # netscale op -> timm op of the same kind
    "shear_x": "ShearX",
    "shear_y": "ShearY",
    "translate_x": "TranslateXRel",
    "translate_y": "TranslateYRel",
    "rotate": "Rotate",
    "brightness": "Brightness",
    "color": "Color",
    "contrast": "Contrast",
    "sharpness": "Sharpness",
    "posterize": "Posterize",
    "solarize": "Solarize",
    "autocontrast": "AutoContrast",
    "equalize": "Equalize",
    "invert": "Invert",
    "solarize_add": "SolarizeAdd",
}


def randaugment_fields() -> tuple[dict, str]:
    """AugmentConfig's RandAugment fields equal to timm's ``rand-m9-n2`` in the installed
    netscale, and a note saying how they map (netscale's RandAugment API changed: an
    ``randaug_ops`` field means timm's op set and 0..10 scale are available)."""
    names = {f.name for f in dataclasses.fields(AugmentConfig)}
    if "randaug_ops" in names:
        fields = {
            "randaug_layers": 2,
            "randaug_magnitude": 9.0,
            "randaug_ops": "timm",
            "randaug_magnitude_std": 0.0,
        }
        note = (
            "netscale randaug_ops='timm', randaug_magnitude 9 (timm's 0-10 scale),"
            " magnitude_std 0 = timm's rand-m9-n2: the same 15 ops, each applied with p=0.5,"
            " bilinear geometric ops"
        )
    else:
        fields = {"randaug_layers": 2, "randaug_magnitude": 27.0}
        note = (
            "netscale randaug_magnitude 27 on its torchvision 0-30 scale = timm's m9 on"
            " 0-10; netscale (torchvision's semantics) always applies both ops, drawn from 14"
            " (Identity included, nearest geometric ops); timm applies each of its 2 ops with"
            " p=0.5, drawn from 15 (Invert, SolarizeAdd, no Identity; bilinear)"
        )
    return fields, note


def netscale_ops() -> tuple[list[str], Callable[[torch.Tensor, str, int], torch.Tensor], float]:
    """(the op names of the set compared with timm's, op(x, name, sign), p per chosen op)."""
    if hasattr(ra, "OP_SETS"):
        g = torch.Generator()

        def run(x: torch.Tensor, op: str, sign: int) -> torch.Tensor:
            return ra.apply_op(x, op, 9.0, ops="timm", sign=sign, generator=g)

        return list(ra.OP_SETS["timm"]), run, 0.5

    def run_old(x: torch.Tensor, op: str, sign: int) -> torch.Tensor:
        return ra.apply_op(x, op, 0.9 * sign)

    return list(ra.OPS), run_old, 1.0


def header() -> None:
    import torchcodec

    model, flags = cpu()
    print(f"CPU: {model} ({flags}); {os.cpu_count()} logical CPUs")
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, timm "
        f"{timm.__version__}, torchcodec {torchcodec.__version__}, Pillow {PIL.__version__}"
    )
    root = Path(__file__).resolve().parents[1]
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "netscale/data"], capture_output=True, text=True
    )
    changed = " ".join(line[3:] for line in dirty.stdout.splitlines()) or "none"
    print(f"netscale at {head.stdout.strip()}; uncommitted changes under netscale/data: {changed}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")


def augment_config() -> AugmentConfig:
    return AugmentConfig(
        crop="resized", crop_min_scale=SCALE[0], flip=True, **randaugment_fields()[0]
    )


class Timed:
    """One round's numbers: seconds to the first batch, images/s over the timed batches,
    main-process CPU seconds per timed batch."""

    def __init__(self, first: float, rate: float, main: float) -> None:
        self.first, self.rate, self.main = first, rate, main


def time_batches(
    batches: Iterator[int], start: float, skip: int, count: int, main: Callable[[], float]
) -> Timed:
    """Consume ``skip`` + ``count`` batch sizes from ``batches``; time the last ``count``."""
    first = None
    images, t0 = 0, 0.0
    main_before = 0.0
    for i, size in enumerate(batches):
        if first is None:
            first = time.perf_counter() - start
        if i + 1 == skip:
            t0, main_before = time.perf_counter(), main()
        elif i + 1 > skip:
            images += size
            if i + 1 == skip + count:
                break
    else:
        raise SystemExit(f"the epoch ended before {skip + count} full batches; lower --batches")
    seconds = time.perf_counter() - t0
    return Timed(first or 0.0, images / seconds, (main() - main_before) / count)


def netscale_round(
    data: StreamSplits,
    args: argparse.Namespace,
    epoch: int,
    skip: int,
    count: int,
    main_work: bool = True,
) -> Timed:
    """One round of netscale; ``main_work=False`` leaves out train_batch (the workers'
    side alone)."""
    cfg = augment_config()
    spent = [0.0]

    def sizes() -> Iterator[int]:
        steps = train_steps(
            data,
            cfg,
            resolution=args.resolution,
            per_rank=args.batch,
            seed=0,
            epoch=epoch,
            workers=args.workers,
        )
        try:
            for step, batch in enumerate(steps):
                if not main_work:
                    if len(batch.labels) == args.batch:
                        yield len(batch.labels)
                    continue
                t = time.process_time()
                g = torch.Generator().manual_seed(step)
                x, _ = train_batch(
                    batch.images,
                    batch.labels,
                    config=cfg,
                    resolution=args.resolution,
                    mean=data.mean,
                    std=data.std,
                    num_classes=data.num_classes,
                    generator=g,
                    sampled=True,
                )
                assert x.dtype == torch.float32 and x.shape[-1] == args.resolution
                spent[0] += time.process_time() - t
                if len(batch.labels) == args.batch:  # full batches only
                    yield len(batch.labels)
        finally:
            steps.close()  # shuts the workers down before the other loader runs

    start = time.perf_counter()
    gen = sizes()
    try:
        return time_batches(gen, start, skip, count, lambda: spent[0])
    finally:
        gen.close()
        gc.collect()


def timm_loader(folder: Path, args: argparse.Namespace):
    from timm.data import ImageDataset, create_loader

    dataset = ImageDataset(str(folder / "train"))
    return create_loader(
        dataset,
        input_size=(3, args.resolution, args.resolution),
        batch_size=args.batch,
        is_training=True,
        scale=SCALE,
        hflip=0.5,
        auto_augment=TIMM_AA,
        re_prob=0.0,
        interpolation="bilinear",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        num_workers=args.workers,
        use_prefetcher=False,
        pin_memory=False,
        persistent_workers=False,
        device=torch.device("cpu"),
    )


def timm_round(loader, args: argparse.Namespace, skip: int, count: int) -> Timed:
    def sizes() -> Iterator[int]:
        it = iter(loader)
        try:
            for x, y in it:
                assert x.dtype == torch.float32 and x.shape[-1] == args.resolution
                if len(y) == args.batch:
                    yield len(y)
        finally:
            del it  # non-persistent workers stop here

    start = time.perf_counter()
    gen = sizes()
    try:
        return time_batches(gen, start, skip, count, lambda: 0.0)
    finally:
        gen.close()
        gc.collect()


def throughput(folder: Path, data: StreamSplits, args: argparse.Namespace) -> None:
    loader = timm_loader(folder, args)
    print(f"\ntimm transform: {loader.dataset.transform}")
    # Warm-up: one short untimed round of each (imports in the workers, page cache).
    netscale_round(data, args, epoch=0, skip=1, count=3)
    timm_round(loader, args, skip=1, count=3)
    names = ["netscale", "timm", WORKERS_ONLY]
    runs: dict[str, list[Timed]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            if name == "timm":
                t = timm_round(loader, args, skip=args.skip, count=args.batches)
            else:
                t = netscale_round(
                    data,
                    args,
                    epoch=r + 1,
                    skip=args.skip,
                    count=args.batches,
                    main_work=name == "netscale",
                )
            runs[name].append(t)
            print(f"  round {r + 1} {name}: {t.rate:.1f} images/s", file=sys.stderr)
    med = {k: statistics.median(t.rate for t in v) for k, v in runs.items()}
    print(
        f"\n{args.rounds} rounds x {args.batches} timed batches of {args.batch} (after {args.skip}"
        f" untimed) per loader, alternating; {args.workers} workers; {args.resolution} px;"
        f" {len(data.train)} train images in {folder}\n"
    )
    print(
        "| loader | median images/s | min | max | per round | first batch s (median) |"
        " main CPU s/batch |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, ts in runs.items():
        rates = [t.rate for t in ts]
        main = f"{statistics.median(t.main for t in ts):.3f}" if name == "netscale" else "-"
        print(
            f"| {name} | {med[name]:.1f} | {min(rates):.1f} | {max(rates):.1f} |"
            f" {' '.join(f'{x:.0f}' for x in rates)} |"
            f" {statistics.median(t.first for t in ts):.2f} | {main} |"
        )
    pairs = [a.rate / b.rate for a, b in zip(runs["netscale"], runs["timm"], strict=True)]
    print(
        f"\nnetscale / timm: {med['netscale'] / med['timm']:.2f}x (ratio of medians);"
        f" per round {' '.join(f'{p:.2f}' for p in pairs)}"
    )
    alone = [a.rate / b.rate for a, b in zip(runs[WORKERS_ONLY], runs["timm"], strict=True)]
    print(
        f"{WORKERS_ONLY} / timm: {med[WORKERS_ONLY] / med['timm']:.2f}x;"
        f" per round {' '.join(f'{p:.2f}' for p in alone)}"
    )
    print(
        f"\nNotes: RandAugment: {randaugment_fields()[1]}. netscale's main CPU s/batch: CPU"
        " seconds (all threads) of train_batch(sampled=True) (to float, normalize,"
        " channels_last copy) in the main process, which shares the CPUs with the workers;"
        " timm normalizes in its workers and sends float32 batches."
    )


def sweep(data: StreamSplits, args: argparse.Namespace) -> None:
    counts = (1, 2, 3)
    rates: dict[int, list[float]] = {w: [] for w in counts}
    base = args.workers
    for r in range(2):
        for w in counts if r % 2 == 0 else counts[::-1]:
            args.workers = w
            t = netscale_round(data, args, epoch=100 + r, skip=args.skip, count=args.batches // 2)
            rates[w].append(t.rate)
            print(f"  sweep round {r + 1} workers={w}: {t.rate:.1f} images/s", file=sys.stderr)
    args.workers = base
    print(f"\nnetscale images/s by worker count (2 rounds x {args.batches // 2} batches)\n")
    print("| workers | images/s (mean of rounds) | per round |")
    print("|---|---|---|")
    for w, v in rates.items():
        print(f"| {w} | {statistics.fmean(v):.1f} | {' '.join(f'{x:.0f}' for x in v)} |")


class _InWorker(Dataset):
    """One item: ``fn(*args)`` run inside a DataLoader worker process (its thread setting,
    one torch thread, and its process state are what a training loader's workers have)."""

    def __init__(self, fn: Callable[..., object], *args: object) -> None:
        self.fn, self.args = fn, args

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> object:
        return self.fn(*self.args)


def in_worker(fn: Callable[..., object], *args: object) -> object:
    loader = DataLoader(_InWorker(fn, *args), batch_size=None, num_workers=1)
    return next(iter(loader))


def profile(data: StreamSplits, args: argparse.Namespace) -> None:
    """Per-stage microseconds per image in one DataLoader worker, and the main process's
    train_batch(sampled=True)."""
    rng = np.random.default_rng(0)
    files = [p for p, _ in data.train.dataset.files]
    picks = sorted(rng.choice(len(files), args.profile_files, replace=False))
    files = [files[i] for i in picks]
    times, names, threads = in_worker(stage_times, files, args)
    main = main_times(data, args)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(files)
    print(
        f"\nPer-stage cost in one DataLoader worker ({threads} torch thread), {n} files,"
        f" {args.resolution} px, median of {args.profile_rounds} rounds (stages interleaved)\n"
    )
    print("| stage | us/image | min | max |")
    print("|---|---|---|---|")
    for name in names:
        if name.startswith("op "):
            continue
        v = times[name]
        print(f"| {name} | {med[name]:.0f} | {min(v):.0f} | {max(v):.0f} |")
    for name, v in main.items():
        print(f"| {name} | {statistics.median(v):.0f} | {min(v):.0f} | {max(v):.0f} |")
    op_names, _, prob = netscale_ops()
    ns_ops = [med[f"op {o}"] if o != "identity" else 0.0 for o in op_names]
    timm_ops = [med[f"op {o}"] for o in TIMM_OPS.values()]
    print(
        f"\nRandAugment ops alone in the same worker, mean over the {n} crops at"
        f" {args.resolution} px (us/image; netscale: {randaugment_fields()[1]}; each op"
        " forced on, signs alternating, on a 1-image uint8 tensor; timm: m9 with p=1 on a"
        " PIL image)\n"
    )
    print("| op | netscale us | timm op | timm us | netscale / timm |")
    print("|---|---|---|---|---|")
    for op in op_names:
        if op == "identity":
            continue
        t = TIMM_OPS.get(op)
        a = med[f"op {op}"]
        b = med.get(f"op {t}", float("nan"))
        print(f"| {op} | {a:.0f} | {t or '-'} | {b:.0f} | {a / b:.1f} |")
    for t in TIMM_OPS.values():
        if t not in {TIMM_OPS.get(o) for o in op_names}:
            print(f"| - | - | {t} | {med[f'op {t}']:.0f} | - |")
    print(
        f"\nExpected RandAugment cost per image from the op table: netscale 2 ops x p={prob}"
        f" x mean {statistics.fmean(ns_ops):.0f} us ({len(op_names)} ops) ="
        f" {2 * prob * statistics.fmean(ns_ops):.0f} us; timm 2 ops x p=0.5 x mean"
        f" {statistics.fmean(timm_ops):.0f} us ({len(timm_ops)} ops) ="
        f" {statistics.fmean(timm_ops):.0f} us"
    )


def main_times(data: StreamSplits, args: argparse.Namespace) -> dict[str, list[float]]:
    """train_batch(sampled=True) on one uint8 batch in this process, us per image, at this
    process's torch threads and at one thread."""
    cfg, res, b = augment_config(), args.resolution, args.batch
    images = torch.randint(0, 256, (b, 3, res, res), dtype=torch.uint8)
    labels = torch.zeros(b, dtype=torch.int64)
    threads = torch.get_num_threads()
    out: dict[str, list[float]] = {
        f"ns train_batch(sampled) in main, {threads} threads": [],
        "ns train_batch(sampled) in main, 1 thread": [],
    }
    for r in range(args.profile_rounds * 2):
        for name, t in zip(out, (threads, 1), strict=True):
            torch.set_num_threads(t)
            t0 = time.perf_counter()
            train_batch(
                images,
                labels,
                config=cfg,
                resolution=res,
                mean=data.mean,
                std=data.std,
                num_classes=data.num_classes,
                generator=torch.Generator().manual_seed(r),
                sampled=True,
            )
            out[name].append((time.perf_counter() - t0) / b * 1e6)
    torch.set_num_threads(threads)
    return out


def stage_times(
    files: list[Path], args: argparse.Namespace
) -> tuple[dict[str, list[float]], list[str], int]:
    """Each stage's us/image per round, run where this is called (a worker)."""
    import torchvision.transforms.v2.functional as TF
    from timm.data import create_transform
    from torch.utils.data import default_collate

    from netscale.data.augment import random_flip
    from netscale.data.boxes import crop_boxes
    from netscale.data.stream import _collate, decode
    from netscale.data.transforms import SampleSettings, sample_generator, sample_train

    res, cfg = args.resolution, augment_config()
    settings = SampleSettings(cfg, res, 0, 0)
    n = len(files)
    tf = create_transform(
        res,
        is_training=True,
        scale=SCALE,
        auto_augment=TIMM_AA,
        re_prob=0.0,
        interpolation="bilinear",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )
    t_rrc, t_flip, t_ra, t_tensor, t_norm = tf.transforms

    def pil_load(path: Path) -> Image.Image:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")  # timm's ImageFolder reader

    ns_images = [decode(p) for p in files]
    pil_images = [pil_load(p) for p in files]
    boxes = [
        crop_boxes(x.shape[1], x.shape[2], 1, SCALE[0], sample_generator(0, 0, i))[0].tolist()
        for i, x in enumerate(ns_images)
    ]

    def ns_crop() -> list[torch.Tensor]:
        out = []
        for x, (left, top, right, bottom) in zip(ns_images, boxes, strict=True):
            x0, y0, x1, y1 = (round(v) for v in (left, top, right, bottom))
            out.append(
                TF.resized_crop(x, y0, x0, y1 - y0, x1 - x0, [res, res], antialias=True)[None]
            )
        return out

    ns_crops = ns_crop()
    pil_crops = [t_rrc(im) for im in pil_images]
    items = [(sample_train(x, i, settings), 0, "") for i, x in enumerate(ns_images)]
    floats = [(t_norm(t_tensor(im)), 0) for im in pil_crops]
    flip_g = torch.Generator()
    batch = min(args.batch, n)
    ra_extra = {}
    if hasattr(cfg, "randaug_ops"):
        ra_extra = {"ops": cfg.randaug_ops, "magnitude_std": cfg.randaug_magnitude_std}

    def per_batch(fn: Callable[[list], object], xs: list) -> None:
        for s in range(0, len(xs) - batch + 1, batch):
            fn(xs[s : s + batch])

    whole = n - n % batch
    stages: dict[str, tuple[Callable[[], object], int]] = {
        "ns decode (read + TorchCodec)": (lambda: [decode(p) for p in files], n),
        "ns crop draws (sample_generator + crop_boxes)": (
            lambda: [
                crop_boxes(x.shape[1], x.shape[2], 1, SCALE[0], sample_generator(0, 0, i))
                for i, x in enumerate(ns_images)
            ],
            n,
        ),
        "ns resized_crop (antialias)": (ns_crop, n),
        "ns random_flip (batch of 1)": (
            lambda: [random_flip(x, generator=flip_g) for x in ns_crops],
            n,
        ),
        "ns rand_augment (2 layers, 1 chunk)": (
            lambda: [
                ra.rand_augment(
                    x,
                    num_layers=cfg.randaug_layers,
                    magnitude=cfg.randaug_magnitude,
                    generator=sample_generator(0, 1, i),
                    num_chunks=1,
                    **ra_extra,
                )
                for i, x in enumerate(ns_crops)
            ],
            n,
        ),
        "ns sample_train (all of the above but decode)": (
            lambda: [sample_train(x, i, settings) for i, x in enumerate(ns_images)],
            n,
        ),
        "ns collate (uint8)": (lambda: per_batch(_collate, items), whole),
        "timm decode (PIL open + RGB)": (lambda: [pil_load(p) for p in files], n),
        "timm RandomResizedCrop (PIL)": (lambda: [t_rrc(im) for im in pil_images], n),
        "timm flip": (lambda: [t_flip(im) for im in pil_crops], n),
        "timm RandAugment (rand-m9-n2)": (lambda: [t_ra(im) for im in pil_crops], n),
        "timm ToTensor + Normalize": (lambda: [t_norm(t_tensor(im)) for im in pil_crops], n),
        "timm whole transform (all of the above but decode)": (
            lambda: [tf(im) for im in pil_images],
            n,
        ),
        "timm collate (float32)": (lambda: per_batch(default_collate, floats), whole),
    }
    ops = {o.name: o for o in t_ra.ops}
    op_names, run_op, _ = netscale_ops()
    for op in op_names:
        if op == "identity":
            continue
        stages[f"op {op}"] = (
            lambda op=op: [run_op(x, op, 1 if i % 2 else -1) for i, x in enumerate(ns_crops)],
            n,
        )
    for op in TIMM_OPS.values():
        aug = ops[op]
        stages[f"op {op}"] = (lambda aug=aug: [_timm_op(aug, im) for im in pil_crops], n)

    times: dict[str, list[float]] = {k: [] for k in stages}
    names = list(stages)
    for r in range(args.profile_rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fn, count = stages[name]
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) / count * 1e6)
    return times, names, torch.get_num_threads()


def _timm_op(aug, image: Image.Image) -> Image.Image:
    prob, aug.prob = aug.prob, 1.0
    try:
        return aug(image)
    finally:
        aug.prob = prob


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", default="/tmp/nsbench_10k", help="ImageFolder (train/, val/)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--batches", type=int, default=30, help="timed full batches per round")
    p.add_argument("--skip", type=int, default=4, help="untimed batches at a round's start")
    p.add_argument("--profile", action="store_true", help="add the per-stage table")
    p.add_argument("--profile-files", type=int, default=128)
    p.add_argument("--profile-rounds", type=int, default=5)
    p.add_argument("--sweep", action="store_true", help="add netscale at 1, 2, 3 workers")
    p.add_argument("--no-throughput", action="store_true", help="skip the main table")
    args = p.parse_args()

    folder = Path(args.folder)
    if not (folder / "train").is_dir():
        sys.exit(
            f"no {folder}/train; make it first: .venv/bin/python benchmarks/make_image_folder.py"
            f" --out {folder} --train 10000 --val 200"
        )
    data = load_data(f"folder:{folder}")
    assert isinstance(data, StreamSplits)
    header()
    if not args.no_throughput:
        throughput(folder, data, args)
    if args.sweep:
        sweep(data, args)
    if args.profile:
        profile(data, args)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
