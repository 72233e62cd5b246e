"""The records a study passes around, as frozen dataclasses: `StudyConfig` (a validated
config), `TrialPlan` (a trial as its planner made it) and `Trial` (a trial as the ledger
hands it back: the plan with its status, precision and results). Data only; no torch, no
numpy. Validation lives with the code that reads a config (`netscale.study.config`) and
with each planner (`netscale.study.planners`).

A trial is of one of `TRIAL_KINDS`: "train" (train the spec with the recipe, the default),
"profile" (measure the spec's runtime with `netscale.profiling.profile`; its `recipe`
then holds profile()'s settings and `epochs` is 0) or "search" (train exactly as "train",
then time training steps of the trained spec with profile() on the same device; its
`meta["step_time"]` holds those settings: the training-aware search of EfficientNetV2)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

TRIAL_KINDS = ("train", "profile", "search")  # what a runner does with a trial (docstring)
TRAINED_KINDS = ("train", "search")  # the kinds that train their spec with their recipe


class StudyConfigError(ValueError):
    """A study config is malformed (the message names the key and what is allowed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyConfig:
    """A validated study config; `section` is the planner's own mapping."""

    name: str
    planner: str
    data: str = "digits"
    recipe: str = "quick"
    recipe_overrides: dict[str, Any] = field(default_factory=dict)
    epochs: int = 5
    seed: int = 0
    minival: float = 0.0
    budget: float | None = None  # seconds of wall time per trial (None: epochs only)
    section: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain mapping in file form (the planner section under its name;
        no `budget` key without one, as studies stored before budgets existed hold it)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out[self.planner] = out.pop("section")
        if out["budget"] is None:
            del out["budget"]
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialPlan:
    """One planned trial: a spec (plain dict) trained with a recipe (plain dict of fields)
    for `epochs` from `seed` (fitted to `budget_s` seconds of wall time when set: the
    schedule of `epochs` is fitted to the steps the budget holds on the device that
    first trains it), or for `kind` "profile" measured with the settings in `recipe`
    (kind "search": trained, then its training steps timed with `meta["step_time"]`);
    `group`, `design` and `meta` are for the analysis."""

    group: str
    spec: dict[str, Any]
    spec_id: str
    recipe: dict[str, Any]
    seed: int
    epochs: int
    flops: int
    params: int
    acts: int
    design: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "train"
    budget_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Trial:
    """A trial as the ledger holds it: its plan, where it stands, and what it measured.

    `kind` is one of TRIAL_KINDS; `status` one of pending, running, completed, failed,
    diverged; `error` the failure message (None unless failed); `precision` what it trains
    (or is measured) in, fixed at its first claim (None before); `metrics` the final result
    (None until it ends; a training trial's `metrics["error"]` is top-1 error in percent, a
    profile trial's `metrics["runtime_ms"]` the median time of one batch; a search trial's
    metrics are a training trial's plus `step_ms`, the median time of one training step,
    and where it was measured); `history` one
    metrics mapping per finished epoch (none for a profile trial)."""

    trial_id: int
    group: str
    spec: dict[str, Any]
    spec_id: str
    recipe: dict[str, Any]
    seed: int
    epochs: int
    design: dict[str, Any]
    meta: dict[str, Any]
    flops: int
    params: int
    acts: int
    status: str
    attempts: int
    error: str | None
    lease_owner: str | None
    precision: str | None
    metrics: dict[str, Any] | None
    history: list[dict[str, Any]]
    kind: str = "train"
    budget_s: float | None = None  # seconds of wall time it trains to (None: its epochs)
