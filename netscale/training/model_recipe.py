"""A recipe fitted to the registered model it trains: the values the papers give per model.

Precedence, highest first:
1. a field the user sets (a `netscale train` flag, a `train()` keyword);
2. the model's own values (`ModelInfo`): its per-model settings (`ModelInfo.training`, e.g.
   ResNet-RS's RandAugment magnitude per official config) and, under progressive learning,
   its EfficientNetV2 ranges: Table 6 for `progressive: paper`, the released code's preset
   for `progressive: code` (Table 6 where a model has no preset);
3. the recipe file;
4. `Recipe`'s defaults (netscale's choices).

Rules where the papers give no number (netscale's own, documented in docs/recipes.md):
- At the model's own resolution a preset's sizes apply as published (V2-M trains 128 ->
  380 px, although the registry's train resolution is the released code's 384 px). At
  another training resolution R the minimum scales: the preset's min x R / its max,
  rounded down to a multiple of 8 px (4 below 32 px), so 32 px CIFAR images get 12-16 px.
- Without a preset, progressive learning keeps the recipe's ranges; a min_resolution not
  below R becomes R x 128 / 300 (V2-S's Table 6 ratio).
- The model's evaluation crop (`eval_crop_fraction`) applies, like its test resolution,
  only with the random-resized crop.
- The test resolution: with the random-resized crop (`crop: resized`, the papers' train
  transform) an unset eval_resolution is the model's test resolution scaled by R / its
  train resolution (EfficientNetV2 and ResNet-RS evaluate larger than they train only
  because that crop zooms in); with the padded crop it stays R.

A `Recipe` object passed to `train()` is taken as it is (studies pass one per trial, so a
population trains under one recipe); recipe names and files are fitted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from netscale.families.registry import ModelInfo, ProgressiveLearning
from netscale.families.resolve import model_spec, registered_info
from netscale.spec import NetSpec
from netscale.training.recipe import Recipe
from netscale.training.setup import spec_for

DEFAULT_SOURCE = "netscale default"
EVAL_FIELDS = ("eval_crop_fraction",)
SMALL_MIN_SHARE = 128 / 300  # V2-S Table 6: 128 px of 300


@dataclass(frozen=True, slots=True)
class FittedRecipe:
    """The recipe for one model, where each value came from, and notes for the user."""

    recipe: Recipe
    sources: dict[str, str]
    notes: tuple[str, ...] = ()


def fit_recipe(
    recipe: Recipe,
    info: ModelInfo | None,
    *,
    resolution: int,
    fixed: Collection[str] = (),
    file_sources: Mapping[str, str] | None = None,
) -> FittedRecipe:
    """`recipe` with `info`'s per-model values for a model trained at `resolution` px,
    except the `fixed` fields (set by the user); see the module docstring."""
    sources = {f.name: DEFAULT_SOURCE for f in dataclasses.fields(Recipe)}
    sources.update(file_sources or {})
    sources.update({name: "set by the user" for name in fixed})
    values: dict[str, tuple[Any, str]] = {}
    notes: list[str] = []
    if info is not None:
        values.update({v.field: (v.value, v.source) for v in info.training})
        if recipe.crop != "resized":  # the papers' eval crops go with their train crop
            values = {k: v for k, v in values.items() if k not in EVAL_FIELDS}
    if recipe.progressive != "none":
        own_size = "resolution" not in fixed
        values.update(_progressive(recipe, info, resolution, notes, own_size))
    eval_res = _eval_resolution(recipe, info, resolution)
    if eval_res is not None and info is not None:
        values["eval_resolution"] = (
            eval_res,
            f"{info.name}'s test resolution {info.test_resolution} px (train "
            f"{info.train_resolution} px), scaled to {resolution} px",
        )
    chosen = {k: v for k, v in values.items() if k not in fixed}
    fitted = dataclasses.replace(recipe, **{k: v for k, (v, _) in chosen.items()})
    sources.update({k: src for k, (_, src) in chosen.items()})
    return FittedRecipe(fitted, sources, tuple(notes))


def _quantize(size: float) -> int:
    quantum = 8 if size >= 32 else 4
    return max(quantum, int(size) // quantum * quantum)


def _progressive(
    recipe: Recipe, info: ModelInfo | None, resolution: int, notes: list[str], own_size: bool
) -> dict[str, tuple[Any, str]]:
    """The progressive ranges of the model's preset, or the rule for a model without."""
    preset: ProgressiveLearning | None = None
    if info is not None and recipe.progressive == "paper":
        preset = info.progressive
    elif info is not None:  # "code": the released preset, Table 6 where there is none
        preset = info.progressive_code or info.progressive
    if preset is None:
        if recipe.min_resolution is None or recipe.min_resolution < resolution:
            return {}
        size = _quantize(resolution * SMALL_MIN_SHARE)
        notes.append(
            f"min_resolution {recipe.min_resolution} px is not below the training "
            f"resolution {resolution} px: the first stage trains at {size} px "
            "(V2-S's Table 6 ratio 128/300)"
        )
        return {"min_resolution": (size, "netscale rule: V2-S's ratio 128/300")}
    src = preset.source
    out: dict[str, tuple[Any, str]] = {}
    if own_size and info is not None and resolution == info.train_resolution:
        # at the model's own size, the preset's sizes as published (V2-M: 128 -> 380 px,
        # where the registry's train resolution is the code's 384 px)
        if preset.max_resolution != resolution:
            out["resolution"] = (preset.max_resolution, src)
        resolution = preset.max_resolution
    out["min_resolution"] = (
        _quantize(preset.min_resolution * resolution / preset.max_resolution),
        f"{src}: {preset.min_resolution} of {preset.max_resolution} px"
        + ("" if resolution == preset.max_resolution else f", scaled to {resolution} px"),
    )
    out.update(
        {
            "min_randaug_magnitude": (float(preset.min_randaug), src),
            "randaug_magnitude": (float(preset.max_randaug), src),
            "min_mixup_alpha": (preset.min_mixup, src),
            "mixup_alpha": (preset.max_mixup, src),
            "min_dropout_rate": (preset.min_dropout, src),
            "dropout_rate": (preset.max_dropout, src),
        }
    )
    if preset.cutmix:
        out["cutmix_alpha"] = (preset.max_mixup, src)
    if preset.max_randaug == 0:
        out["randaug_layers"] = (0, src)
    return out


