"""Import timm / torchvision checkpoints into netscale models by explicit key translation.

Each source library names its parameters its own way; a table of regex rules per source
(netscale/build/weight_rules.py) renames every checkpoint key into netscale's layout
(stem.*, stages.{i}.{j}.*, head.*). The translated dict is then checked key by key and
shape by shape against the model before anything is loaded, so a wrong checkpoint fails
with a list of what differs instead of loading half a network. The model then takes the
source model's norm epsilons too (`adopt_source_eps`): a checkpoint does not record them,
and outputs equal the source model's only with them.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file

from netscale.build.builder import Net
from netscale.build.counterparts import source_norm_eps
from netscale.build.weight_rules import (
    TIMM_CONVNEXT,
    TIMM_REGNET,
    TORCHVISION_REGNET,
    KeyRules,
    coatnet_rules,
    efficientnet_rules,
    resnet_rules,
    torchvision_convnext_rules,
)
from netscale.families import list_models, model_info
from netscale.spec.net import NetSpec

SOURCES = ("timm", "torchvision")
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
# Training checkpoints (timm's train.py, torchvision's references) nest the weights.
_WRAPPER_KEYS = ("state_dict", "model", "state_dict_ema")
_MAX_LISTED = 8  # keys listed per kind of mismatch in an error message
# BatchNorm and LayerNorm layers, by the spec field that sets their epsilon
_NORM_FIELDS = ((torch.nn.BatchNorm2d, "norm_eps"), (torch.nn.LayerNorm, "layer_norm_eps"))
_FAMILIES = (
    "ResNet, ResNet-D, ResNet-RS, RegNet X/Y, EfficientNet, EfficientNetV2, ConvNeXt and CoAtNet"
)


def layout(spec: NetSpec) -> str | None:
    """The source layout a spec is built like ("resnet", "regnet", "efficientnet",
    "convnext", "coatnet"), or None. Neither library has a whitening stem, conv_pool
    blocks (airbench), a max-pooled head or a logit scale."""
    airbench = spec.stem.kind == "whiten" or any(s.block == "conv_pool" for s in spec.stages)
    if airbench or spec.head.pool != "avg" or spec.head.logit_scale != 1.0:
        return None
    if spec.stem.kind == "patchify" or any(s.block == "convnext" for s in spec.stages):
        return "convnext" if _convnext_like(spec) else None
    if spec.stem.kind == "coatnet" or any(
        s.block == "transformer" or s.pre_norm for s in spec.stages
    ):
        return "coatnet" if _coatnet_like(spec) else None
    if all(s.block in ("mbconv", "fused_mbconv") for s in spec.stages):
        return "efficientnet" if _efficientnet_like(spec) else None
    first = spec.stages[0]
    uniform = all(s.block == first.block and s.shortcut == first.shortcut for s in spec.stages)
    se_places = {s.se_placement for s in spec.stages if s.se_ratio}
    if not uniform or first.block not in ("basic", "bottleneck") or len(se_places) > 1:
        return None
    if spec.head.width or spec.head.norm or spec.head.hidden_width:  # neither library has these
        return None
    se_out = not se_places or first.block == "basic" or se_places == {"out"}
    if spec.stem.pool != "none" and se_out:
        return "resnet"
    regnet_stem = spec.stem.kind == "conv" and spec.stem.pool == "none"
    if regnet_stem and first.block == "bottleneck" and first.shortcut == "conv":
        return "regnet" if se_places <= {"mid"} else None
    return None


def _efficientnet_like(spec: NetSpec) -> bool:
    """Conv stem + BN + SiLU, (fused) MBConv stages with SE from the block input ("mid"),
    1x1 head conv + BN + SiLU, pool, linear: timm's and torchvision's EfficientNet(V2)."""
    stem, head = spec.stem, spec.head
    se_mid = all(s.se_placement == "mid" for s in spec.stages if s.se_ratio)
    return (
        stem.kind == "conv"
        and stem.pool == "none"
        and bool(head.width)
        and not head.norm
        and spec.act == "silu"  # both libraries hard-code SiLU (swish) here
        and se_mid
    )


def torchvision_efficientnet_fits(spec: NetSpec) -> bool:
    """torchvision's MBConv always has SE, its Fused-MBConv never does."""
    return all(bool(s.se_ratio) == (s.block == "mbconv") for s in spec.stages)


def _convnext_like(spec: NetSpec) -> bool:
    """Non-overlapping patchify stem (kernel = stride) + LayerNorm, ConvNeXt stages, head
    pool + LayerNorm + linear, GELU: timm's `convnext_*` and torchvision's ConvNeXt. (timm's
    pre-logits layer, `convnext_*_mlp`, uses GELU where our `head.hidden` uses tanh.)"""
    stem, head = spec.stem, spec.head
    return (
        stem.kind == "patchify"
        and stem.kernel == stem.stride  # a state dict holds the kernel, not the stride
        and all(s.block == "convnext" for s in spec.stages)
        and head.norm
        and not head.width
        and not head.hidden_width
        and spec.act == "gelu"
    )


