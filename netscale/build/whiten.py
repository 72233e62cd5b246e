"""Data-dependent initialization of a whitening stem (`StemSpec(kind="whiten")`).

airbench (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds") starts with a kxk conv whose
filters whiten the input's kxk patches: with the patch covariance C = V diag(lambda) V^T,
the filters are the eigenvectors scaled by 1 / sqrt(lambda + eps), largest eigenvalue first,
followed by their negatives (so that the activation after the stem loses no sign). The
weights are then frozen; the bias stays trainable. The conv of a patch x gives
v_i . x / sqrt(lambda_i + eps), whose covariance over the patches is diag(lambda / (lambda + eps)),
about the identity.

airbench estimates the uncentered second moment of the patches; this module takes their
covariance (mean removed), which is what whitening means and what airbench's estimate
equals for normalized (zero-mean) images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from netscale.spec.net import NetSpec

_PATCHES_PER_CHUNK = 1 << 20  # patch rows accumulated at a time (bounds the memory used)


def init_whitening(model: nn.Module, images: torch.Tensor, eps: float = 5e-4) -> bool:
    """Set the whitening stem of `model` from `images`; True if it had one.

    `images`: a float (N, C, H, W) tensor, normalized as the model's input (C = the spec's
    in_width, H and W at least the stem's kernel). The stem conv's weight becomes
    cat(V / sqrt(lambda + eps), -V / sqrt(lambda + eps)) for the eigenvalues lambda
    (descending) and eigenvectors V of the covariance of all kxk patches (stride 1) of
    `images`, each reshaped to a (C, k, k) filter; its bias becomes zero. The weight is then
    frozen (requires_grad False), the bias stays trainable. Computed in float64; the same
    images give the same weights.

    Returns False and changes nothing when `model` has no netscale spec or its stem is not
    `kind="whiten"`. Raises ValueError for images that are not a float 4-D tensor with the
    model's channel count and at least k x k pixels, or for eps < 0.
    """
    spec = getattr(model, "spec", None)
    if not isinstance(spec, NetSpec) or spec.stem.kind != "whiten":
        return False
    k, c = spec.stem.kernel, spec.in_width
    _check_images(images, c, k)
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps >= 0:
        raise ValueError(f"eps={eps!r} is invalid: expected a number >= 0")
    conv = model.stem.conv
    d = c * k * k
    if tuple(conv.weight.shape) != (2 * d, c, k, k):
        raise ValueError(
            f"the stem conv's weight has shape {tuple(conv.weight.shape)}; a whitening stem "
            f"of in_width {c} and kernel {k} needs {(2 * d, c, k, k)}"
        )
    cov = patch_covariance(images, k)  # (d, d), float64 on the CPU
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending; columns are vectors
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    scale = torch.rsqrt(eigenvalues.clamp(min=0) + eps)  # round-off can make lambda < 0
    if not bool(torch.isfinite(scale).all()):
        raise ValueError(
            "the patch covariance has a zero eigenvalue and eps=0: pass eps > 0 (airbench "
            "uses 5e-4)"
        )
    filters = (eigenvectors * scale).T.reshape(d, c, k, k)  # row i: v_i / sqrt(lambda_i + eps)
    weight = torch.cat((filters, -filters))
    with torch.no_grad():
        conv.weight.copy_(weight.to(dtype=conv.weight.dtype, device=conv.weight.device))
        if conv.bias is not None:
            conv.bias.zero_()
    conv.weight.requires_grad_(False)
    return True


def patch_covariance(images: torch.Tensor, kernel: int) -> torch.Tensor:
    """Covariance (float64, CPU) of all kernel x kernel patches (stride 1, no padding) of
    (N, C, H, W) `images`, over C * k * k features in conv-filter order (channel, row,
    column). Accumulated in chunks of images, so all patches are never held at once."""
    n, c, h, w = images.shape
    d = c * kernel * kernel
    per_image = (h - kernel + 1) * (w - kernel + 1)
    step = max(1, _PATCHES_PER_CHUNK // per_image)
    device = images.device if images.device.type in ("cpu", "cuda") else torch.device("cpu")
    total = torch.zeros(d, dtype=torch.float64, device=device)
    gram = torch.zeros(d, d, dtype=torch.float64, device=device)
    for start in range(0, n, step):
        chunk = images[start : start + step].detach().to(device=device, dtype=torch.float64)
        cols = F.unfold(chunk, kernel)  # (n, d, patches)
        rows = cols.transpose(1, 2).reshape(-1, d)  # (n * patches, d)
        total += rows.sum(0)
        gram += rows.T @ rows
    count = n * per_image
    mean = total / count
    return (gram / count - torch.outer(mean, mean)).cpu()


def _check_images(images: object, channels: int, kernel: int) -> None:
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise ValueError(
            f"images must be a float tensor normalized as the model's input, got dtype "
            f"{images.dtype}"
        )
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    if c != channels:
        raise ValueError(f"images have {c} channels; the whitening stem takes in_width={channels}")
    if n < 1 or h < kernel or w < kernel:
        raise ValueError(
            f"images of shape {tuple(images.shape)} hold no {kernel}x{kernel} patch: the "
            f"whitening stem needs at least one image of at least {kernel}x{kernel} pixels"
        )
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images hold NaN or infinite values")
