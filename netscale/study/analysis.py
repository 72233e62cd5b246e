"""Population analysis of a study: numpy/scipy only, no torch.

The array functions implement the tools of "On Network Design Spaces for Visual Recognition"
(Radosavovic et al. 2019, "NDS") and "Designing Network Design Spaces" (Radosavovic et al.
2020, "RegNet"): error EDFs, complexity-normalized EDFs, the KS test, the empirical
bootstrap, the quantized linear width fit and random-search efficiency; plus power-law
scaling fits (ResNet-RS sec. 7, EfficientNet sec. 3) and Pareto fronts. Functions over the
store's trial dicts (ablation table, group comparisons, the recommendation) live in
`netscale.study.findings`. Errors are top-1 error in percent; differences in points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats


class AnalysisError(ValueError):
    """Input an analysis function cannot use (wrong shape, non-finite, too few values)."""


@dataclass(frozen=True, slots=True, eq=False)
class Interval:
    """A bootstrap estimate: the median and the `ci` percentile interval [low, high]."""

    median: float
    low: float
    high: float


@dataclass(frozen=True, slots=True, eq=False)
class BootstrapBand:
    """Best (minimum) error per bin of a parameter over bootstrap resamples (arrays per bin)."""

    edges: np.ndarray  # (num_bins + 1,) bin edges of the parameter
    centers: np.ndarray  # (num_bins,)
    count: np.ndarray  # (num_bins,) models in each bin
    median: np.ndarray  # (num_bins,) NaN where a bin holds no model
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True, slots=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test: D = sup_e |F_a(e) - F_b(e)| and its p-value."""

    statistic: float
    pvalue: float
    n_a: int
    n_b: int
    weighted: bool


@dataclass(frozen=True, slots=True)
class LinearWidthFit:
    """Continuous line u_j = w0 + wa * j through per-block widths (RegNet eq. 2)."""

    w0: float
    wa: float
    e_fit: float  # mean |log(u_j / w_j)| over blocks


@dataclass(frozen=True, slots=True)
class QuantizedWidthFit:
    """RegNet's quantized linear fit (eqs. 2-4) of per-block widths, and its e_fit."""

    w0: float
    wa: float
    wm: float
    e_fit: float  # mean |log(predicted / observed)| over blocks (RegNet sec. 3.3)
    widths: tuple[int, ...]  # predicted per-block widths


@dataclass(frozen=True, slots=True, eq=False)
class RandomSearchCurve:
    """Expected best error of m random draws, with the `ci` interval of that best error."""

    sizes: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True, slots=True)
class PowerLawFit:
    """error = a * x^b, fitted as a line in log-log space; r2 is measured in log space."""

    a: float
    b: float
    r2: float
    n: int

    def predict(self, x: ArrayLike) -> np.ndarray:
        """Fitted error at complexity `x` (same units as the fit's x)."""
        return self.a * np.asarray(x, dtype=float) ** self.b


def _vector(name: str, values: ArrayLike, *, min_len: int = 1, positive: bool = False):
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise AnalysisError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if arr.ndim != 1:
        raise AnalysisError(f"{name} must be a one-dimensional sequence, got shape {arr.shape}")
    if arr.size < min_len:
        raise AnalysisError(f"{name} has {arr.size} values; need at least {min_len}")
    if not np.all(np.isfinite(arr)):
        raise AnalysisError(f"{name} holds NaN or infinite values; all must be finite")
    if positive and np.any(arr <= 0):
        raise AnalysisError(f"{name} must be positive, got minimum {arr.min():g}")
    return arr


def _pair(x: ArrayLike, errors: ArrayLike, *, positive_x: bool = False):
    xs = _vector("x", x, positive=positive_x)
    es = _vector("errors", errors)
    if xs.size != es.size:
        raise AnalysisError(f"x has {xs.size} values but errors has {es.size}; need one each")
    return xs, es


