"""Training-loop speed: netscale's loop against a timm train.py-style loop, same model.

The timm-style loop is what timm's train.py does per step on a small dataset: a
torch DataLoader over per-image torchvision transforms (random crop with 4 px padding,
flip, to float, normalize), then forward, cross-entropy, backward, SGD step, channels_last.
netscale's loop is `netscale.train` (batched tensor augmentation, same model, recipe,
batch and threads). Runs alternate A, B, A, B in one process; the table gives each run's
training images/s (the epoch's training time only, no evaluation) and the ratio.

Run:  .venv/bin/python benchmarks/loop_vs_timm.py [--model regnet_y_200mf] [--images 5000]
Needs ../shared/data/cifar10.npz (CIFAR-10); prints a Markdown table for docs/results.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2 as T

import netscale

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10.npz"


class _Images(torch.utils.data.Dataset):
    """Per-image dataset with per-image transforms, as timm's loaders use."""

    def __init__(self, x: np.ndarray, y: np.ndarray, mean, std) -> None:
        self.x, self.y = torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(y)
        self.tf = T.Compose(
            [
                T.RandomCrop(32, padding=4, padding_mode="reflect"),
                T.RandomHorizontalFlip(),
                T.ToDtype(torch.float32, scale=True),
                T.Normalize(mean, std),
            ]
        )

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.tf(self.x[i]), self.y[i]


def timm_style(model_name: str, x, y, batch: int, mean, std) -> float:
    """Images/s of one epoch of the timm-style loop."""
    torch.manual_seed(0)
    model = netscale.create_model(model_name, num_classes=10, resolution=32)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    loader = torch.utils.data.DataLoader(
        _Images(x, y, mean, std), batch_size=batch, shuffle=True, drop_last=True, num_workers=0
    )
    images, t0 = 0, time.perf_counter()
    for inputs, targets in loader:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        loss = loss_fn(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        images += len(targets)
    return images / (time.perf_counter() - t0)


def ours(model_name: str, npz: Path, batch: int) -> float:
    """Images/s of one epoch of netscale.train (its own timing of the training steps)."""
    recipe = Path(__file__).parent / "recipes" / "cifar_quick.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        result = netscale.train(
            model_name,
            f"npz:{npz}",
            str(recipe),
            Path(tmp) / "run",
            epochs=1,
            batch_size=batch,
            warmup_epochs=0.0,
        )
    return result.images_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="regnet_y_200mf")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = np.load(DATA)
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(data["y_train"]))[: args.images]
    x, y = data["x_train"][pick], data["y_train"][pick]
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "subset.npz"
        np.savez(
            npz, x_train=x, y_train=y, x_test=data["x_test"][:1000], y_test=data["y_test"][:1000]
        )
        mean = tuple((x / 255.0).mean(axis=(0, 1, 2)).tolist())
        std = tuple((x / 255.0).std(axis=(0, 1, 2)).tolist())
        rows = []
        for _ in range(args.repeats):
            rows.append(
                (
                    ours(args.model, npz, args.batch),
                    timm_style(args.model, x, y, args.batch, mean, std),
                )
            )
    print("| run | netscale images/s | timm-style images/s | ratio |")
    print("|---|---|---|---|")
    for i, (a, b) in enumerate(rows):
        print(f"| {i + 1} | {a:.0f} | {b:.0f} | {a / b:.2f} |")
    ratios = [a / b for a, b in rows]
    print(
        f"\n{args.model} at 32 px, batch {args.batch}, {torch.get_num_threads()} threads, "
        f"fp32, {args.images} CIFAR-10 images: median ratio {statistics.median(ratios):.2f}."
    )


if __name__ == "__main__":
    main()
