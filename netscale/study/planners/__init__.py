"""The planner registry: a study config's `planner:` name -> its `Planner`. No torch.

Each planner is one module here (its config section with defaults, its plan, its report
sections and its recommendation; see `base.Planner`):

design_space     sample each space (RegNet sec. 3: n models per space in a complexity band)
scaling          rule-vs-rule at matched FLOPs, or a width x depth x resolution grid,
                 optionally at several epoch budgets (ResNet-RS sec. 7's regimes)
compound_search  EfficientNet sec. 3.3 step 1: phi=1 under alpha*beta^2*gamma^2 ~ 2
ablation         the ResNet-RS additive ladder (Table 1), each step on top of the last
runtime_correlation  RegNet sec. 5 (Fig. 12): measured runtime of n sampled models against
                 their flops, activations and params (profile trials: no training, no data)
training_aware   EfficientNetV2 sec. 3.3: random candidates of a stage-wise space, each
                 trained, its training step time measured, ranked by A * S^w * P^v

The config, the report and the recommendation reach a planner only through `PLANNERS`
(`get_planner`); a new planner is a module with a `Planner` subclass, registered below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from netscale.study.findings import completed
from netscale.study.planners.ablation import LADDER, Ablation
from netscale.study.planners.base import DataShape, Planner, small_image_stem
from netscale.study.planners.compound_search import CompoundSearch
from netscale.study.planners.design_space import DesignSpace
from netscale.study.planners.runtime import RuntimeCorrelation
from netscale.study.planners.scaling import Scaling
from netscale.study.planners.training_aware import TrainingAware
from netscale.study.records import TRAINED_KINDS, StudyConfig, StudyConfigError, Trial, TrialPlan
from netscale.study.report_parts import Section
from netscale.study.statistics import AnalysisError
from netscale.training.duration import format_duration

PLANNERS: dict[str, Planner] = {
    p.name: p
    for p in (DesignSpace(), Scaling(), CompoundSearch(), Ablation(), RuntimeCorrelation(),
              TrainingAware())
}  # fmt: skip

__all__ = ["LADDER", "PLANNERS", "DataShape", "Planner", "get_planner", "needs_data", "plan",
           "recommend", "report_files", "report_images", "report_sections",
           "small_image_stem"]  # fmt: skip


def get_planner(name: Any) -> Planner:
    """The registered planner `name`; AnalysisError (a ValueError) naming the allowed ones."""
    if name not in PLANNERS:
        raise AnalysisError(f"unknown planner {name!r}; expected one of {', '.join(PLANNERS)}")
    return PLANNERS[name]


def needs_data(config: StudyConfig) -> bool:
    """Whether planning and running `config`'s study need its data set (False for a planner
    of profile trials)."""
    return get_planner(config.planner).needs_data


def plan(config: StudyConfig, shape: DataShape | None) -> list[TrialPlan]:
    """The trials of `config`, in order; errors name the config key. `shape` (the data's
    classes and channels) may be None only for a planner that uses no data. A config's
    `budget` goes to every trial (one a planner gave its own budget keeps it); trials that
    are measured, not trained (profile trials), take none."""
    planner = get_planner(config.planner)
    if shape is None and planner.needs_data:
        raise StudyConfigError(
            f"{config.name}: the {planner.name} planner trains its trials, so planning it "
            "needs the shape of the data (a DataShape: classes and channels)"
        )
    trials = planner.plan(config, shape)
    if not trials:
        raise StudyConfigError(f"{config.name}: the {config.planner} planner produced no trials")
    if config.budget is None:
        return trials
    if any(t.kind not in TRAINED_KINDS for t in trials):
        raise StudyConfigError(
            f"{config.name}: budget={format_duration(config.budget)} is invalid for the "
            f"{planner.name} "
            "planner: its trials are measured, not trained; remove `budget`"
        )
    return [
        t if t.budget_s is not None else dataclasses.replace(t, budget_s=config.budget)
        for t in trials
    ]


def recommend(study: Mapping[str, Any], trials: Sequence[Trial]) -> str:
    """One to three sentences built only from the numbers of the completed trials, for the
    study's planner; says so when the data cannot support a claim (too few trials, a KS
    p-value >= 0.05, or a bootstrap interval that includes zero)."""
    planner = get_planner(study.get("planner"))
    done = completed(trials)
    if not done:
        planned = study.get("planned", len(trials))
        return f"No completed trials yet (0 of {planned} planned): nothing to conclude."
    return planner.recommend(trials, done)


def report_sections(
    study: Mapping[str, Any], trials: Sequence[Trial], *, n_resamples: int, seed: int
) -> list[Section]:
    """The report sections of the study's planner; `n_resamples` and `seed` drive the
    bootstrap. An unknown planner is an AnalysisError."""
    planner = get_planner(study.get("planner"))
    return planner.sections(trials, completed(trials), n_resamples=n_resamples, seed=seed)


def report_files(study: Mapping[str, Any], trials: Sequence[Trial]) -> dict[str, str]:
    """The text files (name -> text) the study's planner writes beside report.html."""
    return get_planner(study.get("planner")).files(trials, completed(trials))


def report_images() -> set[str]:
    """The name of every PNG any planner's report may write (to remove stale ones)."""
    return {name for p in PLANNERS.values() for name in p.images}
