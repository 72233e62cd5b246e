"""The scaling planner: rule against rule at matched FLOPs (EfficientNet sec. 3.2), or a
width x depth x resolution grid (ResNet-RS sec. 7), optionally at several epoch budgets
(ResNet-RS's regimes: depth pays in long runs, width in short ones).

Config section `scaling`: `base` (a model or spec file), `small_images`, `resolution`;
`rules` at `multipliers` of the base's FLOPs, matched within `tolerance` by bisection, or a
`grid` {width, depth, resolution}; `epochs` (a list of budgets) and `seeds` per point.
`match: speed` matches the rules on measured speed instead of FLOPs (ResNet-RS sec. 4:
FLOPs do not predict speed): each rule's model is the one `scale_to_speed` finds at
`multipliers` x the base's measured latency (or 1 / multiplier x its throughput) with the
`speed` settings {metric: latency | throughput, batch, device, mode, precision,
channels_last, tolerance}; measured when the study is planned, on the planning machine, and
recorded in each trial's meta (target, achieved, miss).
Report: error against multiply-adds and against measured time per image with power-law
fits, the rules at matched FLOPs, and the Pareto front. Recommendation: per budget, the
best two rules at the largest shared multiplier, compared by a bootstrap interval.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from netscale.complexity import count
from netscale.scaling import resolution as at_resolution
from netscale.scaling import scale_dims, scale_to
from netscale.spec import NetSpec, SpecError
from netscale.spec.io import check_keys
from netscale.study.findings import (
    REFERENCE_GROUPS,
    best_sentence,
    by_group,
    compare_groups,
    comparison_sentence,
    error,
    error_of,
)
from netscale.study.planners.base import DataShape, Planner, base_spec, make_trial, positive_int
from netscale.study.records import StudyConfig, StudyConfigError, Trial, TrialPlan
from netscale.study.report_parts import PARETO_IMAGES, Section, html_table, pareto_section
from netscale.study.statistics import PowerLawFit, multiplier_levels, power_law_fit


class Scaling(Planner):
    """Scaling rules compared at matched FLOPs (or a grid), at one or more epoch budgets."""

    name = "scaling"
    defaults: ClassVar[dict[str, Any]] = {
        "base": None, "resolution": None, "small_images": False,
        "rules": ["compound", "depth", "width", "resolution"], "multipliers": [2.0],
        "grid": None, "epochs": None, "seeds": 1, "tolerance": 0.05, "match": "flops",
        "speed": None,
    }  # fmt: skip
    images = ("scaling_flops", "scaling_time", *PARETO_IMAGES)

    def plan(self, config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
        """Every point (the base and each rule x multiplier, or the grid) at each budget,
        `seeds` times."""
        sec = self.options(config)
        base = base_spec(sec, shape, "scaling.base")
        budgets = sec["epochs"] or [config.epochs]
        if not isinstance(budgets, list) or not all(isinstance(e, int) and e >= 1 for e in budgets):
            raise StudyConfigError(
                f"scaling.epochs={budgets!r} is invalid: a list of integers >= 1"
            )
        if sec["match"] not in MATCHES:
            raise StudyConfigError(
                f"scaling.match={sec['match']!r} is invalid; allowed: {', '.join(MATCHES)}"
            )
        if sec["match"] == "speed" and sec["grid"]:
            raise StudyConfigError(
                "scaling.match='speed' matches rules, not grid points: remove scaling.grid"
            )
        if sec["grid"]:
            points = _grid_points(base, sec["grid"])
        elif sec["match"] == "speed":
            points = _speed_points(base, sec)
        else:
            points = _rule_points(base, sec)
        base_flops = count(base).flops
        seeds = positive_int(sec["seeds"], "scaling.seeds")
        multipliers = [meta.get("multiplier", count(spec).flops / base_flops)
                       for _, spec, meta in points]  # fmt: skip
        trials = []
        for epochs in budgets:
            for (group, spec, meta), multiplier in zip(points, multipliers, strict=True):
                design = {"multiplier": round(multiplier, 4), **meta.get("design", {})}
                info = {**meta.get("info", {}), "epochs_budget": epochs, "multiplier": multiplier}
                trials += [
                    make_trial(config, spec, group, design=design, meta=info, epochs=epochs,
                               seed=config.seed + rep)
                    for rep in range(seeds)
                ]  # fmt: skip
        return trials

    def sections(
        self, trials: Sequence[Trial], done: Sequence[Trial], *, n_resamples: int, seed: int
    ) -> list[Section]:
        """Scaling curves with their fits and the rules at matched FLOPs; the Pareto front."""
        return [_scaling_section(list(done)), pareto_section(by_group(done))]

    def recommend(self, trials: Sequence[Trial], done: Sequence[Trial]) -> str:
        """Per budget, the best two rules at the largest shared multiplier; the best model."""
        budgets = sorted({budget_of(t) for t in done})
        parts = []
        for budget in budgets:
            regime = f"with {budget} epochs" if len(budgets) > 1 else "in this regime"
            sentence = _rule_sentence([t for t in done if budget_of(t) == budget], regime)
            if sentence:
                parts.append(sentence)
        if not parts:
            what = _matched_on(done)
            parts.append(
                "No FLOPs multiplier has completed trials of two rules yet: no rule comparison."
                if what == "FLOPs"
                else f"No multiple of {what} has completed trials of two rules within 15% of "
                "each other yet (a rule whose re-measured speed missed its target lands "
                "apart): no rule comparison."
            )
        return " ".join([*parts, best_sentence(done)])


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


MATCHES = ("flops", "speed")
SPEED_DEFAULTS: dict[str, Any] = {
    "metric": "latency", "batch": 1, "device": "cpu", "mode": "infer", "precision": "fp32",
    "channels_last": True, "tolerance": 0.1,
}  # fmt: skip


def _speed_settings(value: Any) -> dict[str, Any]:
    """The section's `speed` mapping with its defaults; unknown keys and values named."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise StudyConfigError(
            f"scaling.speed={value!r} is invalid: a mapping with keys {', '.join(SPEED_DEFAULTS)}"
        )
    check_keys(value, list(SPEED_DEFAULTS), where="scaling.speed", error=StudyConfigError)
    settings = {**SPEED_DEFAULTS, **value}
    if settings["metric"] not in ("latency", "throughput"):
        raise StudyConfigError(
            f"scaling.speed.metric={settings['metric']!r} is invalid; allowed: latency, throughput"
        )
    return settings


