"""The statistics of a study, over plain arrays: numpy (scipy for the KS test), no torch.

The tools of "On Network Design Spaces for Visual Recognition" (Radosavovic et al. 2019,
"NDS") and "Designing Network Design Spaces" (Radosavovic et al. 2020, "RegNet"): error
EDFs, complexity-normalized EDFs, the KS test, the percentile bootstrap (one function,
`bootstrap_interval`, that every interval of a study comes from) and random-search
efficiency; plus power-law scaling fits (ResNet-RS sec. 7, EfficientNet sec. 3), FLOPs
multiplier levels and Pareto fronts; and the rank agreement of one population trained at
two budgets (Spearman's rho with its bootstrap interval). RegNet's width fits are in
`netscale.study.width_fit`; functions over trials are in `netscale.study.findings` and in
each planner. Errors are top-1 error in percent; differences in points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


class AnalysisError(ValueError):
    """Input an analysis function cannot use (wrong shape, non-finite, too few values)."""


@dataclass(frozen=True, slots=True, eq=False)
class Interval:
    """A bootstrap estimate: the median and the `ci` percentile interval [low, high]
    (floats for a scalar statistic; arrays, NaN where there was no value, for a vector)."""

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


@dataclass(frozen=True, slots=True, eq=False)
class RandomSearchCurve:
    """Expected best error of m random draws, with the `ci` interval of that best error."""

    sizes: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class RankAgreement:
    """Spearman's rho between two paired samples (one model's error at two budgets), its
    p-value (scipy.stats.spearmanr, null: no association) and its bootstrap interval."""

    rho: float
    pvalue: float
    interval: Interval
    n: int


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


def as_vector(name: str, values: ArrayLike, *, min_len: int = 1, positive: bool = False):
    """`values` as a finite 1-D float array; AnalysisError naming `name` otherwise."""
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
    xs = as_vector("x", x, positive=positive_x)
    es = as_vector("errors", errors)
    if xs.size != es.size:
        raise AnalysisError(f"x has {xs.size} values but errors has {es.size}; need one each")
    return xs, es


def _weights(weights: ArrayLike | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = as_vector("weights", weights)
    if w.size != n or np.any(w < 0) or w.sum() <= 0:
        raise AnalysisError(f"weights must be {n} non-negative numbers with a positive sum")
    return w / w.sum()


def check_ci(ci: float) -> float:
    """`ci` if it is a coverage in (0, 1); AnalysisError otherwise."""
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
    e = as_vector("errors", errors)
    w = _weights(weights, e.size)
    order = np.argsort(e, kind="stable")
    e_sorted, cum = e[order], np.minimum(np.cumsum(w[order]), 1.0)
    x = np.unique(e_sorted) if grid is None else as_vector("grid", grid, min_len=0)
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
    c = as_vector("complexity", complexity, positive=log)
    lo, hi = (c.min(), c.max()) if bounds is None else bounds
    if not (lo <= hi and (lo > 0 or not log)):
        raise AnalysisError(f"bounds={bounds} must be (lo, hi) with lo <= hi (lo > 0 if log)")
    v, lo, hi = (np.log(c), np.log(lo), np.log(hi)) if log else (c, lo, hi)
    edges = np.linspace(lo, hi, num_bins + 1)
    which = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, num_bins - 1)
    counts = np.bincount(which, minlength=num_bins)
    return 1.0 / (np.count_nonzero(counts) * counts[which])


# The percentile bootstrap ---------------------------------------------------------------


def bootstrap_interval(
    statistic: Callable[..., np.ndarray],
    sizes: Sequence[int],
    *,
    n_resamples: int = 10_000,
    fraction: float = 1.0,
    ci: float = 0.95,
    seed: int | np.random.Generator,
) -> Interval:
    """The percentile bootstrap. From one `numpy.random.default_rng(seed)`, draw for each
    sample of `sizes` in turn `n_resamples` resamples of round(fraction * n) indices with
    replacement, shape (n_resamples, k); `statistic(*indices)` maps them to replicates,
    shape (n_resamples,) or (n_resamples, m), NaN for "no value in this resample". Returns
    the median and the `ci` percentile interval of the replicates (per column), ignoring
    NaNs; NaN where a column has no value at all."""
    half = (1.0 - check_ci(ci)) / 2.0
    if n_resamples < 1 or not 0.0 < fraction <= 1.0:
        raise AnalysisError(
            f"n_resamples={n_resamples} must be >= 1 and fraction={fraction} in (0, 1]"
        )
    rng = np.random.default_rng(seed)
    indices = [rng.integers(0, n, size=(n_resamples, max(1, round(fraction * n)))) for n in sizes]
    replicates = np.asarray(statistic(*indices), dtype=float)
    flat = replicates.reshape(n_resamples, -1)
    low, med, high = np.full((3, flat.shape[1]), np.nan)
    for j in range(flat.shape[1]):
        values = flat[:, j][~np.isnan(flat[:, j])]
        if values.size:
            low[j], med[j], high[j] = np.percentile(values, [100 * half, 50, 100 - 100 * half])
    if replicates.ndim == 1:
        return Interval(float(med[0]), float(low[0]), float(high[0]))
    return Interval(med, low, high)


def _edges(x: np.ndarray, bins: int | ArrayLike) -> np.ndarray:
    if isinstance(bins, int | np.integer) and not isinstance(bins, bool):
        if bins < 1:
            raise AnalysisError(f"bins={bins} must be >= 1 (a count) or a sequence of edges")
        lo, hi = float(x.min()), float(x.max())
        return np.linspace(lo, hi, int(bins) + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    edges = as_vector("bins", bins, min_len=2)
    if np.any(np.diff(edges) <= 0):
        raise AnalysisError("bins given as edges must be strictly increasing")
    return edges


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
    check_ci(ci)
    edges = _edges(xs, bins)
    nb = edges.size - 1
    inside = (xs >= edges[0]) & (xs <= edges[-1])
    xs, es = xs[inside], es[inside]
    which = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, nb - 1)
    count = np.bincount(which, minlength=nb)
    centers = (edges[:-1] + edges[1:]) / 2
    if not xs.size:
        empty = np.full(nb, np.nan)
        return BootstrapBand(edges, centers, count, empty, empty.copy(), empty.copy())

    def best_per_bin(idx: np.ndarray) -> np.ndarray:  # (R, k) -> (R, num_bins)
        e_s, b_s = es[idx], which[idx]
        out = np.full((idx.shape[0], nb), np.nan)
        for b in np.flatnonzero(count):
            best = np.where(b_s == b, e_s, np.inf).min(axis=1)
            out[:, b] = np.where(np.isfinite(best), best, np.nan)
        return out

    band = bootstrap_interval(
        best_per_bin, [xs.size], n_resamples=n_resamples, fraction=fraction, ci=ci, seed=seed
    )
    return BootstrapBand(edges, centers, count, band.median, band.low, band.high)


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

    def best_x(idx: np.ndarray) -> np.ndarray:  # (R, k) -> (R,)
        return xs[idx[np.arange(idx.shape[0]), np.argmin(es[idx], axis=1)]]

    return bootstrap_interval(
        best_x, [xs.size], n_resamples=n_resamples, fraction=fraction, ci=ci, seed=seed
    )


def bootstrap_mean_difference(
    a: ArrayLike, b: ArrayLike, *, n_resamples: int = 10_000, ci: float = 0.95, seed
) -> Interval:
    """mean(a) - mean(b) with its percentile bootstrap interval: each sample resampled
    whole, with replacement and independently (a's draws first), `n_resamples` times."""
    va, vb = as_vector("a", a), as_vector("b", b)

    def difference(ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        return va[ia].mean(axis=1) - vb[ib].mean(axis=1)

    return bootstrap_interval(
        difference, [va.size, vb.size], n_resamples=n_resamples, ci=ci, seed=seed
    )


def rank_agreement(
    a: ArrayLike, b: ArrayLike, *, n_resamples: int = 10_000, ci: float = 0.95, seed
) -> RankAgreement:
    """Spearman's rho of the pairs (a[i], b[i]), with the percentile bootstrap interval of
    rho over the pairs resampled with replacement (a model keeps both of its values). A
    resample whose values are all tied on one side has no rho and is left out."""
    from scipy import stats

    va, vb = as_vector("a", a), as_vector("b", b)
    if va.size != vb.size:
        raise AnalysisError(f"a and b must pair up: {va.size} values against {vb.size}")
    if va.size < 3:
        raise AnalysisError(f"rank agreement needs at least 3 pairs, got {va.size}")
    if np.ptp(va) == 0 or np.ptp(vb) == 0:
        raise AnalysisError("rank agreement needs values that differ on both sides")
    res = stats.spearmanr(va, vb)

    def rho(idx: np.ndarray) -> np.ndarray:  # (R, n) -> (R,)
        # average ranks per resample (ties share their mean rank)
        ra, rb = stats.rankdata(va[idx], axis=1), stats.rankdata(vb[idx], axis=1)
        ra -= ra.mean(axis=1, keepdims=True)
        rb -= rb.mean(axis=1, keepdims=True)
        den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, (ra * rb).sum(axis=1) / den, np.nan)

    interval = bootstrap_interval(rho, [va.size], n_resamples=n_resamples, ci=ci, seed=seed)
    return RankAgreement(float(res.statistic), float(res.pvalue), interval, va.size)


# Tests, search efficiency and fits ------------------------------------------------------


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
    from scipy import stats  # here: scipy.stats takes a second to import

    a, b = as_vector("errors_a", errors_a), as_vector("errors_b", errors_b)
    if weights_a is None and weights_b is None:
        res = stats.ks_2samp(a, b)
        return KSResult(float(res.statistic), float(res.pvalue), a.size, b.size, False)
    wa, wb = _weights(weights_a, a.size), _weights(weights_b, b.size)
    grid = np.union1d(a, b)
    d = float(np.max(np.abs(edf(a, wa, grid)[1] - edf(b, wb, grid)[1])))
    na, nb = 1.0 / np.sum(wa**2), 1.0 / np.sum(wb**2)
    p = float(stats.kstwobign.sf(d * np.sqrt(na * nb / (na + nb))))
    return KSResult(d, min(1.0, p), a.size, b.size, True)


def random_search_efficiency(
    errors: ArrayLike, sizes: ArrayLike, weights: ArrayLike | None = None, ci: float = 0.95
) -> RandomSearchCurve:
    """Expected best error of m models drawn at random from a design space (NDS's
    random-search efficiency, RegNet appendix): the plug-in estimate draws m times, with
    replacement, from the (optionally weighted) error EDF, so with sorted errors and S_i =
    weight of models ranked i or worse, P(best = e_(i)) = S_i^m - S_(i+1)^m, exactly."""
    e = as_vector("errors", errors)
    w = _weights(weights, e.size)
    m = as_vector("sizes", sizes)
    if np.any(m < 1) or np.any(m != np.round(m)):
        raise AnalysisError("sizes must be whole numbers of models >= 1")
    half = (1.0 - check_ci(ci)) / 2.0
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
    m = as_vector("multipliers", multipliers, positive=True)
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
