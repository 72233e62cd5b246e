"""Study plots: figure geometry, PNG bytes, and what each plot draws (read back from the
matplotlib artists), including the message figure that stands in when there is no data."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg

from netscale.study.plots import (
    TrendSeries,
    color,
    figure_png,
    message_figure,
    new_figure,
    plot_edf,
    plot_pareto,
    plot_random_search,
    plot_scaling,
    plot_trends,
    plot_width_staircases,
)
from netscale.study.statistics import BootstrapBand, Interval, PowerLawFit, RandomSearchCurve
from netscale.study.width_fit import QuantizedWidthFit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk."""
    assert data.startswith(PNG_MAGIC) and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _message(fig) -> str:
    assert not fig.axes
    (text,) = fig.texts
    return text.get_text()


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_colors_cycle_through_tab10():
    assert color(0) == colormaps["tab10"](0) and color(3) == colormaps["tab10"](3)
    assert color(10) == color(0) and color(13) == color(3) and color(0) != color(1)
    assert len(color(5)) == 4


def test_new_figure_sizes_by_panel_and_flattens_row_major():
    fig, axes = new_figure(2, 3)
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert len(axes) == 6 and fig.get_size_inches() == pytest.approx((3.4 * 3 + 0.6, 2.6 * 2 + 0.4))
    fig.canvas.draw()
    first_row = [ax.get_position().y0 for ax in axes[:3]]
    second_row = [ax.get_position().y0 for ax in axes[3:]]
    assert min(first_row) > max(second_row)  # the first three axes are the top row
    x0 = [ax.get_position().x0 for ax in axes[:3]]
    assert x0 == sorted(x0)
    fig, axes = new_figure(size=(4.0, 2.0))
    assert len(axes) == 1 and tuple(fig.get_size_inches()) == (4.0, 2.0)


def test_png_bytes_have_the_figure_size_at_the_dpi():
    fig, _ = new_figure(size=(4.0, 2.0))
    assert _png_size(figure_png(fig)) == (400, 200)
    assert _png_size(figure_png(fig, dpi=50)) == (200, 100)


def test_message_figure():
    fig = message_figure("nothing yet")
    assert _message(fig) == "nothing yet"
    assert figure_png(fig).startswith(PNG_MAGIC)


def test_empty_inputs_give_message_figures():
    empty = np.array([])
    assert _message(plot_edf({})) == "error EDF: no completed trials yet"
    assert _message(plot_edf({"a": (empty, None)}, title="EDFs")) == (
        "EDFs: no completed trials yet"
    )
    assert _message(plot_trends({})) == "trends: no completed trials with design parameters yet"
    assert _message(plot_trends({"w": []})).startswith("trends: no completed")
    assert _message(plot_width_staircases([])) == "best models: no completed trials yet"
    assert _message(plot_scaling({"a": (empty, empty)}, {}, xlabel="x", title="scaling")) == (
        "scaling: no completed trials with this measurement yet"
    )
    assert _message(plot_pareto({"a": (empty, empty)}, (empty, empty))).startswith("Pareto")
    assert _message(plot_random_search({})) == "random search: no completed trials yet"


def test_edf_draws_each_groups_step_function():
    """errors 3, 1, 2: F = 1/3, 2/3, 1 at 1, 2, 3, drawn from 0 at the first error; with
    weights 2, 1, 1 (rescaled to 1/2, 1/4, 1/4): 1/4, 1/2, 1."""
    fig = plot_edf(
        {
            "a": (np.array([3.0, 1.0, 2.0]), None),
            "empty": (np.array([]), None),  # left out
            "b": (np.array([3.0, 1.0, 2.0]), np.array([2.0, 1.0, 1.0])),
        },
        title="EDF",
    )
    (ax,) = fig.axes
    a, b = ax.lines
    assert list(a.get_xdata()) == [1.0, 1.0, 2.0, 3.0]
    assert a.get_ydata() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert b.get_ydata() == pytest.approx([0.0, 0.25, 0.5, 1.0])
    assert a.get_drawstyle() == "steps-post"
    assert a.get_color() == color(0) and b.get_color() == color(1)
    assert _legend(ax) == ["a (n=3, min 1.0%)", "b (n=3, min 1.0%)"]
    assert ax.get_title() == "EDF" and ax.get_ylim() == pytest.approx((0.0, 1.02))


def _series(group: str, x, errors, **kw) -> TrendSeries:
    return TrendSeries(group=group, x=np.asarray(x, float), errors=np.asarray(errors, float),
                       band=kw.get("band"), best=kw.get("best"))  # fmt: skip


def test_trends_lay_out_panels_and_scale_wide_ranges_logarithmically():
    panels = {
        "width": [_series("a", [8, 64, 512], [30, 20, 25]), _series("b", [16, 128], [28, 22])],
        "depth": [_series("a", [1, 2, 4], [30, 20, 25])],
        "ratio": [_series("b", [1, 2], [28, 22])],
        "unused": [],  # left out
    }
    fig = plot_trends(panels, max_cols=2)
    assert len(fig.axes) == 4  # 3 panels in 2 columns: 2 rows
    width, depth, ratio, spare = fig.axes
    assert not spare.axison
    assert [ax.get_xlabel() for ax in (width, depth, ratio)] == ["width", "depth", "ratio"]
    assert width.get_xscale() == "log"  # 8..512 spans more than 8x
    assert depth.get_xscale() == "linear" and ratio.get_xscale() == "linear"
    assert _legend(width) == ["a (n=3)", "b (n=2)"]
    # a group keeps its color in every panel
    b_in_ratio = ratio.collections[0].get_facecolor()[0]
    b_in_width = width.collections[1].get_facecolor()[0]
    assert tuple(b_in_ratio[:3]) == tuple(b_in_width[:3]) == color(1)[:3]