def _speed_points(base: NetSpec, sec: dict[str, Any]) -> list[tuple[str, NetSpec, dict]]:
    """The base, then each rule at each multiple of the base's measured latency (or the
    base's throughput divided by it), found by scale_to_speed on this machine."""
    from netscale.profiling.device import device_name, resolve_device  # torch: planning only
    from netscale.profiling.speed import cached_speed, scale_to_speed

    s = _speed_settings(sec["speed"])
    metric, tolerance = s.pop("metric"), s.pop("tolerance")
    try:
        where = device_name(resolve_device(s["device"]))
        measured = cached_speed(base, **s)
    except ValueError as err:
        raise StudyConfigError(f"scaling.speed: {err}") from None
    base_value = measured.latency_s if metric == "latency" else measured.images_per_s
    info = {"metric": metric, **s, "device_name": where, "base": base_value}
    points = [("base", base, {"info": {"rule": "base", "match": "speed", "speed": info},
                              "multiplier": 1.0})]  # fmt: skip
    for rule in sec["rules"]:
        for mult in sec["multipliers"]:
            key = "target_latency_s" if metric == "latency" else "target_throughput"
            target = base_value * float(mult) if metric == "latency" else base_value / float(mult)
            try:
                r = scale_to_speed(base, rule, **{key: target}, tolerance=tolerance, **s)
            except (ValueError, SpecError) as err:
                raise StudyConfigError(
                    f"scaling: rule {rule!r} at {mult}x the base's measured {metric}: {err}"
                ) from None
            ratio = r.achieved / base_value if metric == "latency" else base_value / r.achieved
            speed = {**info, "target": r.target, "achieved": r.achieved, "miss": r.miss,
                     "within_tolerance": r.within_tolerance}  # fmt: skip
            design = {"coefficient": r.coefficient, "speed_ratio": round(ratio, 4)}
            meta = {"rule": rule, "match": "speed", "speed": speed}
            points.append((rule, r.spec, {"design": design, "info": meta, "multiplier": ratio}))
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


def budget_of(t: Trial) -> int:
    """A trial's training budget in epochs (meta["epochs_budget"], else its epochs)."""
    return int(t.meta.get("epochs_budget", t.epochs))


def _matched_on(done: Sequence[Trial]) -> str:
    """What the rules' multipliers are of: "FLOPs", or the measured speed they matched."""
    for t in done:
        if t.meta.get("match") == "speed":
            s = t.meta["speed"]
            return f"the measured {s['metric']} ({s['device_name']}, batch {s['batch']})"
    return "FLOPs"


def _multiplier(t: Trial) -> float | None:
    value = t.design.get("multiplier", t.meta.get("multiplier"))
    return float(value) if value else None


