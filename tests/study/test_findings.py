"""Tests of the study findings over trial dicts: the ablation table, group comparison, the
recommendation for each planner, and the module's torch-free import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from netscale.study import findings as fd


def _trial(tid, group, error, *, status="completed", design=None, meta=None, flops=1e6):
    metrics = {"top1": 100 - error, "error": error} if status == "completed" else None
    return {
        "trial_id": tid,
        "group": group,
        "status": status,
        "metrics": metrics,
        "design": design or {},
        "meta": meta or {},
        "flops": int(flops),
        "params": 1000,
        "epochs": 2,
        "spec": {"stages": [{"depth": 1, "width": 8}]},
    }


LADDER = [("baseline", [70.0, 70.4]), ("cosine", [71.0, 71.2]), ("ema", [70.9, 71.1])]


def _ladder_trials(extra_pending: bool = False):
    trials = []
    for step, (name, top1s) in enumerate(LADDER):
        for top1 in top1s:
            meta = {"step": step, "name": name}
            trials.append(_trial(len(trials), name, 100 - top1, meta=meta))
    if extra_pending:
        meta = {"step": 3, "name": "randaugment"}
        trials.append(_trial(99, "randaugment", 0, status="pending", meta=meta))
    return trials


def test_ablation_table_gains():
    rows = fd.ablation_table(list(reversed(_ladder_trials(extra_pending=True))))
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
        fd.ablation_table([_trial(0, "x", 10.0)])


def test_compare_groups():
    rng = np.random.default_rng(0)
    trials = [_trial(i, "a", 10 + rng.normal(0, 0.2)) for i in range(8)]
    trials += [_trial(10 + i, "b", 12 + rng.normal(0, 0.2)) for i in range(8)]
    trials.append(_trial(99, "b", 50.0, status="failed"))
    cmp = fd.compare_groups(trials, "a", "b", n_resamples=2000, seed=0)
    ea = [t["metrics"]["error"] for t in trials[:8]]
    eb = [t["metrics"]["error"] for t in trials[8:16]]
    assert cmp.diff == pytest.approx(np.mean(ea) - np.mean(eb)) and cmp.n_b == 8
    assert cmp.low < cmp.diff < cmp.high < 0 and cmp.significant
    single = fd.compare_groups([_trial(0, "a", 10.0), _trial(1, "b", 11.0)], "a", "b")
    assert np.isnan(single.low) and not single.significant
    with pytest.raises(ValueError, match=r"group 'c' has no completed trials; .*\['a', 'b'\]"):
        fd.compare_groups(trials, "a", "c")


def _space_trials(gap: float, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [
        _trial(i, g, 20 + rng.normal(0, 1) + (gap if g == "xa" else 0.0))
        for i, g in enumerate(["xa", "xe"] * n)
    ]


def test_recommend_design_space():
    study = {"planner": "design_space", "planned": 40}
    text = fd.recommend(study, _space_trials(3.0, 20))
    assert text.startswith("xe's error EDF lies left of xa's (KS D=")
    assert "n=20 and 20" in text and "Best model so far:" in text
    same = fd.recommend(study, _space_trials(0.0, 20, seed=1))
    assert same.startswith("No significant difference between the error EDFs of")
    few = fd.recommend(study, _space_trials(3.0, 2))
    assert few.startswith("Too few completed trials to compare xe and xa (n=2 and 2")
    pending = [dict(t, status="pending", metrics=None) for t in _space_trials(3.0, 2)]
    assert fd.recommend(study, pending).startswith("No completed trials yet (0 of 40 planned)")


def _scaling(rule, mult, error, budget=10):
    meta = {"rule": rule, "multiplier": mult, "epochs_budget": budget}
    return _trial(0, rule, error, design={"multiplier": mult}, meta=meta)


def test_recommend_scaling_and_regimes():
    study = {"planner": "scaling"}
    trials = [_scaling("depth", 2.0, 10.0 + 0.1 * s) for s in range(3)]
    trials += [_scaling("width", 2.0, 11.4 + 0.1 * s) for s in range(3)]
    text = fd.recommend(study, trials)
    assert text.startswith("depth scaling beats width at 2x FLOPs in this regime: -1.40 points")
    single = [_scaling("depth", 2.0, 10.0), _scaling("width", 2.0, 11.0)]
    assert "too few seeds to call it" in fd.recommend(study, single)
    regimes = [_scaling("depth", 2.0, 10.0 + 0.1 * s, 30) for s in range(3)]
    regimes += [_scaling("width", 2.0, 10.0 + 0.1 * s, 30) for s in range(3)]
    regimes += [_scaling("width", 2.0, 12.0 + 0.1 * s, 5) for s in range(3)]
    regimes += [_scaling("depth", 2.0, 13.0 + 0.1 * s, 5) for s in range(3)]
    text = fd.recommend(study, regimes)
    assert "width scaling beats depth at 2x FLOPs with 5 epochs" in text
    assert "No significant difference between depth and width scaling at 2x FLOPs with 30" in text


def test_recommend_scaling_at_measured_multipliers_ignores_the_base():
    trials = [_scaling("base", 1.0, 15.0 + 0.1 * s) for s in range(3)]
    trials += [_scaling("depth", 2.04, 12.0 + 0.1 * s) for s in range(3)]
    trials += [_scaling("width", 1.97, 10.0 + 0.1 * s) for s in range(3)]
    trials += [_scaling("resolution", 2.01, 13.0 + 0.1 * s) for s in range(3)]
    text = fd.recommend({"planner": "scaling"}, trials)
    assert text.startswith("Of 3 rules, width scaling beats depth at 2x FLOPs in this regime")


def test_recommend_ablation_and_unknown_planner():
    text = fd.recommend({"planner": "ablation"}, _ladder_trials())
    assert text.startswith("The ladder's largest single gain is cosine: +0.90 points top-1")
    assert "+0.80 points over the baseline (70.20% -> 71.00%)" in text
    with pytest.raises(ValueError, match="unknown planner 'nas'"):
        fd.recommend({"planner": "nas"}, _ladder_trials())


def test_findings_does_not_import_torch():
    code = (
        "import sys\n"
        "from netscale.study import findings as fd\n"
        "fd.recommend({'planner': 'ablation'}, [])\n"
        "assert 'torch' not in sys.modules, 'findings imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
