"""Per-planner sections of the study report: each builder turns completed trials into
PNG plots and HTML tables (design-space EDFs, trends, width fits, random search and Pareto
front; scaling curves; compound-search candidates; the additive ablation ladder).
`build_sections` picks the builders for a study's planner; `netscale.study.report` assembles
and writes the page."""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netscale.study import plots
from netscale.study.analysis import (
    AnalysisError,
    bootstrap_best,
    bootstrap_best_value,
    ks_test,
    linear_width_fit,
    multiplier_levels,
    normalized_weights,
    pareto_front,
    power_law_fit,
    quantized_width_fit,
    random_search_efficiency,
)
from netscale.study.findings import (
    Trial,
    ablation_table,
    block_widths,
    budget_of,
    by_group,
    completed,
    error_of,
    group_values,
)

# Every PNG a section can produce; report.write_report removes those no longer shown.
PNG_NAMES = ("edf", "edf_normalized", "trends", "best_models", "random_search", "pareto",
             "scaling_flops", "scaling_time", "ablation")  # fmt: skip


@dataclass(slots=True)
class Section:
    """One report section: a title, HTML fragments and (PNG name, PNG bytes) images."""

    title: str
    body: list[str] = field(default_factory=list)  # HTML fragments
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (png name, bytes)


def format_number(value: float | None, fmt: str, scale: float = 1.0, unit: str = "") -> str:
    """`value / scale` formatted with `fmt` and `unit`; "-" for None or non-finite."""
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value / scale:{fmt}}{unit}"


