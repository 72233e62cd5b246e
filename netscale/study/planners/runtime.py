"""The runtime-correlation planner: does complexity predict runtime on this device? The
RegNet paper's complexity analysis (Radosavovic et al. 2020, sec. 5, Fig. 12) on the user's
hardware.

Config section `runtime_correlation`: `space` (a built-in design space or a space YAML
file), `samples` (models to draw, >= 3), `flops` (an optional [low, high] band at the
space's own resolution), and how each model is measured with `netscale.profiling.profile`:
`device`, `batch` (64, as the paper), `resolution` (None: the space's), `mode` (infer |
train), `precision` (fp32 | bf16), `channels_last`, `compile`, `warmup`, `iters`. The
config's top-level `seed` draws the models. Its trials are profile trials: nothing is
trained and no data set is read (`needs_data = False`).
Report: runtime against flops, activations and params with Pearson and Spearman
correlations, the fit runtime ~ a*G + b*sqrt(G) + c (G = GMACs per image) with the F-test
of its sqrt term, and the measurements. Recommendation: which measure runtime follows most
closely and whether that correlation is significant, and what the fit explains.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from netscale.families import resolve_spec
from netscale.study.findings import p_text
from netscale.study.planners.base import (
    DataShape,
    Planner,
    flops_band,
    make_profile_trial,
    positive_int,
)
from netscale.study.records import StudyConfig, StudyConfigError, Trial, TrialPlan
from netscale.study.report_parts import Section, html_table
from netscale.study.runtime_fit import (
    METRICS,
    MIN_POINTS,
    Correlation,
    RuntimeFit,
    correlations,
    fit_runtime,
    formula,
)

if TYPE_CHECKING:
    from netscale.space import Space

NAME = "runtime_correlation"
MODES = ("infer", "train")  # as netscale.profiling.measure.MODES (tested equal; no torch here)
PRECISIONS = ("fp32", "bf16")  # as netscale.profiling.measure.PRECISIONS
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")
# Top-level config keys that only training uses: a value other than the default is refused.
_TRAINING_KEYS = ("data", "recipe", "recipe_overrides", "epochs", "minival")


class RuntimeCorrelation(Planner):
    """n models of a design space, each one's runtime measured (profile trials)."""

    name = NAME
    defaults: ClassVar[dict[str, Any]] = {
        "space": None, "samples": 50, "flops": None, "device": "cpu", "batch": 64,
        "resolution": None, "mode": "infer", "precision": "fp32", "channels_last": True,
        "compile": False, "warmup": 3, "iters": 10,
    }  # fmt: skip
    images = ("runtime_correlation",)
    needs_data = False

    def plan(self, config: StudyConfig, shape: DataShape | None) -> list[TrialPlan]:
        """`samples` models of the space drawn with the config's seed (within the band),
        each at the measurement resolution, with the measurement settings."""
        from netscale.space import sample
        from netscale.space.spaces import SpaceError

        _refuse_training_keys(config)
        sec = self.options(config)
        space = _space(sec["space"])
        samples = sec["samples"]
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < MIN_POINTS:
            raise StudyConfigError(
                f"{NAME}.samples={samples!r} is invalid: an integer >= {MIN_POINTS} "
                "(correlations need at least 3 models)"
            )
        band = flops_band(sec["flops"], f"{NAME}.flops")
        settings = _settings(sec)
        try:
            drawn = sample(space, samples, seed=config.seed, **({"flops": band} if band else {}))
        except SpaceError as err:
            raise StudyConfigError(f"{config.name}: {NAME}: {err}") from None
        trials = []
        for s in drawn:
            spec = s.spec
            if settings["resolution"] is not None:
                spec = resolve_spec(spec, resolution=settings["resolution"])
            measure = {**settings, "resolution": spec.resolution}
            trials.append(make_profile_trial(config, spec, space.name, design=dict(s.design),
                                             settings=measure))  # fmt: skip
        return trials

    def sections(
        self, trials: Sequence[Trial], done: Sequence[Trial], *, n_resamples: int, seed: int
    ) -> list[Section]:
        """The correlations with their plot, the runtime model, the measurements."""
        result = analyse(done)
        return [_correlation_section(result, done), _fit_section(result, len(done)),
                _measurements_section(done)]  # fmt: skip

    def recommend(self, trials: Sequence[Trial], done: Sequence[Trial]) -> str:
        """Which measure runtime follows (if significantly), then what the fit explains."""
        result = analyse(done)
        if result is None:
            return (
                f"Only {len(done)} of {len(trials)} models measured: correlations need at "
                f"least {MIN_POINTS}, so nothing to conclude yet."
            )
        parts = [_mixed_sentence(done), _correlation_sentence(result), _fit_sentence(result)]
        return " ".join(p for p in parts if p)


