"""The ablation planner: ResNet-RS Table 1's additive ladder (Bello et al. 2021). A baseline
(step decay, weight decay 1e-4), then cosine, EMA, label smoothing, stochastic depth,
RandAugment, dropout, weight decay 4e-5, SE and ResNet-D, each step on top of the last.

Config section `ablation`: the ResNet's `depth` and `resolution`, `small_images`, the
`steps` (starting with baseline), `values` to change a step's settings, `seeds`. Report:
the ladder as bars and a table of each step's gain. Recommendation: the largest single
gain against two standard errors of seed noise, and the whole ladder's gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from netscale.families import resolve_spec
from netscale.families.resnet import resnet
from netscale.spec import NetSpec
from netscale.study.findings import completed
from netscale.study.planners.base import (
    DataShape,
    Planner,
    make_trial,
    positive_int,
    small_image_stem,
)
from netscale.study.records import StudyConfig, StudyConfigError, Trial, TrialPlan
from netscale.study.report_parts import Section, format_number, html_table
from netscale.study.statistics import AnalysisError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# ResNet-RS Table 1's ladder, in its order; each step adds to the one before. Values are for
# short runs and small images and can be changed under ablation.values.
LADDER: dict[str, dict[str, Any]] = {
    "baseline": {"schedule": "exponential", "decay_rate": 0.1, "weight_decay": 1e-4},
    "cosine": {"schedule": "cosine"},
    "ema": {"ema_decay": 0.999},
    "label_smoothing": {"label_smoothing": 0.1},
    "stochastic_depth": {"drop_path_rate": 0.1},
    "randaugment": {"randaug_layers": 2, "randaug_magnitude": 5.0},
    "dropout": {"dropout_rate": 0.25},
    "lower_weight_decay": {"weight_decay": 4e-5},
    "se": {"se_ratio": 0.25},
    "resnet_d": {"resnet_d": True},
}
_SPEC_KEYS = ("se_ratio", "resnet_d")  # steps that change the network, not the recipe


class Ablation(Planner):
    """ResNet-RS's additive training and architecture ladder."""

    name = "ablation"
    defaults: ClassVar[dict[str, Any]] = {
        "depth": 18, "resolution": 32, "small_images": True, "steps": list(LADDER),
        "values": {}, "seeds": 1
    }  # fmt: skip
    images = ("ablation",)

    def plan(self, config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
        """Each step (with every change of the steps before it) `seeds` times."""
        sec = self.options(config)
        steps = sec["steps"]
        if not isinstance(steps, list) or not steps or steps[0] != "baseline":
            raise StudyConfigError("ablation.steps must be a list that starts with 'baseline'")
        bad = [s for s in steps if s not in LADDER]
        if bad:
            allowed = ", ".join(LADDER)
            raise StudyConfigError(f"ablation step {bad[0]!r} is unknown; allowed: {allowed}")
        values = {**{k: dict(v) for k, v in LADDER.items()}, **sec["values"]}
        values["baseline"].setdefault("decay_epochs", max(config.epochs * 0.3, 1e-3))
        seeds = positive_int(sec["seeds"], "ablation.seeds")
        changes: dict[str, Any] = {}
        trials = []
        for index, step in enumerate(steps):
            changes.update(values[step])
            spec = _ladder_spec(sec, shape, changes)
            recipe = {k: v for k, v in changes.items() if k not in _SPEC_KEYS}
            meta = {"step": index, "name": step}
            trials += [
                make_trial(config, spec, step, design={"step": float(index)}, meta=meta,
                           seed=config.seed + rep, recipe_changes=recipe)
                for rep in range(seeds)
            ]  # fmt: skip
        return trials

    def sections(
        self, trials: Sequence[Trial], done: Sequence[Trial], *, n_resamples: int, seed: int
    ) -> list[Section]:
        """The ladder (every step, completed or not) as a plot and a table."""
        return [_ablation_section(trials)]

    def recommend(self, trials: Sequence[Trial], done: Sequence[Trial]) -> str:
        """The largest single gain against seed noise, then the whole ladder's gain."""
        rows = ablation_table(trials)
        gains = [r for r in rows if np.isfinite(r.gain_prev)]
        if not gains:
            return "No two consecutive ladder steps have completed trials yet: no gain to measure."
        top = max(gains, key=lambda r: r.gain_prev)
        if not np.isfinite(top.gain_se):
            note = "fewer than two seeds per step: no spread measured, it may be noise"
        elif abs(top.gain_prev) > 2 * top.gain_se:
            note = f"+-{2 * top.gain_se:.2f} at two standard errors"
        else:
            note = f"within seed noise, +-{2 * top.gain_se:.2f} at two standard errors"
        text = f"The ladder's largest single gain is {top.name}: {top.gain_prev:+.2f} points top-1"
        text += f" ({note})."
        measured = [r for r in rows if r.n]
        if len(measured) > 2 and rows[0].n:  # more than one step over the baseline
            last = measured[-1]
            text += (
                f" Through {last.name}, the ladder adds {last.gain_baseline:+.2f} points over "
                f"the baseline ({rows[0].mean_top1:.2f}% -> {last.mean_top1:.2f}%)."
            )
        return text


def _ladder_spec(sec: dict[str, Any], shape: DataShape, changes: dict[str, Any]) -> NetSpec:
    d = bool(changes.get("resnet_d"))
    spec = resnet(
        sec["depth"],
        deep_stem=d,
        avg_shortcut=d,
        se_ratio=float(changes.get("se_ratio", 0.0)),
        resolution=sec["resolution"],
        stem_pool="none" if sec["small_images"] else "max",
    )
    if sec["small_images"]:
        spec = small_image_stem(spec)
    return resolve_spec(spec, num_classes=shape.num_classes, in_width=shape.in_width)


# The ladder table ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AblationRow:
    """One step of an additive ladder (ResNet-RS Table 1): top-1 (%) over completed seeds."""

    step: int
    name: str
    n: int  # completed seeds
    planned: int  # trials of this step, any status
    mean_top1: float  # NaN while no seed has completed
    std_top1: float  # sample std (ddof=1); NaN with fewer than 2 seeds
    gain_prev: float  # points over the previous step; NaN for the baseline or a missing step
    gain_baseline: float  # points over the first step
    gain_se: float  # standard error of gain_prev; NaN unless both steps have >= 2 seeds


def top1_of(trial: Trial) -> float:
    """Top-1 accuracy (%) of a completed trial (100 - error where top1 is missing)."""
    metrics = trial.metrics or {}
    return float(metrics.get("top1", 100.0 - float(metrics["error"])))


def _step_of(trial: Trial) -> tuple[int, str]:
    step = trial.meta.get("step", trial.design.get("step"))
    if step is None:
        raise AnalysisError(
            f"trial {trial.trial_id} has no ablation step: expected meta['step'] or "
            "design['step'] (an integer)"
        )
    return int(step), str(trial.meta.get("name", trial.group))


def ablation_table(trials: Sequence[Trial]) -> list[AblationRow]:
    """Ladder steps in order with mean/std top-1 over seeds and each step's gain over the
    previous step and over the baseline (the first step), in points of top-1."""
    steps: dict[int, tuple[str, list[Trial]]] = {}
    for t in trials:
        step, name = _step_of(t)
        steps.setdefault(step, (name, []))[1].append(t)
    rows: list[AblationRow] = []
    for step in sorted(steps):
        name, ts = steps[step]
        top1 = np.array([top1_of(t) for t in completed(ts)])
        mean = float(top1.mean()) if top1.size else np.nan
        std = float(top1.std(ddof=1)) if top1.size > 1 else np.nan
        prev, base = (rows[-1], rows[0]) if rows else (None, None)
        gain_prev = mean - prev.mean_top1 if prev else np.nan
        se = np.nan
        if prev and top1.size > 1 and prev.n > 1:
            se = float(np.sqrt(std**2 / top1.size + prev.std_top1**2 / prev.n))
        gain_base = mean - (base.mean_top1 if base else mean)  # the baseline's own gain is 0
        rows.append(AblationRow(step=step, name=name, n=int(top1.size), planned=len(ts),
                                mean_top1=mean, std_top1=std, gain_prev=gain_prev,
                                gain_baseline=gain_base, gain_se=se))  # fmt: skip
    return rows


def _ablation_section(trials: Sequence[Trial]) -> Section:
    from netscale.study import plots

    rows = ablation_table(trials)
    sec = Section("Additive ablation")
    sec.images.append(("ablation", plots.figure_png(plot_ablation(rows))))
    cells = []
    for r in rows:
        se = f" +-{2 * r.gain_se:.2f}" if np.isfinite(r.gain_se) else ""
        top1 = format_number(r.mean_top1, ".2f", unit="%")
        std = format_number(r.std_top1, ".2f")
        gain = format_number(r.gain_prev, "+.2f") + se
        vs_base = format_number(r.gain_baseline, "+.2f")
        cells.append([r.step, r.name, f"{r.n}/{r.planned}", top1, std, gain, vs_base])
    head = ["step", "name", "seeds done", "top-1", "std", "gain (+-2 se)", "vs baseline"]
    sec.body.append(html_table(head, cells))
    return sec


def plot_ablation(rows: Sequence[AblationRow]) -> Figure:
    """The additive ladder as bars of mean top-1 (error bars: std over seeds), each labeled
    with its gain over the previous step; steps with no completed seed are hatched."""
    from netscale.study import plots

    if not rows or not any(r.n for r in rows):
        return plots.message_figure("ablation: no completed trials yet")
    fig, (ax,) = plots.new_figure(size=(max(4.0, 0.7 * len(rows) + 1.5), 3.4))
    done = [r for r in rows if r.n]
    lo = min(r.mean_top1 for r in done)
    hi = max(r.mean_top1 for r in done)
    pad = max(1.0, 0.15 * (hi - lo))
    for i, r in enumerate(rows):
        if not r.n:
            ax.bar(i, hi - lo + pad, bottom=lo - pad, color="none", edgecolor="0.6", hatch="//")
            continue
        err = r.std_top1 if np.isfinite(r.std_top1) else 0.0
        bottom = lo - pad
        ax.bar(i, r.mean_top1 - bottom, bottom=bottom, color=plots.color(0), yerr=err, capsize=3)
        if np.isfinite(r.gain_prev):
            label = f"{r.gain_prev:+.2f}"
            ax.text(i, r.mean_top1 + err, label, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)), [r.name for r in rows], rotation=30, ha="right", fontsize=7)
    ax.set(ylabel="top-1 (%)", title="additive ablation", ylim=(lo - pad, hi + 2 * pad))
    ax.grid(alpha=0.3, axis="y")
    return fig
