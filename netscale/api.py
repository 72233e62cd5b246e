"""The public Python API. Functions that need torch import it when called, so
`import netscale` stays light (the spec, family and complexity layers never import torch)."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from netscale.complexity import Complexity, count
from netscale.families import get_spec, list_models, model_info
from netscale.families.registry import apply_overrides
from netscale.spec import NetSpec, load, spec_id, to_dict

if TYPE_CHECKING:
    import torch


def resolve_spec(name_or_spec: str | os.PathLike[str] | NetSpec, /, **overrides: Any) -> NetSpec:
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
    name_or_spec: str | os.PathLike[str] | NetSpec, num_classes: int | None = None, **overrides: Any
) -> torch.nn.Module:
    """Build the torch module of a registered name, spec file or `NetSpec`.

    `num_classes` (default: the spec's, 1000 for registered models) and `overrides`
    replace spec fields first."""
    from netscale.build import build

    if num_classes is not None:
        overrides["num_classes"] = num_classes
    return build(resolve_spec(name_or_spec, **overrides))


def import_weights(
    model: torch.nn.Module, state_dict: Any, source: str = "timm", strict: bool = True
) -> torch.nn.Module:
    """Load a timm or torchvision checkpoint (a state dict or a .safetensors/.pth path).

    strict=True: every model key must come from the checkpoint and every checkpoint key be
    used; strict=False skips keys found on one side only. Shapes must match either way.
    Raises `netscale.build.WeightImportError` (a ValueError) listing missing, unexpected
    and wrongly shaped keys. Returns `model`.
    """
    from netscale.build.weights import import_weights as _import

    return _import(model, state_dict, source=source, strict=strict)


def model_card(
    name_or_spec: str | os.PathLike[str] | NetSpec, resolution: int | None = None
) -> dict[str, Any]:
    """Everything `netscale models show` prints, as plain data (JSON-ready).

    Keys: name, spec_id, spec (the spec as a dict), complexity (flops in multiply-adds,
    params, acts, bias_flops, resolution in pixels, parts), info (registered models only).
    """
    spec = resolve_spec(name_or_spec)
    cx = count(spec, resolution)
    info = None
    # Registry facts apply only while the architecture is the registered one, unchanged.
    if spec.name in list_models() and spec_id(get_spec(spec.name)) == spec_id(spec):
        info = dataclasses.asdict(model_info(spec.name))
    return {
        "name": spec.name,
        "spec_id": spec_id(spec),
        "spec": to_dict(spec),
        "complexity": dataclasses.asdict(cx),
        "info": info,
    }


def train(
    model: Any,
    data: Any = "digits",
    recipe: Any = "quick",
    out: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Any:
    """Train `model` (name, spec file, NetSpec or netscale Net) on `data` ("digits",
    "npz:PATH", "folder:PATH", "cifar10", "cifar100") with `recipe` (a shipped name, a
    YAML file or a Recipe) into run directory `out`; keyword arguments are `resume`, `seed`,
    `device`, `minival`, `progress`, or recipe fields to override. Returns a RunResult."""
    from netscale.training.loop import train as _train

    return _train(model, data, recipe, out, **kwargs)


def profile(model: Any, **kwargs: Any) -> Any:
    """Measure `model` (name, spec file, NetSpec or module) on a device: images/s, latency
    (median, p95), peak memory, multiply-adds/s and MFU. Keyword arguments are those of
    `netscale.profiling.measure.profile` (device, batch, resolution, mode, precision,
    channels_last, compile, warmup, iters). Returns a ProfileResult."""
    from netscale.profiling.measure import profile as _profile

    return _profile(model, **kwargs)


def optimize_for_inference(model: Any, *, channels_last: bool = True) -> Any:
    """An equivalent eval-mode copy of `model` with BatchNorm folded into the adjacent
    convolutions, in channels_last (see netscale/build/fuse.py)."""
    from netscale.build.fuse import optimize_for_inference as _optimize

    return _optimize(model, channels_last=channels_last)


def export(model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Write `model` as ONNX or a torch.export program (format="onnx" | "torch-export");
    see netscale/build/export.py. Returns the path written."""
    from netscale.build.export import export as _export

    return _export(model, path, **kwargs)
