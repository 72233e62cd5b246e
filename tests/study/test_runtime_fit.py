"""RegNet sec. 5's statistics (study/runtime_fit.py): the runtime fit and its F-test, the
correlations, the Markdown table, the plot; without torch."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from netscale.study.runtime_fit import (
    RuntimeFit,
    correlations,
    fit_runtime,
    formula,
    markdown_table,
    plot_runtime,
)


def _models(runtime_of, n: int = 10) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """n synthetic models; runtime from `runtime_of(flops, acts, params)`."""
    rng = np.random.default_rng(0)
    flops, acts, params = (rng.integers(10**6, 10**9, size=n).astype(float) for _ in range(3))
    return runtime_of(flops, acts, params), {"flops": flops, "acts": acts, "params": params}


def test_fit_recovers_known_coefficients_and_tests_the_sqrt_term():
    flops = np.linspace(1e8, 4e9, 12)
    g = flops / 1e9
    fit = fit_runtime(flops, 2.0 * g + 3.0 * np.sqrt(g) + 1.5)
    assert (fit.a, fit.b, fit.c) == pytest.approx((2.0, 3.0, 1.5))
    assert fit.r2 == pytest.approx(1.0)
    assert fit.r2_linear < 0.9999  # a square-root term a line cannot follow exactly
    assert fit.predict([1e9]) == pytest.approx([6.5])
    noise = np.random.default_rng(0).normal(0, 0.05, g.size)
    curved = fit_runtime(flops, 2.0 * g + 3.0 * np.sqrt(g) + 1.5 + noise)
    line = fit_runtime(flops, 2.0 * g + 1.5 + noise)
    assert curved.p_sqrt < 1e-6 and line.p_sqrt > 0.05
    assert np.isnan(fit_runtime(flops[:3], g[:3]).p_sqrt)  # no residual degree of freedom


def test_correlations_follow_the_metric_runtime_tracks():
    runtime, complexity = _models(lambda f, a, p: 3e-6 * a + 1)  # runtime linear in acts
    by = {c.metric: c for c in correlations(runtime, complexity)}
    assert list(by) == ["flops", "acts", "params"]
    assert by["acts"].pearson == pytest.approx(1.0) and by["acts"].spearman == pytest.approx(1.0)
    assert by["acts"].pearson_p < 1e-6
    expected = stats.pearsonr(complexity["flops"], runtime)
    assert (by["flops"].pearson, by["flops"].pearson_p) == pytest.approx(
        (expected.statistic, expected.pvalue)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a constant metric is NaN, without a warning
        (same,) = correlations(runtime, {"params": np.ones(runtime.size)})
    assert np.isnan(same.pearson) and np.isnan(same.spearman_p)


def test_errors():
    runtime, complexity = _models(lambda f, a, p: f)
    with pytest.raises(ValueError, match="at least 3 points, got 2"):
        correlations(runtime[:2], {k: v[:2] for k, v in complexity.items()})
    with pytest.raises(ValueError, match="flops: 9 values for 10 runtimes"):
        correlations(runtime, {"flops": complexity["flops"][:9]})
    with pytest.raises(ValueError, match="at least 3 values"):
        fit_runtime([1e9, 2e9], [1.0, 2.0])
    with pytest.raises(ValueError, match="flops must be >= 0"):
        fit_runtime([-1e9, 2e9, 3e9], [1.0, 2.0, 3.0])


def test_formula_table_and_plot():
    fit = RuntimeFit(a=1210.0, b=2002.0, c=-334.0, r2=0.44, r2_linear=0.439, p_sqrt=0.8)
    assert formula(fit) == "1.21e+03 G + 2e+03 sqrt(G) - 334"
    assert formula(fit, 4) == "1210 G + 2002 sqrt(G) - 334"
    runtime, complexity = _models(lambda f, a, p: 1e-8 * f + 2e-6 * a)
    corrs = correlations(runtime, complexity)
    table = markdown_table(corrs, fit_runtime(complexity["flops"], runtime), batch=64)
    assert table.count("\n| ") == 3 and "ms per batch of 64" in table and "runtime =" in table
    assert "runtime =" not in markdown_table(corrs, None, batch=64)
    fig = plot_runtime(runtime, complexity, corrs, fit, batch=64, title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert fig.axes[0].get_title().startswith("Pearson r")
    assert "sqrt(G) - 334" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_no_torch():
    code = (
        "import sys\n"
        "from netscale.study import runtime_fit as r\n"
        "x = [1e8, 2e8, 4e8, 8e8]; y = [1.0, 2.1, 3.9, 8.2]\n"
        "c = r.correlations(y, {'flops': x}); f = r.fit_runtime(x, y)\n"
        "r.plot_runtime(y, {'flops': x}, c, f, batch=64, title='t')\n"
        "assert 'torch' not in sys.modules, 'runtime_fit imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
