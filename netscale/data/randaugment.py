"""RandAugment (Cubuk et al., 2020) on uint8 batches, with per-chunk op choice.

torchvision's ``v2.RandAugment`` on a batch tensor draws ONE op for the whole batch, and
draws it from the global RNG. Here the batch is split into ``num_chunks`` contiguous
chunks (8 by default; batches are already shuffled, so a chunk is a random group); each
chunk gets its own ``num_layers`` ops and signs, drawn from the caller's
``torch.Generator``. The ops are ``torchvision.transforms.v2.functional`` calls on the
whole chunk, so the Python cost is chunks x layers calls per batch, not one per image.

The op set and magnitude ranges are torchvision's ``RandAugment`` (``_augmentation_space``
with 31 bins): ``magnitude`` is on its 0..30 scale and maps linearly to each op's range
(e.g. rotate 30 degrees at 30). As in torchvision the magnitude is fixed and signed ops
take a random sign; unlike torchvision, geometric ops fill with gray 128 (as timm does)
rather than black, and magnitude 0 leaves the magnitude-driven ops as the identity
(torchvision's solarize at magnitude 0 still inverts pixels equal to 255).
"""

from __future__ import annotations

import math

import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

__all__ = ["MAX_MAGNITUDE", "OPS", "rand_augment"]

MAX_MAGNITUDE = 30.0  # torchvision's num_magnitude_bins=31 -> magnitudes 0..30
OPS = (
    "identity",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
    "rotate",
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "posterize",
    "solarize",
    "autocontrast",
    "equalize",
)
_FILL = 128.0  # gray fill of geometric ops (timm's choice)
_NEAREST = InterpolationMode.NEAREST


def rand_augment(
    images: torch.Tensor,
    *,
    num_layers: int,
    magnitude: float,
    generator: torch.Generator,
    num_chunks: int = 8,
) -> torch.Tensor:
    """RandAugment of uint8 (B, C, H, W) images; each of ``num_chunks`` chunks gets its ops."""
    if num_layers <= 0 or images.shape[0] == 0:
        return images
    size = (num_layers, num_chunks)
    ops = torch.randint(len(OPS), size, generator=generator, device=generator.device).tolist()
    signs = torch.randint(2, size, generator=generator, device=generator.device).tolist()
    fraction = magnitude / MAX_MAGNITUDE
    chunks = list(images.tensor_split(num_chunks))
    for k, chunk in enumerate(chunks):
        for layer in range(num_layers):
            signed = fraction if signs[layer][k] else -fraction
            chunk = apply_op(chunk, OPS[ops[layer][k]], signed)
        chunks[k] = chunk
    return torch.cat(chunks)


def apply_op(x: torch.Tensor, op: str, signed: float) -> torch.Tensor:
    """Apply one RandAugment op to uint8 (B, C, H, W); ``signed`` is magnitude/30 with sign.

    Signed ops use ``signed``; unsigned ones (posterize, solarize) use ``abs(signed)``.
    """
    f = abs(signed)
    if op == "identity":
        return x
    if op == "autocontrast":
        return TF.autocontrast(x)
    if op == "equalize":
        return TF.equalize(x)
    if f == 0.0:
        return x
    if op in ("shear_x", "shear_y", "translate_x", "translate_y", "rotate"):
        return _geometric(x, op, signed)
    if op == "posterize":
        return TF.posterize(x, bits=8 - round(4 * f))  # 8 bits at 0 .. 4 bits at 30
    if op == "solarize":
        return TF.solarize(x, threshold=255.0 * (1.0 - f))  # 255 at 0 .. 0 at 30
    factor = 1.0 + 0.9 * signed  # brightness/color/contrast/sharpness: 0.1 .. 1.9
    adjust = {
        "brightness": TF.adjust_brightness,
        "color": TF.adjust_saturation,
        "contrast": TF.adjust_contrast,
        "sharpness": TF.adjust_sharpness,
    }[op]
    return adjust(x, factor)


def _geometric(x: torch.Tensor, op: str, signed: float) -> torch.Tensor:
    """Shear (up to 0.3), translate (up to 150/331 of the size) or rotate (up to 30 deg)."""
    fill = [_FILL] * x.shape[1]
    if op == "rotate":
        return TF.rotate(x, 30.0 * signed, interpolation=_NEAREST, fill=fill)
    shear = [0.0, 0.0]
    shift = [0, 0]
    axis = 0 if op.endswith("_x") else 1
    if op.startswith("shear"):
        shear[axis] = math.degrees(math.atan(0.3 * signed))
    else:
        shift[axis] = round(150.0 / 331.0 * x.shape[3 - axis] * signed)
    return TF.affine(
        x,
        angle=0.0,
        translate=shift,
        scale=1.0,
        shear=shear,
        interpolation=_NEAREST,
        fill=fill,
        center=[0.0, 0.0] if op.startswith("shear") else None,
    )