def test_trend_band_sits_at_the_median_x_of_each_bin_and_the_best_value_bar():
    x, errors = np.array([1.0, 2.0, 3.0, 10.0, 11.0]), np.array([5.0, 4.0, 6.0, 3.0, 7.0])
    band = BootstrapBand(
        edges=np.array([0.0, 5.0, 12.0]),
        centers=np.array([2.5, 8.5]),
        count=np.array([3, 2]),
        median=np.array([4.0, 3.0]),
        low=np.array([3.5, 2.5]),
        high=np.array([4.5, 3.5]),
    )
    best = Interval(median=10.0, low=9.0, high=11.0)
    fig = plot_trends({"w": [_series("a", x, errors, band=band, best=best)]})
    (ax,) = fig.axes
    median_line = next(line for line in ax.lines if list(line.get_ydata()) == [4.0, 3.0])
    assert list(median_line.get_xdata()) == [2.0, 10.5]  # median x per bin, not centers
    bar = next(line for line in ax.lines if list(line.get_xdata()) == [9.0, 11.0])
    assert bar.get_linewidth() == 4
    diamond = next(line for line in ax.lines if line.get_marker() == "D")
    assert list(diamond.get_xdata()) == [10.0]


def test_width_staircases():
    fit = QuantizedWidthFit(w0=24.0, wa=36.0, wm=2.5, e_fit=0.05, widths=(24, 56, 56, 152))
    fig = plot_width_staircases(
        [("best a", [24, 56, 64, 152], fit), ("best b", [32, 32], None)], max_cols=4
    )
    a, b = fig.axes
    assert (a.get_title(), b.get_title()) == ("best a", "best b")
    observed, line, quantized = a.lines
    assert list(observed.get_ydata()) == [24, 56, 64, 152]
    assert line.get_ydata() == pytest.approx([24.0, 60.0, 96.0, 132.0])  # w0 + wa j
    assert list(quantized.get_ydata()) == [24, 56, 56, 152]
    assert _legend(a) == ["observed", "u_j = 24 + 36.0 j", "wm=2.50, e_fit=0.050"]
    assert len(b.lines) == 1 and a.get_yscale() == "log"


def test_scaling_curves_and_fits():
    x = np.array([4e8, 1e8, 2e8])
    errors = np.array([20.0, 30.0, 25.0])
    fit = PowerLawFit(a=100.0, b=-0.1, r2=0.99, n=3)
    fig = plot_scaling({"depth": (x, errors), "width": (x, errors + 1)}, {"depth": fit},
                       xlabel="multiply-adds", title="scaling")  # fmt: skip
    (ax,) = fig.axes
    points, curve, other = ax.lines  # no fit for "width": its points only
    assert other.get_ydata().tolist() == [31.0, 26.0, 21.0]
    assert list(points.get_xdata()) == [1e8, 2e8, 4e8]  # sorted by x, errors alike
    assert list(points.get_ydata()) == [30.0, 25.0, 20.0]
    grid = curve.get_xdata()
    assert len(grid) == 50 and grid[0] == pytest.approx(1e8) and grid[-1] == pytest.approx(4e8)
    assert curve.get_ydata() == pytest.approx(100.0 * grid**-0.1)
    assert _legend(ax) == ["depth (n=3)", "100 x^-0.100", "width (n=3)"]
    assert ax.get_xscale() == "log" and ax.get_title() == "scaling"


def test_pareto_front():
    flops, errors = np.array([1e8, 2e8, 4e8]), np.array([30.0, 25.0, 26.0])
    front = (np.array([1e8, 2e8]), np.array([30.0, 25.0]))
    fig = plot_pareto({"a": (flops, errors)}, front)
    (ax,) = fig.axes
    step, marks = ax.lines
    assert list(step.get_xdata()) == [1e8, 2e8] and step.get_drawstyle() == "steps-post"
    assert list(marks.get_ydata()) == [30.0, 25.0]
    assert _legend(ax) == ["a", "Pareto front"] and ax.get_xscale() == "log"
    assert ax.collections[0].get_offsets().tolist() == np.column_stack([flops, errors]).tolist()


def test_random_search_curves():
    curve = RandomSearchCurve(
        sizes=np.array([1, 2, 4, 8]),
        mean=np.array([30.0, 27, 25, 24]),
        low=np.array([25.0, 24, 23, 23]),
        high=np.array([35.0, 30, 27, 25]),
    )
    fig = plot_random_search({"a": curve, "b": curve})
    (ax,) = fig.axes
    assert [list(line.get_ydata()) for line in ax.lines] == [[30.0, 27, 25, 24]] * 2
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    assert _legend(ax) == ["a", "b"] and ax.get_xlabel() == "models trained (m)"


def test_every_plot_renders_to_png():
    x, e = np.array([1e8, 2e8, 4e8]), np.array([30.0, 25.0, 26.0])
    figures = [
        plot_edf({"a": (e, None)}),
        plot_trends({"w": [_series("a", x, e)]}),
        plot_width_staircases([("m", [8, 16, 16], None)]),
        plot_scaling({"a": (x, e)}, {"a": None}, xlabel="x", title="t"),
        plot_pareto({"a": (x, e)}, (x[:2], e[:2])),
    ]
    for fig in figures:
        assert figure_png(fig, dpi=30).startswith(PNG_MAGIC)
