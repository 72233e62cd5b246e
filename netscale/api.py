"""The public Python API: a facade over the layers below, which nothing inside the package
imports (tests/test_layers.py). Functions that need torch import it when called, so
`import netscale` stays light (the spec, family and complexity layers never import torch).
`resolve_spec` and `model_card` live in netscale/families/resolve.py."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from netscale.complexity import Complexity, count
from netscale.families.resolve import model_card, resolve_spec

__all__ = [
    "complexity",
    "create_model",
    "export",
    "import_weights",
    "model_card",
    "optimize_for_inference",
    "predict",
    "profile",
    "resolve_spec",
    "scale_to_speed",
    "train",
]
from netscale.spec import NetSpec

if TYPE_CHECKING:
    import torch


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
    and wrongly shaped keys. The model also takes the source model's BatchNorm / LayerNorm
    epsilons, in its layers and in `model.spec` (`norm_eps`, `layer_norm_eps`), so that its
    outputs equal the source model's: timm's efficientnetv2_* use 1e-5 where netscale's
    EfficientNetV2 uses the official 1e-3. Returns `model`.
    """
    from netscale.build.weights import import_weights as _import

    return _import(model, state_dict, source=source, strict=strict)


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
    `device`, `minival`, `progress`, `budget` (a wall time, "15m" or seconds, that the
    schedule is fitted to), `pseudo` (a labels file of `predict` to train on beside the
    labeled data), `pseudo_ratio` (its share of each batch, default 0.5) and
    `pseudo_targets` ("soft" or "hard"), or recipe fields to override. Returns a RunResult."""
    from netscale.training.loop import train as _train

    return _train(model, data, recipe, out, **kwargs)


def predict(
    run: str | os.PathLike[str],
    data: str,
    *,
    out: str | os.PathLike[str] | None = None,
    weights: str = "auto",
    top_k: int = 5,
    **kwargs: Any,
) -> Any:
    """Label the images of `data` ("folder:PATH", "npz:PATH", "digits", ...) with the latest
    checkpoint of run directory `run`: softmax probabilities, top-k classes and each
    image's reference, written to `out` (labels.npz) when given, for `train(pseudo=out)`.
    `weights`: "auto" (the EMA when the run keeps one), "ema" or "final"; keyword
    arguments are `batch_size`, `device`, `split` ("train", "test", "all"), `force`
    (replace `out`) and `workers` (see netscale/training/predict.py). Returns Predictions."""
    from netscale.training.predict import predict as _predict

    return _predict(run, data, out=out, weights=weights, top_k=top_k, **kwargs)


def profile(model: Any, **kwargs: Any) -> Any:
    """Measure `model` (name, spec file, NetSpec or module) on a device: images/s, latency
    (median, p95), peak memory, multiply-adds/s and MFU. Keyword arguments are those of
    `netscale.profiling.measure.profile` (device, batch, resolution, mode, precision,
    channels_last, compile, warmup, iters). Returns a ProfileResult."""
    from netscale.profiling.measure import profile as _profile

    return _profile(model, **kwargs)


def scale_to_speed(model: Any, rule: str = "compound", **kwargs: Any) -> Any:
    """Scale `model` (name, spec file or NetSpec) by `rule` to a latency or throughput
    measured on a device: `target_latency_s` ("20ms", "0.02s" or seconds; the median time of
    one inference step of `batch` images) or `target_throughput` (images/s), and `batch`,
    `device`, `mode`, `precision`, `tolerance`, `cache`, `fresh`, `measure` and the rule's
    options (see netscale/profiling/speed.py). Returns a SpeedScaleResult."""
    from netscale.profiling.speed import scale_to_speed as _scale

    return _scale(resolve_spec(model), rule, **kwargs)


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
