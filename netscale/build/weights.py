"""Import timm / torchvision checkpoints into netscale models by explicit key translation.

Each source library names its parameters its own way; a table of regex rules per source
renames every checkpoint key into netscale's layout (stem.*, stages.{i}.{j}.*, head.fc.*;
see the attribute names in netscale/nn/blocks.py). The translated dict is then checked
key by key and shape by shape against the model before anything is loaded, so a wrong
checkpoint fails with a list of what differs instead of loading half a network.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from netscale.build.builder import Net
from netscale.families import list_models, model_info
from netscale.spec.net import NetSpec

SOURCES = ("timm", "torchvision")
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
# Training checkpoints (timm's train.py, torchvision's references) nest the weights.
_WRAPPER_KEYS = ("state_dict", "model", "state_dict_ema")
_MAX_LISTED = 8  # keys listed per kind of mismatch in an error message


class WeightImportError(ValueError):
    """A checkpoint does not fit the model: keys missing, unexpected or of the wrong shape."""


@dataclass(frozen=True, slots=True)
class KeyRules:
    """Rename rules of one source layout: the first pattern that matches a whole key wins.

    Templates are `str.format` strings over the pattern's named groups. The groups `stage`
    and `block` are re-based to netscale's 0-based indices: every source numbers stages
    from 1 (layer1, s1, block1); blocks from `block_base` (timm RegNet b1, others 0).
    """

    rules: tuple[tuple[re.Pattern[str], str], ...]
    block_base: int = 0

    def rename(self, key: str) -> str | None:
        """Our name for the source `key`, or None when no rule matches."""
        for pattern, template in self.rules:
            m = pattern.fullmatch(key)
            if m:
                groups = m.groupdict()
                if "stage" in groups:
                    groups["stage"] = str(int(groups["stage"]) - 1)
                if "block" in groups:
                    groups["block"] = str(int(groups["block"]) - self.block_base)
                return template.format(**groups)
        return None


def _rules(*pairs: tuple[str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(p), t) for p, t in pairs)


_P = r"(?P<p>\w+)"  # parameter or buffer: weight, bias, running_mean, running_var, ...
_BLOCK = "stages.{stage}.{block}."

# timm and torchvision ResNets share one layout (timm's is a superset).
_RN = r"layer(?P<stage>\d+)\.(?P<block>\d+)\."
_RESNET_BODY = (
    (_RN + r"(?P<layer>conv|bn)(?P<n>[123])\." + _P, _BLOCK + "{layer}{n}.{p}"),
    (r"fc\." + _P, "head.fc.{p}"),
)
_RESNET_STEM = {
    "conv": ((r"conv1\." + _P, "stem.conv.{p}"), (r"bn1\." + _P, "stem.bn.{p}")),
    # timm deep stem: conv1 = Sequential(conv, bn, act, conv, bn, act, conv); bn1 = last BN.
    "deep": (
        (r"conv1\.0\." + _P, "stem.conv1.{p}"),
        (r"conv1\.1\." + _P, "stem.bn1.{p}"),
        (r"conv1\.3\." + _P, "stem.conv2.{p}"),
        (r"conv1\.4\." + _P, "stem.bn2.{p}"),
        (r"conv1\.6\." + _P, "stem.conv3.{p}"),
        (r"bn1\." + _P, "stem.bn3.{p}"),
    ),
}
# ResNet-RS: timm keeps the name `maxpool` for the strided conv + BN + act that replaces it.
_RESNET_POOL_CONV = (
    (r"maxpool\.0\." + _P, "stem.pool_conv.{p}"),
    (r"maxpool\.1\." + _P, "stem.pool_bn.{p}"),
)
# downsample = Sequential(conv, bn), or (ResNet-D) Sequential(avg-pool or Identity, conv, bn).
_RESNET_SHORTCUT = {
    "conv": (
        (_RN + r"downsample\.0\." + _P, _BLOCK + "shortcut.conv.{p}"),
        (_RN + r"downsample\.1\." + _P, _BLOCK + "shortcut.bn.{p}"),
    ),
    "avg": (
        (_RN + r"downsample\.1\." + _P, _BLOCK + "shortcut.conv.{p}"),
        (_RN + r"downsample\.2\." + _P, _BLOCK + "shortcut.bn.{p}"),
    ),
}
# timm's SE sits after the last BN of a block: our `se` (basic) or `se_out` (bottleneck).
_RESNET_SE = {
    kind: ((_RN + r"se\.(?P<fc>fc[12])\." + _P, _BLOCK + attr + ".{fc}.{p}"),)
    for kind, attr in (("basic", "se"), ("bottleneck", "se_out"))
}

_RG = r"s(?P<stage>\d+)\.b(?P<block>\d+)\."
_TIMM_REGNET = KeyRules(
    _rules(
        (r"stem\.(?P<layer>conv|bn)\." + _P, "stem.{layer}.{p}"),
        (_RG + r"conv(?P<n>[123])\.conv\." + _P, _BLOCK + "conv{n}.{p}"),
        (_RG + r"conv(?P<n>[123])\.bn\." + _P, _BLOCK + "bn{n}.{p}"),
        (_RG + r"se\.(?P<fc>fc[12])\." + _P, _BLOCK + "se_mid.{fc}.{p}"),
        (_RG + r"downsample\.(?P<layer>conv|bn)\." + _P, _BLOCK + "shortcut.{layer}.{p}"),
        (r"head\.fc\." + _P, "head.fc.{p}"),
    ),
    block_base=1,
)

# torchvision RegNet: block f = Sequential-like a (1x1), b (kxk grouped), se, c (1x1); each
# of a, b, c is Sequential(conv, bn, act); proj = Sequential(conv, bn) shortcut.
_TV = r"trunk_output\.block(?P<stage>\d+)\.block\d+-(?P<block>\d+)\."
_TORCHVISION_REGNET = KeyRules(
    _rules(
        (r"stem\.0\." + _P, "stem.conv.{p}"),
        (r"stem\.1\." + _P, "stem.bn.{p}"),
        *(
            (_TV + rf"f\.{letter}\.{index}\." + _P, _BLOCK + f"{layer}{n}.{{p}}")
            for n, letter in enumerate("abc", start=1)
            for index, layer in enumerate(("conv", "bn"))
        ),
        (_TV + r"f\.se\.(?P<fc>fc[12])\." + _P, _BLOCK + "se_mid.{fc}.{p}"),
        (_TV + r"proj\.0\." + _P, _BLOCK + "shortcut.conv.{p}"),
        (_TV + r"proj\.1\." + _P, _BLOCK + "shortcut.bn.{p}"),
        (r"fc\." + _P, "head.fc.{p}"),
    )
)


def _layout(spec: NetSpec) -> str | None:
    """The source layout ("resnet", "regnet") a spec is built like, or None."""
    first = spec.stages[0]
    uniform = all(s.block == first.block and s.shortcut == first.shortcut for s in spec.stages)
    se_places = {s.se_placement for s in spec.stages if s.se_ratio}
    if not uniform or first.block not in ("basic", "bottleneck") or len(se_places) > 1:
        return None
    if spec.head.width or spec.head.norm:  # neither library has a conv or norm head here
        return None
    se_out = not se_places or first.block == "basic" or se_places == {"out"}
    if spec.stem.pool != "none" and se_out:
        return "resnet"
    regnet_stem = spec.stem.kind == "conv" and spec.stem.pool == "none"
    if regnet_stem and first.block == "bottleneck" and first.shortcut == "conv":
        return "regnet" if se_places <= {"mid"} else None
    return None


def supported_sources(spec: NetSpec) -> tuple[str, ...]:
    """The sources whose checkpoints can be imported into a model of `spec`.

    By structure, narrowed to the registry's named counterparts for a registered model:
    torchvision's regnet_x_400mf, for one, rounds its widths differently from ours.
    """
    layout = _layout(spec)
    if layout is None:
        return ()
    plain = spec.stem.kind == "conv" and spec.stem.pool == "max"
    plain = plain and all(s.shortcut == "conv" and not s.se_ratio for s in spec.stages)
    sources = {"timm"} | ({"torchvision"} if layout == "regnet" or plain else set())
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
    if not supported:
        raise ValueError(
            f"no weight mapping for {name}: netscale imports timm/torchvision weights of "
            "ResNet, ResNet-D, ResNet-RS and RegNet X/Y models"
        )
    if source not in supported:
        raise ValueError(
            f"{name} has no {source} counterpart to import weights from; "
            f"supported sources for this model: {', '.join(supported)}"
        )
    if _layout(spec) == "regnet":
        return _TIMM_REGNET if source == "timm" else _TORCHVISION_REGNET
    first = spec.stages[0]
    pool = _RESNET_POOL_CONV if spec.stem.pool == "conv" else ()
    return KeyRules(
        _rules(
            *_RESNET_STEM[spec.stem.kind],
            *pool,
            *_RESNET_BODY,
            *_RESNET_SHORTCUT[first.shortcut],
            *_RESNET_SE[first.block],
        )
    )


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
    """(translated dict, our key -> source key, source keys no rule maps or that collide)."""
    translated: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unmapped: list[str] = []
    for key, value in state_dict.items():
        ours = rules.rename(key)
        if ours is None or ours in translated:
            unmapped.append(key)
            continue
        translated[ours] = value
        origin[ours] = key
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
    either way. Raises `WeightImportError` listing what differs; returns `model`.
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
    return model
