"""The public Python API. Functions that need torch import it when called, so
`import netscale` stays light (the spec, family and complexity layers never import torch)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from netscale.complexity import Complexity, count
from netscale.families import get_spec
from netscale.families.registry import apply_overrides
from netscale.spec import NetSpec, load

if TYPE_CHECKING:
    import torch


def resolve_spec(name_or_spec: str | os.PathLike[str] | NetSpec, **overrides: Any) -> NetSpec:
    """A spec from a registered name, a `.yaml`/`.yml`/`.json` path or a `NetSpec`."""
    if isinstance(name_or_spec, NetSpec):
        return apply_overrides(name_or_spec, **overrides)
    text = os.fspath(name_or_spec)
    if text.lower().endswith((".yaml", ".yml", ".json")):
        return apply_overrides(load(text), **overrides)
    return get_spec(text, **overrides)


def complexity(
    name_or_spec: str | os.PathLike[str] | NetSpec, resolution: int | None = None
) -> Complexity:
    """Analytic flops (multiply-adds), params and acts, without building the model."""
    return count(resolve_spec(name_or_spec), resolution)


def create_model(
    name_or_spec: str | os.PathLike[str] | NetSpec, num_classes: int = 1000, **overrides: Any
) -> torch.nn.Module:
    """Build the torch module of a registered name, spec file or `NetSpec`."""
    from netscale.build import build

    return build(resolve_spec(name_or_spec, num_classes=num_classes, **overrides))


def import_weights(
    model: torch.nn.Module, state_dict: Any, source: str = "timm", strict: bool = True
) -> torch.nn.Module:
    """Load a timm or torchvision checkpoint (a state dict or a .safetensors/.pth path)."""
    from netscale.build.weights import import_weights as _import

    return _import(model, state_dict, source=source, strict=strict)
