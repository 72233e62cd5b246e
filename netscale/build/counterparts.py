"""The same-architecture models of timm and torchvision, built without weights.

Used to check param counts (docs/models.md), test weight import and, later, benchmark
against the ecosystem. timm and torchvision are optional: imported only when asked for.
"""

from __future__ import annotations

import contextlib
import importlib

import torch
from torch import nn

from netscale.families import model_info

SOURCES = ("timm", "torchvision")


def counterpart_name(name: str, source: str) -> str | None:
    """The counterpart's name in `source` ("timm" or "torchvision"), or None if it has none."""
    if source not in SOURCES:
        raise ValueError(f"source={source!r} is invalid; allowed: {', '.join(SOURCES)}")
    info = model_info(name)
    return info.timm if source == "timm" else info.torchvision


def counterpart_model(
    name: str, source: str, *, num_classes: int = 1000, device: str | torch.device | None = None
) -> nn.Module:
    """Build the randomly initialized counterpart of registered model `name` from `source`.

    `device="meta"` builds without memory (param counts, FLOP counts) where the library
    allows it; torchvision's RegNets compute widths with tensors and need a real device.
    """
    other = counterpart_name(name, source)
    if other is None:
        raise ValueError(f"{name} has no same-architecture counterpart in {source}")
    try:
        lib = importlib.import_module(source)
    except ImportError:
        raise ImportError(f"{source} is not installed; pip install {source}") from None
    ctx = torch.device(device) if device is not None else contextlib.nullcontext()
    with ctx:
        if source == "timm":
            return lib.create_model(other, pretrained=False, num_classes=num_classes)
        return getattr(lib.models, other)(weights=None, num_classes=num_classes)
