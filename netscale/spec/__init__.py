"""Spec layer: frozen dataclasses, validation, JSON/YAML round trip, content hash. No torch."""

from netscale.spec.io import (
    canonical_json,
    dumps,
    from_dict,
    load,
    loads,
    save,
    spec_id,
    to_dict,
)
from netscale.spec.net import (
    ACTIVATIONS,
    BLOCK_KINDS,
    HEAD_POOLS,
    SCHEMA_VERSION,
    STEM_KINDS,
    HeadSpec,
    NetSpec,
    SpecError,
    StageSpec,
    StemSpec,
)

__all__ = [
    "ACTIVATIONS",
    "BLOCK_KINDS",
    "HEAD_POOLS",
    "SCHEMA_VERSION",
    "STEM_KINDS",
    "HeadSpec",
    "NetSpec",
    "SpecError",
    "StageSpec",
    "StemSpec",
    "canonical_json",
    "dumps",
    "from_dict",
    "load",
    "loads",
    "save",
    "spec_id",
    "to_dict",
]