def _rule_sentence(done: Sequence[Trial], regime: str) -> str | None:
    """The best two rules at the largest multiplier that two rules share, compared."""
    rules = [t for t in done if t.group not in REFERENCE_GROUPS and _multiplier(t)]
    if not rules:
        return None
    levels = multiplier_levels([_multiplier(t) for t in rules])
    by_level: dict[float, dict[str, list[Trial]]] = {}
    for t, level in zip(rules, levels, strict=True):
        by_level.setdefault(float(level), {}).setdefault(t.group, []).append(t)
    shared = [m for m, groups in by_level.items() if len(groups) > 1]
    if not shared:
        return None
    groups = by_level[max(shared)]
    a, b = sorted(groups, key=lambda g: float(error_of(groups[g]).mean()))[:2]
    cmp = compare_groups(groups[a] + groups[b], a, b, seed=0)
    what = _matched_on(done)
    text = comparison_sentence(cmp, " scaling", f" at {max(shared):.2g}x {what} {regime}")
    if len(groups) > 2:  # the best two of several rules
        text = f"Of {len(groups)} rules, {text[0].lower()}{text[1:]}"
    return text


# Report section -------------------------------------------------------------------------


Curves = dict[str, tuple[np.ndarray, np.ndarray]]


def _scaling_curves(
    done: list[Trial], cost: Callable[[Trial], float | None]
) -> tuple[Curves, dict[str, PowerLawFit | None]]:
    """(x, error) per rule (per rule and budget when there are several budgets); the
    unscaled base starts every rule's curve. Power-law fits where x has 2+ values."""
    many = len({budget_of(t) for t in done}) > 1
    rules = list(dict.fromkeys(t.group for t in done if t.group != "base"))
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for t in done:
        x = cost(t)
        if x is None or x <= 0:
            continue
        for rule in rules if t.group == "base" and rules else [t.group]:
            label = f"{rule} ({budget_of(t)} ep)" if many else rule
            xs, es = curves.setdefault(label, ([], []))
            xs.append(x)
            es.append(error(t))
    arrays = {k: (np.array(x), np.array(e)) for k, (x, e) in curves.items()}
    fits = {
        k: power_law_fit(x, e) if np.unique(x).size > 1 else None for k, (x, e) in arrays.items()
    }
    return arrays, fits


def _time_per_image(t: Trial) -> float | None:
    ips = (t.metrics or {}).get("images_per_s")
    return 1000.0 / float(ips) if ips else None


def _matched_rows(done: list[Trial]) -> list[list[Any]]:
    """Each rule at each nominal FLOPs multiplier (and budget): n, mean and std of error."""
    rules = [t for t in done if t.group != "grid" and t.design.get("multiplier")]
    if not rules:
        return []
    levels = multiplier_levels([t.design["multiplier"] for t in rules])
    cells: dict[tuple[int, float, str], list[float]] = {}
    for t, level in zip(rules, levels, strict=True):
        cells.setdefault((budget_of(t), float(level), t.group), []).append(error(t))
    rows = []
    for (budget, level, rule), errors in sorted(cells.items()):
        e = np.array(errors)
        std = f"{e.std(ddof=1):.2f}" if e.size > 1 else "-"
        rows.append([budget, f"{level:.2g}x", rule, e.size, f"{e.mean():.2f}%", std])
    return rows


def _scaling_section(done: list[Trial]) -> Section:
    from netscale.study import plots

    sec = Section("Scaling curves")
    rows = []
    for name, cost, xlabel in (
        ("scaling_flops", lambda t: float(t.flops), "multiply-adds"),
        ("scaling_time", _time_per_image, "measured training time per image (ms)"),
    ):
        curves, fits = _scaling_curves(done, cost)
        fig = plots.plot_scaling(curves, fits, xlabel=xlabel, title=f"error vs {xlabel}")
        sec.images.append((name, plots.figure_png(fig)))
        for k, fit in fits.items():
            if fit is not None:
                ratio = 2**fit.b
                rows.append([k, xlabel, fit.n, f"{fit.a:.4g}", f"{fit.b:.4f}", f"{ratio:.4f}",
                             f"{fit.r2:.3f}"])  # fmt: skip
    if rows:
        head = ["curve", "x", "n", "a", "b", "error ratio per 2x", "r2 (log)"]
        sec.body.append(html_table(head, rows))
    matched = _matched_rows(done)
    if matched:
        what = _matched_on(done)
        sec.body.append(f"<p>Rules matched on {html.escape(what)} (multipliers within 15% "
                        "grouped):</p>")  # fmt: skip
        head = ["epochs", "multiplier", "rule", "n", "mean error", "std"]
        sec.body.append(html_table(head, matched))
    sec.body.append(
        "<p>Fits: error = a x^b, least squares in log-log space. Time per image is "
        "the inverse of the measured training throughput: FLOPs do not predict "
        "speed (Bello et al. 2021).</p>"
    )
    return sec
