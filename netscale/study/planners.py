"""Planners: a study config -> its list of trials, fixed and seeded at creation. No torch.

design_space     sample each space (RegNet sec. 3: n models per space in a complexity band)
scaling          rule-vs-rule at matched FLOPs, or a width x depth x resolution grid,
                 optionally at several epoch budgets (ResNet-RS sec. 7's regimes)
compound_search  EfficientNet sec. 3.3 step 1: phi=1 under alpha*beta^2*gamma^2 ~ 2
ablation         the ResNet-RS additive ladder (Table 1), each step on top of the last
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from netscale.complexity import count
from netscale.families import resolve_spec
from netscale.families.resnet import resnet
from netscale.scaling import compound, compound_grid, parse_flops, scale_dims, scale_to
from netscale.scaling import resolution as at_resolution
from netscale.spec import NetSpec, SpecError, spec_id, to_dict
from netscale.spec.io import check_keys
from netscale.study.config import StudyConfig, StudyConfigError
from netscale.study.store import TrialPlan
from netscale.training.recipe import load_recipe, recipe_to_dict


@dataclasses.dataclass(frozen=True, slots=True)
class DataShape:
    """What a planner needs to know of the data: classes and image channels."""

    num_classes: int
    in_width: int = 3


def plan(config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
    """The trials of `config`, in order; errors name the config key."""
    planner = _PLANNERS[config.planner]
    trials = planner(config, shape)
    if not trials:
        raise StudyConfigError(f"{config.name}: the {config.planner} planner produced no trials")
    return trials


def _section(config: StudyConfig, allowed: dict[str, Any]) -> dict[str, Any]:
    """The planner section with defaults filled in; unknown keys are an error."""
    check_keys(
        config.section,
        sorted(allowed),
        where=config.planner,
        error=lambda message: StudyConfigError(f"{config.name}: {message}"),
    )
    return {**allowed, **config.section}


def _band(value: Any, key: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise StudyConfigError(f"{key}={value!r} is invalid: expected [low, high], e.g. [2M, 8M]")
    try:
        return parse_flops(value[0]), parse_flops(value[1])
    except SpecError as err:
        raise StudyConfigError(f"{key}={value!r} is invalid: {err}") from None


def _trial(
    config: StudyConfig,
    spec: NetSpec,
    group: str,
    *,
    design: dict[str, float],
    meta: dict[str, Any] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    recipe_changes: dict[str, Any] | None = None,
) -> TrialPlan:
    """One trial: the recipe is resolved now (so a later change to a shipped recipe does not
    change a planned study) and trains at the spec's resolution."""
    epochs = epochs or config.epochs
    fields = {**config.recipe_overrides, **(recipe_changes or {})}
    fields.update(epochs=epochs, resolution=spec.resolution)
    recipe = recipe_to_dict(load_recipe(config.recipe, **fields))
    cx = count(spec)
    return TrialPlan(
        group=group,
        spec=to_dict(spec),
        spec_id=spec_id(spec),
        recipe=recipe,
        seed=config.seed if seed is None else seed,
        epochs=epochs,
        flops=cx.flops,
        params=cx.params,
        acts=cx.acts,
        design=design,
        meta=meta or {},
    )


def small_image_stem(spec: NetSpec) -> NetSpec:
    """The spec with a stride-1 stem and no stem pooling, as networks for 32 px images use
    (a 7x7 conv stem becomes 3x3): ImageNet stems divide the image by 4 before stage 1."""
    kernel = 3 if spec.stem.kind == "conv" else spec.stem.kernel
    stem = dataclasses.replace(spec.stem, stride=1, kernel=kernel, pool="none")
    return dataclasses.replace(spec, stem=stem)


def _base_spec(sec: dict[str, Any], shape: DataShape, key: str) -> NetSpec:
    value = sec["base"]
    if not isinstance(value, str):
        raise StudyConfigError(f"{key}={value!r} is invalid: a registered model name or spec file")
    spec = resolve_spec(value, num_classes=shape.num_classes, in_width=shape.in_width)
    if sec["small_images"]:
        spec = small_image_stem(spec)
    if sec["resolution"] is not None:
        spec = resolve_spec(spec, resolution=sec["resolution"])
    return spec


