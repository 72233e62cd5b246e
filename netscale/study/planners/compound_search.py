"""The compound-search planner: EfficientNet sec. 3.3, step 1. Fix phi = 1 and train the
candidates (alpha, beta, gamma) of `compound_grid` closest to alpha * beta^2 * gamma^2 = 2,
next to the unscaled base. The paper's own result, (1.2, 1.1, 1.15) (PAPER_COEFFICIENTS),
is always one of them: when the closest `candidates` leave it out (its ratio, 1.92, is
farther from 2 than most of the grid's), it takes the last place.

Config section `compound_search`: `base`, `small_images`, `resolution`; the grid's `step`,
`target` and `tolerance`; how many `candidates` to train (the paper's included); `seeds`.
Report: the candidates ranked by mean error, and the Pareto front. Recommendation: the
candidate of lowest mean error against the runner-up, with a bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from netscale.scaling import CompoundCoefficients, compound, compound_grid
from netscale.spec import SpecError
from netscale.study.findings import (
    REFERENCE_GROUPS,
    by_group,
    compare_groups,
    comparison_sentence,
    error_of,
    flops_of,
)
from netscale.study.planners.base import DataShape, Planner, base_spec, make_trial, positive_int
from netscale.study.records import StudyConfig, StudyConfigError, Trial, TrialPlan
from netscale.study.report_parts import PARETO_IMAGES, Section, html_table, pareto_section

# EfficientNet sec. 3.3, step 1: the best values its grid search found for EfficientNet-B0
# under alpha * beta^2 * gamma^2 ~ 2.
PAPER_COEFFICIENTS = CompoundCoefficients(1.2, 1.1, 1.15)


class CompoundSearch(Planner):
    """EfficientNet's small grid search for alpha, beta, gamma at phi = 1."""

    name = "compound_search"
    defaults: ClassVar[dict[str, Any]] = {
        "base": None, "resolution": None, "small_images": False, "step": 0.05, "target": 2.0,
        "tolerance": 0.1, "candidates": 8, "seeds": 1
    }  # fmt: skip
    images = PARETO_IMAGES

    def plan(self, config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
        """Per seed: the base (phi = 0), then each candidate at phi = 1."""
        sec = self.options(config)
        base = base_spec(sec, shape, "compound_search.base")
        grid = candidates(sec)
        trials = []
        for rep in range(positive_int(sec["seeds"], "compound_search.seeds")):
            seed = config.seed + rep
            trials.append(make_trial(config, base, "base", design={"phi": 0.0}, seed=seed))
            for c in grid:
                spec = compound(base, 1.0, c.alpha, c.beta, c.gamma)
                label = f"a={c.alpha:g},b={c.beta:g},g={c.gamma:g}"
                design = {"alpha": c.alpha, "beta": c.beta, "gamma": c.gamma, "phi": 1.0}
                meta = {"paper": True} if c == PAPER_COEFFICIENTS else {}
                trials.append(make_trial(config, spec, label, design=design, meta=meta, seed=seed))
        return trials

    def sections(
        self, trials: Sequence[Trial], done: Sequence[Trial], *, n_resamples: int, seed: int
    ) -> list[Section]:
        """The candidates table and the Pareto front."""
        groups = by_group(done)
        return [_candidates_section(groups), pareto_section(groups)]

    def recommend(self, trials: Sequence[Trial], done: Sequence[Trial]) -> str:
        """The candidate of lowest mean error against the runner-up."""
        groups = by_group([t for t in done if t.group not in REFERENCE_GROUPS])
        if not groups:
            return "Only the unscaled base has completed trials: no candidate to rank yet."
        ranked = sorted(groups, key=lambda g: float(error_of(groups[g]).mean()))
        if len(ranked) == 1:
            return (
                f"Only candidate {ranked[0]} has completed trials: mean error "
                f"{error_of(groups[ranked[0]]).mean():.2f}%; nothing to compare yet."
            )
        a, b = ranked[:2]
        cmp = compare_groups(groups[a] + groups[b], a, b, seed=0)
        return (
            f"Lowest mean error: {a} ({cmp.mean_a:.2f}%, of {len(ranked)} candidates). "
            + comparison_sentence(cmp, "", "")
        )


def candidates(sec: dict[str, Any]) -> list[CompoundCoefficients]:
    """The `candidates` grid points closest to the target, the paper's coefficients always
    among them (in the last place when the closest ones leave them out)."""
    k = positive_int(sec["candidates"], "compound_search.candidates")
    try:
        grid = compound_grid(sec["step"], sec["target"], sec["tolerance"])
    except SpecError as err:  # it names the key: step, target or tolerance
        raise StudyConfigError(f"compound_search.{err}") from None
    if PAPER_COEFFICIENTS in grid[:k]:
        return grid[:k]
    return [*grid[: k - 1], PAPER_COEFFICIENTS]


def _candidates_section(groups: dict[str, list[Trial]]) -> Section:
    rows = []
    for g, ts in sorted(groups.items(), key=lambda kv: float(error_of(kv[1]).mean())):
        e = error_of(ts)
        std = f"{e.std(ddof=1):.2f}" if e.size > 1 else "-"
        flops = flops_of(ts).mean()
        rows.append([g, e.size, f"{e.mean():.2f}%", std, f"{flops / 1e6:.1f}M"])
    sec = Section("Compound-coefficient candidates")
    sec.body.append(html_table(["candidate", "n", "mean error", "std", "multiply-adds"], rows))
    return sec
