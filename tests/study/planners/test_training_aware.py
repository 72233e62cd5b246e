"""The training-aware search planner (EfficientNetV2 sec. 3.3): its seeded plan of distinct
candidates, its space and section errors, the reward against hand numbers, its report
sections, recommendation and best.yaml (synthetic results), and a search trial's measured
step time (one real tiny trial)."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import pytest
import yaml

from netscale.complexity import count
from netscale.families import resolve_spec
from netscale.scaling import width
from netscale.spec import from_dict, loads, spec_id
from netscale.study.planners import DataShape, plan, recommend, report_files, report_sections
from netscale.study.planners.training_aware import (
    DEFAULT_SPACE,
    PAPER_REWARD,
    TrainingAware,
    reward,
)
from netscale.study.profile_trial import time_steps
from netscale.study.runner import RunOptions, execute_trial

from ..conftest import search_config
from ..trials import study_record, trial_record

DIGITS = DataShape(num_classes=10, in_width=1)


def test_plan_is_seeded_distinct_and_keeps_the_base_widths():
    trials = plan(search_config(), DIGITS)
    assert [t.spec_id for t in trials] == [t.spec_id for t in plan(search_config(), DIGITS)]
    assert len({t.spec_id for t in trials}) == 3
    other = plan(search_config(seed=1), DIGITS)
    assert [t.spec_id for t in other] != [t.spec_id for t in trials]
    more = plan(search_config(section={"samples": 5}), DIGITS)
    assert [t.spec_id for t in more[:3]] == [t.spec_id for t in trials]  # a prefix
    # what every candidate keeps: V2-S's stages 1-2 at a quarter of its widths, rounded as
    # EfficientNetV2's code rounds (netscale.scaling.width without the 10% rule)
    v2 = width(resolve_spec("efficientnet_v2_s"), 0.25, round_limit=0.0)
    assert [s.width for s in v2.stages[:2]] == [8, 16] and v2.stem.width == 8
    for t in trials:
        spec = from_dict(t.spec)
        assert (t.kind, t.group, t.epochs, spec.resolution, spec.stem.stride) == (
            "search", "candidates", 1, 8, 1)  # fmt: skip
        assert [(s.width, s.stride) for s in spec.stages] == [(8, 1), (16, 2)]
        assert spec.stem.width == 8 and spec.head.width == 320  # 1280 x 0.25
        assert t.params == count(spec).params and t.spec_id == spec_id(spec)
        assert t.recipe["resolution"] == 8 and t.recipe["precision"] == "fp32"
        assert t.meta == {"reward": PAPER_REWARD, "step_time": {
            "batch": 16, "resolution": 8, "warmup": 0, "iters": 2, "precision": None,
            "channels_last": True}}  # fmt: skip
        for i, s in enumerate(spec.stages, 1):  # the choices, as numbers per stage
            assert t.design[f"s{i}_fused"] == (s.block == "fused_mbconv")
            assert (t.design[f"s{i}_kernel"], t.design[f"s{i}_expansion"]) == (
                s.kernel, s.expansion_ratio)  # fmt: skip
            assert (t.design[f"s{i}_depth"], t.design[f"s{i}_se"]) == (s.depth, s.se_ratio)
            assert s.kernel in (3, 5) and s.expansion_ratio in (1, 4, 6)
            assert s.se_ratio in (0.0, 0.25)  # the base's own SE ratio (V2's MBConv stages)
        assert {s.depth for s in spec.stages} <= {1, 2, 3, 4, 5}  # V2-S: 2 and 4, +-1
        assert set(t.design) == {
            f"s{i}_{k}" for i in (1, 2) for k in ("fused", "kernel", "expansion", "depth", "se")
        }


def test_width_ratio_is_the_scaling_rule_and_step_time_defaults_follow_the_recipe():
    trials = plan(search_config(section={"width_ratio": 0.4, "step_time": {}}), DIGITS)
    # widths 24, 48 x 0.4 = 9.6, 19.2: EfficientNetV2's rounding (no 10% rule) gives 8, 16
    assert [s["width"] for s in trials[0].spec["stages"]] == [8, 16]
    assert trials[0].spec["stem"]["width"] == 8
    settings = trials[0].meta["step_time"]
    assert settings["batch"] == 128 and settings["warmup"] == 3 and settings["iters"] == 10


def test_a_space_file_and_a_partial_space(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"block": ["fused_mbconv"], "kernel": [3], "se": [False]}))
    for space in (str(path), {"block": ["fused_mbconv"], "kernel": [3], "se": [False]}):
        trials = plan(search_config(section={"space": space}), DIGITS)
        for t in trials:
            assert {(s["block"], s["kernel"], s["se_ratio"]) for s in t.spec["stages"]} == {
                ("fused_mbconv", 3, 0.0)}  # fmt: skip
            # the keys left out keep the default choices
            assert {s["expansion_ratio"] for s in t.spec["stages"]} <= set(
                DEFAULT_SPACE["expansion_ratio"])  # fmt: skip


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"space": {"kernal": [3]}}, r"unknown key 'training_aware\.space\.kernal' \(did you "
                                     r"mean 'kernel'\?\); allowed keys: block, kernel"),
        ({"space": {"block": ["conv"]}}, r"space\.block: 'conv' is invalid; allowed: mbconv, "
                                         "fused_mbconv"),
        ({"space": {"kernel": []}}, r"space\.kernel=\[\] is invalid: a non-empty list"),
        ({"space": {"kernel": 3}}, r"space\.kernel=3 is invalid: a non-empty list"),
        ({"space": {"kernel": [3.5]}}, r"space\.kernel: 3\.5 is invalid; allowed: integers"),
        ({"space": {"expansion_ratio": [0.5]}}, r"expansion_ratio: 0\.5 is invalid"),
        ({"space": {"depth_offset": [True]}}, r"depth_offset: True is invalid; allowed: int"),
        ({"space": {"se": ["yes"]}}, r"space\.se: 'yes' is invalid; allowed: true, false"),
        ({"space": "missing.yaml"}, r"space='missing\.yaml' is invalid: no such space file"),
        ({"space": 3}, r"space=3 is invalid: a mapping of choices"),
        ({"samples": 0}, r"training_aware\.samples=0 is invalid: an integer >= 1"),
        ({"stages": 7}, r"stages=7 is invalid: efficientnet_v2_s has 6 stages; allowed: 1\.\.6"),
        ({"width_ratio": -1}, r"width_ratio=-1 is invalid: a number > 0"),
        ({"base": "efficientnet_v9"}, r"base='efficientnet_v9' is invalid: .*efficientnet_v2"),
        ({"reward": {"w": 0.1}}, r"reward\.w=0\.1 is invalid: a number <= 0"),
        ({"reward": {"u": 0}}, r"unknown key 'training_aware\.reward\.u'"),
        ({"step_time": {"precision": "fp16"}}, r"step_time\.precision='fp16' is invalid; "
                                               "allowed: null"),
        ({"step_time": {"warmup": -1}}, r"step_time\.warmup=-1 is invalid: an integer >= 0"),
        ({"step_time": {"batch_size": 8}}, r"unknown key 'training_aware\.step_time\.batch_s"),
        ({"small_images": "yes"}, r"small_images='yes' is invalid; allowed: true, false"),
    ],
)  # fmt: skip
def test_bad_sections_are_one_line_naming_the_key(section, message):
    with pytest.raises(ValueError, match=message) as err:
        plan(search_config(section=section), DIGITS)
    assert "\n" not in str(err.value)


def test_a_space_without_a_valid_candidate_or_with_too_few():
    # the spec is the one home of the structural rules: an even kernel cannot be 'same'-padded
    with pytest.raises(ValueError, match=r"training_aware\.space: search space with no valid "
                       r"candidate: the spec refused all 1000 draws \(the last: stages\[\d\]\."
                       r"kernel=\d is invalid: must be odd"):  # fmt: skip
        plan(search_config(section={"space": {"kernel": [2, 4]}}), DIGITS)
    single = {k: v[:1] for k, v in DEFAULT_SPACE.items()}  # one candidate in all
    with pytest.raises(ValueError, match=r"samples=2 is invalid: 1000 draws found only 1 "
                       "distinct valid candidates"):  # fmt: skip
        plan(search_config(section={"space": single, "samples": 2}), DIGITS)
    # a choice the spec refuses is drawn again, never planned
    trials = plan(search_config(section={"space": {"kernel": [3, 4]}}), DIGITS)
    assert {s["kernel"] for t in trials for s in t.spec["stages"]} == {3}


def test_budget_reaches_search_trials():
    trials = plan(search_config(budget="2m"), DIGITS)
    assert {t.budget_s for t in trials} == {120.0} and {t.kind for t in trials} == {"search"}


def test_reward_against_hand_numbers():
    # A * S^w * P^v with the paper's w = -0.07, v = -0.05 (EfficientNetV2 sec. 3.3):
    # 100 ms^-0.07 = 10^-0.14, (10^6 params)^-0.05 = 10^-0.3, so 0.9 * 10^-0.44 = 0.326770
    assert reward(0.9, 100.0, 1e6, w=-0.07, v=-0.05) == pytest.approx(0.326770, abs=1e-6)
    assert reward(0.9, 100.0, 1e6, w=0.0, v=0.0) == 0.9  # accuracy alone
    # twice the step time costs a factor 2^-0.07 = 0.9526; the unit of S only scales all
    slower = reward(0.9, 200.0, 1e6, w=-0.07, v=-0.05) / reward(0.9, 100.0, 1e6, w=-0.07, v=-0.05)
    assert slower == pytest.approx(0.952638, abs=1e-6)
    with pytest.raises(ValueError, match="must be > 0"):
        reward(0.9, 0.0, 1e6, w=-0.07, v=-0.05)


def _results(plans, numbers, *, device_names=None):
    """Completed search trials: (top-1 %, step ms) per plan; None leaves a trial pending."""
    trials = []
    for i, (p, n) in enumerate(zip(plans, numbers, strict=True)):
        fields = dataclasses.asdict(p)
        if n is None:
            trials.append(trial_record(trial_id=i, **fields, status="pending"))
            continue
        name = (device_names or {}).get(i, "test cpu")
        metrics = {"top1": n[0], "error": 100 - n[0], "step_ms": n[1], "step_p95_ms": n[1],
                   "step_precision": "fp32", "device": "cpu", "device_name": name,
                   "threads": 1}  # fmt: skip
        trials.append(trial_record(trial_id=i, **fields, precision="fp32", metrics=metrics))
    return trials


def _by_hand(t) -> float:
    return (t.metrics["top1"] / 100) * t.metrics["step_ms"] ** -0.07 * t.params**-0.05


def test_sections_recommendation_and_best_yaml():
    plans = plan(search_config(section={"samples": 5}), DIGITS)
    numbers = [(90.0, 50.0), (92.0, 400.0), (91.0, 40.0), (80.0, 10.0), (95.0, 900.0)]
    trials = _results(plans, numbers)
    best = max(trials, key=_by_hand)
    study = study_record("training_aware", trials)
    sections = report_sections(study, trials, n_resamples=200, seed=0)
    assert [s.title for s in sections] == [
        "Reward ranking",
        "Error versus training step time",
        "Random-search efficiency of the reward",
        "Trends with bootstrap bands",
        "Chosen model",
    ]
    ranking = sections[0].body[0]
    order = sorted(trials, key=_by_hand, reverse=True)
    rows = ranking.split("<tr>")[2:]
    assert [int(r.split("<td>")[2].split("<")[0]) for r in rows] == [t.trial_id for t in order]
    assert {n for s in sections for n, _ in s.images} == set(TrainingAware.images)
    text = recommend(study, trials)
    assert text.startswith(f"Best by reward: trial {best.trial_id}, ")
    assert f"top-1 {best.metrics['top1']:.2f}%" in text and "ms on cpu (test cpu)" in text
    assert "Caution" not in text and "candidates done" not in text
    assert "The most accurate, trial 4 (95.00%), takes 900.0 ms per step." in text
    written = loads(report_files(study, trials)["best.yaml"])
    assert spec_id(written) == best.spec_id
    # mid-study: two done, the rest pending; one measured elsewhere
    early = _results(plans, [numbers[0], numbers[1], None, None, None],
                     device_names={1: "other cpu"})  # fmt: skip
    text = recommend(study, early)
    assert "Only 2 of 5 candidates done: too few to call a ranking." in text
    assert "Caution: step times were measured in 2 different settings" in text
    assert report_files(study_record("training_aware", early), early[2:]) == {}


def test_time_steps_records_the_step_time_of_a_trained_search_trial(tmp_path):
    plans = plan(search_config(section={"samples": 1}), DIGITS)
    trial = trial_record(**dataclasses.asdict(plans[0]), status="running", precision="fp32")
    outcome = execute_trial(trial, tmp_path / "t", RunOptions(data="digits", threads=1))
    assert outcome["status"] == "completed", outcome["error"]
    m = outcome["metrics"]
    assert m["step_ms"] > 0 and m["step_p95_ms"] >= m["step_ms"] and m["step_images_per_s"] > 0
    assert (m["device"], m["threads"], m["step_batch"], m["step_precision"]) == (
        "cpu", 1, 16, "fp32")  # fmt: skip
    assert m["device_name"] and 0 <= m["top1"] <= 100 and m["epochs_run"] == 1
    assert math.isclose(m["error"], 100 - m["top1"], abs_tol=1e-3)
    diverged = {"status": "diverged", "metrics": {"top1": None}, "history": [], "error": "x"}
    assert time_steps(trial, diverged, device=None, threads=1) is diverged  # nothing to time


def test_planning_and_ranking_import_no_torch():
    code = (
        "import sys\n"
        "from netscale.study.config import example_config\n"
        "from netscale.study.planners import DataShape, plan\n"
        "from netscale.study.planners.training_aware import reward\n"
        "assert len(plan(example_config('v2-digits'), DataShape(10, 1))) == 12\n"
        "reward(0.9, 100.0, 1e6, w=-0.07, v=-0.05)\n"
        "assert 'torch' not in sys.modules, 'imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