def html_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table with a header row; every cell is escaped."""
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


# Design-space sections ------------------------------------------------------------------


def _normalized(groups: dict[str, list[Trial]], num_bins: int) -> dict[str, np.ndarray]:
    """Complexity-normalized EDF weights per group over log-FLOP bins shared by all groups."""
    flops = {g: group_values(ts, lambda t: t["flops"]) for g, ts in groups.items() if ts}
    values = np.concatenate([np.zeros(0), *flops.values()])
    if not values.size or np.any(values <= 0):
        return {}
    bounds = (float(values.min()), float(values.max()))
    return {g: normalized_weights(f, num_bins, bounds=bounds) for g, f in flops.items()}


def _ks_rows(errors: dict[str, np.ndarray], weights: dict[str, np.ndarray]) -> list[list[str]]:
    rows = []
    for a, b in itertools.combinations(errors, 2):
        ea, eb = errors[a], errors[b]
        if min(ea.size, eb.size) < 2:
            continue
        ks, ksn = ks_test(ea, eb), ks_test(ea, eb, weights[a], weights[b])
        medians = f"{np.median(ea):.2f}% / {np.median(eb):.2f}%"
        rows.append([f"{a} vs {b}", f"{ea.size} / {eb.size}", medians, f"{ks.statistic:.3f}",
                     f"{ks.pvalue:.3g}", f"{ksn.statistic:.3f}", f"{ksn.pvalue:.3g}"])  # fmt: skip
    return rows


def _edf_section(groups: dict[str, list[Trial]], num_bins: int = 5) -> Section:
    sec = Section("Error EDFs")
    errors = {g: error_of(ts) for g, ts in groups.items()}
    weights = _normalized(groups, num_bins)
    raw = plots.plot_edf({g: (e, None) for g, e in errors.items()})
    title = f"normalized EDF ({num_bins} log-FLOP bins)"
    normalized = plots.plot_edf({g: (errors[g], w) for g, w in weights.items()}, title=title)
    sec.images += [("edf", plots.figure_png(raw)), ("edf_normalized", plots.figure_png(normalized))]
    rows = _ks_rows(errors, weights)
    if rows:
        head = ["pair", "n", "median error", "KS D", "p", "normalized D", "normalized p"]
        sec.body.append(html_table(head, rows))
    sec.body.append(
        "<p>Normalized: each log-FLOP bin carries equal weight (Radosavovic et al. 2019); "
        "its p-value uses Kish effective sample sizes.</p>"
    )
    return sec


def _param_bins(x: np.ndarray) -> np.ndarray:
    values = np.unique(x)
    if values.size <= 8:
        mids = (values[:-1] + values[1:]) / 2
        return np.concatenate([[values[0] - 0.5], mids, [values[-1] + 0.5]])
    num_bins = min(8, max(2, x.size // 5))  # about 5 models per bin at least
    return np.unique(np.quantile(x, np.linspace(0, 1, num_bins + 1)))


def _trend_params(groups: dict[str, list[Trial]]) -> list[str]:
    keys: dict[str, None] = {}
    for ts in groups.values():
        for t in ts:
            for k, v in (t.get("design") or {}).items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    keys[k] = None
    return [*list(keys)[:22], "flops", "params"]


def _param_of(t: Trial, key: str) -> float | None:
    if key in ("flops", "params"):
        return float(t[key])
    v = (t.get("design") or {}).get(key)
    return float(v) if isinstance(v, int | float) else None


def _trend_series(key: str, group: str, ts: list[Trial], n_resamples: int, seed: int):
    """Error versus design parameter `key` for one group, with its bootstrap results."""
    pairs = [(x, float(t["metrics"]["error"])) for t in ts if (x := _param_of(t, key)) is not None]
    if not pairs:
        return None
    x, e = (np.array(v) for v in zip(*pairs, strict=True))
    band = best = None
    if x.size >= 3 and np.unique(x).size > 1:
        band = bootstrap_best(x, e, _param_bins(x), n_resamples=n_resamples, seed=seed)
        best = bootstrap_best_value(x, e, n_resamples=n_resamples, seed=seed)
    return plots.TrendSeries(group, x, e, band, best)


def _trends_section(groups: dict[str, list[Trial]], n_resamples: int, seed: int) -> Section:
    sec = Section("Trends with bootstrap bands")
    panels: dict[str, list[plots.TrendSeries]] = {}
    for key in _trend_params(groups):
        series = [_trend_series(key, g, ts, n_resamples, seed) for g, ts in groups.items()]
        series = [s for s in series if s is not None]
        if series and np.unique(np.concatenate([s.x for s in series])).size > 1:
            panels[key] = series
    sec.images.append(("trends", plots.figure_png(plots.plot_trends(panels))))
    sec.body.append(
        f"<p>Lines and bands: median and 95% interval of the best error per bin over "
        f"{n_resamples} bootstrap resamples of 25% of the models. Bars along the bottom: where "
        "the best model's value lies with 95% confidence, its median marked (Radosavovic et "
        "al. 2020, sec. 3.1).</p>"
    )
    rows = [
        [key, s.group, s.x.size, f"{s.best.median:.4g}", f"[{s.best.low:.4g}, {s.best.high:.4g}]"]
        for key, series in panels.items()
        for s in series
        if s.best
    ]
    if rows:
        sec.body.append(html_table(["parameter", "group", "n", "best value", "95% range"], rows))
    return sec


def _best_models_section(groups: dict[str, list[Trial]], k: int = 3) -> Section:
    sec = Section("Best models: per-block widths")
    models, rows = [], []
    for g, ts in groups.items():
        for rank, t in enumerate(sorted(ts, key=lambda t: float(t["metrics"]["error"]))[:k]):
            widths = block_widths(t["spec"])
            fit, line = quantized_width_fit(widths), linear_width_fit(widths)
            err = float(t["metrics"]["error"])
            models.append((f"{g} #{rank + 1}: {err:.2f}% (trial {t['trial_id']})", widths, fit))
            rows.append(
                [
                    g,
                    t["trial_id"],
                    f"{err:.2f}%",
                    f"{fit.w0:g}",
                    f"{fit.wa:.2f}",
                    f"{fit.wm:.3f}",
                    f"{fit.e_fit:.3f}",
                    f"{line.e_fit:.3f}",
                ]
            )
    sec.images.append(("best_models", plots.figure_png(plots.plot_width_staircases(models))))
    if rows:
        head = ["group", "trial", "error", "w0", "wa", "wm", "e_fit", "linear e_fit"]
        sec.body.append(html_table(head, rows))
    sec.body.append(
        "<p>e_fit: mean |log ratio| of RegNet's quantized linear widths (eqs. 2-4, "
        "grid search over w0, wa, wm) to the observed widths, sec. 3.3.</p>"
    )
    return sec


def _random_search_section(groups: dict[str, list[Trial]]) -> Section:
    curves = {}
    for g, ts in groups.items():
        sizes = 2 ** np.arange(int(np.log2(len(ts))) + 1)
        curves[g] = random_search_efficiency(error_of(ts), sizes)
    sec = Section("Random-search efficiency")
    sec.images.append(("random_search", plots.figure_png(plots.plot_random_search(curves))))
    sec.body.append(
        "<p>Expected best error of m models drawn from each space's error EDF "
        "(exact, with replacement), with its 95% interval.</p>"
    )
    return sec


def _pareto_section(groups: dict[str, list[Trial]]) -> Section:
    done = [t for ts in groups.values() for t in ts]
    points = {g: (group_values(ts, lambda t: t["flops"]), error_of(ts)) for g, ts in groups.items()}
    front: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
    rows = []
    if done:
        flops, errors = group_values(done, lambda t: t["flops"]), error_of(done)
        idx = pareto_front(flops, errors)
        front = (flops[idx], errors[idx])
        rows = [
            [done[i]["group"], done[i]["trial_id"], f"{flops[i] / 1e6:.2f}M", f"{errors[i]:.2f}%"]
            for i in idx
        ]
    sec = Section("Pareto front")
    sec.images.append(("pareto", plots.figure_png(plots.plot_pareto(points, front))))
    if rows:
        sec.body.append(html_table(["group", "trial", "multiply-adds", "error"], rows))
    return sec


# Scaling, compound search and ablation sections -----------------------------------------


def _scaling_curves(done: list[Trial], cost: Callable[[Trial], float | None]):
    """(x, error) per rule (per rule and budget when there are several budgets); the
    unscaled base starts every rule's curve. Power-law fits where x has 2+ values."""
    many = len({budget_of(t) for t in done}) > 1
    rules = list(dict.fromkeys(str(t["group"]) for t in done if t["group"] != "base"))
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for t in done:
        x = cost(t)
        if x is None or x <= 0:
            continue
        for rule in rules if t["group"] == "base" and rules else [str(t["group"])]:
            label = f"{rule} ({budget_of(t)} ep)" if many else rule
            xs, es = curves.setdefault(label, ([], []))
            xs.append(x)
            es.append(float(t["metrics"]["error"]))
    arrays = {k: (np.array(x), np.array(e)) for k, (x, e) in curves.items()}
    fits = {
        k: power_law_fit(x, e) if np.unique(x).size > 1 else None for k, (x, e) in arrays.items()
    }
    return arrays, fits


