"""The scaling planner with `match: speed`: rules matched on measured latency or throughput
(scale_to_speed), with a deterministic fake measurement in place of the device; the trials
record target and achieved speed; the report and recommendation name what was matched."""

from __future__ import annotations

import pytest

from netscale.study.config import parse_config
from netscale.study.findings import completed
from netscale.study.planners import PLANNERS, DataShape, plan
from netscale.study.records import StudyConfigError

from ..trials import trial_record

DIGITS = DataShape(num_classes=10, in_width=1)


def _config(**section):
    base = {"base": "resnet_18", "small_images": True, "resolution": 16,
            "rules": ["width", "depth"], "multipliers": [2.0], "match": "speed"}  # fmt: skip
    return parse_config({"name": "s", "planner": "scaling", "epochs": 1,
                         "scaling": {**base, **section}})  # fmt: skip


def test_rules_are_matched_on_measured_latency(fake_device):
    trials = plan(_config(), DIGITS)
    base = next(t for t in trials if t.group == "base")
    latency = base.meta["speed"]["base"]
    assert base.design["multiplier"] == 1.0 and base.meta["match"] == "speed"
    rules = [t for t in trials if t.group != "base"]
    assert {t.group for t in rules} == {"width", "depth"}
    for t in rules:
        s = t.meta["speed"]
        assert s["metric"] == "latency" and s["target"] == pytest.approx(2 * latency)
        assert s["within_tolerance"] and abs(s["achieved"] / s["target"] - 1) <= 0.1
        assert t.design["multiplier"] == pytest.approx(s["achieved"] / latency, rel=1e-3)
        assert t.design["speed_ratio"] == pytest.approx(t.design["multiplier"], rel=1e-3)
    again = len(fake_device)
    plan(_config(), DIGITS)  # the cache holds every measurement: nothing measured again
    assert len(fake_device) == again


def test_throughput_target_divides_the_base_throughput(fake_device):
    trials = plan(_config(speed={"metric": "throughput", "batch": 8}, rules=["width"]), DIGITS)
    base, scaled = trials
    s = scaled.meta["speed"]
    assert s["batch"] == 8 and s["target"] == pytest.approx(base.meta["speed"]["base"] / 2)
    assert scaled.design["multiplier"] == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"match": "time"}, r"scaling.match='time' is invalid; allowed: flops, speed"),
        (
            {"speed": {"colour": 1}},
            "unknown key 'scaling.speed.colour'; allowed keys: metric, batch",
        ),
        ({"speed": {"metric": "fps"}}, "scaling.speed.metric='fps' is invalid"),
        ({"speed": {"batch": 0}}, r"scaling.speed: batch=0 is invalid"),
        ({"speed": {"device": "tpu"}}, "scaling.speed: "),
        ({"grid": {"width": [1.0, 2.0]}}, "matches rules, not grid points"),
        (
            {"multipliers": [10**6]},
            r"scaling: rule 'width' at 1000000x the base's measured latency",
        ),
    ],
)
def test_bad_speed_sections_are_one_line_errors(fake_device, section, message):
    with pytest.raises(StudyConfigError, match=message) as err:
        plan(_config(**section), DIGITS)
    assert "\n" not in str(err.value)


def _matched(rule, mult, error):
    speed = {"metric": "latency", "device_name": "AMD EPYC", "batch": 1}
    meta = {"rule": rule, "match": "speed", "speed": speed, "epochs_budget": 10}
    return trial_record(group=rule, design={"multiplier": mult}, meta=meta, flops=10**6,
                        params=1000, metrics={"top1": 100 - error, "error": error})  # fmt: skip


def test_report_and_recommendation_name_the_measured_speed():
    trials = [_matched("depth", 2.03, 10.0 + 0.1 * s) for s in range(3)]
    trials += [_matched("width", 1.96, 11.4 + 0.1 * s) for s in range(3)]
    planner = PLANNERS["scaling"]
    text = planner.recommend(trials, completed(trials))
    assert "at 2x the measured latency (AMD EPYC, batch 1) in this regime" in text
    body = "".join(planner.sections(trials, completed(trials), n_resamples=20, seed=0)[0].body)
    assert "Rules matched on the measured latency (AMD EPYC, batch 1)" in body
    apart = [_matched("depth", 2.6, 10.0), _matched("width", 1.95, 11.0)]
    assert planner.recommend(apart, completed(apart)).startswith(
        "No multiple of the measured latency (AMD EPYC, batch 1) has completed trials of two "
        "rules within 15% of each other yet"
    )
