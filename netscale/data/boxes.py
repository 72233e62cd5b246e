"""Crop boxes of the papers' geometric transforms, for both data paths (no images here).

- ``crop_boxes``: Inception-style random-resized-crop boxes (Szegedy et al. 2015; the
  ``RandomResizedCrop`` of every paper here): area fraction uniform in [min_scale, 1], log
  aspect ratio uniform in [log 3/4, log 4/3], up to 10 attempts, else the whole image cut
  to the nearest allowed ratio, centered (torchvision's rule). Vectorized over images; all
  draws from the caller's ``torch.Generator``.
- ``center_box``: the evaluation crop: the central square of ``crop_fraction`` of the
  shorter side (resize the shorter side to R / crop_fraction and take R x R: 224 of 256 at
  0.875).
"""

from __future__ import annotations

import math

import torch

__all__ = ["CROP_RATIO", "RRC_ATTEMPTS", "center_box", "crop_boxes"]

CROP_RATIO = (3 / 4, 4 / 3)  # aspect-ratio range of the random-resized crop
RRC_ATTEMPTS = 10


def crop_boxes(
    height: int, width: int, n: int, min_scale: float, generator: torch.Generator
) -> torch.Tensor:
    """n random-resized-crop boxes (left, top, right, bottom) in pixels, float64 (n, 4),
    for images of ``height`` x ``width`` (see the module docstring for the rule)."""
    if n == 1:  # one image (a worker's sample): the same draws and boxes, in plain floats
        return torch.tensor([_one_box(height, width, min_scale, generator)], dtype=torch.float64)
    draws = torch.rand((n, RRC_ATTEMPTS, 2), generator=generator, dtype=torch.float64)
    where = torch.rand((n, 2), generator=generator, dtype=torch.float64)
    return _boxes(height, width, min_scale, draws, where)


def _boxes(
    height: int, width: int, min_scale: float, draws: torch.Tensor, where: torch.Tensor
) -> torch.Tensor:
    """The boxes of uniform `draws` (n, RRC_ATTEMPTS, 2) and positions `where` (n, 2)."""
    n = draws.shape[0]
    area = height * width
    log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    target = area * (min_scale + (1.0 - min_scale) * draws[..., 0])
    ratio = torch.exp(log_lo + (log_hi - log_lo) * draws[..., 1])
    w = torch.round(torch.sqrt(target * ratio))
    h = torch.round(torch.sqrt(target / ratio))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.argmax(fits.to(torch.int8), dim=1)  # first attempt that fits
    rows = torch.arange(n)
    cw, ch, found = w[rows, first], h[rows, first], fits[rows, first]
    fw, fh = _fallback(height, width)
    cw = torch.where(found, cw, torch.full_like(cw, fw))
    ch = torch.where(found, ch, torch.full_like(ch, fh))
    left = torch.where(found, torch.floor(where[:, 0] * (width - cw + 1)), (width - cw) // 2)
    top = torch.where(found, torch.floor(where[:, 1] * (height - ch + 1)), (height - ch) // 2)
    return torch.stack([left, top, left + cw, top + ch], dim=1)


def _one_box(height: int, width: int, min_scale: float, generator: torch.Generator) -> list:
    """`crop_boxes` for one image without tensor ops (~8x faster per call; the draws are the
    same 2 x RRC_ATTEMPTS + 2 uniforms in the same order, the arithmetic the same in
    float64: tests/data/test_boxes.py checks the two agree)."""
    d = torch.rand(2 * RRC_ATTEMPTS + 2, generator=generator, dtype=torch.float64).tolist()
    log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    for k in range(RRC_ATTEMPTS):
        target = height * width * (min_scale + (1.0 - min_scale) * d[2 * k])
        ratio = math.exp(log_lo + (log_hi - log_lo) * d[2 * k + 1])
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            left = math.floor(d[-2] * (width - w + 1))
            top = math.floor(d[-1] * (height - h + 1))
            return [left, top, left + w, top + h]
    fw, fh = _fallback(height, width)
    left, top = (width - fw) // 2, (height - fh) // 2
    return [left, top, left + fw, top + fh]


def _fallback(height: int, width: int) -> tuple[float, float]:
    """The whole image, cut to the nearest ratio in CROP_RATIO (torchvision's fallback)."""
    ratio = width / height
    if ratio < CROP_RATIO[0]:
        return float(width), float(round(width / CROP_RATIO[0]))
    if ratio > CROP_RATIO[1]:
        return float(round(height * CROP_RATIO[1])), float(height)
    return float(width), float(height)


def center_box(height: int, width: int, crop_fraction: float) -> tuple[float, float, float, float]:
    """The square evaluation box (left, top, right, bottom): side crop_fraction x the shorter
    side, centered."""
    side = crop_fraction * min(height, width)
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side
