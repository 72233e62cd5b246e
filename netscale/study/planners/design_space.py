"""The design-space planner: sample n models of each space in a complexity band, train each
briefly, compare the spaces (RegNet sec. 3: "Designing Network Design Spaces", Radosavovic
et al. 2020; NDS: Radosavovic et al. 2019).

Config section `design_space`: `spaces` (names such as anynet_xa, regnet_y, or space YAML
files), `samples` per space, the small-image variant (`stages`, `stem_stride`,
`resolution`), complexity bands `flops`, `params`, `acts` ([low, high]) and `max_draws`.
Report: error EDFs (raw and complexity-normalized, with KS tests), error trends per design
parameter with bootstrap bands, the best models' width staircases with RegNet's fit,
random-search efficiency and the Pareto front. Recommendation: which space's error EDF lies
left (KS, alpha = 0.05), and the best model.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from netscale.families import resolve_spec
from netscale.study.findings import best_sentence, by_group, error, error_of, flops_of, p_text
from netscale.study.planners.base import DataShape, Planner, flops_band, make_trial
from netscale.study.records import StudyConfig, StudyConfigError, Trial, TrialPlan
from netscale.study.report_parts import PARETO_IMAGES, Section, html_table, pareto_section
from netscale.study.statistics import (
    bootstrap_best,
    bootstrap_best_value,
    ks_test,
    normalized_weights,
    random_search_efficiency,
)

if TYPE_CHECKING:
    from netscale.study.plots import TrendSeries


class DesignSpace(Planner):
    """Populations of models sampled from design spaces, compared by their error EDFs."""

    name = "design_space"
    defaults: ClassVar[dict[str, Any]] = {
        "spaces": None, "samples": 16, "stages": None, "stem_stride": None, "resolution": None,
        "flops": None, "params": None, "acts": None, "max_draws": 100_000
    }  # fmt: skip
    images = ("edf", "edf_normalized", "trends", "best_models", "random_search",
              *PARETO_IMAGES)  # fmt: skip

    def plan(self, config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
        """`samples` models of each space, drawn with the config's seed within the bands."""
        from netscale.space import get_space, load_space, sample

        sec = self.options(config)
        spaces = sec["spaces"]
        if not isinstance(spaces, list) or not spaces:
            raise StudyConfigError(
                f"{config.name}: design_space.spaces must list one or more spaces (names such "
                "as anynet_xa, regnet_y, or paths of space YAML files)"
            )
        variant = {k: sec[k] for k in ("stages", "stem_stride", "resolution") if sec[k] is not None}
        bands = {k: flops_band(sec[k], f"design_space.{k}") for k in ("flops", "params", "acts")}
        trials = []
        for entry in spaces:
            if isinstance(entry, str) and not entry.endswith((".yaml", ".yml")):
                space = get_space(
                    entry, num_classes=shape.num_classes, in_width=shape.in_width, **variant
                )
            else:
                space = load_space(entry)
            drawn = sample(
                space, sec["samples"], seed=config.seed, max_draws=sec["max_draws"], **bands
            )
            for s in drawn:
                spec = resolve_spec(s.spec, num_classes=shape.num_classes, in_width=shape.in_width)
                trials.append(make_trial(config, spec, space.name, design=dict(s.design)))
        return trials

    def sections(
        self, trials: Sequence[Trial], done: Sequence[Trial], *, n_resamples: int, seed: int
    ) -> list[Section]:
        """EDFs, trends, best models, random search and the Pareto front."""
        groups = by_group(done)
        return [
            _edf_section(groups),
            trends_section(groups, n_resamples, seed),
            _best_models_section(groups),
            _random_search_section(groups),
            pareto_section(groups),
        ]

    def recommend(self, trials: Sequence[Trial], done: Sequence[Trial]) -> str:
        """The two spaces of lowest median error compared by KS, then the best model."""
        return f"{_edf_sentence(done)} {best_sentence(done)}"


def _edf_sentence(done: Sequence[Trial]) -> str:
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
        f"KS D={ks.statistic:.2f}, {p_text(ks.pvalue)}; median error {np.median(ea):.1f}% vs "
        f"{np.median(eb):.1f}%, n={ea.size} and {eb.size}"
    )
    if ks.pvalue < 0.05:
        return f"{lead}{a}'s error EDF lies left of {b}'s ({nums})."
    return f"{lead}No significant difference between the error EDFs of {a} and {b} ({nums})."


# Report sections ----------------------------------------------------------------------


def _normalized(groups: dict[str, list[Trial]], num_bins: int) -> dict[str, np.ndarray]:
    """Complexity-normalized EDF weights per group over log-FLOP bins shared by all groups."""
    flops = {g: flops_of(ts) for g, ts in groups.items() if ts}
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
    from netscale.study import plots

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
            for k, v in t.design.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    keys[k] = None
    return [*list(keys)[:22], "flops", "params"]


def _param_of(t: Trial, key: str) -> float | None:
    if key in ("flops", "params"):
        return float(getattr(t, key))
    v = t.design.get(key)
    return float(v) if isinstance(v, int | float) else None


def _trend_series(
    key: str, group: str, ts: list[Trial], n_resamples: int, seed: int
) -> TrendSeries | None:
    """Error versus design parameter `key` for one group, with its bootstrap results."""
    from netscale.study import plots

    pairs = [(x, error(t)) for t in ts if (x := _param_of(t, key)) is not None]
    if not pairs:
        return None
    x, e = (np.array(v) for v in zip(*pairs, strict=True))
    band = best = None
    if x.size >= 3 and np.unique(x).size > 1:
        band = bootstrap_best(x, e, _param_bins(x), n_resamples=n_resamples, seed=seed)
        best = bootstrap_best_value(x, e, n_resamples=n_resamples, seed=seed)
    return plots.TrendSeries(group, x, e, band, best)


def trends_section(groups: dict[str, list[Trial]], n_resamples: int, seed: int) -> Section:
    """Error against each numeric design parameter (and flops, params) per group, with the
    bootstrap band of the best error per bin and the best model's value (RegNet sec. 3.1);
    other planners whose trials record numeric designs show it too."""
    from netscale.study import plots

    sec = Section("Trends with bootstrap bands")
    panels: dict[str, list[TrendSeries]] = {}
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


def block_widths(spec: dict[str, Any]) -> list[int]:
    """Per-block widths of a spec dict (each stage's width repeated `depth` times)."""
    return [int(s["width"]) for s in spec["stages"] for _ in range(int(s["depth"]))]


def _best_models_section(groups: dict[str, list[Trial]], k: int = 3) -> Section:
    from netscale.study import plots
    from netscale.study.width_fit import linear_width_fit, quantized_width_fit

    sec = Section("Best models: per-block widths")
    models, rows = [], []
    for g, ts in groups.items():
        for rank, t in enumerate(sorted(ts, key=error)[:k]):
            widths = block_widths(t.spec)
            fit, line = quantized_width_fit(widths), linear_width_fit(widths)
            err = error(t)
            models.append((f"{g} #{rank + 1}: {err:.2f}% (trial {t.trial_id})", widths, fit))
            rows.append([g, t.trial_id, f"{err:.2f}%", f"{fit.w0:g}", f"{fit.wa:.2f}",
                         f"{fit.wm:.3f}", f"{fit.e_fit:.3f}", f"{line.e_fit:.3f}"])  # fmt: skip
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
    from netscale.study import plots

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
