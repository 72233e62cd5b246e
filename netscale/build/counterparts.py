"""The same-architecture models of timm and torchvision, built without weights, and the
norm epsilons they are built with.

Used to check param counts (docs/models.md), import weights (netscale/build/weights.py)
and, later, benchmark against the ecosystem. timm and torchvision are optional: imported
only when asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import re

import torch
from torch import nn

from netscale.families import get_spec, list_models, model_info
from netscale.spec.net import NetSpec

SOURCES = ("timm", "torchvision")
# The norm epsilons of the counterparts (tests/build/test_counterparts.py reads them off
# every built counterpart), by the spec field that sets ours: BatchNorm 1e-5 (torch's
# default) and LayerNorm 1e-6 (timm's ConvNeXt and CoAtNet, torchvision's ConvNeXt), except
# torchvision's EfficientNet-B5..B7 and EfficientNetV2-S/M/L, which its builders give BN
# eps 1e-3 as the official TF code. A state dict does not record an epsilon.
NORM_EPS = {"norm_eps": 1e-5, "layer_norm_eps": 1e-6}
_NORM_EPS_EXCEPTIONS = (("torchvision", re.compile(r"efficientnet_(b[5-7]|v2_[sml])"), 1e-3),)


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


def _architecture(spec: NetSpec) -> NetSpec:
    """`spec` without what a checkpoint does not fix: name, resolution, epsilons, the
    regularization rates, zero-init and the number of classes."""
    head = dataclasses.replace(spec.head, dropout_rate=0.0, num_classes=1)
    return dataclasses.replace(
        spec,
        name="",
        resolution=spec.min_resolution,
        head=head,
        drop_path_rate=0.0,
        zero_init_residual=False,
        **NORM_EPS,
    )


def counterpart_of(spec: NetSpec, source: str) -> str | None:
    """The `source` model a spec's weights come from: its registered name's counterpart, or
    for an unregistered spec that of the registered model of the same architecture (up to
    `_architecture`); None if there is none."""
    if spec.name in list_models():
        return counterpart_name(spec.name, source)
    ours = _architecture(spec)
    for name in list_models():
        other = counterpart_name(name, source)
        if other is not None and _architecture(get_spec(name)) == ours:
            return other
    return None


def source_norm_eps(spec: NetSpec, source: str) -> dict[str, float]:
    """The epsilons {"norm_eps": BatchNorm, "layer_norm_eps": LayerNorm} that `source`'s
    model of the architecture `spec` normalizes with: its counterpart's (`counterpart_of`),
    else the library's default for these families (`NORM_EPS`)."""
    other = counterpart_of(spec, source)
    eps = dict(NORM_EPS)
    for lib, pattern, bn_eps in _NORM_EPS_EXCEPTIONS:
        if other is not None and lib == source and pattern.fullmatch(other):
            eps["norm_eps"] = bn_eps
    return eps
