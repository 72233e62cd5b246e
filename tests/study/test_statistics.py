"""Known-answer tests of the study's array statistics (EDFs, the percentile bootstrap, KS,
random search, power laws, multiplier levels, Pareto front) and their torch-free import."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from netscale.study import statistics as st


def test_edf_known_answers():
    x, f = st.edf([3, 1, 2])
    np.testing.assert_allclose(x, [1, 2, 3])
    np.testing.assert_allclose(f, [1 / 3, 2 / 3, 1])
    _, f = st.edf([1, 2, 3], grid=[0, 1, 1.5, 2.5, 3, 9])
    np.testing.assert_allclose(f, [0, 1 / 3, 1 / 3, 2 / 3, 1, 1])
    x, f = st.edf([1, 2, 2, 3])  # ties: one step of 2/4
    np.testing.assert_allclose(x, [1, 2, 3])
    np.testing.assert_allclose(f, [0.25, 0.75, 1])
    _, f = st.edf([1, 2, 3], weights=[2, 1, 1])  # weights are rescaled to sum 1
    np.testing.assert_allclose(f, [0.5, 0.75, 1])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: st.edf([]), "errors has 0 values; need at least 1"),
        (lambda: st.edf([1, np.nan]), "errors holds NaN or infinite values"),
        (lambda: st.edf([1, 2], weights=[1]), "weights must be 2 non-negative numbers"),
        (lambda: st.edf([[1, 2]]), "must be a one-dimensional sequence"),
        (lambda: st.normalized_weights([1, 2], 0), "num_bins=0 must be an integer >= 1"),
        (lambda: st.normalized_weights([0, 2], 2), "complexity must be positive"),
        (lambda: st.bootstrap_best([1, 2], [1], 2, seed=0), "x has 2 values but errors has 1"),
        (lambda: st.bootstrap_best([1, 2], [1, 2], [2, 1], seed=0), "strictly increasing"),
        (lambda: st.bootstrap_best([1], [1], 1, ci=95, seed=0), "ci=95 must lie strictly"),
        (lambda: st.power_law_fit([2, 2], [1, 2]), "at least two distinct x values"),
        (lambda: st.random_search_efficiency([1, 2], [0.5]), "sizes must be whole numbers"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_normalized_weights_equal_mass_per_bin():
    rng = np.random.default_rng(0)
    flops = np.concatenate([rng.uniform(1e6, 2e6, 30), rng.uniform(5e6, 8e6, 5)])
    w = st.normalized_weights(flops, 3, bounds=(1e6, 8e6))
    assert w.sum() == pytest.approx(1.0)
    assert st.normalized_weights(flops, 3).sum() == pytest.approx(1.0)
    # log-spaced bins over [1e6, 8e6]: edges at 1, 2, 4, 8 M; the middle bin is empty
    low, high = flops < 2e6, flops >= 4e6
    assert w[low].sum() == pytest.approx(0.5) and w[high].sum() == pytest.approx(0.5)
    np.testing.assert_allclose(w[low], 1 / 60)
    np.testing.assert_allclose(w[high], 1 / 10)
    shared = st.normalized_weights([1.0, 1.0, 3.0], 2, log=False, bounds=(0.0, 4.0))
    np.testing.assert_allclose(shared, [0.25, 0.25, 0.5])
    np.testing.assert_allclose(st.normalized_weights([5.0, 5.0], 4), [0.5, 0.5])


def _trend_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 5, n).astype(float)
    return x, 10 + 2 * x + rng.exponential(1.0, n)  # best error rises by 2 per unit of x


def test_bootstrap_best_band_contains_the_min_and_is_deterministic():
    x, e = _trend_data()
    band = st.bootstrap_best(x, e, [0.5, 1.5, 2.5, 3.5, 4.5], n_resamples=2000, seed=1)
    mins = np.array([e[x == k].min() for k in (1, 2, 3, 4)])
    np.testing.assert_array_equal(band.count, [np.sum(x == k) for k in (1, 2, 3, 4)])
    assert np.all(band.low <= mins + 1e-12) and np.all(mins <= band.high)
    assert np.all(np.diff(band.median) > 1.0)  # the planted trend of +2 per bin
    np.testing.assert_allclose(band.centers, [1, 2, 3, 4])
    again = st.bootstrap_best(x, e, [0.5, 1.5, 2.5, 3.5, 4.5], n_resamples=2000, seed=1)
    np.testing.assert_array_equal(band.median, again.median)
    np.testing.assert_array_equal(band.high, again.high)
    other = st.bootstrap_best(x, e, [0.5, 1.5, 2.5, 3.5, 4.5], n_resamples=2000, seed=2)
    assert not np.array_equal(band.high, other.high)
    gen = st.bootstrap_best(x, e, 4, n_resamples=50, seed=np.random.default_rng(3))
    assert gen.edges.size == 5 and np.isfinite(gen.median).all()


def test_bootstrap_empty_bins_are_nan_and_fraction_one_single_bin_is_exact():
    band = st.bootstrap_best([1.0, 1.0, 9.0], [3.0, 4.0, 5.0], [0, 2, 4, 6, 10], seed=0)
    assert np.isnan(band.median[1]) and np.isnan(band.median[2])
    assert band.count.tolist() == [2, 0, 0, 1]
    # one bin, whole-sample resamples: the best error is the sample minimum unless the
    # resample misses it, which happens with probability (1 - 1/n)^n ~ 0.35 for n = 4
    exact = st.bootstrap_best([1, 2, 3, 4], [5, 6, 7, 8], 1, fraction=1.0, seed=0)
    assert exact.median[0] == 5.0 and exact.low[0] == 5.0


def test_bootstrap_best_value_finds_the_planted_optimum():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 7, 300).astype(float)
    e = 10 + (x - 3) ** 2 + rng.uniform(0, 0.5, 300)
    best = st.bootstrap_best_value(x, e, n_resamples=2000, seed=0)
    assert best.median == 3.0 and best.low == 3.0 and best.high == 3.0
    wide = st.bootstrap_best_value(x, 10 + rng.uniform(0, 1, 300), n_resamples=2000, seed=0)
    assert wide.low < 2 and wide.high > 4  # no planted optimum: the interval says so


def test_bootstrap_interval_known_answers_and_seeding():
    values = np.array([1.0, 2.0, 3.0, 4.0])

    def mean(idx):  # (R, k) -> (R,)
        return values[idx].mean(axis=1)

    one = st.bootstrap_interval(mean, [4], n_resamples=4000, seed=0)
    assert one.low < 2.5 < one.high and one.median == pytest.approx(2.5, abs=0.13)
    # by hand: the same draws from the same seeded generator, the same percentiles
    idx = np.random.default_rng(0).integers(0, 4, size=(4000, 4))
    low, med, high = np.percentile(values[idx].mean(axis=1), [2.5, 50, 97.5])
    assert (one.low, one.median, one.high) == (low, med, high)
    again = st.bootstrap_interval(mean, [4], n_resamples=4000, seed=np.random.default_rng(0))
    assert (again.low, again.high) == (one.low, one.high)
    narrow = st.bootstrap_interval(mean, [4], n_resamples=4000, ci=0.5, seed=0)
    assert one.low < narrow.low < narrow.high < one.high
    # a constant sample: a point interval; a fraction resamples round(fraction * n) indices
    sizes = []
    const = st.bootstrap_interval(lambda i: sizes.append(i.shape) or np.ones(i.shape[0]), [10],
                                  n_resamples=7, fraction=0.25, seed=0)  # fmt: skip
    assert (const.low, const.median, const.high) == (1.0, 1.0, 1.0) and sizes == [(7, 2)]


def test_bootstrap_interval_columns_and_two_samples():
    def columns(idx):  # column 1 never has a value: NaN, not an error
        return np.stack([idx.mean(axis=1), np.full(idx.shape[0], np.nan)], axis=1)

    band = st.bootstrap_interval(columns, [5], n_resamples=100, seed=0)
    assert band.median.shape == (2,) and np.isfinite(band.median[0]) and np.isnan(band.low[1])
    diff = st.bootstrap_mean_difference([10.0, 10.2, 9.9], [12.0, 12.1, 11.8], seed=0)
    assert diff.high < 0 and diff.low < -2.0 < diff.high
    rng = np.random.default_rng(5)  # a's draws first, then b's, from one generator
    ia, ib = rng.integers(0, 3, (10_000, 3)), rng.integers(0, 3, (10_000, 3))
    a, b = np.array([10.0, 10.2, 9.9]), np.array([12.0, 12.1, 11.8])
    expected = np.percentile(a[ia].mean(1) - b[ib].mean(1), [2.5, 97.5])
    got = st.bootstrap_mean_difference(a, b, seed=5)
    assert (got.low, got.high) == tuple(expected)
    with pytest.raises(ValueError, match="n_resamples=0 must be >= 1"):
        st.bootstrap_interval(lambda i: i.mean(axis=1), [3], n_resamples=0, seed=0)
    with pytest.raises(ValueError, match=r"ci=1\.5 must lie strictly"):
        st.bootstrap_mean_difference([1, 2], [3, 4], ci=1.5, seed=0)


def test_ks_statistic_and_exact_p_by_enumeration():
    a, b = [1.0, 2.0, 3.0], [2.5, 3.5, 4.5]
    res = st.ks_test(a, b)
    assert res.statistic == pytest.approx(2 / 3) and not res.weighted
    # exact p-value: over all 20 ways to split the 6 values into two groups of 3, the
    # fraction whose D is at least the observed one
    pooled = np.array(a + b)
    grid = np.sort(pooled)
    count = 0
    for idx in itertools.combinations(range(6), 3):
        rest = [i for i in range(6) if i not in idx]
        fa, fb = st.edf(pooled[list(idx)], grid=grid)[1], st.edf(pooled[rest], grid=grid)[1]
        count += np.max(np.abs(fa - fb)) >= 2 / 3 - 1e-12
    assert res.pvalue == pytest.approx(count / 20)


def test_weighted_ks_statistic():
    res = st.ks_test([1.0, 2.0], [1.5], [3, 1], [1])
    assert res.statistic == pytest.approx(0.75) and res.weighted
    equal = st.ks_test([1.0, 2.0, 3.0], [2.5, 3.5, 4.5], [1, 1, 1], [2, 2, 2])
    assert equal.statistic == pytest.approx(2 / 3)
    assert 0 < equal.pvalue <= 1
    far = st.ks_test(np.arange(50.0), np.arange(50.0) + 100, np.ones(50), np.ones(50))
    assert far.statistic == 1.0 and far.pvalue < 1e-6


def test_random_search_efficiency_known_answer():
    curve = st.random_search_efficiency([3.0, 1.0, 2.0], [1, 2, 1000])
    # m = 2 draws with replacement: P(best=1) = 1 - (2/3)^2, P(best=2) = (2/3)^2 - (1/3)^2
    np.testing.assert_allclose(curve.mean, [2.0, 14 / 9, 1.0])
    np.testing.assert_allclose(curve.low, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(curve.high, [3.0, 3.0, 1.0])
    weighted = st.random_search_efficiency([1.0, 2.0], [1], weights=[1, 3])
    assert weighted.mean[0] == pytest.approx(1.75)


def test_random_search_efficiency_matches_simulation():
    rng = np.random.default_rng(0)
    errors = rng.normal(20, 2, 40)
    curve = st.random_search_efficiency(errors, [4])
    draws = errors[rng.integers(0, 40, (20000, 4))].min(axis=1)
    assert curve.mean[0] == pytest.approx(draws.mean(), abs=0.05)


def test_power_law_fit_recovers_planted_parameters():
    x = np.array([1e6, 2e6, 4e6, 8e6, 16e6])
    fit = st.power_law_fit(x, 300 * x**-0.25)
    assert fit.a == pytest.approx(300, rel=1e-9) and fit.b == pytest.approx(-0.25, abs=1e-12)
    assert fit.r2 == pytest.approx(1.0) and fit.n == 5
    np.testing.assert_allclose(fit.predict([32e6]), 300 * 32e6**-0.25)
    noisy = st.power_law_fit(x, 300 * x**-0.25 * np.exp([0.01, -0.01, 0.0, 0.01, -0.01]))
    assert noisy.b == pytest.approx(-0.25, abs=0.01) and noisy.r2 < 1


def test_pareto_front():
    idx = st.pareto_front([4, 1, 2, 3, 2], [1.0, 5.0, 6.0, 2.0, 3.0])
    assert idx.tolist() == [1, 4, 3, 0]


def test_multiplier_levels_group_measured_multipliers():
    levels = st.multiplier_levels([1.0, 2.04, 1.97, 4.1, 3.9, 1.0])
    np.testing.assert_allclose(
        levels, [1, *[np.sqrt(2.04 * 1.97)] * 2, *[np.sqrt(4.1 * 3.9)] * 2, 1]
    )
    assert len(set(st.multiplier_levels([1.0, 1.1, 1.3]).tolist())) == 2  # 1.3 > 1.0 * 1.15


def test_statistics_does_not_import_torch_and_scipy_only_for_ks():
    code = (
        "import sys, numpy as np\n"
        "from netscale.study import statistics as st\n"
        "st.bootstrap_best(np.arange(8.0), np.arange(8.0), 2, n_resamples=10, seed=0)\n"
        "assert 'scipy' not in sys.modules, 'scipy imported before a KS test'\n"
        "st.ks_test([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])\n"
        "assert 'torch' not in sys.modules, 'statistics imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# Rank agreement -------------------------------------------------------------------------


def test_rank_agreement_is_scipys_spearman_with_a_paired_bootstrap():
    from scipy import stats

    rng = np.random.default_rng(3)
    a = rng.normal(size=20)
    b = a + rng.normal(scale=0.7, size=20)
    b[:4] = b[4]  # ties
    r = st.rank_agreement(a, b, n_resamples=50, seed=1)
    assert r.n == 20
    assert r.rho == pytest.approx(stats.spearmanr(a, b).statistic)
    assert r.pvalue == pytest.approx(stats.spearmanr(a, b).pvalue)
    # the bootstrap resamples models in pairs: replay its draws and rank each one with scipy
    idx = np.random.default_rng(1).integers(0, 20, size=(50, 20))
    rhos = [stats.spearmanr(a[i], b[i]).statistic for i in idx]
    assert r.interval.median == pytest.approx(np.percentile(rhos, 50))
    assert r.interval.low == pytest.approx(np.percentile(rhos, 2.5))
    assert r.interval.high == pytest.approx(np.percentile(rhos, 97.5))
    assert r.interval.low < r.rho < r.interval.high


def test_rank_agreement_of_same_and_reversed_orders():
    x = np.arange(10.0)
    same = st.rank_agreement(x, x**2, n_resamples=200, seed=0)
    assert same.rho == pytest.approx(1.0)
    assert same.interval.low == pytest.approx(1.0) and same.interval.high == pytest.approx(1.0)
    assert st.rank_agreement(x, -x, n_resamples=200, seed=0).rho == pytest.approx(-1.0)


def test_rank_agreement_interval_narrows_with_more_models():
    rng = np.random.default_rng(0)

    def width(n: int) -> float:
        a = rng.normal(size=n)
        r = st.rank_agreement(a, a + rng.normal(size=n), n_resamples=2000, seed=0)
        return r.interval.high - r.interval.low

    assert width(200) < width(12) / 2


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([1, 2, 3], [1, 2], "must pair up: 3 values against 2"),
        ([1, 2], [1, 2], "needs at least 3 pairs, got 2"),
        ([1, 2, 3], [5, 5, 5], "values that differ on both sides"),
        ([1, 2, np.nan], [1, 2, 3], "a holds NaN"),
    ],
)
def test_rank_agreement_rejects_what_it_cannot_rank(a, b, message):
    with pytest.raises(st.AnalysisError, match=message):
        st.rank_agreement(a, b, seed=0)