def _refuse_training_keys(config: StudyConfig) -> None:
    default = StudyConfig(name=config.name, planner=config.planner)
    for key in _TRAINING_KEYS:
        value = getattr(config, key)
        if value != getattr(default, key):
            raise StudyConfigError(
                f"{config.name}: {key}={value!r} does not apply to the {NAME} planner (its "
                f"trials measure runtime; nothing is trained, no data is read): remove {key}"
            )


def _space(value: Any) -> Space:
    """The section's `space` as a Space; errors name the key."""
    from netscale.space import load_space
    from netscale.space.spaces import SpaceError

    if not isinstance(value, str) or not value:
        raise StudyConfigError(
            f"{NAME}.space={value!r} is invalid: a design space name (e.g. regnet_x, "
            "anynet_xa) or the path of a space YAML file"
        )
    try:
        return load_space(value)
    except (SpaceError, FileNotFoundError) as err:
        raise StudyConfigError(f"{NAME}.space={value!r} is invalid: {err}") from None


def _settings(sec: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `netscale.profiling.profile` the section gives, checked."""
    device = sec["device"]
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise StudyConfigError(f"{NAME}.device={device!r} is invalid; allowed: cpu, cuda, cuda:N")
    for key, allowed in (("mode", MODES), ("precision", PRECISIONS)):
        if sec[key] not in allowed:
            raise StudyConfigError(
                f"{NAME}.{key}={sec[key]!r} is invalid; allowed: {', '.join(allowed)}"
            )
    for key in ("channels_last", "compile"):
        if not isinstance(sec[key], bool):
            raise StudyConfigError(f"{NAME}.{key}={sec[key]!r} is invalid; allowed: true, false")
    warmup = sec["warmup"]
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise StudyConfigError(f"{NAME}.warmup={warmup!r} is invalid: an integer >= 0")
    resolution = sec["resolution"]
    if resolution is not None:
        resolution = positive_int(resolution, f"{NAME}.resolution")
    return {"device": device, "batch": positive_int(sec["batch"], f"{NAME}.batch"),
            "resolution": resolution, "mode": sec["mode"], "precision": sec["precision"],
            "channels_last": sec["channels_last"], "compile": sec["compile"], "warmup": warmup,
            "iters": positive_int(sec["iters"], f"{NAME}.iters")}  # fmt: skip


# Analysis --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Analysis:
    """The measured models' runtimes (ms per batch of `batch`) and complexities, their
    correlations and the runtime fit (None with fewer than 4 models: it has 3 coefficients)."""

    runtime: np.ndarray
    complexity: dict[str, np.ndarray]
    correlations: tuple[Correlation, ...]
    fit: RuntimeFit | None
    batch: int


def analyse(done: Sequence[Trial]) -> Analysis | None:
    """The analysis of the completed profile trials; None with fewer than 3."""
    if len(done) < MIN_POINTS:
        return None
    runtime = np.array([(t.metrics or {})["runtime_ms"] for t in done], dtype=float)
    complexity = {m: np.array([getattr(t, m) for t in done], dtype=float) for m in METRICS}
    fit = fit_runtime(complexity["flops"], runtime) if len(done) > MIN_POINTS else None
    return Analysis(runtime, complexity, correlations(runtime, complexity), fit,
                    int(done[0].recipe["batch"]))  # fmt: skip


def _where(done: Sequence[Trial]) -> Counter[str]:
    """How many models were measured on each device and thread count."""
    return Counter(
        f"{m.get('device')} ({m.get('device_name', '?')}, {m.get('threads')} threads)"
        for m in (t.metrics or {} for t in done)
    )


def _mixed_sentence(done: Sequence[Trial]) -> str:
    where = _where(done)
    if len(where) < 2:
        return ""
    listed = "; ".join(f"{n} on {w}" for w, n in where.most_common())
    return f"Caution: runtimes from {len(where)} different settings ({listed}) are not comparable."


def _correlation_sentence(a: Analysis) -> str:
    n = a.runtime.size
    ranked = sorted((c for c in a.correlations if np.isfinite(c.pearson)),
                    key=lambda c: c.pearson, reverse=True)  # fmt: skip
    if not ranked:
        return f"No complexity measure varies across the {n} measured models."
    top = ranked[0]
    if not (top.pearson > 0 and top.pearson_p < 0.05):
        return (
            f"No complexity measure correlates significantly with runtime (highest: "
            f"{top.metric}, Pearson r={top.pearson:.2f}, {p_text(top.pearson_p)}; n={n})."
        )
    others = ", ".join(f"{c.pearson:.2f} for {c.metric}" for c in ranked[1:])
    return (
        f"Runtime follows {top.metric} most closely: Pearson r={top.pearson:.2f} "
        f"({p_text(top.pearson_p)}), Spearman rho={top.spearman:.2f}"
        + (f", against r = {others}" if others else "")
        + f" (n={n})."
    )


def _fit_sentence(a: Analysis) -> str:
    f = a.fit
    if f is None:
        return f"The runtime fit a G + b sqrt(G) + c needs at least 4 models (n={a.runtime.size})."
    text = (
        f"The fit runtime = {formula(f)} ms (G = GMACs per image) explains R2={f.r2:.2f} of "
        f"its variance (a line a G + c: {f.r2_linear:.2f})"
    )
    if not np.isfinite(f.p_sqrt):
        return f"{text}."
    verdict = "is significant" if f.p_sqrt < 0.05 else "adds nothing significant"
    return f"{text}; the sqrt(G) term {verdict} (F-test {p_text(f.p_sqrt)})."


# Report sections -------------------------------------------------------------------------


def _title(done: Sequence[Trial]) -> str:
    s = done[0].recipe
    groups = ", ".join(dict.fromkeys(t.group for t in done))
    where = ", ".join(_where(done))
    return f"{groups}: {len(done)} models, {s['mode']} {s['precision']}, {where}"


def _correlation_section(a: Analysis | None, done: Sequence[Trial]) -> Section:
    from netscale.study import plots
    from netscale.study.runtime_fit import plot_runtime

    sec = Section("Runtime versus complexity")
    if a is None:
        text = f"{len(done)} models measured: correlations need at least {MIN_POINTS}"
        sec.images.append(("runtime_correlation", plots.figure_png(plots.message_figure(text))))
        return sec
    fig = plot_runtime(a.runtime, a.complexity, a.correlations, a.fit, batch=a.batch,
                       title=_title(done))  # fmt: skip
    sec.images.append(("runtime_correlation", plots.figure_png(fig)))
    rows = [[c.metric, f"{c.pearson:.3f}", f"{c.pearson_p:.3g}", f"{c.spearman:.3f}",
             f"{c.spearman_p:.3g}"] for c in a.correlations]  # fmt: skip
    sec.body.append(html_table(["runtime vs", "Pearson r", "p", "Spearman ρ", "p"], rows))
    sec.body.append(
        f"<p>Runtime: median time of one step on a batch of {a.batch} images; flops "
        "(multiply-adds), activations and params per image at the measured resolution "
        "(Radosavovic et al. 2020, sec. 5, Fig. 12).</p>"
    )
    return sec


def _fit_section(a: Analysis | None, n: int) -> Section:
    sec = Section("Runtime model: a·G + b·√G + c")
    if a is None or a.fit is None:
        sec.body.append(f"<p>The fit has 3 coefficients: it needs at least 4 models (n={n}).</p>")
        return sec
    f = a.fit
    head = ["a (ms per GMAC)", "b", "c (ms)", "R²", "R² of a·G + c", "F-test p of √G"]
    sec.body.append(html_table(head, [[f"{f.a:.4g}", f"{f.b:.4g}", f"{f.c:.4g}", f"{f.r2:.3f}",
                                       f"{f.r2_linear:.3f}", f"{f.p_sqrt:.3g}"]]))  # fmt: skip
    sec.body.append(
        f"<p>Least squares over the {a.runtime.size} models, G = GMACs per image. The paper "
        "models runtime with a linear and a square-root term because it depends on both "
        "flops and activations; the F-test asks whether the √G term explains more than the "
        "line a·G + c does.</p>"
    )
    return sec


def _measured_row(t: Trial) -> list[Any]:
    m = t.metrics or {}
    sizes = [f"{t.flops / 1e9:.4f}", f"{t.acts / 1e6:.3f}", f"{t.params / 1e6:.3f}"]
    return [t.trial_id, t.group, *sizes, f"{m['runtime_ms']:.2f}", f"{m['images_per_s']:.1f}"]


def _measurements_section(done: Sequence[Trial]) -> Section:
    sec = Section("Measurements")
    if not done:
        sec.body.append("<p>No model measured yet.</p>")
        return sec
    settings = ", ".join(f"{k} {v}" for k, v in done[0].recipe.items())
    where = "; ".join(f"{n} models on {w}" for w, n in _where(done).items())
    text = (
        f"profile() settings: {settings}. Measured: {where}. ms per batch is the median "
        "step; images/s comes from the mean step, so a slow outlier step lowers it only."
    )
    sec.body.append(f"<p>{html.escape(text)}</p>")
    head = ["trial", "group", "GMACs", "acts (M)", "params (M)", "ms per batch", "images/s"]
    by_runtime = sorted(done, key=lambda t: (t.metrics or {})["runtime_ms"])
    sec.body.append(html_table(head, [_measured_row(t) for t in by_runtime]))
    return sec
