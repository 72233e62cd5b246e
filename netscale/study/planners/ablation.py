"""The ablation planner: ResNet-RS Table 1's additive ladder (Bello et al. 2021): the
paper's plain training (BASELINE, paper_schedule; a plain Recipe, whatever recipe the config
names), then Table 1's steps in its order, each on top of the last, each changing exactly
its own fields. Section `ablation`: `depth`, `resolution`, `small_images`, `baseline`
(changes to it), `steps` (names, or `{name: {field: value}}`), `seeds`; the top-level
`epochs` is the baseline's, a step may set its own. Report: the ladder's bars and gains;
recommendation: the largest single gain against seed noise, and the whole ladder's gain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from netscale.complexity import count
from netscale.families import resolve_spec
from netscale.families.resnet import RESNET_DEPTHS, resnet
from netscale.spec import NetSpec, SpecError, spec_id, to_dict
from netscale.study.findings import completed
from netscale.study.planners.base import DataShape, Planner, positive_int, small_image_stem
from netscale.study.records import StudyConfig, StudyConfigError, Trial, TrialPlan
from netscale.study.report_parts import Section, format_number, html_table
from netscale.study.statistics import AnalysisError
from netscale.training.recipe import Recipe, RecipeError, recipe_from_dict, recipe_to_dict

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# ResNet-RS Table 1's steps, in its order; each adds to the one before. Values are for
# short runs and small images; a config changes them in ablation.steps.
LADDER: dict[str, dict[str, Any]] = {
    "cosine": {"schedule": "cosine"},
    "more_epochs": {"epochs": None},  # None: round(epochs before it * 350 / 90), as 90 -> 350
    "ema": {"ema_decay": 0.999},
    "label_smoothing": {"label_smoothing": 0.1},
    "stochastic_depth": {"drop_path_rate": 0.1},
    "randaugment": {"randaug_layers": 2, "randaug_magnitude": 10.0},  # TF scale: RS-50/101 configs
    "dropout": {"dropout_rate": 0.25},
    "lower_weight_decay": {"weight_decay": 4e-5},
    "se": {"se_ratio": 0.25},
    "resnet_d": {"resnet_d": True},
}
_SPEC_KEYS = ("se_ratio", "resnet_d")  # steps that change the network, not the recipe
PAPER_EPOCHS = (90, 350)  # Table 1: the baseline's epochs, then "increase training epochs"

# Table 1's baseline, the paper's plain training (ResNet-200, the standard 90 epochs, step
# decay; tensorflow/tpu models/official/resnet: resnet_config.py, resnet_main.py), with
# paper_schedule below. The ladder pins these fields: recipe_overrides may not set them.
BASELINE: dict[str, Any] = {
    "optimizer": "sgd", "lr": 0.1, "lr_batch": 256, "momentum": 0.9, "nesterov": True,
    "weight_decay": 1e-4, "label_smoothing": 0.0, "ema_decay": 0.0, "randaug_layers": 0,
    "randaug_magnitude": 0.0, "dropout_rate": 0.0, "drop_path_rate": 0.0, "mixup_alpha": 0.0,
    "cutmix_alpha": 0.0, "random_erasing": 0.0, "se_ratio": 0.0, "resnet_d": False,
}  # fmt: skip
_IDENTITY = {"name": "ablation", "source": "ResNet-RS Table 1 ladder (Bello et al. 2021)"}
_NOT_A_STEP_FIELD = ("name", "source", "resolution")  # fixed by the ladder, or by ablation.*
_STEP_FIELDS = sorted({f.name for f in dataclasses.fields(Recipe)} - set(_NOT_A_STEP_FIELD)
                      | set(_SPEC_KEYS))  # fmt: skip


def paper_schedule(epochs: int) -> dict[str, Any]:
    """The baseline's lr schedule for `epochs`: the paper's code warms up over 5 of 90 epochs,
    then multiplies the lr by 0.1 at epochs 30, 60 and 80 of 90 (Recipe's "step" schedule,
    milestones as fractions of the epochs)."""
    paper = {"warmup_epochs": epochs * 5 / 90, "decay_rate": 0.1}
    return {**paper, "schedule": "step", "decay_milestones": (1 / 3, 2 / 3, 8 / 9)}


@dataclass(frozen=True, slots=True)
class Rung:
    """A step of the ladder: every field it trains with (recipe's and _SPEC_KEYS), changes."""

    name: str
    settings: dict[str, Any]
    changes: dict[str, Any]  # what it changes over the step before (the baseline: nothing)


class Ablation(Planner):
    """ResNet-RS's additive training and architecture ladder."""

    name = "ablation"
    defaults: ClassVar[dict[str, Any]] = {
        "depth": 18, "resolution": 32, "small_images": True, "baseline": {},
        "steps": list(LADDER), "seeds": 1
    }  # fmt: skip
    images = ("ablation",)

    def check_section(self, section: Mapping[str, Any], source: str) -> None:
        """As Planner's, with a pointer for configs written before `values` moved."""
        if "values" in section:
            msg = "ablation.values is gone: give values in steps, e.g. - ema: {ema_decay: 0.98}"
            raise StudyConfigError(f"{source}: {msg}")
        super().check_section(section, source)

    def plan(self, config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
        """The baseline, then each step (with every change of the steps before it), each
        `seeds` times."""
        sec = self.options(config)
        seeds = positive_int(sec["seeds"], "ablation.seeds")
        trials = []
        for index, rung in enumerate(ladder(config)):
            spec = _ladder_spec(sec, shape, rung.settings)
            recipe = recipe_to_dict(_recipe(rung, spec.resolution))
            trials += [_trial(spec, recipe, rung, index, config.seed + rep) for rep in range(seeds)]
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


# The ladder -----------------------------------------------------------------------------


def ladder(config: StudyConfig) -> list[Rung]:
    """The baseline and each step of `config`'s ablation section, resolved and checked: every
    field a step names changes, and nothing else does. Errors name the config key."""
    sec = Ablation().options(config)
    steps = _steps(sec["steps"])
    _check_top_level(config, {k for _, _, values in steps for k in values})
    rungs = [Rung("baseline", _baseline(config, sec["baseline"]), {})]
    for key, name, values in steps:
        before, changes = rungs[-1].settings, dict(values)
        if "epochs" in changes and changes["epochs"] is None:
            changes["epochs"] = round(before["epochs"] * PAPER_EPOCHS[1] / PAPER_EPOCHS[0])
        for k in [k for k, v in changes.items() if before[k] == v][:1]:
            raise StudyConfigError(
                f"{key} ({name}): {k}={changes[k]!r} changes nothing (the trials before it "
                "have that value already); each step must change what it names"
            )
        rungs.append(Rung(name, {**before, **changes}, changes))
        _check_values(rungs[-1], f"{key} ({name})")
        if name == "more_epochs" and changes["epochs"] < before["epochs"]:
            raise StudyConfigError(
                f"{key} (more_epochs): epochs={changes['epochs']!r} is invalid: must be more "
                f"than the {before['epochs']} epochs before it"
            )
    return rungs


def _check_top_level(config: StudyConfig, step_fields: set[str]) -> None:
    """The config's `recipe` is not used; `recipe_overrides` may not set what the ladder
    sets (the baseline's fields, the steps' fields, epochs, resolution)."""
    if config.recipe != StudyConfig(name="", planner="ablation").recipe:
        msg = "the baseline is the paper's plain training: remove recipe; see ablation.baseline"
        raise StudyConfigError(f"{config.name}: recipe={config.recipe!r} does not apply: {msg}")
    pinned = {**BASELINE, **paper_schedule(1)}.keys() | step_fields
    for key in config.recipe_overrides:
        where = {"epochs": "the top-level epochs (the baseline's) or a step's epochs",
                 "resolution": "ablation.resolution"}.get(key)  # fmt: skip
        if where or key in pinned:
            where = where or "ablation.baseline, or the values of the step that changes it"
            raise StudyConfigError(
                f"{config.name}: recipe_overrides.{key} cannot be honoured by the ablation "
                f"ladder, which sets {key} itself; set it in {where}"
            )


def _baseline(config: StudyConfig, own: Any) -> dict[str, Any]:
    """The baseline's fields: a plain Recipe, recipe_overrides, BASELINE, paper_schedule,
    ablation.baseline."""
    if not isinstance(own, dict):
        msg = "a mapping of fields to values, e.g. {weight_decay: 5.0e-4}"
        raise StudyConfigError(f"ablation.baseline={own!r} is invalid: {msg}")
    _check_fields(own, "ablation.baseline", refuse=("epochs",))
    try:
        plain = recipe_to_dict(recipe_from_dict(_IDENTITY, **config.recipe_overrides))
    except RecipeError as err:
        raise StudyConfigError(f"{config.name}: recipe_overrides: {err}") from None
    settings = {**plain, **BASELINE, **paper_schedule(config.epochs), **own}
    settings["epochs"] = config.epochs
    _check_values(Rung("baseline", settings, own), "ablation.baseline")
    return settings


def _steps(value: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(config key, name, values) of each entry of ablation.steps."""
    if not isinstance(value, list) or not value:
        raise StudyConfigError(
            f"ablation.steps={value!r} is invalid: a non-empty list of steps, each a name or "
            f"{{name: {{field: value}}}}; Table 1's: {', '.join(LADDER)}"
        )
    out: list[tuple[str, str, dict[str, Any]]] = []
    allowed = ", ".join(LADDER)
    for i, entry in enumerate(value):
        key = f"ablation.steps[{i}]"
        name, given = _entry(entry, key)
        if name == "baseline":
            msg = "the baseline is always the first trial; change it under ablation.baseline"
            raise StudyConfigError(f"{key}: 'baseline' is not a step: {msg}")
        if name in [n for _, n, _ in out]:
            raise StudyConfigError(f"{key}: step {name!r} appears twice; each step is one trial")
        if name not in LADDER and not given:
            own = f"or a step of your own with its values, e.g. {{{name}: {{mixup_alpha: 0.2}}}}"
            raise StudyConfigError(f"{key}: step {name!r} is unknown; allowed: {allowed}, {own}")
        out.append((key, name, {**LADDER.get(name, {}), **(given or {})}))
        _check_fields(out[-1][2], f"{key} ({name})")
    return out


def _entry(entry: Any, key: str) -> tuple[str, dict[str, Any] | None]:
    """A steps entry as (name, its own values or None)."""
    name, given = entry, None
    if isinstance(entry, dict) and len(entry) == 1:
        ((name, given),) = entry.items()
    if isinstance(name, str) and name and (given is None or isinstance(given, dict)):
        return name, given
    msg = "a step's name, or {name: {field: value, ...}} (one name, a mapping of its values)"
    raise StudyConfigError(f"{key}={entry!r} is invalid: {msg}")


def _check_fields(values: dict[str, Any], key: str, refuse: Sequence[str] = ()) -> None:
    for field in values:
        if field in refuse or field not in _STEP_FIELDS:
            allowed = ", ".join(f for f in _STEP_FIELDS if f not in refuse)
            raise StudyConfigError(f"{key}: {field!r} is not a field it sets; allowed: {allowed}")


def _check_values(rung: Rung, key: str) -> None:
    """Each value the rung changes is one its recipe and network accept (errors name key)."""
    se, resnet_d = rung.settings["se_ratio"], rung.settings["resnet_d"]
    if isinstance(se, bool) or not isinstance(se, int | float) or not 0.0 <= se < 1.0:
        raise StudyConfigError(f"{key}: se_ratio={se!r} is invalid: a number in [0, 1)")
    if not isinstance(resnet_d, bool):
        raise StudyConfigError(f"{key}: resnet_d={resnet_d!r} is invalid: true or false")
    try:
        _recipe(rung, None)
    except RecipeError as err:
        raise StudyConfigError(f"{key}: {err}") from None


def _recipe(rung: Rung, resolution: int | None) -> Recipe:
    fields = {k: v for k, v in rung.settings.items() if k not in _SPEC_KEYS}
    return Recipe(**{**fields, "resolution": resolution})


def _trial(spec: NetSpec, recipe: dict[str, Any], rung: Rung, step: int, seed: int) -> TrialPlan:
    """One trial: it trains at the spec's resolution for the rung's epochs."""
    cx = count(spec)
    meta = {"step": step, "name": rung.name, "changes": rung.changes}
    return TrialPlan(group=rung.name, spec=to_dict(spec), spec_id=spec_id(spec), recipe=recipe,
                     seed=seed, epochs=recipe["epochs"], flops=cx.flops, params=cx.params,
                     acts=cx.acts, design={"step": float(step)}, meta=meta)  # fmt: skip


def _ladder_spec(sec: dict[str, Any], shape: DataShape, settings: dict[str, Any]) -> NetSpec:
    depth, small, d = sec["depth"], sec["small_images"], settings["resnet_d"]
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in RESNET_DEPTHS:
        allowed = ", ".join(map(str, sorted(RESNET_DEPTHS)))
        raise StudyConfigError(f"ablation.depth={depth!r} is invalid; allowed: {allowed}")
    if not isinstance(small, bool):
        raise StudyConfigError(f"ablation.small_images={small!r} is invalid: true or false")
    resolution = positive_int(sec["resolution"], "ablation.resolution")
    try:  # a resolution below the network's stride, say
        spec = resnet(depth, deep_stem=d, avg_shortcut=d, se_ratio=float(settings["se_ratio"]),
                      resolution=resolution, stem_pool="none" if small else "max")  # fmt: skip
        spec = small_image_stem(spec) if small else spec
        return resolve_spec(spec, num_classes=shape.num_classes, in_width=shape.in_width)
    except SpecError as err:
        raise StudyConfigError(f"ablation.{err}") from None


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
