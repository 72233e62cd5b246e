"""The one resolver of "a registered name | a spec file | a NetSpec" and the model card.

Every layer that takes a model by name or file (training, studies, profiling, export, the
CLI and the `netscale.api` facade) goes through `resolve_spec`. No torch.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from netscale.complexity import count
from netscale.families.registry import ModelInfo, apply_overrides, get_spec, list_models, model_info
from netscale.spec import NetSpec, load, spec_id, to_dict

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def resolve_spec(name_or_spec: str | os.PathLike[str] | NetSpec, /, **overrides: Any) -> NetSpec:
    """A spec from a registered name, a `.yaml`/`.yml`/`.json` path or a `NetSpec`, with
    top-level fields (or the head's num_classes / dropout_rate) replaced by `overrides`."""
    if isinstance(name_or_spec, NetSpec):
        return apply_overrides(name_or_spec, **overrides)
    if not isinstance(name_or_spec, str | os.PathLike):
        raise TypeError(
            "a model must be a registered name, a spec file (.yaml/.yml/.json) or a NetSpec, "
            f"got {type(name_or_spec).__name__}"
        )
    text = os.fspath(name_or_spec)
    if text.lower().endswith(SPEC_SUFFIXES):
        return apply_overrides(load(text), **overrides)
    return get_spec(text, **overrides)


def model_card(
    name_or_spec: str | os.PathLike[str] | NetSpec, resolution: int | None = None
) -> dict[str, Any]:
    """Everything `netscale models show` prints, as plain data (JSON-ready).

    Keys: name, spec_id, spec (the spec as a dict), complexity (flops in multiply-adds,
    params, acts, bias_flops, resolution in pixels, parts), info (registered models only).
    """
    spec = resolve_spec(name_or_spec)
    cx = count(spec, resolution)
    info = registered_info(spec)
    return {
        "name": spec.name,
        "spec_id": spec_id(spec),
        "spec": to_dict(spec),
        "complexity": dataclasses.asdict(cx),
        "info": None if info is None else dataclasses.asdict(info),
    }


def registered_info(spec: NetSpec) -> ModelInfo | None:
    """The registry's facts on `spec`: only while its architecture is the registered one
    of its name, unchanged (a scaled or edited spec has none)."""
    if spec.name in list_models() and spec_id(get_spec(spec.name)) == spec_id(spec):
        return model_info(spec.name)
    return None


def model_spec(model: Any) -> NetSpec:
    """The spec of a registered name, spec file, NetSpec, or a netscale module (`.spec`)."""
    spec = getattr(model, "spec", None)
    return spec if isinstance(spec, NetSpec) else resolve_spec(model)
