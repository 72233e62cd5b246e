"""Findings of a study from the store's trial dicts: numpy (and scipy, through analysis), no torch.

Selection and grouping of completed trials, the additive ablation table (ResNet-RS Table 1),
bootstrap comparisons of two groups, and the recommendation sentence for each planner, built
on the array statistics of `netscale.study.analysis`. Errors are top-1 error in percent;
differences in points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from netscale.study.analysis import AnalysisError, _check_ci, ks_test, multiplier_levels

Trial = Mapping[str, Any]


# Trial selection ------------------------------------------------------------------------


def completed(trials: Sequence[Trial]) -> list[Trial]:
    """Trials with status "completed" and a finite error metric: the only ones that count."""
    out = []
    for t in trials:
        metrics = t.get("metrics") or {}
        err = metrics.get("error")
        if t.get("status") == "completed" and err is not None and np.isfinite(err):
            out.append(t)
    return out


def by_group(trials: Sequence[Trial]) -> dict[str, list[Trial]]:
    """Trials keyed by their group, groups in order of first appearance."""
    groups: dict[str, list[Trial]] = {}
    for t in trials:
        groups.setdefault(str(t["group"]), []).append(t)
    return groups


def error_of(trials: Sequence[Trial]) -> np.ndarray:
    """Top-1 error (%) of each trial (completed trials only)."""
    return np.array([float(t["metrics"]["error"]) for t in trials], dtype=float)


def block_widths(spec: Mapping[str, Any]) -> list[int]:
    """Per-block widths of a spec dict (each stage's width repeated `depth` times)."""
    return [int(s["width"]) for s in spec["stages"] for _ in range(int(s["depth"]))]


def group_values(trials: Sequence[Trial], key: Callable[[Trial], float]) -> np.ndarray:
    """`key(trial)` for each trial, as floats."""
    return np.array([float(key(t)) for t in trials], dtype=float)


def budget_of(t: Trial) -> int:
    """A trial's training budget in epochs (the scaling planner's meta["epochs_budget"])."""
    return int((t.get("meta") or {}).get("epochs_budget", t.get("epochs", 0)))


def top1_of(trial: Trial) -> float:
    """Top-1 accuracy (%) of a completed trial (100 - error where top1 is missing)."""
    metrics = trial["metrics"]
    return float(metrics.get("top1", 100.0 - float(metrics["error"])))


# Ablation ladder and group comparison -------------------------------------------------


@dataclass(frozen=True, slots=True)
class AblationRow:
    """One step of an additive ladder (ResNet-RS Table 1): top-1 (%) over completed seeds."""

    step: int
    name: str
    n: int  # completed seeds
    planned: int  # trials of this step, any status
    mean_top1: float  # NaN while no seed has completed
    std_top1: float  # sample std (ddof=1); NaN with fewer than 2 seeds
    gain_prev: float  # points over the previous step; NaN for the baseline or a missing step
    gain_baseline: float  # points over the first step
    gain_se: float  # standard error of gain_prev; NaN unless both steps have >= 2 seeds


def _step_of(trial: Trial) -> tuple[int, str]:
    meta, design = trial.get("meta") or {}, trial.get("design") or {}
    step = meta.get("step", design.get("step"))
    if step is None:
        raise AnalysisError(
            f"trial {trial.get('trial_id')} has no ablation step: expected meta['step'] or "
            "design['step'] (an integer)"
        )
    return int(step), str(meta.get("name", trial["group"]))


def ablation_table(trials: Sequence[Trial]) -> list[AblationRow]:
    """Ladder steps in order with mean/std top-1 over seeds and each step's gain over the
    previous step and over the baseline (the first step), in points of top-1."""
    steps: dict[int, tuple[str, list[Trial]]] = {}
    for t in trials:
        step, name = _step_of(t)
        steps.setdefault(step, (name, []))[1].append(t)
    rows: list[AblationRow] = []
    for step in sorted(steps):
        name, ts = steps[step]
        top1 = np.array([top1_of(t) for t in completed(ts)])
        mean = float(top1.mean()) if top1.size else np.nan
        std = float(top1.std(ddof=1)) if top1.size > 1 else np.nan
        prev, base = (rows[-1], rows[0]) if rows else (None, None)
        gain_prev = mean - prev.mean_top1 if prev else np.nan
        se = np.nan
        if prev and top1.size > 1 and prev.n > 1:
            se = float(np.sqrt(std**2 / top1.size + prev.std_top1**2 / prev.n))
        gain_base = mean - (base.mean_top1 if base else mean)  # the baseline's own gain is 0
        rows.append(
            AblationRow(
                step=step,
                name=name,
                n=int(top1.size),
                planned=len(ts),
                mean_top1=mean,
                std_top1=std,
                gain_prev=gain_prev,
                gain_baseline=gain_base,
                gain_se=se,
            )
        )
    return rows


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
        half = (1.0 - _check_ci(ci)) / 2.0
        rng = np.random.default_rng(seed)
        da = ea[rng.integers(0, ea.size, (n_resamples, ea.size))].mean(axis=1)
        db = eb[rng.integers(0, eb.size, (n_resamples, eb.size))].mean(axis=1)
        low, high = (float(v) for v in np.percentile(da - db, [100 * half, 100 - 100 * half]))
    return GroupComparison(
        a,
        b,
        int(ea.size),
        int(eb.size),
        float(ea.mean()),
        float(eb.mean()),
        float(ea.mean() - eb.mean()),
        low,
        high,
    )


# The recommendation -----------------------------------------------------------------------


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def _best_sentence(done: Sequence[Trial]) -> str:
    t = min(done, key=lambda t: float(t["metrics"]["error"]))
    return (
        f"Best model so far: {float(t['metrics']['error']):.2f}% error ({t['group']}, trial "
        f"{t['trial_id']}, {t['flops'] / 1e6:.1f}M multiply-adds, {t['params'] / 1e6:.2f}M "
        "params)."
    )


def _design_space_sentence(done: Sequence[Trial]) -> str:
    groups = by_group(done)
    ranked = sorted(groups, key=lambda g: float(np.median(error_of(groups[g]))))
    if len(ranked) == 1:
        e = error_of(groups[ranked[0]])
        return (
            f"Only {ranked[0]} has completed trials (n={e.size}, median error "
            f"{np.median(e):.2f}%): no second space to compare yet."
        )
    a, b = ranked[:2]
    ea, eb = error_of(groups[a]), error_of(groups[b])
    lead = f"Of {len(ranked)} spaces, {a} and {b} have the lowest median error. "
    lead = lead if len(ranked) > 2 else ""
    if min(ea.size, eb.size) < 3:
        return (
            f"{lead}Too few completed trials to compare {a} and {b} (n={ea.size} and "
            f"{eb.size}; the KS test needs at least 3 each)."
        )
    ks = ks_test(ea, eb)
    nums = (
        f"KS D={ks.statistic:.2f}, {_p(ks.pvalue)}; median error {np.median(ea):.1f}% vs "
        f"{np.median(eb):.1f}%, n={ea.size} and {eb.size}"
    )
    if ks.pvalue < 0.05:
        return f"{lead}{a}'s error EDF lies left of {b}'s ({nums})."
    return f"{lead}No significant difference between the error EDFs of {a} and {b} ({nums})."


def _comparison_sentence(cmp: GroupComparison, what: str, where: str) -> str:
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


def _scaling_sentence(done: Sequence[Trial], regime: str) -> str | None:
    rules = [t for t in done if t["group"] not in _REFERENCE_GROUPS and _multiplier(t)]
    if not rules:
        return None
    levels = multiplier_levels([_multiplier(t) for t in rules])
    by_level: dict[float, dict[str, list[Trial]]] = {}
    for t, level in zip(rules, levels, strict=True):
        by_level.setdefault(float(level), {}).setdefault(str(t["group"]), []).append(t)
    shared = [m for m, groups in by_level.items() if len(groups) > 1]
    if not shared:
        return None
    groups = by_level[max(shared)]
    a, b = sorted(groups, key=lambda g: float(error_of(groups[g]).mean()))[:2]
    cmp = compare_groups(groups[a] + groups[b], a, b, seed=0)
    text = _comparison_sentence(cmp, " scaling", f" at {max(shared):.2g}x FLOPs {regime}")
    if len(groups) > 2:  # the best two of several rules
        text = f"Of {len(groups)} rules, {text[0].lower()}{text[1:]}"
    return text


_REFERENCE_GROUPS = ("base", "grid")  # not scaling rules: the unscaled base, a grid sweep


def _multiplier(t: Trial) -> float | None:
    value = (t.get("design") or {}).get("multiplier", (t.get("meta") or {}).get("multiplier"))
    return float(value) if value else None


def _scaling_recommendation(trials: Sequence[Trial], done: Sequence[Trial]) -> str:
    budgets = sorted({budget_of(t) for t in done})
    parts = []
    for budget in budgets:
        regime = f"with {budget} epochs" if len(budgets) > 1 else "in this regime"
        sentence = _scaling_sentence([t for t in done if budget_of(t) == budget], regime)
        if sentence:
            parts.append(sentence)
    if not parts:
        parts.append(
            "No FLOPs multiplier has completed trials of two rules yet: no rule comparison."
        )
    return " ".join([*parts, _best_sentence(done)])


def _compound_recommendation(trials: Sequence[Trial], done: Sequence[Trial]) -> str:
    groups = by_group([t for t in done if t["group"] not in _REFERENCE_GROUPS])
    if not groups:
        return "Only the unscaled base has completed trials: no candidate to rank yet."
    ranked = sorted(groups, key=lambda g: float(error_of(groups[g]).mean()))
    if len(ranked) == 1:
        return (
            f"Only candidate {ranked[0]} has completed trials: mean error "
            f"{error_of(groups[ranked[0]]).mean():.2f}%; nothing to compare yet."
        )
    cmp = compare_groups(groups[ranked[0]] + groups[ranked[1]], ranked[0], ranked[1], seed=0)
    return (
        f"Lowest mean error: {ranked[0]} ({cmp.mean_a:.2f}%, of {len(ranked)} candidates). "
        + _comparison_sentence(cmp, "", "")
    )


def _ablation_recommendation(trials: Sequence[Trial], done: Sequence[Trial]) -> str:
    rows = ablation_table(trials)
    gains = [r for r in rows if np.isfinite(r.gain_prev)]
    if not gains:
        return "No two consecutive ladder steps have completed trials yet: no gain to measure."
    top = max(gains, key=lambda r: r.gain_prev)
    if not np.isfinite(top.gain_se):
        note = "fewer than two seeds per step: no spread measured, it may be noise"
    elif abs(top.gain_prev) > 2 * top.gain_se:
        note = f"+-{2 * top.gain_se:.2f} at two standard errors"
    else:
        note = f"within seed noise, +-{2 * top.gain_se:.2f} at two standard errors"
    text = f"The ladder's largest single gain is {top.name}: {top.gain_prev:+.2f} points top-1"
    text += f" ({note})."
    measured = [r for r in rows if r.n]
    if len(measured) > 2 and rows[0].n:  # more than one step over the baseline
        last = measured[-1]
        text += (
            f" Through {last.name}, the ladder adds {last.gain_baseline:+.2f} points over "
            f"the baseline ({rows[0].mean_top1:.2f}% -> {last.mean_top1:.2f}%)."
        )
    return text


def recommend(study: Mapping[str, Any], trials: Sequence[Trial]) -> str:
    """One to three sentences built only from the numbers of the completed trials, for the
    study's planner; says so when the data cannot support a claim (too few trials, a KS
    p-value >= 0.05, or a bootstrap interval that includes zero)."""
    done = completed(trials)
    if not done:
        planned = study.get("planned", len(trials))
        return f"No completed trials yet (0 of {planned} planned): nothing to conclude."
    planner = study.get("planner")
    if planner == "design_space":
        return f"{_design_space_sentence(done)} {_best_sentence(done)}"
    makers = {
        "scaling": _scaling_recommendation,
        "compound_search": _compound_recommendation,
        "ablation": _ablation_recommendation,
    }
    if planner not in makers:
        raise AnalysisError(
            f"unknown planner {planner!r}; expected one of design_space, scaling, "
            "compound_search, ablation"
        )
    return makers[planner](trials, done)
