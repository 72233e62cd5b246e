"""How a run's inputs are fitted before anything is built: the spec fitted to the data
(classes, channels, a resolution the network accepts), the memory a resolution needs, where
the data lives, and the data's fingerprint. Pure functions; no run state."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

import torch
from torch import nn

from netscale.complexity import count
from netscale.data import ArrayDataset, DataSplits, eval_batch
from netscale.data.stream import StreamSplits, eval_stream
from netscale.families import resolve_spec
from netscale.spec import NetSpec
from netscale.training.recipe import Recipe

DATA_ON_GPU_SHARE = 0.25  # move datasets to the GPU when they take at most this share of it
# Training memory estimate: each conv/linear output element (acts) is kept for the
# backward pass with its norm and activation outputs (~3 tensors), 4 bytes each in fp32.
# A lower bound, used only to refuse sizes that cannot fit at all before allocating.
BYTES_PER_ACT = 3 * 4
FINGERPRINT_IMAGES = 1024  # images hashed (evenly strided) in a data set's fingerprint
WHITENING_IMAGES = 5000  # training images a whitening stem is initialized from (airbench's)


def train_resolution(spec: NetSpec, recipe: Recipe, data_size: int | None) -> tuple[int, str]:
    """(training resolution in pixels, a note when it is not the one asked for).

    The recipe's resolution when set (it must be >= the smallest input the network takes,
    its total stride plus what an unpadded whitening stem removes: an error names the flag
    and the smallest valid value); else the data's own size, raised to that smallest input
    when the images are smaller (8 px digits on a stride-32 ResNet train at 32 px,
    upsampled, as torchvision's models would accept them), with a note saying so; for
    streamed images of many sizes (`data_size` None), the spec's own resolution."""
    least, why = spec.min_resolution, spec.min_resolution_text
    if recipe.resolution is not None:
        if recipe.resolution < least:
            raise ValueError(
                f"resolution={recipe.resolution} (--resolution) is invalid for "
                f"{spec.name}: must be >= {why}; pass --resolution {least} or more"
            )
        return recipe.resolution, ""
    if data_size is None:
        return spec.resolution, ""
    if data_size >= least:
        return data_size, ""
    return least, (
        f"the data's {data_size} px images are smaller than {spec.name}'s smallest input, "
        f"{why}: training and evaluating at {least} px (upsampled); set --resolution "
        "to choose another size"
    )


def spec_for(model: Any, data: DataSplits | StreamSplits, recipe: Recipe) -> tuple[NetSpec, str]:
    """The spec to train: `model`'s, fitted to the data (classes, channels, resolution) and
    the recipe's dropout / stochastic-depth / BatchNorm-epsilon (bn_eps: the spec's
    norm_eps) overrides; and a note on the resolution."""
    spec = model.spec if isinstance(model, nn.Module) and hasattr(model, "spec") else None
    spec = spec or resolve_spec(model)
    if isinstance(data, StreamSplits):
        channels, size = data.channels, None
    else:
        channels, size = data.train.images.shape[1], data.train.images.shape[-1]
    resolution, note = train_resolution(spec, recipe, size)
    overrides: dict[str, Any] = {
        "num_classes": data.num_classes,
        "in_width": channels,
        "resolution": resolution,
    }
    if recipe.dropout_rate is not None:
        overrides["dropout_rate"] = recipe.dropout_rate
    if recipe.drop_path_rate is not None:
        overrides["drop_path_rate"] = recipe.drop_path_rate
    if recipe.bn_eps is not None:
        overrides["norm_eps"] = recipe.bn_eps
    return resolve_spec(spec, **overrides), note


def device_memory(device: torch.device) -> int:
    """Bytes of memory on `device` (the GPU's, or the machine's RAM for a CPU)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**62  # unknown: do not refuse


def check_fits(spec: NetSpec, recipe: Recipe, device: torch.device, world: int) -> None:
    """Refuse, before anything is allocated, a resolution and batch whose activations alone
    cannot fit the device (e.g. --resolution 100000 asked for a 640 GB tensor)."""
    batch = max(1, recipe.batch_size // world)
    acts = count(spec).acts
    need = acts * batch * BYTES_PER_ACT
    have = device_memory(device)
    if need > have:
        raise ValueError(
            f"resolution={spec.resolution} with batch {batch} needs at least "
            f"{need / 2**30:,.0f} GiB for the activations of {spec.name} (estimate: "
            f"{BYTES_PER_ACT} bytes x {acts:,} conv/linear outputs per image), "
            f"more than the {have / 2**30:,.0f} GiB of {device}; lower --resolution or "
            "--batch-size"
        )


def fingerprint(splits: DataSplits | StreamSplits) -> str:
    """A short hash of the data's shapes, labels and an evenly strided sample of images
    (streamed: file names, sizes and labels): a resumed run checks that it trains on the
    data it started with."""
    h = hashlib.blake2b(digest_size=8)
    if isinstance(splits, StreamSplits):
        h.update(json.dumps(list(splits.identity)).encode())
        return h.hexdigest()
    for s in (splits.train, splits.test):
        h.update(json.dumps([list(s.images.shape), len(s.labels)]).encode())
        h.update(s.labels.cpu().numpy().tobytes())
        step = max(1, len(s.labels) // FINGERPRINT_IMAGES)
        h.update(s.images[::step].cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def place_data(
    splits: DataSplits | StreamSplits, device: torch.device
) -> DataSplits | StreamSplits:
    """Move the uint8 train and test sets to a CUDA device when they fit comfortably;
    otherwise each batch is copied over (pinned, non-blocking) and augmented there."""
    if device.type != "cuda" or isinstance(splits, StreamSplits):
        return splits
    sets = (splits.train, splits.test)
    size = sum(s.images.nbytes + s.labels.nbytes for s in sets)
    if size > DATA_ON_GPU_SHARE * torch.cuda.get_device_properties(device).total_memory:
        return splits

    def move(s: ArrayDataset) -> ArrayDataset:
        return ArrayDataset(images=s.images.to(device), labels=s.labels.to(device), name=s.name)

    return dataclasses.replace(splits, train=move(splits.train), test=move(splits.test))


def whitening_images(
    splits: DataSplits | StreamSplits, resolution: int, seed: int, n: int = WHITENING_IMAGES
) -> torch.Tensor:
    """A seeded random sample of at most `n` training images as the model's input at
    evaluation (the whole image, resized to `resolution`, normalized): float32
    (N, C, R, R) on the CPU, what a whitening stem is initialized from
    (netscale.build.whiten). Every rank draws the same sample."""
    g = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(splits.train), generator=g)[:n].sort().values
    if isinstance(splits, StreamSplits):
        batches = eval_stream(
            splits.train,
            index,
            resolution=resolution,
            crop_fraction=1.0,
            batch_size=256,
            channels=splits.channels,
            workers=0,
        )
        images = torch.cat([b.images for b in batches])
    else:
        images = splits.train.images[index.to(splits.train.images.device)].cpu()
    return eval_batch(
        images, resolution=resolution, mean=splits.mean, std=splits.std, channels_last=False
    )
