"""Does complexity predict runtime on this device? The RegNet paper's complexity analysis
(Radosavovic et al. 2020, sec. 5, Fig. 12) on the user's hardware.

Sample n models of a design space, measure each one's runtime for a batch, then report the
Pearson and Spearman correlation of runtime with flops, with activations and with params,
and fit runtime ~ a*F + b*sqrt(F) + c: the paper finds activations track GPU runtime more
closely than flops and models runtime "using both a linear and a square-root term due to
its dependence on both flops and activations" (activations grow as sqrt(flops) there).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from netscale.profiling.device import resolve_device
from netscale.profiling.measure import ProfileResult, profile
from netscale.space import get_space, sample
from netscale.spec import NetSpec
from netscale.spec.io import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METRICS = ("flops", "acts", "params")


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One measured model: analytic complexity per image and its measured runtime.

    runtime_ms: median time of one step on a whole batch (the paper's "inference time" of a
    batch of 64 images); images_per_s from the same run."""

    index: int
    design: dict[str, Any]
    flops: int
    params: int
    acts: int
    runtime_ms: float
    images_per_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeFit:
    """runtime_ms ~ a * G + b * sqrt(G) + c with G = flops / 1e9 (GMACs per image), by least
    squares; r2 is its coefficient of determination, r2_linear that of a * G + c alone."""

    a: float
    b: float
    c: float
    r2: float
    r2_linear: float

    def predict(self, flops: np.ndarray | Sequence[float]) -> np.ndarray:
        """Runtime (ms) the fit gives for `flops` (multiply-adds per image)."""
        g = np.asarray(flops, dtype=float) / 1e9
        return self.a * g + self.b * np.sqrt(g) + self.c


@dataclass(frozen=True, slots=True, kw_only=True)
class Correlation:
    """Pearson r and Spearman rho of runtime with one complexity metric."""

    metric: str
    pearson: float
    spearman: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyResult:
    """A correlation study: its settings, every point, the correlations and the fit."""

    space: str
    samples: int
    seed: int
    flops_range: tuple[int, int] | None
    device: str
    mode: str
    precision: str
    batch: int
    resolution: int | None
    threads: int
    points: tuple[Point, ...]
    correlations: tuple[Correlation, ...]
    fit: RuntimeFit

    def to_dict(self) -> dict[str, Any]:
        """The study as JSON-ready data."""
        return _plain(dataclasses.asdict(self))


