"""Does complexity predict runtime? The statistics of the RegNet paper's complexity analysis
(Radosavovic et al. 2020, sec. 5, Fig. 12), used by the `runtime_correlation` planner and
`netscale profile --space`: arrays in, numbers (and one figure) out. numpy; scipy and
matplotlib are imported inside the calls that need them; no torch.

The paper finds that activations track GPU runtime more closely than flops, and models
runtime "using both a linear and a square-root term due to its dependence on both flops
and activations" (activations grow as sqrt(flops) there): runtime ~ a*G + b*sqrt(G) + c.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METRICS = ("flops", "acts", "params")  # the complexity measures runtime is compared with
MIN_POINTS = 3  # correlations need 3 models; the fit needs more than its 3 coefficients


@dataclass(frozen=True, slots=True, kw_only=True)
class Correlation:
    """Pearson r and Spearman rho of runtime with one complexity metric, with their
    two-sided p-values (NaN where the metric does not vary)."""

    metric: str
    pearson: float
    pearson_p: float
    spearman: float
    spearman_p: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeFit:
    """runtime_ms ~ a * G + b * sqrt(G) + c with G = flops / 1e9 (GMACs per image), by least
    squares. r2: its coefficient of determination; r2_linear: that of a * G + c alone;
    p_sqrt: the F-test p-value of the sqrt term (the two fits are nested), NaN with fewer
    than 4 points (no residual degree of freedom)."""

    a: float
    b: float
    c: float
    r2: float
    r2_linear: float
    p_sqrt: float

    def predict(self, flops: np.ndarray | Sequence[float]) -> np.ndarray:
        """Runtime (ms) the fit gives for `flops` (multiply-adds per image)."""
        g = np.asarray(flops, dtype=float) / 1e9
        return self.a * g + self.b * np.sqrt(g) + self.c


def correlations(
    runtime_ms: Sequence[float], complexity: Mapping[str, Sequence[float]]
) -> tuple[Correlation, ...]:
    """Pearson and Spearman correlation of runtime with each metric of `complexity` (name ->
    one value per model, in the order of `runtime_ms`)."""
    from scipy import stats

    runtime = np.asarray(runtime_ms, dtype=float)
    if runtime.ndim != 1 or runtime.size < MIN_POINTS:
        raise ValueError(f"correlations need at least {MIN_POINTS} points, got {runtime.size}")
    out = []
    for metric, values in complexity.items():
        x = np.asarray(values, dtype=float)
        if x.shape != runtime.shape:
            raise ValueError(f"{metric}: {x.size} values for {runtime.size} runtimes")
        with warnings.catch_warnings():  # a constant metric: NaN, not a warning
            warnings.simplefilter("ignore")
            pearson, spearman = stats.pearsonr(x, runtime), stats.spearmanr(x, runtime)
        out.append(Correlation(metric=metric, pearson=float(pearson.statistic),
                               pearson_p=float(pearson.pvalue),
                               spearman=float(spearman.statistic),
                               spearman_p=float(spearman.pvalue)))  # fmt: skip
    return tuple(out)


def fit_runtime(flops: Sequence[float], runtime_ms: Sequence[float]) -> RuntimeFit:
    """Least-squares fit of runtime_ms ~ a * G + b * sqrt(G) + c, G = flops / 1e9 (RegNet
    sec. 5, Fig. 12), with R^2 beside that of the line a * G + c and the F-test of the
    sqrt term."""
    from scipy import stats

    g = np.asarray(flops, dtype=float) / 1e9
    y = np.asarray(runtime_ms, dtype=float)
    if g.shape != y.shape or g.ndim != 1 or len(g) < MIN_POINTS:
        raise ValueError("fit_runtime needs two equal-length sequences of at least 3 values")
    if np.any(g < 0):
        raise ValueError("flops must be >= 0")
    full = np.column_stack([g, np.sqrt(g), np.ones_like(g)])
    (a, b, c), rss = _lstsq(full, y)
    _, rss_linear = _lstsq(full[:, [0, 2]], y)
    total = float(np.sum((y - y.mean()) ** 2))
    dof = len(g) - 3
    p_sqrt = math.nan
    if dof > 0 and rss > 0:
        f_stat = max(rss_linear - rss, 0.0) / (rss / dof)
        p_sqrt = float(stats.f.sf(f_stat, 1, dof))
    return RuntimeFit(a=float(a), b=float(b), c=float(c), r2=_r2(rss, total),
                      r2_linear=_r2(rss_linear, total), p_sqrt=p_sqrt)  # fmt: skip


def _lstsq(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Coefficients and residual sum of squares of the least-squares x @ coef ~ y."""
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef, float(np.sum((y - x @ coef) ** 2))


