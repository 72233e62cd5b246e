"""Batched training and evaluation transforms on tensors: no per-image Python.

``train_batch`` runs, in order: the crop (``crop="pad"``: a random crop of the image's
own size from the image padded by ``crop_padding`` pixels, reflect or zero padding, one
window per image picked from a strided view of the padded batch; ``crop="resized"``: the
random-resized crop of :mod:`netscale.data.boxes`, resized to ``resolution`` with
``roi_align``), random horizontal flip (``torch.where`` over a per-image coin),
RandAugment on uint8 chunks (:mod:`netscale.data.randaugment`), conversion to float,
resize to ``resolution`` (bilinear, antialiased when downsampling), normalization, random
erasing, label smoothing, then mixup or CutMix with one lambda per batch. With
``sampled=True`` (the streamed path, whose workers already cropped, flipped and
RandAugmented each image: :mod:`netscale.data.transforms`) it starts at the conversion.

Random erasing (Zhong et al. 2020, as timm's ``RandomErasing`` in its per-pixel mode):
each image, with probability ``random_erasing``, gets one box of area fraction uniform in
[0.02, 1/3] and log aspect ratio uniform in [log 0.3, log 1/0.3] (the first of 10
attempts that fits) filled with standard normal noise in the normalized space.

Every random number comes from the caller's ``torch.Generator``, so a batch is a pure
function of (images, labels, config, generator state). Draws are made on the generator's
device and moved to the images' device.

Beta(alpha, alpha) for mixup/CutMix: ``torch.distributions`` samples from the global RNG,
so one 62-bit seed is drawn from the generator and ``numpy.random.default_rng(seed).beta``
draws lambda. When both mixup and CutMix are on, each batch uses one of them with p=0.5.
CutMix replaces one box of the whole batch (as timm and torchvision do) and sets lambda to
the kept area. Targets: ``one_hot * (1 - s) + s / num_classes`` for label smoothing ``s``,
then mixed with the same lambda; every row sums to 1. Soft targets (pseudo-labels given as
probabilities) skip the smoothing and are mixed alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from netscale.data.boxes import RRC_ATTEMPTS, center_box, crop_boxes
from netscale.data.randaugment import RANDAUG_OPS, rand_augment

__all__ = ["AugmentConfig", "eval_batch", "normalize", "train_batch"]

RANDAUG_CHUNKS = 8  # independent RandAugment op draws per batch
RANDAUG_MAX_MAGNITUDE = 30.0  # accepted bound: the scale's nominal maximum is 10 (TF, timm)
CROP_MODES = ("reflect", "zeros")
CROPS = ("pad", "resized")
ERASE_AREA = (0.02, 1 / 3)  # random erasing: area fraction range (timm's default)
ERASE_LOG_RATIO = (math.log(0.3), math.log(1 / 0.3))


@dataclass(frozen=True, slots=True)
class AugmentConfig:
    """Training augmentation; every default is off."""

    crop_padding: int = 0  # pixels of padding for the random crop, 0 = off
    flip: bool = False  # random horizontal flip with p=0.5
    randaug_layers: int = 0  # RandAugment ops per image, 0 = off
    randaug_magnitude: float = 0.0  # TF / timm scale: nominal max 10; "tf" extrapolates up to 30
    randaug_ops: str = "tf"  # op set and level mapping: "tf" or "timm" (data/randaugment.py)
    randaug_magnitude_std: float = 0.0  # Gaussian noise on the magnitude per op (timm's mstd)
    mixup_alpha: float = 0.0  # Beta(alpha, alpha) mixup, 0 = off
    cutmix_alpha: float = 0.0  # Beta(alpha, alpha) CutMix, 0 = off
    label_smoothing: float = 0.0  # probability mass spread over all classes
    crop_mode: str = "reflect"  # padding of the random crop: "reflect" or "zeros"
    crop: str = "pad"  # "pad": crop_padding crop; "resized": random-resized crop
    crop_min_scale: float = 0.08  # "resized": smallest area fraction of a crop
    random_erasing: float = 0.0  # probability per image

    def __post_init__(self) -> None:
        checks = {
            "crop_padding": self.crop_padding >= 0,
            "randaug_layers": self.randaug_layers >= 0,
            "randaug_magnitude": 0.0 <= self.randaug_magnitude <= RANDAUG_MAX_MAGNITUDE,
            "randaug_ops": self.randaug_ops in RANDAUG_OPS,
            "randaug_magnitude_std": self.randaug_magnitude_std >= 0.0,
            "mixup_alpha": self.mixup_alpha >= 0.0,
            "cutmix_alpha": self.cutmix_alpha >= 0.0,
            "label_smoothing": 0.0 <= self.label_smoothing < 1.0,
            "crop_mode": self.crop_mode in CROP_MODES,
            "crop": self.crop in CROPS,
            "crop_min_scale": 0.0 < self.crop_min_scale <= 1.0,
            "random_erasing": 0.0 <= self.random_erasing <= 1.0,
        }
        allowed = {
            "randaug_magnitude": "in [0, 30] (the TF / timm scale, nominal maximum 10)",
            "randaug_ops": f"one of {RANDAUG_OPS}",
            "label_smoothing": "in [0, 1)",
            "crop_mode": f"one of {CROP_MODES}",
            "crop": f"one of {CROPS}",
            "crop_min_scale": "in (0, 1]",
            "random_erasing": "in [0, 1]",
        }
        for name, ok in checks.items():
            if not ok:
                rule = allowed.get(name, ">= 0")
                raise ValueError(f"AugmentConfig.{name}={getattr(self, name)!r} must be {rule}")


def train_batch(
    images_u8: torch.Tensor,
    labels: torch.Tensor,
    *,
    config: AugmentConfig,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int,
    generator: torch.Generator,
    channels_last: bool = True,
    sampled: bool = False,
    soft_targets: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment uint8 (B, C, H, W) -> float32 (B, C, R, R) images and (B, classes) targets;
    with ``sampled``, the images were already cropped, flipped and RandAugmented one by one
    (the streamed path; float32 when the workers also normalized them) and only the
    batch-level steps run. ``soft_targets`` (P, classes): the target probabilities of the
    last P images (soft pseudo-labels), taken as they are (no label smoothing) and mixed
    with the rest; ``labels`` then holds the first B - P images' classes."""
    if sampled and images_u8.is_floating_point():  # normalized in the workers already
        x = images_u8
    else:
        _check_images(images_u8, mean, std)
        x = images_u8 if sampled else _per_image(images_u8, config, resolution, generator)
        x = _to_float(x, resolution, mean, std, channels_last)  # (B, C, R, R) float32
    if config.random_erasing > 0:
        x = random_erase(x, config.random_erasing, generator=generator)
    targets = smooth_targets(labels, num_classes, config.label_smoothing)
    if soft_targets is not None:
        targets = torch.cat([targets, soft_targets.to(targets.device, torch.float32)])
    if targets.shape != (x.shape[0], num_classes):
        raise ValueError(
            f"{len(labels)} labels and {0 if soft_targets is None else len(soft_targets)} "
            f"soft targets for {x.shape[0]} images of {num_classes} classes"
        )
    x, targets = _mix(x, targets, config, generator)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, targets


