"""The training-aware search planner: EfficientNetV2's neural architecture search (Tan & Le
2021, "EfficientNetV2: Smaller Models and Faster Training", sec. 3.3) as a study.

The paper searches a stage-based factorized space: per stage the convolution type {MBConv,
Fused-MBConv}, the number of layers, the kernel size {3x3, 5x5} and the expansion ratio
{1, 4, 6}, keeping the backbone's channel sizes ("they are already searched"); it trains
each sampled model about 10 epochs at a reduced image size and ranks them by the reward
A * S^w * P^v (A: accuracy, S: training step time, P: parameter size; w = -0.07,
v = -0.05, `reward`).

Config section `training_aware`: `base` (a registered model or spec file whose stage widths
and strides every candidate keeps; efficientnet_v2_s), `small_images` (a stride-1 stem,
`base.small_image_stem`), `resolution` (the proxies' reduced training resolution; None:
the base's), `width_ratio` (None, or every width times it, rounded by
`netscale.scaling.width` without the 10% rule, as V2's code rounds), `stages` (None, or keep
the first N stages), `space` (the per-stage choices, inline or a YAML file of the same keys;
a key left out keeps `DEFAULT_SPACE`'s: `block`, `kernel`, `expansion_ratio`,
`depth_offset` (added to the base stage's depth, at least 1) and `se` (true: the base
stage's SE ratio, else the base's largest, else 0.25); `se` is netscale's addition, the
paper's space has none), `samples` (candidates), `reward` {w, v} and `step_time` (how S is
measured: `batch` (None: the recipe's), `warmup`, `iters`, `precision` (None: the one the
trial trained in), `channels_last` (None: the recipe's)).

The searcher is random search: candidates are drawn stage by stage from a
`numpy.random.default_rng(seed)` with the config's `seed`, deduplicated by spec_id; a draw
the spec refuses (an even kernel, say: the spec is the one home of those rules) is drawn
again, at most `max(1000, 100 * samples)` times in all. Not reinforcement learning (the
paper's other option), evolution or TPE: a planner plans every trial when the study is
created (the ledger fixes them; that is what lets any number of runners share a study and a
killed one resume), so a searcher that picks the next candidate from the last results does
not fit; the paper notes that this reduced space can "simply" be searched at random.

Each trial is of kind "search": trained as any trial, then the time of its training step
is measured on the device (and in the threads) that trained it
(`profile_trial.time_steps`); P is the analytic parameter count. Report: the reward
ranking, error against step time with its Pareto front, the random-search efficiency of
the reward, error trends per choice, the chosen model (written beside the report as
best.yaml). Recommendation: the best candidate by reward.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from netscale.spec import NetSpec, SpecError, StageSpec, dumps, from_dict, spec_id
from netscale.spec.io import check_keys, load_yaml_mapping
from netscale.study.findings import by_group, completed
from netscale.study.planners.base import DataShape, Planner, base_spec, make_trial, positive_int
from netscale.study.planners.design_space import trends_section
from netscale.study.records import StudyConfig, StudyConfigError, Trial, TrialPlan
from netscale.study.report_parts import PARETO_IMAGES, Cost, Section, html_table, pareto_section
from netscale.study.statistics import random_search_efficiency

NAME = "training_aware"
GROUP = "candidates"  # every candidate's group (one population, drawn at random)
# EfficientNetV2 sec. 3.3: "w = -0.07 and v = -0.05 are empirically determined".
PAPER_REWARD = {"w": -0.07, "v": -0.05}
# EfficientNetV2 sec. 3.3's space (depth as offsets around the base's; `se` added here).
DEFAULT_SPACE: dict[str, list[Any]] = {
    "block": ["mbconv", "fused_mbconv"], "kernel": [3, 5], "expansion_ratio": [1, 4, 6],
    "depth_offset": [-1, 0, 1], "se": [True, False],
}  # fmt: skip
BLOCKS = ("mbconv", "fused_mbconv")
STEP_TIME = {"batch": None, "warmup": 3, "iters": 10, "precision": None, "channels_last": None}
PRECISIONS = ("fp32", "bf16")  # as netscale.profiling.measure.PRECISIONS (no torch here)
MIN_RANKED = 3  # candidates with a reward before the recommendation calls the ranking


def reward(accuracy: float, step_ms: float, params: float, *, w: float, v: float) -> float:
    """EfficientNetV2's search reward A * S^w * P^v (Tan & Le 2021, sec. 3.3): A the top-1
    accuracy as a fraction, S the training step time, P the parameter count; w, v <= 0
    (the paper's -0.07 and -0.05, `PAPER_REWARD`). The paper normalizes S; a unit or a
    normalization multiplies every candidate's S (or P) by one constant c, and so every
    reward by c^w: the ranking does not depend on it, and S stays in ms here."""
    if not (step_ms > 0 and params > 0):
        raise ValueError(f"step time {step_ms!r} and params {params!r} must be > 0")
    return accuracy * step_ms**w * params**v


# Planning ---------------------------------------------------------------------------------


class TrainingAware(Planner):
    """Random candidates of a stage-wise space, trained, timed and ranked by reward."""

    name = NAME
    defaults: ClassVar[dict[str, Any]] = {
        "base": "efficientnet_v2_s", "small_images": False, "resolution": None,
        "width_ratio": None, "stages": None, "space": None, "samples": 20,
        "reward": dict(PAPER_REWARD), "step_time": dict(STEP_TIME),
    }  # fmt: skip
    images = ("trends", "random_search_reward", *PARETO_IMAGES)

    def plan(self, config: StudyConfig, shape: DataShape) -> list[TrialPlan]:
        """`samples` distinct candidates drawn with the config's seed, each a search trial
        whose meta holds its step-time settings and reward weights."""
        sec = self.options(config)
        base = _base(sec, shape)
        space = load_search_space(sec["space"])
        samples = positive_int(sec["samples"], f"{NAME}.samples")
        weights = _reward_weights(sec["reward"])
        timing = _step_time(sec["step_time"])
        trials = []
        for spec, design in draw_candidates(base, space, samples, config.seed):
            t = make_trial(config, spec, GROUP, design=design, kind="search")
            settings = {"batch": timing["batch"] or t.recipe["batch_size"],
                        "resolution": spec.resolution, "warmup": timing["warmup"],
                        "iters": timing["iters"], "precision": timing["precision"],
                        "channels_last": _or(timing["channels_last"],
                                             t.recipe["channels_last"])}  # fmt: skip
            trials.append(dataclasses.replace(t, meta={"step_time": settings, "reward": weights}))
        return trials

    def sections(
        self, trials: Sequence[Trial], done: Sequence[Trial], *, n_resamples: int, seed: int
    ) -> list[Section]:
        """The ranking, the step-time front, random-search efficiency, trends, the choice."""
        ranked = rank(done)
        return [_ranking_section(ranked, len(trials)),
                pareto_section(by_group(done), STEP_COST, "Error versus training step time"),
                _random_search_section(ranked),
                trends_section(by_group(done), n_resamples, seed),
                _chosen_section(ranked)]  # fmt: skip

    def recommend(self, trials: Sequence[Trial], done: Sequence[Trial]) -> str:
        """The best candidate by reward with its numbers; how many are done."""
        ranked = rank(done)
        if not ranked:
            return "No candidate has a measured step time yet: nothing to rank."
        (best, r), n = ranked[0], len(ranked)
        w, v = (best.meta["reward"][k] for k in ("w", "v"))
        text = (
            f"Best by reward: {candidate_text(best)} (reward {r:.4g} = A·S^w·P^v with "
            f"w={w:g}, v={v:g}, Tan & Le 2021 sec. 3.3)."
        )
        accurate = max((t for t, _ in ranked), key=lambda t: _metric(t, "top1"))
        if accurate is not best:
            text += (
                f" The most accurate, trial {accurate.trial_id} ({_metric(accurate, 'top1'):.2f}%"
                f"), takes {_metric(accurate, 'step_ms'):.1f} ms per step."
            )
        if n < MIN_RANKED:
            text += f" Only {n} of {len(trials)} candidates done: too few to call a ranking."
        elif n < len(trials):
            text += f" {n} of {len(trials)} candidates done: the ranking may still change."
        return text + _mixed_sentence(ranked)

    def files(self, trials: Sequence[Trial], done: Sequence[Trial]) -> dict[str, str]:
        """best.yaml: the best candidate's spec, headed by its numbers (none before one is
        ranked)."""
        ranked = rank(done)
        if not ranked:
            return {}
        best, r = ranked[0]
        head = [
            "# The chosen model of a training-aware search (netscale search; EfficientNetV2",
            "# sec. 3.3): the best candidate by reward A * S^w * P^v.",
            f"# {candidate_text(best)}; reward {r:.6g}.",
            f"# Trained {best.epochs} epochs at {best.spec['resolution']} px (the proxy's "
            "settings); scale it with `netscale scale`.",
        ]
        return {"best.yaml": "\n".join(head) + "\n" + dumps(from_dict(best.spec))}


def _metric(t: Trial, key: str) -> float:
    return float((t.metrics or {})[key])


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _base(sec: dict[str, Any], shape: DataShape) -> NetSpec:
    """The base with its small-image stem, its first `stages`, its widths x `width_ratio`,
    at `resolution`; errors name the key."""
    from netscale.families import resolve_spec
    from netscale.families.registry import UnknownModelError
    from netscale.scaling import width

    if not isinstance(sec["small_images"], bool):
        raise StudyConfigError(
            f"{NAME}.small_images={sec['small_images']!r} is invalid; allowed: true, false"
        )
    try:  # at the base's own resolution: cutting stages below lowers the smallest allowed
        spec = base_spec({**sec, "resolution": None}, shape, f"{NAME}.base")
    except (SpecError, UnknownModelError, FileNotFoundError) as err:
        raise StudyConfigError(f"{NAME}.base={sec['base']!r} is invalid: {err}") from None
    if sec["stages"] is not None:
        n = positive_int(sec["stages"], f"{NAME}.stages")
        if n > len(spec.stages):
            raise StudyConfigError(
                f"{NAME}.stages={n} is invalid: {sec['base']} has {len(spec.stages)} stages; "
                f"allowed: 1..{len(spec.stages)}"
            )
        spec = dataclasses.replace(spec, stages=spec.stages[:n])
    ratio = sec["width_ratio"]
    if ratio is not None:
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not ratio > 0:
            raise StudyConfigError(f"{NAME}.width_ratio={ratio!r} is invalid: a number > 0")
        spec = width(spec, ratio, round_limit=0.0)  # V2's round_filters: no 10% rule
    if sec["resolution"] is None:
        return spec
    try:
        return resolve_spec(spec, resolution=positive_int(sec["resolution"], f"{NAME}.resolution"))
    except SpecError as err:
        raise StudyConfigError(f"{NAME}.{err}") from None


def _check_choice(key: str, value: Any) -> None:
    """StudyConfigError unless `value` is an allowed choice of the space key `key`."""
    checks = {
        "block": (lambda x: x in BLOCKS, ", ".join(BLOCKS)),
        "kernel": (lambda x: _is_int(x) and x >= 1, "integers >= 1 (the spec takes odd ones)"),
        "expansion_ratio": (lambda x: _is_number(x) and x >= 1, "numbers >= 1"),
        "depth_offset": (_is_int, "integers (added to the base stage's depth, at least 1)"),
        "se": (lambda x: isinstance(x, bool), "true, false"),
    }
    ok, allowed = checks[key]
    if not ok(value):
        raise StudyConfigError(f"{NAME}.space.{key}: {value!r} is invalid; allowed: {allowed}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def load_search_space(value: Any) -> dict[str, tuple[Any, ...]]:
    """The per-stage choices from a mapping, a YAML file of one, or None (`DEFAULT_SPACE`);
    a key left out keeps the default's choices. Errors name the key and what is allowed."""
    if value is None:
        given: dict[Any, Any] = {}
    elif isinstance(value, str):
        path = Path(value)
        if not path.is_file():
            raise StudyConfigError(f"{NAME}.space={value!r} is invalid: no such space file")
        given = load_yaml_mapping(path, StudyConfigError, "search space")
    elif isinstance(value, dict):
        given = value
    else:
        raise StudyConfigError(
            f"{NAME}.space={value!r} is invalid: a mapping of choices per key "
            f"({', '.join(DEFAULT_SPACE)}) or the path of a YAML file of one"
        )
    check_keys(given, list(DEFAULT_SPACE), where=f"{NAME}.space", error=StudyConfigError)
    space = {}
    for key, default in DEFAULT_SPACE.items():
        choices = given.get(key, default)
        if not isinstance(choices, list) or not choices:
            raise StudyConfigError(
                f"{NAME}.space.{key}={choices!r} is invalid: a non-empty list of choices, "
                f"e.g. {default}"
            )
        for choice in choices:
            _check_choice(key, choice)
        space[key] = tuple(dict.fromkeys(choices))  # each distinct choice once
    return space