# -- design_space -------------------------------------------------------------------------
def _design_space(config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
    from netscale.space import get_space, load_space, sample

    sec = _section(
        config,
        {
            "spaces": None,
            "samples": 16,
            "stages": None,
            "stem_stride": None,
            "resolution": None,
            "flops": None,
            "params": None,
            "acts": None,
            "max_draws": 100_000,
        },
    )
    spaces = sec["spaces"]
    if not isinstance(spaces, list) or not spaces:
        raise StudyConfigError(
            f"{config.name}: design_space.spaces must list one or more spaces (names such as "
            "anynet_xa, regnet_y, or paths of space YAML files)"
        )
    variant = {k: sec[k] for k in ("stages", "stem_stride", "resolution") if sec[k] is not None}
    trials = []
    for entry in spaces:
        if isinstance(entry, str) and not entry.endswith((".yaml", ".yml")):
            space = get_space(
                entry, num_classes=shape.num_classes, in_width=shape.in_width, **variant
            )
        else:
            space = load_space(entry)
        samples = sample(
            space,
            sec["samples"],
            seed=config.seed,
            flops=_band(sec["flops"], "design_space.flops"),
            params=_band(sec["params"], "design_space.params"),
            acts=_band(sec["acts"], "design_space.acts"),
            max_draws=sec["max_draws"],
        )
        for s in samples:
            spec = resolve_spec(s.spec, num_classes=shape.num_classes, in_width=shape.in_width)
            trials.append(_trial(config, spec, space.name, design=dict(s.design)))
    return trials


# -- scaling --------------------------------------------------------------------------------
def _scaling(config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
    sec = _section(
        config,
        {
            "base": None,
            "resolution": None,
            "small_images": False,
            "rules": ["compound", "depth", "width", "resolution"],
            "multipliers": [2.0],
            "grid": None,
            "epochs": None,
            "seeds": 1,
            "tolerance": 0.05,
        },
    )
    base = _base_spec(sec, shape, "scaling.base")
    budgets = sec["epochs"] or [config.epochs]
    if not isinstance(budgets, list) or not all(isinstance(e, int) and e >= 1 for e in budgets):
        raise StudyConfigError(f"scaling.epochs={budgets!r} is invalid: a list of integers >= 1")
    points = _grid_points(base, sec["grid"]) if sec["grid"] else _rule_points(base, sec)
    base_flops = count(base).flops
    seeds = _positive_int(sec["seeds"], "scaling.seeds")
    multipliers = [count(spec).flops / base_flops for _, spec, _ in points]
    trials = []
    for epochs in budgets:
        for (group, spec, meta), multiplier in zip(points, multipliers, strict=True):
            design = {"multiplier": round(multiplier, 4), **meta.get("design", {})}
            info = {**meta.get("info", {}), "epochs_budget": epochs, "multiplier": multiplier}
            for rep in range(seeds):
                trials.append(
                    _trial(
                        config,
                        spec,
                        group,
                        design=design,
                        meta=info,
                        epochs=epochs,
                        seed=config.seed + rep,
                    )
                )
    return trials


def _positive_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StudyConfigError(f"{key}={value!r} is invalid: an integer >= 1")
    return value


def _rule_points(base: NetSpec, sec: dict[str, Any]) -> list[tuple[str, NetSpec, dict]]:
    """The base, then each rule at each FLOPs multiplier (matched by bisection)."""
    points = [("base", base, {"info": {"rule": "base"}})]
    base_flops = count(base).flops
    for rule in sec["rules"]:
        for mult in sec["multipliers"]:
            try:
                result = scale_to(base, rule, base_flops * float(mult), tolerance=sec["tolerance"])
            except SpecError as err:
                raise StudyConfigError(f"scaling: rule {rule!r} at {mult}x FLOPs: {err}") from None
            design = {"coefficient": result.coefficient}
            points.append((rule, result.spec, {"design": design, "info": {"rule": rule}}))
    return points


def _grid_points(base: NetSpec, grid: Any) -> list[tuple[str, NetSpec, dict]]:
    """ResNet-RS's study: every (width, depth, resolution) combination of the grid."""
    if not isinstance(grid, dict) or not set(grid) <= {"width", "depth", "resolution"}:
        raise StudyConfigError(
            f"scaling.grid={grid!r} is invalid: a mapping with lists under width, depth, "
            "resolution (multipliers, multipliers, pixels)"
        )
    points = []
    for w in grid.get("width", [1.0]):
        for d in grid.get("depth", [1.0]):
            for r in grid.get("resolution", [base.resolution]):
                try:
                    spec = at_resolution(scale_dims(base, width_mult=w, depth_mult=d), int(r))
                except SpecError as err:
                    raise StudyConfigError(f"scaling.grid point w={w} d={d} r={r}: {err}") from None
                design = {"width_ratio": float(w), "depth_ratio": float(d), "resolution": int(r)}
                points.append(("grid", spec, {"design": design, "info": {"rule": "grid"}}))
    return points


# -- compound_search ------------------------------------------------------------------------
def _compound_search(config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
    sec = _section(
        config,
        {"base": None, "resolution": None, "small_images": False, "step": 0.05,
         "target": 2.0, "tolerance": 0.1, "candidates": 8, "seeds": 1},
    )  # fmt: skip
    base = _base_spec(sec, shape, "compound_search.base")
    grid = compound_grid(sec["step"], sec["target"], sec["tolerance"])
    grid = grid[: _positive_int(sec["candidates"], "compound_search.candidates")]
    trials = []
    for rep in range(_positive_int(sec["seeds"], "compound_search.seeds")):
        seed = config.seed + rep
        trials.append(_trial(config, base, "base", design={"phi": 0.0}, seed=seed))
        for c in grid:
            spec = compound(base, 1.0, c.alpha, c.beta, c.gamma)
            label = f"a={c.alpha:g},b={c.beta:g},g={c.gamma:g}"
            design = {"alpha": c.alpha, "beta": c.beta, "gamma": c.gamma, "phi": 1.0}
            trials.append(_trial(config, spec, label, design=design, seed=seed))
    return trials


# -- ablation ---------------------------------------------------------------------------------
# ResNet-RS Table 1's ladder, in its order; each step adds to the one before. Values are for
# short runs and small images and can be changed under ablation.values.
LADDER: dict[str, dict[str, Any]] = {
    "baseline": {"schedule": "exponential", "decay_rate": 0.1, "weight_decay": 1e-4},
    "cosine": {"schedule": "cosine"},
    "ema": {"ema_decay": 0.999},
    "label_smoothing": {"label_smoothing": 0.1},
    "stochastic_depth": {"drop_path_rate": 0.1},
    "randaugment": {"randaug_layers": 2, "randaug_magnitude": 5.0},
    "dropout": {"dropout_rate": 0.25},
    "lower_weight_decay": {"weight_decay": 4e-5},
    "se": {"se_ratio": 0.25},
    "resnet_d": {"resnet_d": True},
}
_SPEC_KEYS = ("se_ratio", "resnet_d")


def _ablation(config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
    sec = _section(
        config,
        {"depth": 18, "resolution": 32, "small_images": True, "steps": list(LADDER),
         "values": {}, "seeds": 1},
    )  # fmt: skip
    steps = sec["steps"]
    if not isinstance(steps, list) or not steps or steps[0] != "baseline":
        raise StudyConfigError("ablation.steps must be a list that starts with 'baseline'")
    bad = [s for s in steps if s not in LADDER]
    if bad:
        raise StudyConfigError(f"ablation step {bad[0]!r} is unknown; allowed: {', '.join(LADDER)}")
    values = {**{k: dict(v) for k, v in LADDER.items()}, **sec["values"]}
    values["baseline"].setdefault("decay_epochs", max(config.epochs * 0.3, 1e-3))
    changes: dict[str, Any] = {}
    trials = []
    for index, step in enumerate(steps):
        changes.update(values[step])
        spec = _ablation_spec(sec, shape, changes)
        recipe = {k: v for k, v in changes.items() if k not in _SPEC_KEYS}
        for rep in range(_positive_int(sec["seeds"], "ablation.seeds")):
            meta = {"step": index, "name": step}
            trials.append(
                _trial(
                    config,
                    spec,
                    step,
                    design={"step": float(index)},
                    meta=meta,
                    seed=config.seed + rep,
                    recipe_changes=recipe,
                )
            )
    return trials


def _ablation_spec(sec: dict[str, Any], shape: DataShape, changes: dict[str, Any]) -> NetSpec:
    d = bool(changes.get("resnet_d"))
    spec = resnet(
        sec["depth"],
        deep_stem=d,
        avg_shortcut=d,
        se_ratio=float(changes.get("se_ratio", 0.0)),
        resolution=sec["resolution"],
        stem_pool="none" if sec["small_images"] else "max",
    )
    if sec["small_images"]:
        spec = small_image_stem(spec)
    return resolve_spec(spec, num_classes=shape.num_classes, in_width=shape.in_width)


_PLANNERS: dict[str, Callable[[StudyConfig, DataShape], list[TrialPlan]]] = {
    "design_space": _design_space,
    "scaling": _scaling,
    "compound_search": _compound_search,
    "ablation": _ablation,
}
