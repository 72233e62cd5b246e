"""Study plots as PNG bytes (matplotlib `Figure` objects on the Agg canvas; pyplot and its
global state are never touched, so plotting is safe beside other matplotlib users).

Each function takes prepared arrays or analysis results and returns a `Figure`; with no data
it returns a figure that says so instead of failing (a study can be plotted mid-run). A plot
of one planner's own records lives in that planner's module (the ablation ladder).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from netscale.study.statistics import (
    BootstrapBand,
    Interval,
    PowerLawFit,
    RandomSearchCurve,
    edf,
)
from netscale.study.width_fit import QuantizedWidthFit

_PANEL = (3.4, 2.6)  # inches per subplot


@dataclass(frozen=True, slots=True, eq=False)
class TrendSeries:
    """One group's error versus one parameter, with its bootstrap results."""

    group: str
    x: np.ndarray
    errors: np.ndarray
    band: BootstrapBand | None  # best error per bin (statistics.bootstrap_best)
    best: Interval | None  # parameter value of the best model (statistics.bootstrap_best_value)


def color(i: int) -> tuple[float, float, float, float]:
    """The i-th color of the tab10 cycle (the same group gets the same color everywhere)."""
    return colormaps["tab10"](i % 10)


def new_figure(
    rows: int = 1, cols: int = 1, *, size: tuple[float, float] | None = None
) -> tuple[Figure, list]:
    """A Figure on the Agg canvas with rows x cols axes, returned flat; `size` in inches
    (default: a fixed size per panel)."""
    size = size or (_PANEL[0] * cols + 0.6, _PANEL[1] * rows + 0.4)
    fig = Figure(figsize=size, dpi=100, layout="tight")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _log_x(ax, base: float = 10) -> None:
    """Log x axis without minor tick labels (they collide at this figure size)."""
    ax.set_xscale("log", base=base)
    ax.xaxis.set_minor_formatter(NullFormatter())


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def message_figure(text: str) -> Figure:
    """A small figure holding only `text` (what a plot shows when there is nothing to plot)."""
    fig = Figure(figsize=(5.0, 1.2), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def plot_edf(
    groups: Mapping[str, tuple[np.ndarray, np.ndarray | None]], *, title: str = "error EDF"
) -> Figure:
    """Error EDF of each group (RegNet eq. 1): error on x, cumulative fraction on y, n and
    the minimum in the legend. Values are (errors, weights or None for 1/n)."""
    groups = {g: v for g, v in groups.items() if len(v[0])}
    if not groups:
        return message_figure(f"{title}: no completed trials yet")
    fig, (ax,) = new_figure()
    for i, (name, (errors, weights)) in enumerate(groups.items()):
        x, f = edf(errors, weights)
        x, f = np.concatenate([[x[0]], x]), np.concatenate([[0.0], f])
        label = f"{name} (n={len(errors)}, min {np.min(errors):.1f}%)"
        ax.step(x, f, where="post", color=color(i), label=label)
    ax.set(xlabel="top-1 error (%)", ylabel="cumulative fraction", title=title, ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    return fig


def _bin_positions(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Median x of the models in each bin (where discrete values sit, unlike bin centers)."""
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    return np.array([np.median(x[which == b]) if np.any(which == b) else np.nan
                     for b in range(edges.size - 1)])  # fmt: skip


def _trend_axes(ax, param: str, series: Sequence[TrendSeries], order: Mapping[str, int]):
    for s in series:
        c = color(order[s.group])
        ax.scatter(s.x, s.errors, s=9, color=c, alpha=0.5, label=f"{s.group} (n={s.x.size})")
        if s.band is not None and np.isfinite(s.band.median).any():
            ok = np.isfinite(s.band.median)
            pos = _bin_positions(s.x, s.band.edges)[ok]
            ax.fill_between(pos, s.band.low[ok], s.band.high[ok], color=c, alpha=0.2, linewidth=0)
            ax.plot(pos, s.band.median[ok], "-o", color=c, markersize=3)
        if s.best is not None:  # a bar along the bottom, in axes coordinates for y
            y = 0.04 + 0.05 * order[s.group]
            xform = ax.get_xaxis_transform()
            ax.plot(
                [s.best.low, s.best.high],
                [y, y],
                color=c,
                linewidth=4,
                alpha=0.4,
                transform=xform,
                solid_capstyle="butt",
            )
            ax.plot([s.best.median], [y], "D", color=c, markersize=4, transform=xform)
    xs = np.concatenate([s.x for s in series])
    if xs.min() > 0 and xs.max() > 8 * xs.min():  # complexity and widths span decades
        _log_x(ax)
    ax.set(xlabel=param, ylabel="error (%)")
    ax.grid(alpha=0.3)


def plot_trends(panels: Mapping[str, Sequence[TrendSeries]], *, max_cols: int = 4) -> Figure:
    """Error versus each design parameter: the models as dots, the bootstrap band of the best
    error per bin (median line, 95% band) and, as a bar along the bottom, the range holding
    the best model's value (diamond: its median), RegNet sec. 3.1."""
    panels = {p: s for p, s in panels.items() if s}
    if not panels:
        return message_figure("trends: no completed trials with design parameters yet")
    names = list(dict.fromkeys(s.group for series in panels.values() for s in series))
    order = {g: i for i, g in enumerate(names)}
    cols = min(max_cols, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = new_figure(rows, cols)
    for ax, (param, series) in zip(axes, panels.items(), strict=False):
        _trend_axes(ax, param, series, order)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7, loc="upper right")
    return fig


def plot_width_staircases(
    models: Sequence[tuple[str, Sequence[int], QuantizedWidthFit | None]], *, max_cols: int = 4
) -> Figure:
    """Per-block widths of the best models (as RegNet sec. 3.3 plots them): the observed
    staircase, the line u_j (dotted) and the quantized linear fit (dashed) with wm and e_fit.
    Items are (title, per-block widths, fit or None)."""
    if not models:
        return message_figure("best models: no completed trials yet")
    cols = min(max_cols, len(models))
    rows = -(-len(models) // cols)
    fig, axes = new_figure(rows, cols)
    for ax, (title, widths, fit) in zip(axes, models, strict=False):
        j = np.arange(len(widths))
        ax.plot(j, widths, "o-", markersize=3, label="observed")
        if fit is not None:
            u = fit.w0 + fit.wa * j
            ax.plot(j, u, ":", color="0.4", label=f"u_j = {fit.w0:g} + {fit.wa:.1f} j")
            ax.plot(
                j,
                fit.widths,
                "--",
                color="0.6",
                linewidth=0.8,
                label=f"wm={fit.wm:.2f}, e_fit={fit.e_fit:.3f}",
            )
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set(title=title, xlabel="block index j", ylabel="width")
        ax.title.set_fontsize(8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper left")
    for ax in axes[len(models) :]:
        ax.set_axis_off()
    return fig


def plot_scaling(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    fits: Mapping[str, PowerLawFit | None],
    *,
    xlabel: str,
    title: str,
) -> Figure:
    """Error versus a cost (FLOPs, time per image) per group, log x, with each group's
    power-law fit error = a x^b drawn over its range."""
    curves = {g: v for g, v in curves.items() if len(v[0])}
    if not curves:
        return message_figure(f"{title}: no completed trials with this measurement yet")
    fig, (ax,) = new_figure()
    for i, (name, (x, errors)) in enumerate(curves.items()):
        order = np.argsort(x)
        ax.plot(
            np.asarray(x)[order],
            np.asarray(errors)[order],
            "o",
            color=color(i),
            markersize=4,
            label=f"{name} (n={len(x)})",
        )
        fit = fits.get(name)
        if fit is not None:
            grid = np.geomspace(np.min(x), np.max(x), 50)
            ax.plot(
                grid,
                fit.predict(grid),
                "-",
                color=color(i),
                linewidth=1,
                label=f"{fit.a:.3g} x^{fit.b:.3f}",
            )
    _log_x(ax)
    ax.set(xlabel=xlabel, ylabel="top-1 error (%)", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6)
    return fig


def plot_pareto(
    groups: Mapping[str, tuple[np.ndarray, np.ndarray]],
    front: tuple[np.ndarray, np.ndarray],
    *,
    xlabel: str = "multiply-adds",
    title: str = "error vs FLOPs",
) -> Figure:
    """Error versus a cost (FLOPs by default; `xlabel` names it, on a log axis) of every
    completed model by group, with the Pareto front (models no other model beats on both)."""
    groups = {g: v for g, v in groups.items() if len(v[0])}
    if not groups:
        return message_figure("Pareto front: no completed trials yet")
    fig, (ax,) = new_figure()
    for i, (name, (flops, errors)) in enumerate(groups.items()):
        ax.scatter(flops, errors, s=12, color=color(i), alpha=0.7, label=name)
    ax.step(front[0], front[1], where="post", color="k", linewidth=1)
    ax.plot(
        front[0],
        front[1],
        "o",
        markersize=7,
        markerfacecolor="none",
        color="k",
        label="Pareto front",
    )
    _log_x(ax)
    ax.set(xlabel=xlabel, ylabel="top-1 error (%)", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return fig


def plot_random_search(
    curves: Mapping[str, RandomSearchCurve], *, ylabel: str = "expected best error (%)"
) -> Figure:
    """Expected best error (or the value `ylabel` names) of m random models per group
    (log m), with its 95% interval."""
    if not curves:
        return message_figure("random search: no completed trials yet")
    fig, (ax,) = new_figure()
    for i, (name, c) in enumerate(curves.items()):
        ax.plot(c.sizes, c.mean, "-", color=color(i), label=name)
        ax.fill_between(c.sizes, c.low, c.high, color=color(i), alpha=0.15, linewidth=0)
    _log_x(ax, base=2)
    ax.set(
        xlabel="models trained (m)",
        ylabel=ylabel,
        title="random-search efficiency",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return fig
