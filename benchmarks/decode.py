"""Per-image JPEG decode + RandomResizedCrop time: PIL against torchvision.io, one thread.

What a DataLoader worker does per training sample, three ways, each ending in a uint8
CHW tensor of --size x --size (default 224):
  PIL         Image.open, convert("RGB"), one image.resize((s, s), BILINEAR, box=crop),
              np.asarray, torch CHW.
  PIL+draft   the same, with Image.draft("RGB", ...) before loading, so libjpeg decodes at
              1/2, 1/4 or 1/8 scale when the crop still gets >= s px each way at that scale
              (the smallest such decode); the crop box is scaled to match.
  tv.io       torchvision.io.read_file + decode_jpeg(mode=RGB) +
              transforms.v2.functional.resized_crop(..., antialias=True) on the uint8 tensor.
All decoders use the same crop per file (RandomResizedCrop.get_params, scale (0.08, 1),
ratio (3/4, 4/3), seeded). torch runs with one thread, as in a DataLoader worker. Rounds
interleave the decoders (order rotated each round) over the same files after a warm-up
pass; the table gives each decoder's median over rounds of the mean us/image, and the
mean absolute pixel difference of its outputs against PIL's.

Run:  .venv/bin/python benchmarks/decode.py --folder /tmp/nsfolder [--files 300] [--rounds 7]
The folder comes from benchmarks/make_image_folder.py; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms.v2 as T
import torchvision.transforms.v2.functional as TF
from machine import cpu  # benchmarks/machine.py
from PIL import Image, features
from torchvision.io import ImageReadMode, decode_jpeg, read_file

MAKE = ".venv/bin/python benchmarks/make_image_folder.py --out {folder} --train 2000 --val 500"


def pil(path: str, crop: tuple[int, int, int, int], size: int) -> torch.Tensor:
    top, left, h, w = crop
    with Image.open(path) as image:
        image = image.convert("RGB")
        image = image.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
    return torch.from_numpy(np.asarray(image)).permute(2, 0, 1).contiguous()


def draft_request(width: int, height: int, crop: tuple[int, int, int, int], size: int):
    """The whole-image size to ask Image.draft for so the crop still maps to >= size px."""
    _, _, h, w = crop
    return math.ceil(width * size / w), math.ceil(height * size / h)


def pil_draft(path: str, crop: tuple[int, int, int, int], size: int) -> torch.Tensor:
    top, left, h, w = crop
    with Image.open(path) as image:
        width = image.size[0]
        # draft picks the largest libjpeg scale 1/s with a result >= the request in both axes
        # and returns (mode, (0, 0, width / s, height / s)).
        drafted = image.draft("RGB", draft_request(*image.size, crop, size))
        s = width / drafted[1][2] if drafted else 1.0
        image = image.convert("RGB")
        box = (left / s, top / s, (left + w) / s, (top + h) / s)
        image = image.resize((size, size), Image.BILINEAR, box=box)
    return torch.from_numpy(np.asarray(image)).permute(2, 0, 1).contiguous()


def tvio(path: str, crop: tuple[int, int, int, int], size: int) -> torch.Tensor:
    image = decode_jpeg(read_file(path), mode=ImageReadMode.RGB)
    return TF.resized_crop(image, *crop, [size, size], antialias=True)


DECODERS = {"PIL": pil, "PIL+draft": pil_draft, "torchvision.io": tvio}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", required=True, help="ImageFolder root (with train/) or a class tree")
    p.add_argument("--files", type=int, default=300, help="JPEGs to time, picked with --seed")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--size", type=int, default=224, help="output side, px")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    folder = Path(args.folder)
    root = folder / "train" if (folder / "train").is_dir() else folder
    paths = sorted(root.glob("*/*.jpg")) if root.is_dir() else []
    if not paths:
        sys.exit(
            f"no JPEGs under {root}/<class>/; make the folder first:\n  "
            + MAKE.format(folder=folder)
        )
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(len(paths), size=min(args.files, len(paths)), replace=False)
    files = [str(paths[i]) for i in sorted(picks)]

    torch.set_num_threads(1)
    # np.asarray(PIL image) is read-only; the CHW .contiguous() copy is what is returned.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    torch.manual_seed(args.seed)
    sizes, crops = [], []
    for f in files:
        with Image.open(f) as image:
            sizes.append(image.size)
        w, h = sizes[-1]
        crops.append(
            tuple(T.RandomResizedCrop.get_params(torch.empty(3, h, w), (0.08, 1.0), (3 / 4, 4 / 3)))
        )
    scaled = 0
    for (w, h), crop in zip(sizes, crops, strict=True):
        req_w, req_h = draft_request(w, h, crop, args.size)
        scaled += min(w // req_w, h // req_h) >= 2

    # Warm-up pass (also reads the files into the page cache) and the pixel check.
    outputs = {
        name: [fn(f, c, args.size) for f, c in zip(files, crops, strict=True)]
        for name, fn in DECODERS.items()
    }
    diff = {
        name: statistics.fmean(
            (a.float() - b.float()).abs().mean().item()
            for a, b in zip(outputs["PIL"], out, strict=True)
        )
        for name, out in outputs.items()
    }
    del outputs

    names = list(DECODERS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = DECODERS[name]
            start = time.perf_counter()
            for f, c in zip(files, crops, strict=True):
                fn(f, c, args.size)
            times[name].append((time.perf_counter() - start) / len(files) * 1e6)

    model, flags = cpu()
    widths, heights = zip(*sizes, strict=True)
    print(f"CPU: {model} ({flags}); torch threads: {torch.get_num_threads()}")
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__},"
        f" Pillow {PIL.__version__}"
        f" (libjpeg-turbo {features.version('libjpeg_turbo') or 'no'})"
    )
    print(
        f"{len(files)} files from {root},"
        f" {min(widths)}-{max(widths)} x {min(heights)}-{max(heights)} px,"
        f" crop to {args.size}x{args.size}; {args.rounds} rounds; draft decodes"
        f" {scaled}/{len(files)} crops at reduced scale\n"
    )
    base = statistics.median(times["PIL"])
    print("| decoder | median us/image | min | max | PIL time / this | mean abs diff vs PIL |")
    print("|---|---|---|---|---|---|")
    for name in names:
        t = times[name]
        med = statistics.median(t)
        print(
            f"| {name} | {med:.0f} | {min(t):.0f} | {max(t):.0f} | {base / med:.2f} |"
            f" {diff[name]:.2f} |"
        )
    print("\n(min/max: over rounds; mean abs diff: uint8 levels, averaged over pixels and files)")


if __name__ == "__main__":
    main()