def torchvision_convnext_fits(spec: NetSpec) -> bool:
    """torchvision's ConvNeXt has no downsampling layer before stage 0, a stride-2 one
    before every later stage, and always a layer scale."""
    first = spec.stages[0]
    return (
        first.stride == 1
        and first.width == spec.stem.width
        and all(s.stride == 2 for s in spec.stages[1:])
        and all(s.layer_scale for s in spec.stages)
    )


def _coatnet_like(spec: NetSpec) -> bool:
    """CoAtNet stem, stages of pre-norm MBConv or transformer blocks, each halving the
    resolution, head pool + LayerNorm + pre-logits linear + tanh + linear, GELU: timm's
    `coatnet_N_224` (MaxxVit with stage stride 2 hard-coded; without a pre-logits layer timm
    normalizes before pooling, unlike our head)."""
    stem, head = spec.stem, spec.head
    blocks_fit = all(
        (s.block == "mbconv" and s.pre_norm) or s.block == "transformer" for s in spec.stages
    )
    return (
        stem.kind == "coatnet"
        and blocks_fit
        and all(s.stride == 2 for s in spec.stages)
        and head.norm
        and bool(head.hidden_width)
        and not head.width
        and spec.act == "gelu"
    )


class WeightImportError(ValueError):
    """A checkpoint does not fit the model: keys missing, unexpected or of the wrong shape."""


def supported_sources(spec: NetSpec) -> tuple[str, ...]:
    """The sources whose checkpoints can be imported into a model of `spec`.

    By structure, narrowed to the registry's named counterparts for a registered model:
    torchvision's regnet_x_400mf, for one, rounds its widths differently from ours, and
    efficientnet_v2_b0..b3 and coatnet_nano have no counterpart at all. torchvision has no
    CoAtNet.
    """
    kind = layout(spec)
    if kind is None:
        return ()
    if kind == "efficientnet":
        torchvision = torchvision_efficientnet_fits(spec)
    elif kind == "convnext":
        torchvision = torchvision_convnext_fits(spec)
    elif kind == "coatnet":
        torchvision = False
    else:
        plain = spec.stem.kind == "conv" and spec.stem.pool == "max"
        plain = plain and all(s.shortcut == "conv" and not s.se_ratio for s in spec.stages)
        torchvision = kind == "regnet" or plain
    sources = {"timm"} | ({"torchvision"} if torchvision else set())
    if spec.name in list_models():
        info = model_info(spec.name)
        sources = {s for s in sources if getattr(info, s)}
    return tuple(s for s in SOURCES if s in sources)


def key_rules(spec: NetSpec, source: str) -> KeyRules:
    """The rename rules that map `source` checkpoints onto a model of `spec`."""
    if source not in SOURCES:
        raise ValueError(f"source={source!r} is invalid; allowed: {', '.join(SOURCES)}")
    supported = supported_sources(spec)
    name = spec.name or "this model"
    kind = layout(spec)
    info = model_info(spec.name) if spec.name in list_models() else None
    # a registered model whose source models differ from it (coatnet_nano: none at all)
    if info is not None and not supported and (kind or not (info.timm or info.torchvision)):
        raise ValueError(
            f"{name} has no timm or torchvision counterpart to import weights from"
            + (f"; {info.notes}" if info.notes else "")
        )
    if kind is None:
        raise ValueError(
            f"no weight mapping for {name}: netscale imports timm/torchvision weights of "
            f"{_FAMILIES} models"
        )
    if source not in supported:
        raise ValueError(
            f"{name} has no {source} counterpart to import weights from; "
            f"supported sources for this model: {', '.join(supported)}"
        )
    if kind == "efficientnet":
        return efficientnet_rules(spec, source)
    if kind == "regnet":
        return TIMM_REGNET if source == "timm" else TORCHVISION_REGNET
    if kind == "convnext":
        return TIMM_CONVNEXT if source == "timm" else torchvision_convnext_rules(spec)
    if kind == "coatnet":
        return coatnet_rules(spec)
    return resnet_rules(spec)


