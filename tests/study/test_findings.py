"""Findings shared by the planners: which trials count, grouping, the bootstrap comparison of
two groups, the sentences, and the module's torch-free import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from netscale.study import findings as fd

from .trials import trial_record


def _trial(tid, group, error, *, status="completed", flops=1e6):
    metrics = {"top1": 100 - error, "error": error} if status == "completed" else None
    return trial_record(trial_id=tid, group=group, status=status, metrics=metrics,
                        flops=int(flops), params=1000)  # fmt: skip


def test_completed_and_grouping():
    trials = [
        _trial(0, "b", 10.0),
        _trial(1, "a", 11.0),
        _trial(2, "b", 12.0, status="failed"),
        trial_record(trial_id=3, group="a", metrics={"error": float("nan")}),  # diverged at once
        _trial(4, "a", 9.0),
    ]
    done = fd.completed(trials)
    assert [t.trial_id for t in done] == [0, 1, 4]
    groups = fd.by_group(done)
    assert list(groups) == ["b", "a"]  # order of first appearance
    np.testing.assert_allclose(fd.error_of(groups["a"]), [11.0, 9.0])
    np.testing.assert_allclose(fd.flops_of(done), [1e6, 1e6, 1e6])
    assert fd.best_sentence(done).startswith("Best model so far: 9.00% error (a, trial 4, 1.0M")


def test_compare_groups():
    rng = np.random.default_rng(0)
    trials = [_trial(i, "a", 10 + rng.normal(0, 0.2)) for i in range(8)]
    trials += [_trial(10 + i, "b", 12 + rng.normal(0, 0.2)) for i in range(8)]
    trials.append(_trial(99, "b", 50.0, status="failed"))
    cmp = fd.compare_groups(trials, "a", "b", n_resamples=2000, seed=0)
    ea = [t.metrics["error"] for t in trials[:8]]
    eb = [t.metrics["error"] for t in trials[8:16]]
    assert cmp.diff == pytest.approx(np.mean(ea) - np.mean(eb)) and cmp.n_b == 8
    assert cmp.low < cmp.diff < cmp.high < 0 and cmp.significant
    sentence = fd.comparison_sentence(cmp, " scaling", "")
    assert sentence.startswith("a scaling beats b: -1.75 points of error (95% CI")
    single = fd.compare_groups([_trial(0, "a", 10.0), _trial(1, "b", 11.0)], "a", "b")
    assert np.isnan(single.low) and not single.significant
    assert "too few seeds to call it" in fd.comparison_sentence(single, "", "")
    with pytest.raises(ValueError, match=r"group 'c' has no completed trials; .*\['a', 'b'\]"):
        fd.compare_groups(trials, "a", "c")


def test_findings_does_not_import_torch():
    code = (
        "import sys\n"
        "from netscale.study import findings as fd\n"
        "fd.completed([])\n"
        "assert 'torch' not in sys.modules, 'findings imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
