"""The runtime-vs-complexity study: fit, correlations, plot and files, and a tiny real run."""

import json

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from netscale.complexity import count
from netscale.profiling.correlation import (
    Point,
    StudyResult,
    correlation_study,
    correlations,
    fit_runtime,
    markdown_table,
    plot_study,
    write_study,
)
from netscale.space import get_space, sample


def _points(runtime_of) -> list[Point]:
    """Ten synthetic models; runtime from `runtime_of(flops, acts, params)`."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(10):
        flops, acts, params = (int(v) for v in rng.integers(10**6, 10**9, size=3))
        out.append(
            Point(
                index=i,
                design={"d_1": np.int64(i)},
                flops=flops,
                params=params,
                acts=acts,
                runtime_ms=float(runtime_of(flops, acts, params)),
                images_per_s=1.0,
            )
        )
    return out


def test_fit_recovers_known_coefficients():
    flops = np.linspace(1e8, 4e9, 12)
    g = flops / 1e9
    fit = fit_runtime(flops, 2.0 * g + 3.0 * np.sqrt(g) + 1.5)
    assert (fit.a, fit.b, fit.c) == pytest.approx((2.0, 3.0, 1.5))
    assert fit.r2 == pytest.approx(1.0)
    assert fit.r2_linear < 0.9999  # a square-root term a line cannot follow exactly
    assert fit.predict([1e9]) == pytest.approx([6.5])


def test_correlations_follow_the_metric_runtime_tracks():
    points = _points(lambda f, a, p: 3e-6 * a + 1)  # runtime is a linear function of acts
    by = {c.metric: c for c in correlations(points)}
    assert list(by) == ["flops", "acts", "params"]
    assert by["acts"].pearson == pytest.approx(1.0) and by["acts"].spearman == pytest.approx(1.0)
    runtime = [p.runtime_ms for p in points]
    expected = stats.pearsonr([p.flops for p in points], runtime).statistic
    assert by["flops"].pearson == pytest.approx(expected) and abs(expected) < 0.99


def test_errors():
    with pytest.raises(ValueError, match="at least 3 points"):
        correlations(_points(lambda f, a, p: f)[:2])
    with pytest.raises(ValueError, match="at least 3 values"):
        fit_runtime([1e9, 2e9], [1.0, 2.0])
    with pytest.raises(ValueError, match="samples=2 is invalid"):
        correlation_study("regnet_x", 2)
    with pytest.raises(ValueError, match="0 < low < high"):
        correlation_study("regnet_x", 5, flops=(8e8, 2e8))


def _result(points) -> StudyResult:
    return StudyResult(
        space="synthetic",
        samples=len(points),
        seed=0,
        flops_range=None,
        device="cpu",
        mode="infer",
        precision="fp32",
        batch=64,
        resolution=None,
        threads=1,
        points=tuple(points),
        correlations=correlations(points),
        fit=fit_runtime([p.flops for p in points], [p.runtime_ms for p in points]),
    )


def test_plot_table_and_files(tmp_path):
    result = _result(_points(lambda f, a, p: 1e-8 * f + 2e-6 * a))
    fig = plot_study(result)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert fig.axes[0].get_title().startswith("Pearson r")
    table = markdown_table(result)
    assert table.count("\n| ") == 3 and "runtime =" in table
    paths = write_study(result, tmp_path / "out")
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(paths["json"].read_text())
    assert len(data["points"]) == 10 and data["points"][3]["design"] == {"d_1": 3}
    assert len(paths["csv"].read_text().splitlines()) == 11
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in paths.values()
    )  # no temporary files left


def test_tiny_study_on_regnet_x():
    seen = []
    result = correlation_study(
        "regnet_x",
        3,
        flops=(200e6, 400e6),
        seed=1,
        resolution=32,
        batch=1,
        warmup=0,
        iters=1,
        progress=lambda i, n, r: seen.append((i, n)),
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert result.samples == 3 and result.resolution == 32 and result.batch == 1
    assert [c.metric for c in result.correlations] == ["flops", "acts", "params"]
    drawn = sample(get_space("regnet_x"), 3, seed=1, flops=(200e6, 400e6))
    for point, s in zip(result.points, drawn, strict=True):
        cx = count(s.spec, 32)
        assert (point.flops, point.acts, point.params) == (cx.flops, cx.acts, cx.params)
        assert point.runtime_ms > 0 and point.design == pytest.approx(s.design)