def _r2(rss: float, total: float) -> float:
    return 1.0 - rss / total if total > 0 else math.nan


def formula(f: RuntimeFit, digits: int = 3) -> str:
    """The fitted model as "a G + b sqrt(G) + c" with its signs written out: "1210 G + 2002
    sqrt(G) - 334" (`digits` significant digits)."""

    def term(value: float, unit: str, first: bool = False) -> str:
        number = f"{abs(value):.{digits}g}{unit}"
        if first:
            return f"-{number}" if value < 0 else number
        return f" - {number}" if value < 0 else f" + {number}"

    return term(f.a, " G", first=True) + term(f.b, " sqrt(G)") + term(f.c, "")


def markdown_table(corrs: Sequence[Correlation], fit: RuntimeFit | None, batch: int) -> str:
    """The correlation table and the fit as Markdown (what docs/profiling.md shows)."""
    lines = ["| runtime vs | Pearson r | Spearman ρ |", "|---|---|---|"]
    lines += [f"| {c.metric} | {c.pearson:.3f} | {c.spearman:.3f} |" for c in corrs]
    if fit is not None:
        lines += [
            "",
            f"Fit (ms per batch of {batch}, G = GMACs per image): runtime = "
            f"{formula(fit, 4)}; R² {fit.r2:.3f} (linear a G + c alone: R² "
            f"{fit.r2_linear:.3f}).",
        ]
    return "\n".join(lines) + "\n"


_SCALES = {"flops": (1e9, "GMACs per image"), "acts": (1e6, "activations per image (M)"),
           "params": (1e6, "params (M)")}  # fmt: skip


def plot_runtime(
    runtime_ms: Sequence[float],
    complexity: Mapping[str, Sequence[float]],
    corrs: Sequence[Correlation],
    fit: RuntimeFit | None,
    *,
    batch: int,
    title: str,
) -> Figure:
    """Runtime against each metric of `corrs` (flops with the fit drawn over the measured
    range): one panel each, titled with Pearson r and Spearman rho."""
    from netscale.study import plots

    fig, axes = plots.new_figure(1, len(corrs), size=(4.3 * len(corrs), 4.0))
    runtime = np.asarray(runtime_ms, dtype=float)
    for ax, corr in zip(axes, corrs, strict=True):
        div, label = _SCALES.get(corr.metric, (1.0, corr.metric))
        x = np.asarray(complexity[corr.metric], dtype=float) / div
        ax.scatter(x, runtime, s=14, alpha=0.7)
        ax.set_xlabel(label)
        ax.set_title(f"Pearson r {corr.pearson:.2f}, Spearman ρ {corr.spearman:.2f}", fontsize=10)
        if corr.metric == "flops" and fit is not None:
            grid = np.linspace(x.min(), x.max(), 200)
            label = f"{formula(fit)} (R² {fit.r2:.3f}; linear {fit.r2_linear:.3f})"
            ax.plot(grid, fit.predict(grid * div), color="C1", label=label)
            ax.legend(fontsize=8, loc="upper left")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 4))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"runtime per batch of {batch} (ms)")
    fig.suptitle(title, fontsize=11)
    return fig