def _weights(weights: ArrayLike | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = _vector("weights", weights)
    if w.size != n or np.any(w < 0) or w.sum() <= 0:
        raise AnalysisError(f"weights must be {n} non-negative numbers with a positive sum")
    return w / w.sum()


def _check_ci(ci: float) -> float:
    if not 0.0 < ci < 1.0:
        raise AnalysisError(f"ci={ci} must lie strictly between 0 and 1 (0.95 for 95%)")
    return ci


def edf(
    errors: ArrayLike, weights: ArrayLike | None = None, grid: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Error EDF F(e) = sum_i w_i 1[e_i <= e] (RegNet eq. 1 and NDS; w_i = 1/n by default, or
    the given weights rescaled to sum to 1: the normalized EDF of NDS).

    Without `grid` returns (sorted distinct errors, F at each): the right-continuous step
    function, drawn with steps "post". The papers write 1[e_i < e], its left limit, which
    differs only exactly at a sample. With `grid` returns (grid, F at each grid point).
    """
    e = _vector("errors", errors)
    w = _weights(weights, e.size)
    order = np.argsort(e, kind="stable")
    e_sorted, cum = e[order], np.minimum(np.cumsum(w[order]), 1.0)
    x = np.unique(e_sorted) if grid is None else _vector("grid", grid, min_len=0)
    idx = np.searchsorted(e_sorted, x, side="right")
    return x, np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)


def normalized_weights(
    complexity: ArrayLike,
    num_bins: int,
    *,
    log: bool = True,
    bounds: tuple[float, float] | None = None,
) -> np.ndarray:
    """Weights of the complexity-normalized EDF (NDS; RegNet sec. 3.1): the complexity
    range (log-spaced when `log`) is cut into `num_bins` equal bins and each of the m_j models
    of a non-empty bin j gets 1 / (k m_j), k = number of non-empty bins, so every non-empty
    bin carries the same total weight and all weights sum to 1. `bounds` (lo, hi) sets a
    range shared by the sets being compared (values outside fall in the end bins); by
    default it is this set's own min and max."""
    if isinstance(num_bins, bool) or not isinstance(num_bins, int | np.integer) or num_bins < 1:
        raise AnalysisError(f"num_bins={num_bins!r} must be an integer >= 1")
    c = _vector("complexity", complexity, positive=log)
    lo, hi = (c.min(), c.max()) if bounds is None else bounds
    if not (lo <= hi and (lo > 0 or not log)):
        raise AnalysisError(f"bounds={bounds} must be (lo, hi) with lo <= hi (lo > 0 if log)")
    v, lo, hi = (np.log(c), np.log(lo), np.log(hi)) if log else (c, lo, hi)
    edges = np.linspace(lo, hi, num_bins + 1)
    which = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, num_bins - 1)
    counts = np.bincount(which, minlength=num_bins)
    return 1.0 / (np.count_nonzero(counts) * counts[which])


def _edges(x: np.ndarray, bins: int | ArrayLike) -> np.ndarray:
    if isinstance(bins, int | np.integer) and not isinstance(bins, bool):
        if bins < 1:
            raise AnalysisError(f"bins={bins} must be >= 1 (a count) or a sequence of edges")
        lo, hi = float(x.min()), float(x.max())
        return np.linspace(lo, hi, int(bins) + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    edges = _vector("bins", bins, min_len=2)
    if np.any(np.diff(edges) <= 0):
        raise AnalysisError("bins given as edges must be strictly increasing")
    return edges


def _resample(n: int, n_resamples: int, fraction: float, seed) -> np.ndarray:
    if n_resamples < 1 or not 0.0 < fraction <= 1.0:
        raise AnalysisError(
            f"n_resamples={n_resamples} must be >= 1 and fraction={fraction} in (0, 1]"
        )
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, max(1, round(fraction * n))))


