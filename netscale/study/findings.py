"""Findings over a study's trials that several planners share: numpy, no torch.

Which trials count (`completed`, by the result of their kind), grouping, their errors, the
bootstrap comparison of two groups and the sentences the recommendations are made of. Each
planner's own findings (the ablation table, the scaling regimes, ...) live in its module
under `netscale.study.planners`; array statistics in `netscale.study.statistics`. Errors
are top-1 error in percent; differences in points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from netscale.study.records import Trial
from netscale.study.statistics import AnalysisError, bootstrap_mean_difference

# Groups that are not scaling rules or candidates: the unscaled base and a grid sweep.
REFERENCE_GROUPS = ("base", "grid")
# The number a completed trial of each kind (records.TRIAL_KINDS) is ranked by, lower is
# better: top-1 error in percent (train, search), milliseconds per batch (profile).
RESULT_KEYS = {"train": "error", "profile": "runtime_ms", "search": "error"}


def result(trial: Trial) -> float | None:
    """The trial's result by its kind (RESULT_KEYS), None when it has none (yet)."""
    value = (trial.metrics or {}).get(RESULT_KEYS[trial.kind])
    return None if value is None else float(value)


def completed(trials: Sequence[Trial]) -> list[Trial]:
    """Trials with status "completed" and a finite result (`result`): the only ones that
    count."""
    out = []
    for t in trials:
        value = result(t)
        if t.status == "completed" and value is not None and np.isfinite(value):
            out.append(t)
    return out


def by_group(trials: Sequence[Trial]) -> dict[str, list[Trial]]:
    """Trials keyed by their group, groups in order of first appearance."""
    groups: dict[str, list[Trial]] = {}
    for t in trials:
        groups.setdefault(t.group, []).append(t)
    return groups


def error(trial: Trial) -> float:
    """Top-1 error (%) of a completed trial."""
    return float(trial.metrics["error"])  # type: ignore[index]


def error_of(trials: Sequence[Trial]) -> np.ndarray:
    """Top-1 error (%) of each trial (completed trials only)."""
    return np.array([error(t) for t in trials], dtype=float)


def group_values(trials: Sequence[Trial], key: Callable[[Trial], float]) -> np.ndarray:
    """`key(trial)` for each trial, as floats."""
    return np.array([float(key(t)) for t in trials], dtype=float)


def flops_of(trials: Sequence[Trial]) -> np.ndarray:
    """Multiply-adds of each trial's model."""
    return group_values(trials, lambda t: t.flops)


@dataclass(frozen=True, slots=True)
class GroupComparison:
    """Mean error of group a minus group b (points; negative: a has lower error)."""

    a: str
    b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float
    low: float  # bootstrap interval of diff; NaN unless both groups have >= 2 trials
    high: float

    @property
    def significant(self) -> bool:
        """True when the interval exists and excludes zero."""
        return bool(np.isfinite(self.low) and (self.low > 0 or self.high < 0))


def compare_groups(
    trials: Sequence[Trial],
    a: str,
    b: str,
    *,
    n_resamples: int = 10_000,
    ci: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> GroupComparison:
    """Mean error difference of two groups' completed trials with a percentile bootstrap
    interval (each group resampled with replacement, independently, `n_resamples` times)."""
    groups = by_group(completed(trials))
    for g in (a, b):
        if g not in groups:
            raise AnalysisError(
                f"group {g!r} has no completed trials; groups with completed trials: "
                f"{sorted(groups)}"
            )
    ea, eb = error_of(groups[a]), error_of(groups[b])
    low = high = np.nan
    if ea.size > 1 and eb.size > 1:
        interval = bootstrap_mean_difference(ea, eb, n_resamples=n_resamples, ci=ci, seed=seed)
        low, high = interval.low, interval.high
    mean_a, mean_b = float(ea.mean()), float(eb.mean())
    return GroupComparison(
        a, b, int(ea.size), int(eb.size), mean_a, mean_b, float(ea.mean() - eb.mean()), low, high
    )


# Sentences of the recommendations --------------------------------------------------------


def p_text(p: float) -> str:
    """A p-value as the recommendations write it."""
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def best_sentence(done: Sequence[Trial]) -> str:
    """The best completed trial: its error, group, id and complexity."""
    t = min(done, key=error)
    return (
        f"Best model so far: {error(t):.2f}% error ({t.group}, trial {t.trial_id}, "
        f"{t.flops / 1e6:.1f}M multiply-adds, {t.params / 1e6:.2f}M params)."
    )


def comparison_sentence(cmp: GroupComparison, what: str, where: str) -> str:
    """`what` and `where` start with a space (or are empty): " scaling", " at 2x FLOPs"."""
    a, b = cmp.a, cmp.b
    if not np.isfinite(cmp.low):
        return (
            f"{a}{what} is ahead of {b}{where} by {-cmp.diff:.2f} points of error, on "
            f"{cmp.n_a} and {cmp.n_b} run(s): too few seeds to call it (no interval)."
        )
    nums = (
        f"{cmp.diff:+.2f} points of error (95% CI {cmp.low:+.2f} to {cmp.high:+.2f}; "
        f"n={cmp.n_a} and {cmp.n_b})"
    )
    if cmp.significant:
        return f"{a}{what} beats {b}{where}: {nums}."
    return f"No significant difference between {a} and {b}{what}{where}: {nums}."
