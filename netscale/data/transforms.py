"""Per-sample transforms of the streamed path (run in DataLoader workers).

- ``sample_train`` / ``sample_eval``: one decoded uint8 (C, H, W) image to a uint8
  (C, R, R) tensor: the crop and resize in one ``resized_crop`` (bilinear, antialiased),
  then the flip, the padded random crop and RandAugment of :mod:`netscale.data.augment` on
  a batch of one.
  Each sample's draws come from ``sample_generator(seed, epoch, index)``, so what a sample
  becomes does not depend on the worker, the number of workers or the step it lands in.

Boxes come from :mod:`netscale.data.boxes`, as on the in-memory path
(:func:`netscale.data.augment.train_batch`), which draws them for a whole batch and resizes
them with ``roi_align``; here each box is resized on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from netscale.data.augment import AugmentConfig, normalize, random_crop, random_flip
from netscale.data.boxes import center_box, crop_boxes
from netscale.data.randaugment import rand_augment

__all__ = [
    "SampleSettings",
    "sample_eval",
    "sample_generator",
    "sample_train",
]


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The generator of one sample's augmentation: a pure function of (seed, epoch, index)."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0]
    g = torch.Generator()
    g.manual_seed(int(state) >> 1)
    return g


@dataclass(frozen=True, slots=True)
class SampleSettings:
    """What one training sample's transform needs: the epoch's augmentation, resolution and
    the run's seed and epoch (the sample index comes with the sample)."""

    config: AugmentConfig
    resolution: int
    seed: int
    epoch: int
    channels: int = 3
    # (mean, std) to normalize in the worker (float32 out; CPU training, where the workers
    # have the spare cores); None: uint8 out, normalized where the batch goes
    normalize: tuple[tuple[float, ...], tuple[float, ...]] | None = None


def as_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (C, H, W) with C in 1, 3, 4 -> ``channels`` (1 or 3): alpha dropped, gray
    repeated, or RGB to luma (ITU-R 601, as PIL's "L")."""
    if x.shape[0] == 4:
        x = x[:3]
    if x.shape[0] == channels:
        return x
    if channels == 3:
        return x.expand(3, -1, -1)
    return TF.rgb_to_grayscale(x)


def _resize_box(x: torch.Tensor, box: Sequence[float], resolution: int) -> torch.Tensor:
    """The box (left, top, right, bottom) of uint8 (C, H, W), resized to R x R (bilinear,
    antialiased)."""
    left, top, right, bottom = (round(v) for v in box)
    return TF.resized_crop(
        x, top, left, bottom - top, right - left, [resolution, resolution], antialias=True
    )


def sample_train(image: torch.Tensor, index: int, s: SampleSettings) -> torch.Tensor:
    """One training image, uint8 (C, H, W) -> uint8 (C, R, R): crop + resize, flip, padded
    crop, RandAugment; then float32 normalized when the settings say so."""
    c = s.config
    g = sample_generator(s.seed, s.epoch, index)
    x = as_channels(image, s.channels)
    h, w = x.shape[1:]
    if c.crop == "resized":
        box = crop_boxes(h, w, 1, c.crop_min_scale, g)[0].tolist()
    else:
        box = center_box(h, w, 1.0)
    x = _resize_box(x, box, s.resolution)[None]
    if c.crop == "pad" and c.crop_padding > 0:
        x = random_crop(x, c.crop_padding, generator=g, mode=c.crop_mode)
    if c.flip:
        x = random_flip(x, generator=g)
    x = rand_augment(
        x,
        num_layers=c.randaug_layers,
        magnitude=c.randaug_magnitude,
        generator=g,
        num_chunks=1,
        ops=c.randaug_ops,
        magnitude_std=c.randaug_magnitude_std,
    )
    if s.normalize is not None:  # channels-last (H, W, C) memory: the batch the workers
        # stack is then already in the model's layout (no copy in the training process)
        return normalize(x, *s.normalize)[0].permute(1, 2, 0).contiguous().permute(2, 0, 1)
    return x[0]


def sample_eval(
    image: torch.Tensor, resolution: int, crop_fraction: float, channels: int = 3
) -> torch.Tensor:
    """One evaluation image, uint8 (C, H, W) -> uint8 (C, R, R): the central square of
    ``crop_fraction`` of the shorter side, resized to R (antialiased bilinear)."""
    x = as_channels(image, channels)
    return _resize_box(x, center_box(x.shape[1], x.shape[2], crop_fraction), resolution)