def bootstrap_best(
    x: ArrayLike,
    errors: ArrayLike,
    bins: int | ArrayLike,
    *,
    n_resamples: int = 10_000,
    fraction: float = 0.25,
    ci: float = 0.95,
    seed: int | np.random.Generator,
) -> BootstrapBand:
    """Empirical bootstrap of the best error per bin of a parameter `x` (RegNet sec. 3.1's
    bootstrap, read as a trend): draw `fraction` of the (x_i, e_i) pairs with replacement,
    keep the minimum error in each bin of x; over `n_resamples` draws report the median and
    the `ci` percentile interval.
    `bins` is a count of equal-width bins or their edges; models outside the edges are
    ignored. Resamples that leave a bin empty do not count for that bin."""
    xs, es = _pair(x, errors)
    half = (1.0 - _check_ci(ci)) / 2.0
    edges = _edges(xs, bins)
    nb = edges.size - 1
    inside = (xs >= edges[0]) & (xs <= edges[-1])
    xs, es = xs[inside], es[inside]
    which = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, nb - 1)
    count = np.bincount(which, minlength=nb)
    med, low, high = (np.full(nb, np.nan) for _ in range(3))
    if xs.size:
        idx = _resample(xs.size, n_resamples, fraction, seed)
        e_s, b_s = es[idx], which[idx]  # (R, k)
        for b in np.flatnonzero(count):
            best = np.where(b_s == b, e_s, np.inf).min(axis=1)
            best = best[np.isfinite(best)]
            if best.size:
                low[b], med[b], high[b] = np.percentile(best, [100 * half, 50, 100 - 100 * half])
    centers = (edges[:-1] + edges[1:]) / 2
    return BootstrapBand(edges, centers, count, med, low, high)


def bootstrap_best_value(
    x: ArrayLike,
    errors: ArrayLike,
    *,
    n_resamples: int = 10_000,
    fraction: float = 0.25,
    ci: float = 0.95,
    seed: int | np.random.Generator,
) -> Interval:
    """The parameter value of the best model (RegNet sec. 3.1, Fig. 2's shaded ranges): in
    each resample of `fraction` of the pairs (with replacement) take x of the minimum-error
    pair; the median is the most likely best value, the percentiles its `ci` interval."""
    xs, es = _pair(x, errors)
    half = (1.0 - _check_ci(ci)) / 2.0
    idx = _resample(xs.size, n_resamples, fraction, seed)
    best_x = xs[idx[np.arange(idx.shape[0]), np.argmin(es[idx], axis=1)]]
    low, med, high = np.percentile(best_x, [100 * half, 50, 100 - 100 * half])
    return Interval(float(med), float(low), float(high))


def ks_test(
    errors_a: ArrayLike,
    errors_b: ArrayLike,
    weights_a: ArrayLike | None = None,
    weights_b: ArrayLike | None = None,
) -> KSResult:
    """Two-sample KS test between error distributions (NDS: D = sup_e |F_a - F_b|).

    Unweighted: `scipy.stats.ks_2samp` (exact p-value for small samples). With weights
    (normalized EDFs) D is taken between the weighted EDFs, and the p-value is the asymptotic
    Kolmogorov distribution at D * sqrt(n_a n_b / (n_a + n_b)) with Kish's effective sizes
    n = (sum w)^2 / sum w^2, which shrink as the weights grow uneven."""
    a, b = _vector("errors_a", errors_a), _vector("errors_b", errors_b)
    if weights_a is None and weights_b is None:
        res = stats.ks_2samp(a, b)
        return KSResult(float(res.statistic), float(res.pvalue), a.size, b.size, False)
    wa, wb = _weights(weights_a, a.size), _weights(weights_b, b.size)
    grid = np.union1d(a, b)
    d = float(np.max(np.abs(edf(a, wa, grid)[1] - edf(b, wb, grid)[1])))
    na, nb = 1.0 / np.sum(wa**2), 1.0 / np.sum(wb**2)
    p = float(stats.kstwobign.sf(d * np.sqrt(na * nb / (na + nb))))
    return KSResult(d, min(1.0, p), a.size, b.size, True)


def _mean_log_ratio(pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(np.log(pred / w)), axis=-1)