def _per_image(
    x: torch.Tensor, config: AugmentConfig, resolution: int, generator: torch.Generator
) -> torch.Tensor:
    """The crop, flip and RandAugment of the in-memory path, on the whole uint8 batch."""
    if config.crop == "resized":
        x = random_resized_crop(x, resolution, config.crop_min_scale, generator=generator)
    elif config.crop_padding > 0:
        x = random_crop(x, config.crop_padding, generator=generator, mode=config.crop_mode)
    if config.flip:
        x = random_flip(x, generator=generator)
    return rand_augment(
        x,
        num_layers=config.randaug_layers,
        magnitude=config.randaug_magnitude,
        generator=generator,
        num_chunks=RANDAUG_CHUNKS,
        ops=config.randaug_ops,
        magnitude_std=config.randaug_magnitude_std,
    )


def eval_batch(
    images_u8: torch.Tensor,
    *,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    channels_last: bool = True,
    crop_fraction: float = 1.0,
) -> torch.Tensor:
    """uint8 (B, C, H, W) -> normalized float32 (B, C, R, R): the central square of
    ``crop_fraction`` of the shorter side (:func:`netscale.data.boxes.center_box`; at 1.0
    and square images, the whole image), resized to R, normalized."""
    _check_images(images_u8, mean, std)
    x = images_u8
    if crop_fraction != 1.0 or x.shape[2] != x.shape[3]:
        left, top, right, bottom = (
            round(v) for v in center_box(x.shape[2], x.shape[3], crop_fraction)
        )
        x = x[:, :, top:bottom, left:right]
    x = _to_float(x, resolution, mean, std)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _check_images(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> None:
    """Raise ValueError unless x is uint8 (B, C, H, W) with C == len(mean) == len(std)."""
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise ValueError(f"images must be uint8 (B, C, H, W), got {x.dtype} {tuple(x.shape)}")
    if not len(mean) == len(std) == x.shape[1]:
        raise ValueError(f"mean/std have {len(mean)}/{len(std)} values for {x.shape[1]} channels")


def _rand(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) draws from ``generator`` (on its device), moved to ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def random_crop(
    x: torch.Tensor, padding: int, *, generator: torch.Generator, mode: str = "reflect"
) -> torch.Tensor:
    """Per-image random crop of x's own size from x padded by ``padding`` on every side.

    The batch is padded once; a strided view lists every crop window of every image,
    (B, 2p+1, 2p+1, C, H, W), and one advanced index picks each image's window.
    """
    b, c, h, w = x.shape
    if mode == "reflect" and padding >= min(h, w):
        raise ValueError(f"reflect crop_padding={padding} must be < image size {min(h, w)}")
    span = 2 * padding + 1
    offsets = torch.randint(span, (2, b), generator=generator, device=generator.device)
    offsets = offsets.to(x.device)
    pad_mode = "reflect" if mode == "reflect" else "constant"
    padded = F.pad(x, (padding,) * 4, mode=pad_mode)  # (B, C, H + 2p, W + 2p)
    sb, sc, sh, sw = padded.stride()
    windows = padded.as_strided((b, span, span, c, h, w), (sb, sh, sw, sc, sh, sw))
    return windows[torch.arange(b, device=x.device), offsets[0], offsets[1]]  # (B, C, H, W)


def random_flip(x: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Flip each image horizontally with probability 0.5."""
    coin = _rand((x.shape[0],), generator, x.device) < 0.5
    if x.shape[0] == 1:  # one image (a worker's sample): flip only when the coin says so
        return x.flip(3) if bool(coin[0]) else x
    return torch.where(coin[:, None, None, None], x.flip(3), x)


def random_resized_crop(
    x: torch.Tensor, resolution: int, min_scale: float, *, generator: torch.Generator
) -> torch.Tensor:
    """uint8 (B, C, H, W) -> uint8 (B, C, R, R): one random-resized-crop box per image
    (:func:`netscale.data.boxes.crop_boxes`), resized with ``roi_align`` (bilinear, two
    samples per output pixel and axis, which averages when a box is larger than R)."""
    from torchvision.ops import roi_align

    b, _, h, w = x.shape
    boxes = crop_boxes(h, w, b, min_scale, generator).to(torch.float32)
    rois = torch.cat([torch.arange(b, dtype=torch.float32)[:, None], boxes], dim=1)
    out = roi_align(
        x.float(), rois.to(x.device), (resolution, resolution), sampling_ratio=2, aligned=True
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


def random_erase(x: torch.Tensor, p: float, *, generator: torch.Generator) -> torch.Tensor:
    """Random erasing of float (B, C, H, W) images (see the module docstring)."""
    b, c, h, w = x.shape
    draws = _rand((b, RRC_ATTEMPTS, 4), generator, x.device).double()
    area = h * w * (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * draws[..., 0])
    ratio = torch.exp(
        ERASE_LOG_RATIO[0] + (ERASE_LOG_RATIO[1] - ERASE_LOG_RATIO[0]) * draws[..., 1]
    )
    eh, ew = torch.round(torch.sqrt(area * ratio)), torch.round(torch.sqrt(area / ratio))
    fits = (eh < h) & (ew < w)
    first = torch.argmax(fits.to(torch.int8), dim=1)
    rows = torch.arange(b, device=x.device)
    eh, ew, draws = eh[rows, first], ew[rows, first], draws[rows, first]
    top = torch.floor(draws[:, 2] * (h - eh + 1))
    left = torch.floor(draws[:, 3] * (w - ew + 1))
    erase = (_rand((b,), generator, x.device) < p) & fits[rows, first]
    ys = torch.arange(h, device=x.device, dtype=torch.float64)[None, :, None]
    xs = torch.arange(w, device=x.device, dtype=torch.float64)[None, None, :]
    inside = (ys >= top[:, None, None]) & (ys < (top + eh)[:, None, None])
    inside = inside & (xs >= left[:, None, None]) & (xs < (left + ew)[:, None, None])
    mask = (inside & erase[:, None, None])[:, None]  # (B, 1, H, W)
    noise = torch.randn((b, c, h, w), generator=generator, device=generator.device)
    return torch.where(mask, noise.to(x.device, x.dtype), x)


def _to_float(
    x: torch.Tensor,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    channels_last: bool = False,
) -> torch.Tensor:
    """uint8 -> float32, resize to (resolution, resolution), normalize with mean/std in [0, 1].
    With `channels_last` and no resize, the uint8 batch is put in that layout first (a
    quarter of the bytes to move; measured 1.4x faster per batch than converting after)."""
    if resolution <= 0:
        raise ValueError(f"resolution={resolution} must be > 0")
    same_size = tuple(x.shape[2:]) == (resolution, resolution)
    if channels_last and same_size:
        x = x.contiguous(memory_format=torch.channels_last)
    out = x.float()
    if not same_size:
        down = resolution < max(x.shape[2], x.shape[3])
        out = F.interpolate(
            out, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=down
        )
    return _normalize_(out, mean, std)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 (x / 255 - mean) / std, per channel (what `train_batch`
    and `eval_batch` do after any resize; the streamed path's workers call it per image)."""
    return _normalize_(x.float(), mean, std)


def _normalize_(out: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=torch.float32, device=out.device).view(1, -1, 1, 1) * 255.0
    s = torch.tensor(std, dtype=torch.float32, device=out.device).view(1, -1, 1, 1) * 255.0
    return out.sub_(m).div_(s)


def smooth_targets(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """One-hot float32 (B, num_classes) targets with label smoothing ``smoothing``."""
    targets = F.one_hot(labels.long(), num_classes).float()
    return targets.mul_(1.0 - smoothing).add_(smoothing / num_classes) if smoothing else targets


def _sample_beta(alpha: float, generator: torch.Generator) -> float:
    """Beta(alpha, alpha) via numpy seeded from ``generator`` (torch's Beta uses global RNG)."""
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _mix(
    x: torch.Tensor, targets: torch.Tensor, config: AugmentConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or CutMix (one per batch, p=0.5 each when both are on) of images and targets."""
    use_mixup, use_cutmix = config.mixup_alpha > 0, config.cutmix_alpha > 0
    if not (use_mixup or use_cutmix) or x.shape[0] < 2:
        return x, targets
    if use_mixup and use_cutmix:
        use_mixup = bool(_rand((1,), generator, x.device) < 0.5)
    alpha = config.mixup_alpha if use_mixup else config.cutmix_alpha
    lam = _sample_beta(alpha, generator)
    perm = torch.randperm(x.shape[0], generator=generator, device=generator.device).to(x.device)
    if use_mixup:
        x = x.mul(lam).add_(x[perm], alpha=1.0 - lam)
    else:
        x, lam = _cutmix(x, perm, lam, generator)
    return x, targets.mul(lam).add_(targets[perm], alpha=1.0 - lam)


def _cutmix(
    x: torch.Tensor, perm: torch.Tensor, lam: float, generator: torch.Generator
) -> tuple[torch.Tensor, float]:
    """Paste one box of area ~(1 - lam) from x[perm]; returns images and the kept area."""
    h, w = x.shape[2], x.shape[3]
    ratio = (1.0 - lam) ** 0.5
    cut_h, cut_w = int(h * ratio), int(w * ratio)
    cy, cx = (_rand((2,), generator, torch.device("cpu")) * torch.tensor([h, w])).long().tolist()
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    out = x.clone()
    out[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
    return out, 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
