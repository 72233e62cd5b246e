"""The model registry: names -> spec factories plus what the papers and libraries say of them.

A strict registry in the torchvision manner: lowercase names joined by "_", duplicates raise,
unknown names raise with close matches. No torch.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netscale.spec.net import HeadSpec, NetSpec, SpecError

_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A published number: `value` in `unit` for `metric`, and where it was published."""

    metric: str  # e.g. "top1", "params", "flops"
    value: float
    unit: str  # e.g. "%", "M", "G multiply-adds"
    source: str


def published(
    source: str, top1: float | None, params: float | None, flops: float | None
) -> tuple[Reference, ...]:
    """References for top-1 (%), params (M) and FLOPs (G multiply-adds); None is skipped."""
    values = (("top1", top1, "%"), ("params", params, "M"), ("flops", flops, "G multiply-adds"))
    return tuple(
        Reference(metric=m, value=v, unit=u, source=source) for m, v, u in values if v is not None
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressiveLearning:
    """Progressive-learning settings (EfficientNetV2 sec. 4.2): over the training stages the
    image size (pixels), RandAugment magnitude (TF scale), mixup alpha and dropout rate grow
    together from their minimum to their maximum; `cutmix` the CutMix alpha the released
    code ramps with mixup (0 in the paper's Table 6, which lists mixup only)."""

    min_resolution: int
    max_resolution: int
    min_randaug: float
    max_randaug: float
    min_mixup: float
    max_mixup: float
    min_dropout: float
    max_dropout: float
    source: str
    cutmix: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingValue:
    """A training setting the papers give for this model: a Recipe field, its value, and
    where it is published. A recipe applies it unless the user sets the field."""

    field: str
    value: float | int | str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """What is known of a registered model beyond its architecture."""

    name: str
    family: str
    paper: str
    train_resolution: int  # pixels per side
    test_resolution: int
    references: tuple[Reference, ...] = ()
    timm: str | None = None  # same-architecture counterpart in timm
    torchvision: str | None = None  # same-architecture counterpart in torchvision
    progressive: ProgressiveLearning | None = None  # the paper's (EfficientNetV2 Table 6)
    progressive_code: ProgressiveLearning | None = None  # the released code's preset
    training: tuple[TrainingValue, ...] = ()
    notes: str = ""


@dataclass(frozen=True, slots=True)
class _Entry:
    factory: Callable[[], NetSpec]
    info: ModelInfo


_REGISTRY: dict[str, _Entry] = {}


def register(factory: Callable[[], NetSpec], info: ModelInfo) -> None:
    """Register `info.name`; the factory returns its spec. Duplicate or malformed names raise."""
    name = info.name
    if not _NAME.match(name):
        raise ValueError(f"model name {name!r} is invalid: lowercase words joined by '_'")
    if name in _REGISTRY:
        raise ValueError(f"model name {name!r} is already registered")
    _REGISTRY[name] = _Entry(factory, info)


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching the shell-style `pattern`, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


class UnknownModelError(KeyError):
    """An unknown registry name (the message suggests close matches)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _lookup(name: str) -> _Entry:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    entry = _REGISTRY.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.6)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else "; `netscale models list` shows all names"
        )
        raise UnknownModelError(f"unknown model {name!r}{hint}")
    return entry


def model_info(name: str) -> ModelInfo:
    """Paper, reference numbers, resolutions and library counterparts of a registered model."""
    return _lookup(name).info


_HEAD_OVERRIDES = {f.name for f in dataclasses.fields(HeadSpec)} - {"width", "norm"}


def apply_overrides(spec: NetSpec, **overrides: Any) -> NetSpec:
    """Replace top-level spec fields, or the head's `num_classes` / `dropout_rate` (and its
    other fields but `width` and `norm`). A new `in_width` also resizes a whitening stem,
    whose width is 2 * in_width * kernel**2 (unless `stem` is given too)."""
    net_fields = {f.name for f in dataclasses.fields(NetSpec)} - {"schema"}
    head = {k: overrides.pop(k) for k in list(overrides) if k in _HEAD_OVERRIDES}
    unknown = sorted(set(overrides) - net_fields)
    if unknown:
        allowed = ", ".join(sorted(net_fields | _HEAD_OVERRIDES))
        raise SpecError(f"unknown override {unknown[0]!r}; allowed: {allowed}")
    if head:
        overrides["head"] = dataclasses.replace(spec.head, **head)
    if "in_width" in overrides and "stem" not in overrides and spec.stem.kind == "whiten":
        in_width = overrides["in_width"]
        if isinstance(in_width, int) and not isinstance(in_width, bool) and in_width >= 1:
            width = 2 * in_width * spec.stem.kernel**2
            overrides["stem"] = dataclasses.replace(spec.stem, width=width)
    return dataclasses.replace(spec, **overrides) if overrides else spec


def get_spec(name: str, /, **overrides: Any) -> NetSpec:
    """The spec of a registered model, with top-level fields replaced by `overrides`."""
    return apply_overrides(_lookup(name).factory(), **overrides)
