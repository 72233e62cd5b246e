"""The ablation planner: ResNet-RS's cumulative ladder, its table of gains, its plot and its
recommendation."""

from __future__ import annotations

import numpy as np
import pytest

from netscale.spec import from_dict
from netscale.study.config import example_config
from netscale.study.findings import completed
from netscale.study.planners import LADDER, PLANNERS, DataShape, plan
from netscale.study.planners.ablation import ablation_table, plot_ablation

from ..trials import trial_record

DIGITS = DataShape(num_classes=10, in_width=1)


def test_ladder_is_cumulative():
    trials = plan(example_config("ablation-digits"), DIGITS)
    steps = [t.group for t in trials[::2]]
    assert steps == list(LADDER)
    by = {t.group: t for t in trials}
    assert by["baseline"].recipe["schedule"] == "exponential"
    assert by["cosine"].recipe["schedule"] == "cosine"
    assert by["dropout"].recipe["label_smoothing"] == 0.1  # earlier steps stay on
    assert by["ema"].recipe["ema_decay"] == 0.98  # the example's own value
    assert from_dict(by["se"].spec).stages[0].se_ratio == 0.25
    assert from_dict(by["lower_weight_decay"].spec).stages[0].se_ratio == 0.0
    assert from_dict(by["resnet_d"].spec).stem.kind == "deep"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"steps": ["cosine"]}, "must be a list that starts with 'baseline'"),
        ({"steps": ["baseline", "mixup"]}, "ablation step 'mixup' is unknown; allowed: baseline"),
        ({"seeds": 0}, "ablation.seeds=0 is invalid"),
    ],
)
def test_bad_sections_are_named(section, message):
    config = example_config("ablation-digits")
    from netscale.study.config import parse_config

    bad = parse_config({**config.to_dict(), "ablation": section})
    with pytest.raises(ValueError, match=message):
        plan(bad, DIGITS)


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
