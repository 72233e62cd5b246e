"""The runtime-correlation planner: its data-free, seeded plan of profile trials, its config
errors, its report sections and its recommendation (synthetic trials: nothing measured)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from netscale.complexity import count
from netscale.space import load_space, sample
from netscale.spec import from_dict, spec_id
from netscale.study import api, report
from netscale.study.findings import completed
from netscale.study.planners import PLANNERS, plan
from netscale.study.planners.runtime import MODES, PRECISIONS, RuntimeCorrelation

from ..conftest import SMALL_SPACE, runtime_config, tiny_config
from ..trials import runtime_trials, study_record


def test_plan_is_data_free_seeded_and_at_the_measured_resolution():
    trials = plan(runtime_config(), None)
    assert [t.spec_id for t in trials] == [t.spec_id for t in plan(runtime_config(), None)]
    drawn = sample(load_space(SMALL_SPACE), 4, seed=0, flops=(1e6, 4e6))  # the band: at 32 px
    assert [t.design for t in trials] == [dict(s.design) for s in drawn]
    for t, s in zip(trials, drawn, strict=True):
        spec = from_dict(t.spec)
        assert (t.kind, t.epochs, t.group, spec.resolution) == ("profile", 0, "anynet_small", 16)
        assert 1e6 <= count(s.spec).flops <= 4e6
        cx = count(spec)  # complexity where it is measured
        assert (t.flops, t.params, t.acts, t.spec_id) == (cx.flops, cx.params, cx.acts,
                                                          spec_id(spec))  # fmt: skip
        assert t.recipe == {"device": "cpu", "batch": 2, "resolution": 16, "mode": "infer",
                            "precision": "fp32", "channels_last": True, "compile": False,
                            "warmup": 1, "iters": 2}  # fmt: skip
    other = plan(runtime_config(seed=1), None)
    assert [t.spec_id for t in other] != [t.spec_id for t in trials]
    at_space_resolution = plan(runtime_config(section={"resolution": None}), None)
    assert {t.recipe["resolution"] for t in at_space_resolution} == {32}


def test_only_planners_of_profile_trials_plan_without_data(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="the design_space planner trains its trials, so "
                       "planning it needs the shape of the data"):  # fmt: skip
        plan(tiny_config(), None)

    def no_data(source):
        raise AssertionError(f"loaded data {source!r}")

    monkeypatch.setattr(api, "data_shape", no_data)
    api.open_or_create(runtime_config(), tmp_path).close()  # created without any data
    _, trials = api.study_trials(tmp_path)
    assert [t.kind for t in trials] == ["profile"] * 4
    assert all(t.status == "pending" and t.precision is None for t in trials)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"space": None}, r"runtime_correlation\.space=None is invalid: a design space name"),
        ({"space": "regnet_z"}, r"space='regnet_z' is invalid: .*neither a built-in space"),
        ({"samples": 2}, r"samples=2 is invalid: an integer >= 3"),
        ({"flops": [1]}, r"runtime_correlation\.flops=\[1\] is invalid: expected \[low, high\]"),
        ({"flops": ["1T", "2T"]}, "runtime_correlation: empty band"),
        ({"device": "tpu"}, "device='tpu' is invalid; allowed: cpu, cuda, cuda:N"),
        ({"mode": "eval"}, "mode='eval' is invalid; allowed: infer, train"),
        ({"precision": "fp16"}, "precision='fp16' is invalid; allowed: fp32, bf16"),
        ({"channels_last": "yes"}, "channels_last='yes' is invalid; allowed: true, false"),
        ({"warmup": -1}, "warmup=-1 is invalid: an integer >= 0"),
        ({"iters": 0}, r"runtime_correlation\.iters=0 is invalid: an integer >= 1"),
        ({"batch": 1.5}, r"runtime_correlation\.batch=1\.5 is invalid: an integer >= 1"),
        ({"resolution": 0}, "resolution=0 is invalid: an integer >= 1"),
    ],
)
def test_bad_sections_are_named(section, message):
    with pytest.raises(ValueError, match=message):
        plan(runtime_config(section=section), None)


@pytest.mark.parametrize(
    ("top", "key"),
    [({"epochs": 3}, "epochs=3"), ({"data": "cifar10"}, "data='cifar10'"),
     ({"recipe_overrides": {"lr": 0.1}}, "recipe_overrides={'lr': 0.1}")],
)  # fmt: skip
def test_training_keys_are_refused(top, key):
    with pytest.raises(ValueError, match=f"{key} does not apply to the runtime_correlation"):
        plan(runtime_config(**top), None)


def test_unknown_keys_and_the_profile_vocabulary():
    with pytest.raises(ValueError, match=r"unknown key 'runtime_correlation\.depth'"):
        runtime_config(section={"depth": 3})  # at parse time, before any planning
    from netscale.profiling import measure

    assert (MODES, PRECISIONS) == (measure.MODES, measure.PRECISIONS)


def _recommend(trials):
    return PLANNERS["runtime_correlation"].recommend(trials, completed(trials))


def test_recommendation_from_the_numbers():
    text = _recommend(runtime_trials(12))
    assert text.startswith("Runtime follows acts most closely: Pearson r=")
    assert "(n=12)" in text and "The fit runtime = " in text and "F-test p" in text
    rng = np.random.default_rng(3)
    noise = [dataclasses.replace(t, metrics={**t.metrics, "runtime_ms": float(rng.uniform(1, 2))})
             for t in runtime_trials(6)]  # fmt: skip
    assert _recommend(noise).startswith("No complexity measure correlates significantly with "
                                        "runtime (highest: ")  # fmt: skip
    three = runtime_trials(3)
    assert "needs at least 4 models (n=3)" in _recommend(three)
    two = runtime_trials(8)
    two = two[:2] + [dataclasses.replace(t, status="pending", metrics=None) for t in two[2:]]
    assert _recommend(two) == ("Only 2 of 8 models measured: correlations need at least 3, so "
                               "nothing to conclude yet.")  # fmt: skip
    mixed = runtime_trials(6)
    mixed[0] = dataclasses.replace(mixed[0], metrics={**mixed[0].metrics, "threads": 4})
    assert _recommend(mixed).startswith("Caution: runtimes from 2 different settings (5 on cpu")


def test_sections_summary_and_images():
    planner = RuntimeCorrelation()
    trials = runtime_trials(8)
    sections = planner.sections(trials, completed(trials), n_resamples=10, seed=0)
    titles = ["Runtime versus complexity", "Runtime model: a·G + b·√G + c", "Measurements"]
    assert [s.title for s in sections] == titles
    assert [name for s in sections for name, _ in s.images] == list(planner.images)
    body = "".join(sections[0].body + sections[1].body)
    assert "<th>Spearman ρ</th>" in body and "<th>F-test p of √G</th>" in body
    assert "<td>acts</td>" in body and "test cpu, 2 threads" in "".join(sections[2].body)
    few = planner.sections(trials[:3], completed(trials[:3]), n_resamples=10, seed=0)
    assert "it needs at least 4 models (n=3)" in few[1].body[0]
    lines = report.summary_table(study_record("runtime_correlation", trials), trials)
    head, row = lines.splitlines()[1:3]
    assert "fastest" in head and "median time" in head and "best err" not in head
    assert row.startswith("anynet_xa") and " ms" in row
