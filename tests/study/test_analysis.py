"""Known-answer tests of the study's array statistics (EDFs, bootstrap, KS, width fits,
random search, power laws, multiplier levels, Pareto front) and their torch-free import."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from netscale.families.regnet import REGNET_X, REGNET_Y, regnet_widths
from netscale.study import analysis as an


def test_edf_known_answers():
    x, f = an.edf([3, 1, 2])
    np.testing.assert_allclose(x, [1, 2, 3])
    np.testing.assert_allclose(f, [1 / 3, 2 / 3, 1])
    _, f = an.edf([1, 2, 3], grid=[0, 1, 1.5, 2.5, 3, 9])
    np.testing.assert_allclose(f, [0, 1 / 3, 1 / 3, 2 / 3, 1, 1])
    x, f = an.edf([1, 2, 2, 3])  # ties: one step of 2/4
    np.testing.assert_allclose(x, [1, 2, 3])
    np.testing.assert_allclose(f, [0.25, 0.75, 1])
    _, f = an.edf([1, 2, 3], weights=[2, 1, 1])  # weights are rescaled to sum 1
    np.testing.assert_allclose(f, [0.5, 0.75, 1])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: an.edf([]), "errors has 0 values; need at least 1"),
        (lambda: an.edf([1, np.nan]), "errors holds NaN or infinite values"),
        (lambda: an.edf([1, 2], weights=[1]), "weights must be 2 non-negative numbers"),
        (lambda: an.edf([[1, 2]]), "must be a one-dimensional sequence"),
        (lambda: an.normalized_weights([1, 2], 0), "num_bins=0 must be an integer >= 1"),
        (lambda: an.normalized_weights([0, 2], 2), "complexity must be positive"),
        (lambda: an.bootstrap_best([1, 2], [1], 2, seed=0), "x has 2 values but errors has 1"),
        (lambda: an.bootstrap_best([1, 2], [1, 2], [2, 1], seed=0), "strictly increasing"),
        (lambda: an.bootstrap_best([1], [1], 1, ci=95, seed=0), "ci=95 must lie strictly"),
        (lambda: an.power_law_fit([2, 2], [1, 2]), "at least two distinct x values"),
        (lambda: an.random_search_efficiency([1, 2], [0.5]), "sizes must be whole numbers"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_normalized_weights_equal_mass_per_bin():
    rng = np.random.default_rng(0)
    flops = np.concatenate([rng.uniform(1e6, 2e6, 30), rng.uniform(5e6, 8e6, 5)])
    w = an.normalized_weights(flops, 3, bounds=(1e6, 8e6))
    assert w.sum() == pytest.approx(1.0)
    assert an.normalized_weights(flops, 3).sum() == pytest.approx(1.0)
    # log-spaced bins over [1e6, 8e6]: edges at 1, 2, 4, 8 M; the middle bin is empty
    low, high = flops < 2e6, flops >= 4e6
    assert w[low].sum() == pytest.approx(0.5) and w[high].sum() == pytest.approx(0.5)
    np.testing.assert_allclose(w[low], 1 / 60)
    np.testing.assert_allclose(w[high], 1 / 10)
    shared = an.normalized_weights([1.0, 1.0, 3.0], 2, log=False, bounds=(0.0, 4.0))
    np.testing.assert_allclose(shared, [0.25, 0.25, 0.5])
    np.testing.assert_allclose(an.normalized_weights([5.0, 5.0], 4), [0.5, 0.5])


def _trend_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 5, n).astype(float)
    return x, 10 + 2 * x + rng.exponential(1.0, n)  # best error rises by 2 per unit of x


def test_bootstrap_best_band_contains_the_min_and_is_deterministic():
    x, e = _trend_data()
    band = an.bootstrap_best(x, e, [0.5, 1.5, 2.5, 3.5, 4.5], n_resamples=2000, seed=1)
    mins = np.array([e[x == k].min() for k in (1, 2, 3, 4)])
    np.testing.assert_array_equal(band.count, [np.sum(x == k) for k in (1, 2, 3, 4)])
    assert np.all(band.low <= mins + 1e-12) and np.all(mins <= band.high)
    assert np.all(np.diff(band.median) > 1.0)  # the planted trend of +2 per bin
    np.testing.assert_allclose(band.centers, [1, 2, 3, 4])
    again = an.bootstrap_best(x, e, [0.5, 1.5, 2.5, 3.5, 4.5], n_resamples=2000, seed=1)
    np.testing.assert_array_equal(band.median, again.median)
    np.testing.assert_array_equal(band.high, again.high)
    other = an.bootstrap_best(x, e, [0.5, 1.5, 2.5, 3.5, 4.5], n_resamples=2000, seed=2)
    assert not np.array_equal(band.high, other.high)
    gen = an.bootstrap_best(x, e, 4, n_resamples=50, seed=np.random.default_rng(3))
    assert gen.edges.size == 5 and np.isfinite(gen.median).all()


def test_bootstrap_empty_bins_are_nan_and_fraction_one_single_bin_is_exact():
    band = an.bootstrap_best([1.0, 1.0, 9.0], [3.0, 4.0, 5.0], [0, 2, 4, 6, 10], seed=0)
    assert np.isnan(band.median[1]) and np.isnan(band.median[2])
    assert band.count.tolist() == [2, 0, 0, 1]
    # one bin, whole-sample resamples: the best error is the sample minimum unless the
    # resample misses it, which happens with probability (1 - 1/n)^n ~ 0.35 for n = 4
    exact = an.bootstrap_best([1, 2, 3, 4], [5, 6, 7, 8], 1, fraction=1.0, seed=0)
    assert exact.median[0] == 5.0 and exact.low[0] == 5.0


def test_bootstrap_best_value_finds_the_planted_optimum():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 7, 300).astype(float)
    e = 10 + (x - 3) ** 2 + rng.uniform(0, 0.5, 300)
    best = an.bootstrap_best_value(x, e, n_resamples=2000, seed=0)
    assert best.median == 3.0 and best.low == 3.0 and best.high == 3.0
    wide = an.bootstrap_best_value(x, 10 + rng.uniform(0, 1, 300), n_resamples=2000, seed=0)
    assert wide.low < 2 and wide.high > 4  # no planted optimum: the interval says so


def test_ks_statistic_and_exact_p_by_enumeration():
    a, b = [1.0, 2.0, 3.0], [2.5, 3.5, 4.5]
    res = an.ks_test(a, b)
    assert res.statistic == pytest.approx(2 / 3) and not res.weighted
    # exact p-value: over all 20 ways to split the 6 values into two groups of 3, the
    # fraction whose D is at least the observed one
    pooled = np.array(a + b)
    grid = np.sort(pooled)
    count = 0
    for idx in itertools.combinations(range(6), 3):
        rest = [i for i in range(6) if i not in idx]
        fa, fb = an.edf(pooled[list(idx)], grid=grid)[1], an.edf(pooled[rest], grid=grid)[1]
        count += np.max(np.abs(fa - fb)) >= 2 / 3 - 1e-12
    assert res.pvalue == pytest.approx(count / 20)


def test_weighted_ks_statistic():
    res = an.ks_test([1.0, 2.0], [1.5], [3, 1], [1])
    assert res.statistic == pytest.approx(0.75) and res.weighted
    equal = an.ks_test([1.0, 2.0, 3.0], [2.5, 3.5, 4.5], [1, 1, 1], [2, 2, 2])
    assert equal.statistic == pytest.approx(2 / 3)
    assert 0 < equal.pvalue <= 1
    far = an.ks_test(np.arange(50.0), np.arange(50.0) + 100, np.ones(50), np.ones(50))
    assert far.statistic == 1.0 and far.pvalue < 1e-6


def test_linear_width_fit_recovers_a_line():
    fit = an.linear_width_fit([16 + 8 * j for j in range(12)])
    assert fit.w0 == pytest.approx(16, abs=1e-4) and fit.wa == pytest.approx(8, abs=1e-5)
    assert fit.e_fit < 1e-6
    assert an.linear_width_fit([24]).e_fit == 0.0
    zigzag = an.linear_width_fit([16, 128] * 5)
    assert zigzag.e_fit > 0.5


@pytest.mark.parametrize("name", ["x_200mf", "x_800mf", "x_8gf", "y_600mf", "y_16gf"])
def test_quantized_width_fit_fits_published_regnets(name):
    table = REGNET_X if name[0] == "x" else REGNET_Y
    depth, w0, wa, wm, *_ = table[name[2:]]
    widths, depths = regnet_widths(depth, w0, wa, wm)
    blocks = [w for w, d in zip(widths, depths, strict=True) for _ in range(d)]
    fit = an.quantized_width_fit(blocks)
    assert fit.e_fit == 0.0 and list(fit.widths) == blocks
    assert 1.5 <= fit.wm <= 3.0 and fit.w0 % 8 == 0


def test_quantized_width_fit_error_of_irregular_widths():
    assert an.quantized_width_fit([64, 16, 64, 16, 64, 16]).e_fit > 0.5
    widths, depths = regnet_widths(10, 48, 30.0, 2.1, quantum=1)  # off the 8-px quantum
    blocks = [w for w, d in zip(widths, depths, strict=True) for _ in range(d)]
    assert an.quantized_width_fit(blocks, quantum=1).e_fit < 0.01
    assert an.quantized_width_fit(blocks, quantum=8).e_fit > 0.01


def test_random_search_efficiency_known_answer():
    curve = an.random_search_efficiency([3.0, 1.0, 2.0], [1, 2, 1000])
    # m = 2 draws with replacement: P(best=1) = 1 - (2/3)^2, P(best=2) = (2/3)^2 - (1/3)^2
    np.testing.assert_allclose(curve.mean, [2.0, 14 / 9, 1.0])
    np.testing.assert_allclose(curve.low, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(curve.high, [3.0, 3.0, 1.0])
    weighted = an.random_search_efficiency([1.0, 2.0], [1], weights=[1, 3])
    assert weighted.mean[0] == pytest.approx(1.75)


def test_random_search_efficiency_matches_simulation():
    rng = np.random.default_rng(0)
    errors = rng.normal(20, 2, 40)
    curve = an.random_search_efficiency(errors, [4])
    draws = errors[rng.integers(0, 40, (20000, 4))].min(axis=1)
    assert curve.mean[0] == pytest.approx(draws.mean(), abs=0.05)


def test_power_law_fit_recovers_planted_parameters():
    x = np.array([1e6, 2e6, 4e6, 8e6, 16e6])
    fit = an.power_law_fit(x, 300 * x**-0.25)
    assert fit.a == pytest.approx(300, rel=1e-9) and fit.b == pytest.approx(-0.25, abs=1e-12)
    assert fit.r2 == pytest.approx(1.0) and fit.n == 5
    np.testing.assert_allclose(fit.predict([32e6]), 300 * 32e6**-0.25)
    noisy = an.power_law_fit(x, 300 * x**-0.25 * np.exp([0.01, -0.01, 0.0, 0.01, -0.01]))
    assert noisy.b == pytest.approx(-0.25, abs=0.01) and noisy.r2 < 1


def test_pareto_front():
    idx = an.pareto_front([4, 1, 2, 3, 2], [1.0, 5.0, 6.0, 2.0, 3.0])
    assert idx.tolist() == [1, 4, 3, 0]


def test_multiplier_levels_group_measured_multipliers():
    levels = an.multiplier_levels([1.0, 2.04, 1.97, 4.1, 3.9, 1.0])
    np.testing.assert_allclose(
        levels, [1, *[np.sqrt(2.04 * 1.97)] * 2, *[np.sqrt(4.1 * 3.9)] * 2, 1]
    )
    assert len(set(an.multiplier_levels([1.0, 1.1, 1.3]).tolist())) == 2  # 1.3 > 1.0 * 1.15


def test_analysis_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from netscale.study import analysis as an\n"
        "an.bootstrap_best(np.arange(8.0), np.arange(8.0), 2, n_resamples=10, seed=0)\n"
        "an.quantized_width_fit([8, 16, 16, 32])\n"
        "assert 'torch' not in sys.modules, 'analysis imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