def correlation_study(
    space: str = "regnet_x",
    samples: int = 50,
    *,
    flops: tuple[int, int] | None = None,
    seed: int = 0,
    progress: Callable[[int, int, ProfileResult], None] | None = None,
    **measure: Any,
) -> StudyResult:
    """Sample `samples` models of design space `space` (within `flops` multiply-adds, if
    given) with `seed`, measure each with `netscale.profile(**measure)` (device, batch,
    resolution, mode, precision, channels_last, warmup, iters, ...) and analyse them.
    The `flops` band applies at the space's own resolution, before any `resolution` given
    to the measurement. `progress(i, n, result)` is called after each model."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 3:
        raise ValueError(f"samples={samples!r} is invalid; allowed: an int >= 3")
    kwargs: dict[str, Any] = {"seed": seed}
    if flops is not None:
        kwargs["flops"] = _check_range(flops)
    drawn = sample(get_space(space), samples, **kwargs)
    measure.setdefault("batch", 64)  # the paper times batches of 64 images
    points, threads = measure_population(drawn, progress=progress, **measure)
    return StudyResult(
        space=space,
        samples=len(points),
        seed=seed,
        flops_range=kwargs.get("flops"),
        device=str(resolve_device(measure.get("device", "cpu"))),
        mode=measure.get("mode", "infer"),
        precision=measure.get("precision", "fp32"),
        batch=measure["batch"],
        resolution=measure.get("resolution"),
        threads=threads,
        points=points,
        correlations=correlations(points),
        fit=fit_runtime([p.flops for p in points], [p.runtime_ms for p in points]),
    )


def measure_population(
    samples: Sequence[Any],
    *,
    progress: Callable[[int, int, ProfileResult], None] | None = None,
    **measure: Any,
) -> tuple[tuple[Point, ...], int]:
    """(points, threads): `netscale.profile(**measure)` of each sample (a `NetSpec`, or an
    object with `.spec` and `.design` as `netscale.space.sample` returns)."""
    points, threads = [], 0
    for i, item in enumerate(samples):
        spec = item if isinstance(item, NetSpec) else item.spec
        design = dict(getattr(item, "design", None) or {})
        result = profile(spec, **measure)
        threads = result.threads
        points.append(
            Point(
                index=i,
                design=_plain(design),
                flops=int(result.flops or 0),
                params=result.params,
                acts=int(result.acts or 0),
                runtime_ms=result.latency_ms,
                images_per_s=result.images_per_s,
            )
        )
        if progress is not None:
            progress(i + 1, len(samples), result)
    return tuple(points), threads


def correlations(points: Sequence[Point]) -> tuple[Correlation, ...]:
    """Pearson and Spearman correlation of runtime with flops, acts and params."""
    from scipy import stats

    if len(points) < 3:
        raise ValueError(f"correlations need at least 3 points, got {len(points)}")
    runtime = np.array([p.runtime_ms for p in points], dtype=float)
    out = []
    for metric in METRICS:
        values = np.array([getattr(p, metric) for p in points], dtype=float)
        pearson = float(stats.pearsonr(values, runtime).statistic)
        spearman = float(stats.spearmanr(values, runtime).statistic)
        out.append(Correlation(metric=metric, pearson=pearson, spearman=spearman))
    return tuple(out)


def fit_runtime(flops: Sequence[float], runtime_ms: Sequence[float]) -> RuntimeFit:
    """Least-squares fit of runtime_ms ~ a * G + b * sqrt(G) + c, G = flops / 1e9 (RegNet
    sec. 5, Fig. 12), with R^2 beside that of the linear fit a * G + c."""
    g = np.asarray(flops, dtype=float) / 1e9
    y = np.asarray(runtime_ms, dtype=float)
    if g.shape != y.shape or g.ndim != 1 or len(g) < 3:
        raise ValueError("fit_runtime needs two equal-length sequences of at least 3 values")
    if np.any(g < 0):
        raise ValueError("flops must be >= 0")
    full = np.column_stack([g, np.sqrt(g), np.ones_like(g)])
    (a, b, c), r2 = _lstsq(full, y)
    _, r2_linear = _lstsq(full[:, [0, 2]], y)
    return RuntimeFit(a=float(a), b=float(b), c=float(c), r2=r2, r2_linear=r2_linear)


def _lstsq(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Coefficients and R^2 of the least-squares solution of x @ coef ~ y."""
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = float(np.sum((y - x @ coef) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return coef, 1.0 - residual / total if total > 0 else math.nan


def plot_study(result: StudyResult) -> Figure:
    """Runtime against flops (with the fit), activations and params: a matplotlib Figure
    (not pyplot, so no display or global state is involved)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    runtime = np.array([p.runtime_ms for p in result.points])
    scale = {"flops": (1e9, "GMACs per image"), "acts": (1e6, "activations per image (M)")}
    scale["params"] = (1e6, "params (M)")
    for ax, corr in zip(axes, result.correlations, strict=True):
        div, label = scale[corr.metric]
        x = np.array([getattr(p, corr.metric) for p in result.points]) / div
        ax.scatter(x, runtime, s=14, alpha=0.7)
        ax.set_xlabel(label)
        ax.set_title(f"Pearson r {corr.pearson:.2f}, Spearman ρ {corr.spearman:.2f}", fontsize=10)
        if corr.metric == "flops":
            grid = np.linspace(x.min(), x.max(), 200)  # the fit, over the measured range
            f = result.fit
            ax.plot(grid, f.predict(grid * 1e9), color="C1", label=_fit_label(f))
            ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel(f"runtime per batch of {result.batch} (ms)")
    fig.suptitle(
        f"{result.space}: {result.samples} models, {result.mode} {result.precision} on "
        f"{result.device} ({result.threads} threads)",
        fontsize=11,
    )
    return fig


def _fit_label(f: RuntimeFit) -> str:
    return f"{f.a:.3g}·G + {f.b:.3g}·√G + {f.c:.3g} (R² {f.r2:.3f}; linear {f.r2_linear:.3f})"


def markdown_table(result: StudyResult) -> str:
    """The correlation table and the fit as Markdown (for docs/profiling.md)."""
    lines = ["| runtime vs | Pearson r | Spearman ρ |", "|---|---|---|"]
    lines += [f"| {c.metric} | {c.pearson:.3f} | {c.spearman:.3f} |" for c in result.correlations]
    f = result.fit
    lines += [
        "",
        f"Fit (ms per batch of {result.batch}, G = GMACs per image): runtime = "
        f"{f.a:.4g} G + {f.b:.4g} sqrt(G) + {f.c:.4g}; R² {f.r2:.3f} "
        f"(linear a G + c alone: R² {f.r2_linear:.3f}).",
    ]
    return "\n".join(lines) + "\n"


def write_study(result: StudyResult, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write study.json, points.csv, correlation.md and correlation.png into directory
    `out` (created if missing), each atomically; returns their paths by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "study.json",
        "csv": out / "points.csv",
        "table": out / "correlation.md",
        "plot": out / "correlation.png",
    }
    atomic_write(paths["json"], json.dumps(result.to_dict(), indent=2) + "\n")
    atomic_write(paths["csv"], points_csv(result.points))
    atomic_write(paths["table"], markdown_table(result))
    buffer = io.BytesIO()
    plot_study(result).savefig(buffer, format="png", dpi=120)
    atomic_write(paths["plot"], buffer.getvalue())
    return paths


def points_csv(points: Sequence[Point]) -> str:
    """One CSV row per point: index, flops, params, acts, runtime_ms, images_per_s, design."""
    rows = ["index,flops,params,acts,runtime_ms,images_per_s,design"]
    for p in points:
        design = json.dumps(_plain(p.design), sort_keys=True).replace('"', '""')
        rows.append(
            f"{p.index},{p.flops},{p.params},{p.acts},{p.runtime_ms:.4f},"
            f'{p.images_per_s:.3f},"{design}"'
        )
    return "\n".join(rows) + "\n"


def _check_range(flops: Any) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in flops)
    except (TypeError, ValueError):
        raise ValueError(
            f"flops={flops!r} is invalid; allowed: (low, high) multiply-adds"
        ) from None
    if not 0 < lo < hi:
        raise ValueError(f"flops=({lo}, {hi}) is invalid; allowed: 0 < low < high")
    return lo, hi


def _plain(value: Any) -> Any:
    """numpy scalars/arrays and tuples to JSON-ready Python values, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
