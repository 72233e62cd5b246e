"""The ablation planner: ResNet-RS Table 1's ladder from the paper's plain baseline (each
step changing exactly its own fields), its config errors, its table of gains, its plot and
its recommendation. Planning only: nothing is trained."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import yaml

from netscale.spec.io import differences
from netscale.study.config import example_config, load_config, parse_config
from netscale.study.findings import completed
from netscale.study.planners import LADDER, PLANNERS, DataShape, plan
from netscale.study.planners.ablation import BASELINE, ablation_table, plot_ablation

from ..trials import trial_record

DIGITS = DataShape(num_classes=10, in_width=1)
TABLE_1 = ["cosine", "more_epochs", "ema", "label_smoothing", "stochastic_depth",
           "randaugment", "dropout", "lower_weight_decay", "se", "resnet_d"]  # fmt: skip


def _config(section: dict[str, Any] | None = None, **top: Any):
    data = {"name": "abl", "planner": "ablation", "epochs": 3, "seed": 0,
            "recipe_overrides": {"batch_size": 64},
            "ablation": {"resolution": 16, **(section or {})}}  # fmt: skip
    return parse_config({**data, **top})


def _changed(prev, cur) -> set[str]:
    """The fields two trials' resolved recipes and specs differ in (a spec difference named
    by the step field that makes it: se_ratio, or resnet_d for the stem and shortcuts)."""
    fields = {k for k in cur.recipe if cur.recipe[k] != prev.recipe[k]}
    for path, _, _ in differences(prev.spec, cur.spec):
        resnet_d = path.startswith("stem") or path.endswith("shortcut")
        fields.add("se_ratio" if path.endswith("se_ratio") else "resnet_d" if resnet_d else path)
    return fields


@pytest.mark.parametrize("config", [_config(), example_config("ablation-digits")],
                         ids=["defaults", "example"])  # fmt: skip
def test_each_step_changes_exactly_its_fields(config):
    trials = plan(config, DIGITS)
    seeds = config.section.get("seeds", 1)
    assert [t.group for t in trials[::seeds]] == ["baseline", *TABLE_1] == ["baseline", *LADDER]
    for seed in range(seeds):
        ladder = trials[seed::seeds]
        assert {t.seed for t in ladder} == {seed}
        for prev, cur in itertools.pairwise(ladder):
            assert _changed(prev, cur) == set(cur.meta["changes"]) == set(LADDER[cur.group])
            assert cur.epochs == cur.recipe["epochs"]


def test_baseline_is_the_papers_plain_training():
    by = {t.group: t for t in plan(_config(), DIGITS)}
    base = by["baseline"].recipe
    assert base["label_smoothing"] == base["ema_decay"] == base["randaug_layers"] == 0
    assert base["dropout_rate"] == base["drop_path_rate"] == base["mixup_alpha"] == 0.0
    assert base["weight_decay"] == 1e-4 and base["lr"] == 0.1 and base["lr_batch"] == 256
    assert (base["optimizer"], base["momentum"], base["nesterov"]) == ("sgd", 0.9, True)
    # step decay: x0.1 at 30, 60 and 80 of 90 epochs, after a 5/90 warmup (the paper's code)
    assert (base["schedule"], base["decay_rate"]) == ("step", 0.1)
    assert base["warmup_epochs"] == pytest.approx(3 * 5 / 90)
    assert list(base["decay_milestones"]) == pytest.approx([1 / 3, 2 / 3, 8 / 9])
    assert base["epochs"] == by["baseline"].epochs == 3 and base["batch_size"] == 64
    assert base["resolution"] == 16 and base["name"] == "ablation"
    spec = by["baseline"].spec
    assert spec["stem"]["kind"] == "conv" and {s["shortcut"] for s in spec["stages"]} == {"conv"}
    assert {s["se_ratio"] for s in spec["stages"]} == {0.0}
    assert {k: base[k] for k in BASELINE if k in base} == {
        k: v for k, v in BASELINE.items() if k not in ("se_ratio", "resnet_d")
    }
    assert by["more_epochs"].epochs == round(3 * 350 / 90) == 12  # the paper's 90 -> 350
    assert by["resnet_d"].epochs == 12 and by["resnet_d"].recipe["label_smoothing"] == 0.1
    assert by["randaugment"].meta["changes"] == LADDER["randaugment"]


def test_steps_and_values_are_the_configs(tmp_path):
    steps = [{"more_epochs": {"epochs": 7}}, {"ema": {"ema_decay": 0.98, "epochs": 9}},
             {"mixup": {"mixup_alpha": 0.2}}, "se"]  # fmt: skip
    config = _config({"steps": steps, "seeds": 2, "baseline": {"weight_decay": 5e-4}},
                     recipe_overrides={"batch_size": 32, "flip": True}, seed=5)  # fmt: skip
    trials = plan(config, DIGITS)
    assert [t.group for t in trials[::2]] == ["baseline", "more_epochs", "ema", "mixup", "se"]
    assert [t.epochs for t in trials[::2]] == [3, 7, 9, 9, 9]  # honoured, never overwritten
    assert [t.seed for t in trials[:2]] == [5, 6]
    ladder = trials[::2]
    for prev, cur in itertools.pairwise(ladder):
        assert _changed(prev, cur) == set(cur.meta["changes"])
    assert ladder[2].meta["changes"] == {"ema_decay": 0.98, "epochs": 9}
    assert all(t.recipe["flip"] and t.recipe["batch_size"] == 32 for t in trials)
    assert {t.recipe["weight_decay"] for t in trials} == {5e-4}
    assert ladder[-1].recipe["mixup_alpha"] == 0.2
    # the steps survive a YAML file (a list of names and {name: values} mappings)
    path = tmp_path / "abl.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert plan(load_config(path), DIGITS) == trials


@pytest.mark.parametrize(
    ("section", "top", "message"),
    [
        ({"steps": "cosine"}, {}, r"ablation\.steps='cosine' is invalid: a non-empty list"),
        ({"steps": []}, {}, r"ablation\.steps=\[\] is invalid"),
        ({"steps": ["baseline", "cosine"]}, {}, r"steps\[0\]: 'baseline' is not a step"),
        ({"steps": ["mixup"]}, {}, r"step 'mixup' is unknown; allowed: cosine, more_epochs"),
        ({"steps": ["se", "se"]}, {}, r"steps\[1\]: step 'se' appears twice"),
        ({"steps": [{"ema": 5}]}, {}, r"steps\[0\]=\{'ema': 5\} is invalid: a step's name"),
        ({"steps": [{"ema": {}, "se": {}}]}, {}, r"steps\[0\]=.* is invalid: a step's name"),
        (
            {"steps": [{"ema": {"ema_decay": 1.5}}]},
            {},
            r"steps\[0\] \(ema\): ema_decay=1\.5 is invalid: must lie in \[0, 1\)",
        ),
        (
            {"steps": [{"ema": {"colour": 1}}]},
            {},
            r"steps\[0\] \(ema\): 'colour' is not a field it sets; allowed: batch_size",
        ),
        (
            {"steps": [{"more_epochs": {"epochs": 2}}]},
            {},
            r"\(more_epochs\): epochs=2 is invalid: must be more than the 3 epochs before it",
        ),
        (
            {"steps": [{"more_epochs": {"epochs": 2.5}}]},
            {},
            r"\(more_epochs\): epochs=2\.5 is invalid: expected int",
        ),
        ({"steps": [{"more_epochs": {"epochs": 3}}]}, {}, r"epochs=3 changes nothing"),
        (
            {"steps": ["cosine", {"x": {"schedule": "cosine"}}]},
            {},
            r"steps\[1\] \(x\): schedule='cosine' changes nothing",
        ),
        ({"steps": [{"se": {"se_ratio": 2}}]}, {}, r"\(se\): se_ratio=2 is invalid"),
        ({"steps": [{"resnet_d": {"resnet_d": "yes"}}]}, {}, r"resnet_d='yes' is invalid"),
        ({"baseline": {"epochs": 5}}, {}, r"ablation\.baseline: 'epochs' is not a field"),
        ({"baseline": [1]}, {}, r"ablation\.baseline=\[1\] is invalid: a mapping"),
        (
            {"baseline": {"weight_decay": -1.0}},
            {},
            r"ablation\.baseline: weight_decay=-1\.0 is invalid: must be >= 0",
        ),
        (
            {"baseline": {"schedule": "cosine"}},
            {},
            r"steps\[0\] \(cosine\): schedule='cosine' changes",
        ),
        ({"seeds": 0}, {}, r"ablation\.seeds=0 is invalid"),
        ({"depth": 19}, {}, r"ablation\.depth=19 is invalid; allowed: 18, 34"),
        ({"resolution": 0}, {}, r"ablation\.resolution=0 is invalid"),
        ({"small_images": "no"}, {}, r"ablation\.small_images='no' is invalid"),
        ({}, {"recipe": "resnet_rs"}, r"abl: recipe='resnet_rs' does not apply"),
        (
            {},
            {"recipe_overrides": {"epochs": 9}},
            r"recipe_overrides\.epochs cannot be honoured .* top-level epochs .* a step's epochs",
        ),
        (
            {},
            {"recipe_overrides": {"label_smoothing": 0.1}},
            r"recipe_overrides\.label_smoothing cannot be honoured .* ablation\.baseline",
        ),
        ({}, {"recipe_overrides": {"lr": 0.2}}, r"recipe_overrides\.lr cannot be honoured"),
        (
            {"steps": [{"flips": {"flip": True}}]},
            {"recipe_overrides": {"flip": True}},
            r"recipe_overrides\.flip cannot be honoured",
        ),
        ({}, {"recipe_overrides": {"resolution": 32}}, r"set it in ablation\.resolution"),
        ({}, {"recipe_overrides": {"colour": 1}}, r"abl: recipe_overrides: unknown recipe key"),
    ],
)
def test_bad_sections_are_named(section, top, message):
    with pytest.raises(ValueError, match=message):
        plan(_config(section, **top), DIGITS)


def test_old_values_key_is_refused_when_the_config_is_read():
    with pytest.raises(ValueError, match=r"config: ablation\.values is gone: give values in steps"):
        _config({"values": {"ema": {"ema_decay": 0.98}}})


STEPS = [("baseline", [70.0, 70.4]), ("cosine", [71.0, 71.2]), ("ema", [70.9, 71.1])]


def _ladder_trials(extra_pending: bool = False):
    trials = []
    for step, (name, top1s) in enumerate(STEPS):
        for top1 in top1s:
            meta = {"step": step, "name": name}
            metrics = {"top1": top1, "error": 100 - top1}
            trials.append(trial_record(trial_id=len(trials), group=name, meta=meta,
                                       metrics=metrics))  # fmt: skip
    if extra_pending:
        meta = {"step": 3, "name": "randaugment"}
        trials.append(trial_record(trial_id=99, group="randaugment", status="pending", meta=meta))
    return trials


def test_ablation_table_gains():
    rows = ablation_table(list(reversed(_ladder_trials(extra_pending=True))))
    assert [r.name for r in rows] == ["baseline", "cosine", "ema", "randaugment"]
    assert [r.n for r in rows] == [2, 2, 2, 0] and rows[3].planned == 1
    assert rows[0].mean_top1 == pytest.approx(70.2) and rows[0].gain_baseline == 0.0
    assert np.isnan(rows[0].gain_prev)
    assert rows[1].gain_prev == pytest.approx(0.9) and rows[1].gain_baseline == pytest.approx(0.9)
    assert rows[2].gain_prev == pytest.approx(-0.1) and rows[2].gain_baseline == pytest.approx(0.8)
    assert rows[1].std_top1 == pytest.approx(np.std([71.0, 71.2], ddof=1))
    se = np.sqrt(np.var([71.0, 71.2], ddof=1) / 2 + np.var([70.0, 70.4], ddof=1) / 2)
    assert rows[1].gain_se == pytest.approx(se)
    assert np.isnan(rows[3].mean_top1) and np.isnan(rows[3].gain_prev)
    with pytest.raises(ValueError, match="has no ablation step"):
        ablation_table([trial_record(trial_id=0, group="x", metrics={"error": 10.0})])


def test_recommendation_plot_and_section():
    planner = PLANNERS["ablation"]
    trials = _ladder_trials()
    text = planner.recommend(trials, completed(trials))
    assert text.startswith("The ladder's largest single gain is cosine: +0.90 points top-1")
    assert "+0.80 points over the baseline (70.20% -> 71.00%)" in text
    first = trials[:2]
    assert planner.recommend(first, first).startswith("No two consecutive ladder steps")
    fig = plot_ablation(ablation_table(_ladder_trials(extra_pending=True)))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][-1] == "randaugment"
    assert plot_ablation([]).texts[0].get_text() == "ablation: no completed trials yet"
    (section,) = planner.sections(trials, completed(trials), n_resamples=10, seed=0)
    assert section.title == "Additive ablation" and [n for n, _ in section.images] == ["ablation"]