def linear_width_fit(block_widths: ArrayLike) -> LinearWidthFit:
    """Fit u_j = w0 + wa * j (RegNet eq. 2, block index j from 0) to a model's per-block
    widths, minimizing the mean log-ratio |log(u_j / w_j)| (sec. 3.3's e_fit without the
    quantization): least squares start, then Nelder-Mead on the log-ratio loss."""
    w = _vector("block_widths", block_widths, positive=True)
    if w.size == 1:
        return LinearWidthFit(float(w[0]), 0.0, 0.0)
    j = np.arange(w.size)

    def loss(p: np.ndarray) -> float:
        u = p[0] + p[1] * j
        return float(_mean_log_ratio(u, w)) if np.all(u > 0) else np.inf

    wa0, w00 = np.polyfit(j, w, 1)
    start = np.array([w00, wa0])
    if not np.isfinite(loss(start)):  # the least-squares line dips below zero
        start = np.array([float(np.exp(np.log(w).mean())), 0.0])
    res = optimize.minimize(loss, start, method="Nelder-Mead", options={"xatol": 1e-8})
    best = res.x if res.fun < loss(start) else start
    return LinearWidthFit(float(best[0]), float(best[1]), loss(best))


def _width_grid(w: np.ndarray, w0s, was, wms, quantum: int) -> QuantizedWidthFit:
    """Best point of a (w0, wa, wm) grid for RegNet eqs. 2-4 against widths `w`."""
    w0g, wag, wmg = (g[..., None] for g in np.meshgrid(w0s, was, wms, indexing="ij"))
    s = np.round(np.log((w0g + wag * np.arange(w.size)) / w0g) / np.log(wmg))  # eq. 3
    pred = np.maximum(np.round(w0g * wmg**s / quantum) * quantum, quantum)  # eq. 4, (A,B,C,d)
    err = _mean_log_ratio(pred, w)
    i = np.unravel_index(np.argmin(err), err.shape)
    return QuantizedWidthFit(
        w0=float(w0s[i[0]]),
        wa=float(was[i[1]]),
        wm=float(wms[i[2]]),
        e_fit=float(err[i]),
        widths=tuple(int(v) for v in pred[i]),
    )