def adopt_source_eps(model: Net, source: str) -> Net:
    """Make `model` normalize as `source`'s model of its architecture does: every BatchNorm
    and LayerNorm takes that model's epsilon (`counterparts.source_norm_eps`), and
    `model.spec` says so (`norm_eps`, `layer_norm_eps`; a field changes only where the model
    has layers of its kind). A state dict does not record an epsilon, yet a different one
    shifts every output: timm's `efficientnetv2_*` use BN eps 1e-5 where netscale's
    EfficientNetV2 (as the official code) uses 1e-3, torchvision's EfficientNet-B5..B7 1e-3
    where netscale's uses 1e-5. Returns `model`."""
    eps = source_norm_eps(model.spec, source)
    changes = {}
    for cls, field in _NORM_FIELDS:
        norms = [m for m in model.modules() if isinstance(m, cls)]
        for m in norms:
            m.eps = eps[field]
        if norms and getattr(model.spec, field) != eps[field]:
            changes[field] = eps[field]
    if changes:
        model.spec = dataclasses.replace(model.spec, **changes)
    return model


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict in a `.safetensors` or `.pth`/`.pt`/`.bin` file, on the CPU."""
    path = Path(path)
    allowed = ", ".join(CHECKPOINT_SUFFIXES)
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise ValueError(f"checkpoint {str(path)!r} has an unknown extension; allowed: {allowed}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist (allowed: {allowed})")
    if path.suffix.lower() == ".safetensors":
        return _unwrap(load_file(path))
    # weights_only: a pickle from the internet must not run code when loaded
    return _unwrap(torch.load(path, map_location="cpu", weights_only=True))


def _unwrap(obj: object) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise TypeError("expected a state dict: a mapping of parameter names to tensors")
    # DistributedDataParallel saves every key under "module."
    if obj and all(k.startswith("module.") for k in obj):
        return {k.removeprefix("module."): v for k, v in obj.items()}
    return dict(obj)


def translate(
    state_dict: Mapping[str, torch.Tensor], rules: KeyRules
) -> tuple[dict[str, torch.Tensor], dict[str, str], list[str]]:
    """(translated dict, our key -> source key, source keys no rule maps or that collide).

    Values are the source tensors, or views of them where a rule reshapes (no copies)."""
    translated: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unmapped: list[str] = []
    for key, value in state_dict.items():
        found = rules.apply(key, value)
        if found is None or found[0] in translated:
            unmapped.append(key)
            continue
        translated[found[0]] = found[1]
        origin[found[0]] = key
    return translated, origin, unmapped


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    rest = len(items) - _MAX_LISTED
    return shown + (f" (and {rest} more)" if rest > 0 else "")


def _mismatch_message(
    name: str, missing: list[str], unexpected: list[str], shapes: dict[str, tuple]
) -> str:
    lines = [
        f"checkpoint does not fit {name}: {len(missing)} missing, {len(unexpected)} "
        f"unexpected, {len(shapes)} wrongly shaped keys"
    ]
    if missing:
        lines.append("missing (in the model, not in the checkpoint): " + _listing(missing))
    if unexpected:
        lines.append("unexpected (in the checkpoint, not in the model): " + _listing(unexpected))
    if shapes:
        items = [f"{k} checkpoint {tuple(a)} vs model {tuple(b)}" for k, (a, b) in shapes.items()]
        lines.append("wrong shape: " + _listing(items))
    tables = [(a[0], b[0]) for k, (a, b) in shapes.items() if k.endswith("attn.bias_table")]
    if tables:  # rows: (2s - 1)^2 relative offsets of an s x s feature map
        s, t = ((math.isqrt(rows) + 1) // 2 for rows in tables[0])
        lines.append(
            f"attn.bias_table: the checkpoint's relative-position tables are for {s}x{s} "
            f"feature maps where this model's are for {t}x{t}; create the model at the "
            "resolution its source model was built for (timm: img_size)"
        )
    classes = {a[0] for k, (a, b) in shapes.items() if k.startswith("head.fc.") and a[0] != b[0]}
    if classes:
        n = classes.pop()
        lines.append(
            f"head.fc: the checkpoint classifies {n} classes; create the model with "
            f"num_classes={n}, or drop the checkpoint's classifier entries and pass "
            "strict=False to import the rest"
        )
    return "\n".join(lines)


def import_weights(
    model: Net,
    state_dict: Mapping[str, torch.Tensor] | str | os.PathLike[str],
    source: str = "timm",
    strict: bool = True,
) -> Net:
    """Load a timm or torchvision checkpoint (a state dict or a file path) into `model`.

    strict=True: every key of the model must come from the checkpoint and every checkpoint
    key must be used. strict=False: keys on one side only are skipped. Shapes must match
    either way. Raises `WeightImportError` listing what differs, leaving `model` as it was.
    Otherwise loads the weights and sets the norm epsilons of `model` and of `model.spec`
    to the source model's (`adopt_source_eps`), so that its outputs equal the source
    model's; returns `model`.
    """
    if not isinstance(model, Net):
        raise TypeError(f"import_weights() needs a netscale Net, got {type(model).__name__}")
    rules = key_rules(model.spec, source)
    if isinstance(state_dict, str | os.PathLike):
        state_dict = load_checkpoint(state_dict)
    # _unwrap makes a new dict: the caller's is never changed
    translated, origin, unmapped = translate(_unwrap(state_dict), rules)
    expected = model.state_dict()
    for key, value in expected.items():
        # Checkpoints older than torch 0.4.1 lack BN's step counter; eval never reads it.
        if key.endswith("num_batches_tracked") and key not in translated:
            translated[key] = value.clone()
    missing = [k for k in expected if k not in translated]
    extra = [f"{origin[k]} -> {k}" for k in translated if k not in expected] + unmapped
    shapes = {
        k: (v.shape, expected[k].shape)
        for k, v in translated.items()
        if k in expected and v.shape != expected[k].shape
    }
    if shapes or (strict and (missing or extra)):
        name = model.spec.name or "the model"
        raise WeightImportError(_mismatch_message(name, missing, extra, shapes))
    model.load_state_dict({k: v for k, v in translated.items() if k in expected}, strict=strict)
    return adopt_source_eps(model, source)
