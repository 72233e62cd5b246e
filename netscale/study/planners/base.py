"""What every planner is and shares: the `Planner` base class (its config section, its plan,
its report sections, its recommendation), `DataShape`, and the helpers that turn a spec into
a `TrialPlan`. No torch; report code imports matplotlib only when a report is drawn."""

from __future__ import annotations

import copy
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from netscale.complexity import count
from netscale.families import resolve_spec
from netscale.scaling import parse_flops
from netscale.spec import NetSpec, SpecError, spec_id, to_dict
from netscale.spec.io import check_keys
from netscale.study.records import StudyConfig, StudyConfigError, Trial, TrialPlan
from netscale.study.report_parts import Section
from netscale.training.recipe import load_recipe, recipe_to_dict


@dataclasses.dataclass(frozen=True, slots=True)
class DataShape:
    """What a planner that trains needs to know of the data: classes and image channels."""

    num_classes: int
    in_width: int = 3


class Planner(ABC):
    """One kind of study, as one module under `netscale.study.planners`: the keys of its
    config section (with defaults), its plan, its report sections and its recommendation.
    Register an instance in `netscale.study.planners.PLANNERS`."""

    name: ClassVar[str]  # the config's `planner:` value and the name of its section
    defaults: ClassVar[Mapping[str, Any]]  # every key of the section, with its default
    images: ClassVar[tuple[str, ...]]  # names of the PNGs its report sections may write
    # False for a planner whose trials use no data (profile trials): it plans with shape
    # None, and creating its study loads no data set.
    needs_data: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"<planner {self.name}>"

    def check_section(self, section: Mapping[str, Any], source: str) -> None:
        """StudyConfigError (naming `source` and the allowed keys) for an unknown key."""
        check_keys(
            section,
            sorted(self.defaults),
            where=self.name,
            error=lambda message: StudyConfigError(f"{source}: {message}"),
        )

    def options(self, config: StudyConfig) -> dict[str, Any]:
        """The config's section with the defaults filled in; unknown keys are an error."""
        self.check_section(config.section, config.name)
        return {**copy.deepcopy(dict(self.defaults)), **config.section}

    @abstractmethod
    def plan(self, config: StudyConfig, shape: DataShape | None) -> list[TrialPlan]:
        """The study's trials, in order, fixed and seeded; errors name the config key.
        `shape` is None only for a planner with `needs_data = False`."""

    @abstractmethod
    def sections(
        self, trials: Sequence[Trial], done: Sequence[Trial], *, n_resamples: int, seed: int
    ) -> list[Section]:
        """The report sections from every trial and the completed ones (`done`);
        `n_resamples` and `seed` drive any bootstrap."""

    @abstractmethod
    def recommend(self, trials: Sequence[Trial], done: Sequence[Trial]) -> str:
        """One to three sentences from the numbers of the completed trials (`done`, never
        empty), saying so when the data cannot support a claim."""

    def files(self, trials: Sequence[Trial], done: Sequence[Trial]) -> dict[str, str]:
        """Text files the report writes beside report.html (file name -> text), each
        atomically, every time it is written: none by default (the training-aware search
        writes its chosen model, best.yaml)."""
        return {}


def make_trial(
    config: StudyConfig,
    spec: NetSpec,
    group: str,
    *,
    design: dict[str, float],
    meta: dict[str, Any] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    recipe_changes: dict[str, Any] | None = None,
    kind: str = "train",
) -> TrialPlan:
    """One trial: the recipe is resolved now (so a later change to a shipped recipe does not
    change a planned study) and trains at the spec's resolution. `kind` is one of
    `records.TRAINED_KINDS` ("search": trained, then its training steps timed)."""
    where_set = {"epochs": "the top-level `epochs`", "resolution": "the planner's section",
                 "steps": "the top-level `budget` (a time budget per trial)"}  # fmt: skip
    for key, where in where_set.items():  # never silently overwritten below
        if key in config.recipe_overrides:
            raise StudyConfigError(
                f"{config.name}: recipe_overrides.{key} cannot be honoured: each trial's "
                f"{key} comes from its plan; set it in {where}"
            )
    epochs = epochs or config.epochs
    fields = {**config.recipe_overrides, **(recipe_changes or {})}
    fields.update(epochs=epochs, resolution=spec.resolution)
    recipe = recipe_to_dict(load_recipe(config.recipe, **fields))
    cx = count(spec)
    return TrialPlan(
        kind=kind,
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


def make_profile_trial(
    config: StudyConfig,
    spec: NetSpec,
    group: str,
    *,
    design: dict[str, float],
    settings: dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> TrialPlan:
    """One profile trial: `spec` measured with `netscale.profiling.profile(**settings)` (kept
    as the trial's `recipe`); its complexity is counted at the spec's own resolution, the
    one it is measured at."""
    cx = count(spec)
    return TrialPlan(
        kind="profile",
        group=group,
        spec=to_dict(spec),
        spec_id=spec_id(spec),
        recipe=dict(settings),
        seed=config.seed,
        epochs=0,
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


def base_spec(options: Mapping[str, Any], shape: DataShape, key: str) -> NetSpec:
    """The section's `base` model for this data, with its `small_images` stem and
    `resolution` applied; `key` names the config key in errors."""
    value = options["base"]
    if not isinstance(value, str):
        raise StudyConfigError(f"{key}={value!r} is invalid: a registered model name or spec file")
    spec = resolve_spec(value, num_classes=shape.num_classes, in_width=shape.in_width)
    if options["small_images"]:
        spec = small_image_stem(spec)
    if options["resolution"] is not None:
        spec = resolve_spec(spec, resolution=options["resolution"])
    return spec


def flops_band(value: Any, key: str) -> tuple[float, float] | None:
    """A [low, high] complexity band ("2M", 8e6, ...) as numbers; None stays None."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise StudyConfigError(f"{key}={value!r} is invalid: expected [low, high], e.g. [2M, 8M]")
    try:
        return parse_flops(value[0]), parse_flops(value[1])
    except SpecError as err:
        raise StudyConfigError(f"{key}={value!r} is invalid: {err}") from None


def positive_int(value: Any, key: str) -> int:
    """`value` if it is an integer >= 1; StudyConfigError naming `key` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StudyConfigError(f"{key}={value!r} is invalid: an integer >= 1")
    return value