def _eval_resolution(recipe: Recipe, info: ModelInfo | None, resolution: int) -> int | None:
    """The test resolution for a random-resized-crop recipe (see the module docstring)."""
    if recipe.eval_resolution is not None or info is None or recipe.crop != "resized":
        return None
    if info.test_resolution == info.train_resolution:
        return None
    return _quantize(info.test_resolution * resolution / info.train_resolution)


@dataclass(frozen=True, slots=True)
class FitRequest:
    """Ask `Run.create` to fit a named recipe to its model: the fields the user set, and the
    recipe file's per-field sources."""

    fixed: frozenset[str] = frozenset()
    file_sources: Mapping[str, str] = dataclasses.field(default_factory=dict)


def spec_and_recipe(
    model: Any, splits: Any, recipe: Recipe, request: FitRequest | None
) -> tuple[NetSpec, Recipe, list[str]]:
    """The spec fitted to the data and the recipe fitted to the model (when `request`),
    with notes for the user (setup.spec_for's and fit_recipe's)."""
    spec, note = spec_for(model, splits, recipe)
    notes = [note] if note else []
    if request is None:
        return spec, recipe, notes
    info = registered_info(model_spec(model))
    fitted = fit_recipe(
        recipe,
        info,
        resolution=spec.resolution,
        fixed=request.fixed,
        file_sources=request.file_sources,
    )
    spec, _ = spec_for(model, splits, fitted.recipe)
    return spec, fitted.recipe, notes + list(fitted.notes)


def explain_recipe(
    name_or_path: str,
    model: Any = None,
    *,
    epochs: int | None = None,
    resolution: int | None = None,
) -> dict[str, Any]:
    """What `netscale recipe show` prints: the recipe fitted to `model` (if given) at
    `resolution` px (default: the model's), every value with its source, the progressive
    stages (epochs, resolution, dropout, RandAugment magnitude, mixup alpha) and notes."""
    from netscale.families.resolve import resolve_spec
    from netscale.training.recipe import load_recipe, recipe_sources
    from netscale.training.schedule import progressive_stages

    fixed = {"epochs": epochs} if epochs is not None else {}
    base = load_recipe(name_or_path, **fixed)
    spec = model_spec(model) if model is not None else None
    res = resolution or (spec.resolution if spec is not None else base.resolution) or 224
    fitted = fit_recipe(
        base,
        registered_info(spec) if spec is not None else None,
        resolution=res,
        fixed=set(fixed),
        file_sources=recipe_sources(name_or_path),
    )
    r = fitted.recipe
    res = r.resolution or res
    dropout = r.dropout_rate
    if dropout is None and spec is not None:
        dropout = resolve_spec(spec).head.dropout_rate
    stages = progressive_stages(r, res, dropout)
    bounds = [s.start for s in stages] + [r.epochs]
    return {
        "recipe": r.name,
        "model": None if spec is None else spec.name,
        "resolution": res,
        "values": {
            f.name: {"value": getattr(r, f.name), "source": fitted.sources[f.name]}
            for f in dataclasses.fields(Recipe)
        },
        "stages": [
            {
                "epochs": [bounds[i], bounds[i + 1]],
                "resolution": s.resolution,
                "dropout_rate": s.dropout_rate,
                "randaug_magnitude": s.randaug_magnitude,
                "mixup_alpha": s.mixup_alpha,
            }
            for i, s in enumerate(stages)
        ],
        "notes": list(fitted.notes),
    }