def quantized_width_fit(
    block_widths: ArrayLike, *, quantum: int = 8, wm_range: tuple[float, float] = (1.5, 3.0)
) -> QuantizedWidthFit:
    """RegNet's fit (sec. 3.3): grid search over w0, wa, wm minimizing the mean log-ratio
    e_fit of predicted to observed per-block widths, where the prediction is eqs. 2-4:
    u_j = w0 + wa j, s_j = round(log(u_j / w0) / log(wm)), w_j = w0 wm^s_j rounded to a
    multiple of `quantum`. A coarse grid (w0: multiples of `quantum` within 2x of the first
    width; wa: 0 and 64 log-spaced values around the mean slope; wm: 31 values over
    `wm_range`), then a 10x finer grid around its best point."""
    w = _vector("block_widths", block_widths, positive=True)
    if quantum < 1 or not 1.0 < wm_range[0] <= wm_range[1]:
        raise AnalysisError(
            f"need quantum >= 1 and 1 < wm_range[0] <= wm_range[1], got "
            f"quantum={quantum}, wm_range={wm_range}"
        )
    lo, hi = max(1, int(np.ceil(w[0] / 2 / quantum))), max(1, int(2 * w[0] // quantum))
    w0s = quantum * np.unique(np.linspace(lo, hi, min(hi - lo + 1, 24)).round())
    slope = max((w.max() - w0s.min()) / max(w.size - 1, 1), 1.0)
    was = np.concatenate([[0.0], np.geomspace(slope / 8, slope * 8, 64)])
    wm_step = (wm_range[1] - wm_range[0]) / 30
    coarse = _width_grid(w, w0s, was, np.linspace(*wm_range, 31), quantum)
    w0s = np.maximum(coarse.w0 + quantum * np.arange(-1, 2), quantum)
    was = [0.0]
    if coarse.wa > 0:
        was = np.concatenate([[0.0], np.geomspace(coarse.wa / 1.1, coarse.wa * 1.1, 41)])
    wms = np.linspace(coarse.wm - wm_step, coarse.wm + wm_step, 21).clip(*wm_range)
    fine = _width_grid(w, w0s, np.asarray(was), wms, quantum)
    return fine if fine.e_fit < coarse.e_fit else coarse


def random_search_efficiency(
    errors: ArrayLike, sizes: ArrayLike, weights: ArrayLike | None = None, ci: float = 0.95
) -> RandomSearchCurve:
    """Expected best error of m models drawn at random from a design space (NDS's
    random-search efficiency, RegNet appendix): the plug-in estimate draws m times, with
    replacement, from the (optionally weighted) error EDF, so with sorted errors and S_i =
    weight of models ranked i or worse, P(best = e_(i)) = S_i^m - S_(i+1)^m, exactly."""
    e = _vector("errors", errors)
    w = _weights(weights, e.size)
    m = _vector("sizes", sizes)
    if np.any(m < 1) or np.any(m != np.round(m)):
        raise AnalysisError("sizes must be whole numbers of models >= 1")
    half = (1.0 - _check_ci(ci)) / 2.0
    order = np.argsort(e, kind="stable")
    e_sorted = e[order]
    surv = np.clip(np.cumsum(w[order][::-1])[::-1], 0.0, 1.0)  # S_i
    surv_next = np.append(surv[1:], 0.0)
    prob = surv[None, :] ** m[:, None] - surv_next[None, :] ** m[:, None]  # (len(m), n)
    cdf = np.cumsum(prob, axis=1)
    last = e.size - 1
    low = e_sorted[np.minimum(np.argmax(cdf >= half - 1e-12, axis=1), last)]
    high = e_sorted[np.minimum(np.argmax(cdf >= 1 - half - 1e-12, axis=1), last)]
    return RandomSearchCurve(m, prob @ e_sorted, low, high)


def power_law_fit(x: ArrayLike, errors: ArrayLike) -> PowerLawFit:
    """Fit error = a * x^b by least squares on log(error) = log(a) + b log(x). Chosen over
    a saturating a x^b + c because scaling sweeps have 3-6 points, too few to pin down three
    parameters. Each doubling of x multiplies the error by 2^b (b < 0: error falls)."""
    xs, es = _pair(x, errors, positive_x=True)
    if np.any(es <= 0):
        raise AnalysisError("errors must be positive for a power-law fit")
    if np.unique(xs).size < 2:
        raise AnalysisError("a power-law fit needs at least two distinct x values")
    lx, le = np.log(xs), np.log(es)
    b, log_a = np.polyfit(lx, le, 1)
    resid = le - (log_a + b * lx)
    total = float(np.sum((le - le.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 1.0
    return PowerLawFit(float(np.exp(log_a)), float(b), r2, int(xs.size))


def multiplier_levels(multipliers: ArrayLike, tolerance: float = 0.15) -> np.ndarray:
    """Nominal level of each measured FLOPs multiplier: rules matched to a FLOPs target land
    within a few % of it (never exactly), so sorted values closer than `tolerance` (relative)
    to the first of a run share one level, the geometric mean of the run."""
    m = _vector("multipliers", multipliers, positive=True)
    order = np.argsort(m)
    levels = np.empty_like(m)
    start = 0
    for k in range(1, m.size + 1):
        if k == m.size or m[order[k]] > m[order[start]] * (1 + tolerance):
            run = order[start:k]
            levels[run] = np.exp(np.log(m[run]).mean())
            start = k
    return levels


def pareto_front(cost: ArrayLike, errors: ArrayLike) -> np.ndarray:
    """Indices of the models no other model beats on both cost and error, by rising cost."""
    c, e = _pair(cost, errors)
    order = np.lexsort((e, c))
    keep, best = [], np.inf
    for i in order:
        if e[i] < best:
            keep.append(i)
            best = e[i]
    return np.asarray(keep, dtype=int)