def _reward_weights(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise StudyConfigError(f"{NAME}.reward={value!r} is invalid: a mapping {{w: .., v: ..}}")
    check_keys(value, list(PAPER_REWARD), where=f"{NAME}.reward", error=StudyConfigError)
    weights = {**PAPER_REWARD, **value}
    for key, x in weights.items():
        if not _is_number(x) or x > 0:
            raise StudyConfigError(
                f"{NAME}.reward.{key}={x!r} is invalid: a number <= 0 (the paper's w=-0.07, "
                "v=-0.05, EfficientNetV2 sec. 3.3)"
            )
    return {k: float(x) for k, x in weights.items()}


def _step_time(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StudyConfigError(
            f"{NAME}.step_time={value!r} is invalid: a mapping of {', '.join(STEP_TIME)}"
        )
    check_keys(value, list(STEP_TIME), where=f"{NAME}.step_time", error=StudyConfigError)
    s = {**STEP_TIME, **value}
    if s["batch"] is not None:
        positive_int(s["batch"], f"{NAME}.step_time.batch")
    positive_int(s["iters"], f"{NAME}.step_time.iters")
    if not _is_int(s["warmup"]) or s["warmup"] < 0:
        raise StudyConfigError(
            f"{NAME}.step_time.warmup={s['warmup']!r} is invalid: an integer >= 0"
        )
    if s["precision"] not in (None, *PRECISIONS):
        raise StudyConfigError(
            f"{NAME}.step_time.precision={s['precision']!r} is invalid; allowed: null (the "
            f"precision the trial trains in), {', '.join(PRECISIONS)}"
        )
    if s["channels_last"] not in (None, True, False):
        raise StudyConfigError(
            f"{NAME}.step_time.channels_last={s['channels_last']!r} is invalid; allowed: "
            "null (the recipe's), true, false"
        )
    return s


def _se_ratio(base: NetSpec, stage: StageSpec) -> float:
    """The SE ratio a stage gets when SE is chosen: its own, the base's largest, or 0.25."""
    return stage.se_ratio or max(s.se_ratio for s in base.stages) or 0.25


def candidate(base: NetSpec, choices: Sequence[dict[str, Any]]) -> NetSpec:
    """The base with each stage rebuilt from its choices (block, kernel, expansion ratio,
    depth offset, SE), keeping its width and stride; SpecError for a combination the spec
    refuses."""
    stages = tuple(
        StageSpec(block=c["block"], depth=max(1, s.depth + c["depth_offset"]), width=s.width,
                  stride=s.stride, kernel=c["kernel"], expansion_ratio=c["expansion_ratio"],
                  se_ratio=_se_ratio(base, s) if c["se"] else 0.0)
        for s, c in zip(base.stages, choices, strict=True)
    )  # fmt: skip
    return dataclasses.replace(base, name=f"{base.name}_search", stages=stages)


def design_of(spec: NetSpec) -> dict[str, float]:
    """A candidate's choices as numbers per stage (s1_fused, s1_kernel, s1_expansion,
    s1_depth, s1_se, s2_...), the design the trend plots and exports read."""
    design: dict[str, float] = {}
    for i, s in enumerate(spec.stages, 1):
        design |= {f"s{i}_fused": int(s.block == "fused_mbconv"), f"s{i}_kernel": s.kernel,
                   f"s{i}_expansion": s.expansion_ratio, f"s{i}_depth": s.depth,
                   f"s{i}_se": s.se_ratio}  # fmt: skip
    return design


def draw_candidates(
    base: NetSpec, space: dict[str, tuple[Any, ...]], samples: int, seed: int
) -> list[tuple[NetSpec, dict[str, float]]]:
    """`samples` distinct candidates (by spec_id, in order of drawing) and their designs,
    each stage's choices drawn uniformly from `numpy.random.default_rng(seed)`; a draw the
    spec refuses is drawn again. A smaller `samples` gives a prefix of a larger one's."""
    rng = np.random.default_rng(seed)
    max_draws = max(1000, 100 * samples)
    found: dict[str, tuple[NetSpec, dict[str, float]]] = {}
    draws, refused = 0, None
    while len(found) < samples and draws < max_draws:
        draws += 1
        choices = [{k: c[int(rng.integers(len(c)))] for k, c in space.items()}
                   for _ in base.stages]  # fmt: skip
        try:
            spec = candidate(base, choices)
        except SpecError as err:
            refused = err
            continue
        found.setdefault(spec_id(spec), (spec, design_of(spec)))
    if not found:
        raise StudyConfigError(
            f"{NAME}.space: search space with no valid candidate: the spec refused all "
            f"{draws} draws (the last: {refused})"
        )
    if len(found) < samples:
        raise StudyConfigError(
            f"{NAME}.samples={samples} is invalid: {draws} draws found only {len(found)} "
            "distinct valid candidates in this space; allowed: fewer samples, or more choices"
        )
    return list(found.values())


# Findings -----------------------------------------------------------------------------------


def trial_reward(t: Trial) -> float | None:
    """A completed search trial's reward (its meta's w, v); None without a step time."""
    m = t.metrics or {}
    if m.get("step_ms") is None or m.get("top1") is None:
        return None
    w = t.meta.get("reward", PAPER_REWARD)
    return reward(m["top1"] / 100.0, m["step_ms"], t.params, w=w["w"], v=w["v"])


def rank(done: Sequence[Trial]) -> list[tuple[Trial, float]]:
    """(trial, reward) of the completed trials with a reward, best first (ties: lower id)."""
    pairs = [(t, r) for t in done if (r := trial_reward(t)) is not None]
    return sorted(pairs, key=lambda tr: (-tr[1], tr[0].trial_id))


def chosen(trials: Sequence[Trial]) -> tuple[Trial, float] | None:
    """The best completed candidate by reward and its reward; None before one is ranked."""
    ranked = rank(completed(trials))
    return ranked[0] if ranked else None


def choices_text(design: dict[str, Any]) -> str:
    """A candidate's choices per stage: "fused k3 e1 d2 | mbconv k5 e4 d3 se0.25"."""
    parts, i = [], 1
    while f"s{i}_kernel" in design:
        d = {k: design[f"s{i}_{k}"] for k in ("fused", "kernel", "expansion", "depth", "se")}
        se = f" se{d['se']:g}" if d["se"] else ""
        block = "fused" if d["fused"] else "mbconv"
        parts.append(f"{block} k{d['kernel']} e{d['expansion']:g} d{d['depth']}{se}")
        i += 1
    return " | ".join(parts)


def candidate_text(t: Trial) -> str:
    """trial N, its choices, top-1, step time and where measured, params."""
    m = t.metrics or {}
    return (
        f"trial {t.trial_id}, {choices_text(t.design)}, top-1 {m['top1']:.2f}%, step "
        f"{m['step_ms']:.1f} ms on {m['device']} ({m.get('device_name', '?')}), "
        f"{t.params / 1e6:.3f}M params"
    )


def _where(ranked: Sequence[tuple[Trial, float]]) -> set[str]:
    """Where the step times were measured: device (its name, threads)."""
    metrics = [t.metrics or {} for t, _ in ranked]
    return {f"{m['device']} ({m.get('device_name')}, {m.get('threads')} threads)" for m in metrics}


def _mixed_sentence(ranked: Sequence[tuple[Trial, float]]) -> str:
    where = _where(ranked)
    if len(where) < 2:
        return ""
    return (
        f" Caution: step times were measured in {len(where)} different settings "
        f"({'; '.join(sorted(where))}) and are not comparable."
    )


# Report sections ----------------------------------------------------------------------------

STEP_COST = Cost(
    lambda ts: np.array([_metric(t, "step_ms") for t in ts], dtype=float),
    "training step (ms)",
    lambda v: f"{v:.2f} ms",
    "error vs training step time",
)


def _ranking_section(ranked: Sequence[tuple[Trial, float]], planned: int) -> Section:
    sec = Section("Reward ranking")
    if not ranked:
        sec.body.append(f"<p>No candidate of {planned} trained and timed yet.</p>")
        return sec
    w, v = (ranked[0][0].meta["reward"][k] for k in ("w", "v"))
    rows = []
    for i, (t, r) in enumerate(ranked, 1):
        m = t.metrics or {}
        rows.append([i, t.trial_id, choices_text(t.design), f"{m['top1']:.2f}%",
                     f"{m['step_ms']:.2f}", f"{m['device']} {m.get('step_precision', '')}",
                     f"{t.params / 1e6:.3f}M", f"{t.flops / 1e6:.2f}M", f"{r:.5g}"])  # fmt: skip
    head = ["rank", "trial", "choices per stage", "top-1", "step (ms)", "device", "params",
            "multiply-adds", "reward"]  # fmt: skip
    sec.body.append(html_table(head, rows))
    settings = ranked[0][0].meta["step_time"]
    text = (
        f"Reward A·S^w·P^v with w={w:g}, v={v:g} (EfficientNetV2, Tan & Le 2021, sec. 3.3): A "
        "top-1 accuracy (a fraction), S the median time of one training step (forward, "
        f"loss, backward, SGD update) on a batch of {settings['batch']} at "
        f"{settings['resolution']} px, measured on the device that trained the candidate "
        "right after training it, P the parameter count. Measured on: "
        f"{'; '.join(sorted(_where(ranked)))}."
    )
    sec.body.append(f"<p>{html.escape(text)}</p>")
    return sec


def _random_search_section(ranked: Sequence[tuple[Trial, float]]) -> Section:
    from netscale.study import plots

    sec = Section("Random-search efficiency of the reward")
    curves, rows = {}, []
    if ranked:
        rewards = np.array([r for _, r in ranked])
        sizes = np.unique([*2 ** np.arange(int(np.log2(rewards.size)) + 1), rewards.size])
        c = random_search_efficiency(-rewards, sizes)  # the best reward is the largest
        curve = dataclasses.replace(c, mean=-c.mean, low=-c.high, high=-c.low)
        curves[GROUP] = curve
        rows = [[int(m), f"{mean:.5g}", f"[{lo:.5g}, {hi:.5g}]"]
                for m, mean, lo, hi in zip(sizes, curve.mean, curve.low, curve.high,
                                           strict=True)]  # fmt: skip
    fig = plots.plot_random_search(curves, ylabel="expected best reward")
    sec.images.append(("random_search_reward", plots.figure_png(fig)))
    if rows:
        sec.body.append(html_table(["candidates m", "expected best reward", "95% range"], rows))
    sec.body.append(
        "<p>Expected best reward of m candidates drawn at random from this study's, with its "
        "95% interval: the exact distribution of the best of m draws with replacement from "
        "the rewards' EDF (NDS's random-search efficiency; the bootstrap distribution "
        "without resampling noise). Where the curve still climbs at the study's size, more "
        "samples of this space should pay; where it is flat, they are unlikely to.</p>"
    )
    return sec


def _chosen_section(ranked: Sequence[tuple[Trial, float]]) -> Section:
    sec = Section("Chosen model")
    if not ranked:
        sec.body.append("<p>None yet: no candidate trained and timed.</p>")
        return sec
    best, r = ranked[0]
    rows = [[i, s["block"], s["depth"], s["width"], s["stride"], s["kernel"],
             f"{s['expansion_ratio']:g}", f"{s['se_ratio']:g}"]
            for i, s in enumerate(best.spec["stages"], 1)]  # fmt: skip
    head = ["stage", "block", "depth", "width", "stride", "kernel", "expansion", "SE ratio"]
    text = f"{candidate_text(best)}; reward {r:.5g}. Its spec is best.yaml beside this report."
    sec.body += [f"<p>{html.escape(text)}</p>", html_table(head, rows)]
    return sec