def _time_per_image(t: Trial) -> float | None:
    ips = (t.get("metrics") or {}).get("images_per_s")
    return 1000.0 / float(ips) if ips else None


def _matched_rows(done: list[Trial]) -> list[list[Any]]:
    """Each rule at each nominal FLOPs multiplier (and budget): n, mean and std of error."""
    rules = [t for t in done if t["group"] != "grid" and (t.get("design") or {}).get("multiplier")]
    if not rules:
        return []
    levels = multiplier_levels([t["design"]["multiplier"] for t in rules])
    cells: dict[tuple[int, float, str], list[float]] = {}
    for t, level in zip(rules, levels, strict=True):
        key = (budget_of(t), float(level), str(t["group"]))
        cells.setdefault(key, []).append(float(t["metrics"]["error"]))
    rows = []
    for (budget, level, rule), errors in sorted(cells.items()):
        e = np.array(errors)
        std = f"{e.std(ddof=1):.2f}" if e.size > 1 else "-"
        rows.append([budget, f"{level:.2g}x", rule, e.size, f"{e.mean():.2f}%", std])
    return rows


def _scaling_section(done: list[Trial]) -> Section:
    sec = Section("Scaling curves")
    rows = []
    for name, cost, xlabel in (
        ("scaling_flops", lambda t: float(t["flops"]), "multiply-adds"),
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
        sec.body.append("<p>Rules at matched FLOPs (measured multipliers within 15% grouped):</p>")
        head = ["epochs", "FLOPs", "rule", "n", "mean error", "std"]
        sec.body.append(html_table(head, matched))
    sec.body.append(
        "<p>Fits: error = a x^b, least squares in log-log space. Time per image is "
        "the inverse of the measured training throughput: FLOPs do not predict "
        "speed (Bello et al. 2021).</p>"
    )
    return sec


def _candidates_section(groups: dict[str, list[Trial]]) -> Section:
    rows = []
    for g, ts in sorted(groups.items(), key=lambda kv: float(error_of(kv[1]).mean())):
        e = error_of(ts)
        std = f"{e.std(ddof=1):.2f}" if e.size > 1 else "-"
        flops = group_values(ts, lambda t: t["flops"]).mean()
        rows.append([g, e.size, f"{e.mean():.2f}%", std, f"{flops / 1e6:.1f}M"])
    sec = Section("Compound-coefficient candidates")
    sec.body.append(html_table(["candidate", "n", "mean error", "std", "multiply-adds"], rows))
    return sec


def _ablation_section(trials: Sequence[Trial]) -> Section:
    rows = ablation_table(trials)
    sec = Section("Additive ablation")
    sec.images.append(("ablation", plots.figure_png(plots.plot_ablation(rows))))
    cells = []
    for r in rows:
        se = f" +-{2 * r.gain_se:.2f}" if np.isfinite(r.gain_se) else ""
        top1 = format_number(r.mean_top1, ".2f", unit="%")
        std = format_number(r.std_top1, ".2f")
        gain = format_number(r.gain_prev, "+.2f") + se
        vs_base = format_number(r.gain_baseline, "+.2f")
        cells.append([r.step, r.name, f"{r.n}/{r.planned}", top1, std, gain, vs_base])
    head = ["step", "name", "seeds done", "top-1", "std", "gain (+-2 se)", "vs baseline"]
    sec.body.append(html_table(head, cells))
    return sec


def build_sections(
    study: Mapping[str, Any], trials: Sequence[Trial], n_resamples: int, seed: int
) -> list[Section]:
    """The report sections for the study's planner, from its completed trials; `n_resamples`
    and `seed` drive the design-space bootstrap. Unknown planners raise AnalysisError."""
    done = completed(trials)
    groups = by_group(done)
    planner = study.get("planner")
    if planner == "design_space":
        return [
            _edf_section(groups),
            _trends_section(groups, n_resamples, seed),
            _best_models_section(groups),
            _random_search_section(groups),
            _pareto_section(groups),
        ]
    if planner == "scaling":
        return [_scaling_section(done), _pareto_section(groups)]
    if planner == "compound_search":
        return [_candidates_section(groups), _pareto_section(groups)]
    if planner == "ablation":
        return [_ablation_section(trials)]
    raise AnalysisError(
        f"unknown planner {planner!r}; expected one of design_space, scaling, "
        "compound_search, ablation"
    )
