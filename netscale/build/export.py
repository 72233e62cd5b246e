"""Export a model for deployment: ONNX (torch.onnx, dynamo exporter) or a torch.export
program (`torch.export.save`), written atomically. Also `load_model`, the one place that
turns a name, spec file, NetSpec or module into (module, spec, input resolution)."""

from __future__ import annotations

import copy
import io
import os
from pathlib import Path

import torch
from torch import nn

from netscale.build.builder import build
from netscale.build.fuse import FuseError, optimize_for_inference
from netscale.families import resolve_spec
from netscale.families.registry import apply_overrides
from netscale.spec import NetSpec
from netscale.spec.io import atomic_path

ModelLike = str | os.PathLike[str] | NetSpec | nn.Module

FORMATS = ("onnx", "torch-export")


def load_model(
    model: ModelLike, *, resolution: int | None = None, seed: int = 0
) -> tuple[nn.Module, NetSpec | None, int]:
    """(module, spec or None, input resolution in px) for a registered name, a spec file
    (.yaml/.yml/.json), a `NetSpec` or an `nn.Module` (returned as is).

    A name, file or spec is built with `resolution` as its spec resolution (CoAtNet's
    attention tables depend on it), with weights initialized from `seed` (the global RNG is
    left as it was). A module's resolution is `resolution`, else its `.spec`'s."""
    if isinstance(model, nn.Module):
        spec = getattr(model, "spec", None)
        spec = spec if isinstance(spec, NetSpec) else None
        if resolution is None and spec is None:
            raise ValueError(
                f"resolution is needed for a {type(model).__name__} (it has no netscale spec)"
            )
        _check_resolution(resolution)
        return model, spec, resolution if resolution is not None else spec.resolution
    spec = resolve_spec(model)
    if resolution is not None:
        _check_resolution(resolution)
        spec = apply_overrides(spec, resolution=resolution)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(spec), spec, spec.resolution


def _check_resolution(resolution: object) -> None:
    if resolution is None:
        return
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution={resolution!r} is invalid; allowed: an int >= 1 (pixels)")


def export(
    model: ModelLike,
    path: str | os.PathLike[str],
    *,
    format: str = "onnx",
    resolution: int | None = None,
    batch: int = 1,
    optimize: bool = True,
) -> Path:
    """Write `model` in eval mode to `path` and return the path.

    format "onnx": `torch.onnx.export` (dynamo exporter, weights inside the file, input
    "images" (B, C, H, W) -> output "logits" (B, num_classes), batch dimension dynamic);
    "torch-export": `torch.export.save` of `torch.export.export` (load with
    `torch.export.load(path).module()`), batch dimension dynamic too. `batch` is the size of
    the example input traced (>= 2, so that the batch stays symbolic; 1 is traced as 2).
    `optimize` folds BatchNorm first (`optimize_for_inference`). The file is written to a
    temporary name in the same directory, then renamed, so `path` is never left partial.
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r} is invalid; allowed: {', '.join(FORMATS)}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch={batch!r} is invalid; allowed: an int >= 1")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"directory {str(path.parent)!r} does not exist")
    net, spec, res = load_model(model, resolution=resolution)
    try:
        net = optimize_for_inference(net, channels_last=False) if optimize else _eval_copy(net)
    except FuseError as err:
        raise FuseError(f"{err}; export with optimize=False (--no-optimize) instead") from None
    in_width = spec.in_width if spec is not None else 3
    # torch.export specializes a dimension traced at size 1, so trace at >= 2
    x = torch.randn(max(batch, 2), in_width, res, res, generator=torch.Generator().manual_seed(0))
    first = next(iter(net.parameters()), None)
    x = x.to(first.device) if first is not None else x
    with atomic_path(path) as tmp:
        _write(net, x, tmp, format)
    return path


def _write(net: nn.Module, x: torch.Tensor, path: Path, format: str) -> None:
    """Export `net` traced on `x` to `path`; the batch dimension stays dynamic."""
    dims = ({0: torch.export.Dim("batch", min=1)},)  # per positional input
    with torch.no_grad():
        if format == "onnx":
            _require("onnx", "onnxscript")
            torch.onnx.export(
                net,
                (x,),
                path,
                dynamo=True,
                external_data=False,
                input_names=["images"],
                output_names=["logits"],
                dynamic_shapes=dims,
                verbose=False,
            )
            return
        program = torch.export.export(net, (x,), dynamic_shapes=dims)
        buffer = io.BytesIO()  # a buffer: save() warns about file names without .pt2
        torch.export.save(program, buffer)
        path.write_bytes(buffer.getvalue())


def _require(*modules: str) -> None:
    """ImportError naming the pip packages when an optional exporter dependency is absent."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"ONNX export needs {', '.join(missing)}: pip install {' '.join(missing)}"
        )


def _eval_copy(net: nn.Module) -> nn.Module:
    """An eval-mode copy, so exporting never changes the caller's module."""
    return copy.deepcopy(net).eval()
