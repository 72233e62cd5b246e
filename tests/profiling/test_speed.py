"""scale_to_speed: the measured search on a deterministic fake (latency proportional to the
analytic multiply-adds, with optional deterministic noise), its cache, its errors; one
small test measures for real to prove the wiring."""

import dataclasses
import functools
import hashlib
import itertools
import json
import re

import pytest

import netscale
from netscale.complexity import count
from netscale.profiling import measure as measure_module
from netscale.profiling import speed
from netscale.profiling.speed import (
    SpeedPoint,
    format_seconds,
    measure_speed,
    monotone_envelope,
    parse_latency,
    parse_throughput,
    scale_to_speed,
)
from netscale.profiling.speed_cache import Measurement, SpeedCacheWarning, cache_file
from netscale.scaling import bind_rule, get_rule
from netscale.spec import HeadSpec, NetSpec, SpecError, StageSpec, StemSpec, spec_id


def _unit(*parts: object) -> float:
    """A deterministic number in [-1, 1] from `parts`."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF * 2 - 1


class Fake:
    """latency = (1 ms + 20 ps per multiply-add per image x batch) x (1 + noise x u), u in
    [-1, 1] fixed per spec (or per spec and sample with `per_sample`); records each call."""

    def __init__(self, noise: float = 0.0, per_sample: bool = False) -> None:
        self.noise, self.per_sample = noise, per_sample
        self.calls: list[str] = []
        self.specs: list[NetSpec] = []
        self.settings: list[dict] = []

    def latency(self, spec: NetSpec, batch: int = 1, sample: int = 0) -> float:
        sid = spec_id(spec)
        wobble = self.noise * _unit(sid, sample if self.per_sample else 0)
        return (1e-3 + 2e-11 * count(spec).flops * batch) * (1 + wobble)

    def __call__(self, spec, *, device, batch, mode, precision, channels_last):
        sid = spec_id(spec)
        sample = self.calls.count(sid)
        self.calls.append(sid)
        self.specs.append(spec)
        self.settings.append(
            dict(
                device=device,
                batch=batch,
                mode=mode,
                precision=precision,
                channels_last=channels_last,
            )
        )
        lat = self.latency(spec, batch, sample)
        return Measurement(lat, batch / lat)


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    """Each test its own $NETSCALE_CACHE."""
    monkeypatch.setenv("NETSCALE_CACHE", str(tmp_path / "cache"))


def base():
    return netscale.get_spec("resnet_18", resolution=128)


CASES = [
    ("compound", {}),
    ("width", {}),
    ("depth", {}),
    ("resolution", {}),
    ("compound_v2", {}),
    ("resnet_rs", {"regime": "long"}),
]


@pytest.mark.parametrize(("rule", "options"), CASES)
def test_latency_search_ends_between_adjacent_specs_within_tolerance(rule, options):
    fake = Fake()
    target = 3 * fake.latency(base())
    result = scale_to_speed(base(), rule, target_latency_s=target, measure=fake, **options)
    assert result.within_tolerance and abs(result.achieved / target - 1) <= 0.1
    assert result.metric == "latency" and result.target == target
    lo, hi = result.bracket
    assert lo.measurement.latency_s < target <= hi.measurement.latency_s
    assert hi.coefficient - lo.coefficient <= 1e-9 * max(1.0, hi.coefficient)  # adjacent
    # each spec measured once, then the chosen one again (the re-measurement)
    assert len(set(fake.calls[:-1])) == len(fake.calls) - 1 == len(result.measurements)
    assert fake.calls[-1] == spec_id(result.spec) and result.taken == len(fake.calls)
    assert len(fake.calls) <= 20
    # the coefficient reproduces the spec (up to the name) and the rule's FLOPs
    again = get_rule(rule).apply(base(), result.coefficient, **options)
    assert dataclasses.replace(again, name=result.spec.name) == result.spec
    assert result.flops == count(result.spec).flops and result.base_flops == count(base()).flops
    assert result.coefficient in (lo.coefficient, hi.coefficient)


def test_throughput_search_passes_its_settings_to_measure():
    fake = Fake()
    target = 8 / fake.latency(base(), batch=8) / 4  # a quarter of the base's images/s
    result = scale_to_speed(
        base(),
        "width",
        target_throughput=target,
        batch=8,
        mode="train",
        precision="bf16",
        channels_last=False,
        measure=fake,
    )
    assert result.metric == "throughput" and result.within_tolerance
    assert result.achieved == pytest.approx(8 / fake.latency(result.spec, batch=8))
    assert result.miss == result.achieved / target - 1
    assert fake.settings[0] == dict(
        device="cpu", batch=8, mode="train", precision="bf16", channels_last=False
    )
    assert (result.batch, result.mode, result.precision) == (8, "train", "bf16")
    assert result.spec.name == f"resnet_18_width_{speed.number_label(target)}ips_cpu"


def test_names():
    fake = Fake()
    target = 3 * fake.latency(base())
    result = scale_to_speed(
        base(), "resnet-rs", target_latency_s=target, regime="short", measure=fake
    )
    assert result.spec.name.startswith("resnet_18_resnet_rs_short_") and result.options == {
        "regime": "short"
    }
    named = scale_to_speed(base(), "width", target_latency_s=target, measure=fake, name="mine")
    assert named.spec.name == "mine"
    assert (
        scale_to_speed(
            base(), "width", target_latency_s="20ms", measure=Fake(), tolerance=10
        ).spec.name
        == "resnet_18_width_20ms_cpu"
    )


@pytest.mark.parametrize(
    ("rule", "options", "factor"),
    [("compound", {}, 3), ("width", {}, 4), ("resnet_rs", {"regime": "long"}, 6)],
)
def test_noisy_non_monotone_speeds_still_end_on_a_crossing(rule, options, factor):
    """+-20% per-spec noise makes measured latency fall between some measured specs; every
    decision compares one measurement with the target, so the search still ends between
    two adjacent specs measured on either side of it, and picks by the envelope."""
    fake = Fake(noise=0.2)
    target = factor * Fake().latency(base())
    result = scale_to_speed(base(), rule, target_latency_s=target, measure=fake, **options)
    by_coefficient = sorted(result.measurements, key=lambda p: p.coefficient)
    lat = [p.measurement.latency_s for p in by_coefficient]
    assert any(b < a for a, b in itertools.pairwise(lat))  # the curve is not monotone
    lo, hi = result.bracket
    assert lo.measurement.latency_s < target <= hi.measurement.latency_s
    assert hi.coefficient - lo.coefficient <= 1e-9 * max(1.0, hi.coefficient)
    assert result.within_tolerance


def test_re_measurement_is_a_second_sample_and_decides_the_tolerance():
    fake = Fake(noise=0.3, per_sample=True)  # each sample of a spec differs
    target = 3 * Fake().latency(base())
    result = scale_to_speed(base(), "width", target_latency_s=target, measure=fake, tolerance=5)
    chosen = spec_id(result.spec)
    assert fake.calls.count(chosen) == 2 and result.achieved != result.searched
    assert result.achieved == pytest.approx(fake.latency(result.spec, 1, sample=1))
    strict = dataclasses.replace(result, tolerance=0.0)
    assert not strict.within_tolerance  # what the CLI reports as a miss


def test_monotone_envelope():
    assert monotone_envelope([1.0, 2.0, 3.0]) == [1.0, 2.0, 3.0]
    assert monotone_envelope([1.0, 3.0, 2.0, 4.0]) == [1.0, 2.5, 2.5, 4.0]
    assert monotone_envelope([5.0, 4.0, 3.0]) == [4.0, 4.0, 4.0]
    assert monotone_envelope([]) == []


def test_the_envelope_chooses_between_the_last_two_specs():
    """lo measured 9.0 ms right after a smaller spec measured 9.8 ms: pooled, lo is about
    9.4 ms (-6%), nearer the 10 ms target than hi's 10.9 ms (+9%), though its own
    measurement (-10%) is not."""

    def point(c: float, ms: float) -> SpeedPoint:
        return SpeedPoint(c, None, f"id{c}", 0, Measurement(ms / 1e3, 1e3 / ms), False)

    points = [point(0, 5.0), point(1, 9.8), point(2, 9.0), point(3, 10.9)]
    search = type("S", (), {"points": {p.spec_id: p for p in points}})()
    target = speed._Target("latency", 0.010)
    assert speed._closer(search, target, points[2], points[3]) is points[2]
    points[1] = point(1, 7.0)  # no violation: the raw measurements decide
    search.points = {p.spec_id: p for p in points}
    assert speed._closer(search, target, points[2], points[3]) is points[3]


def test_target_near_the_base_or_the_largest_spec_within_tolerance():
    fake = Fake()
    at_base = fake.latency(base())
    result = scale_to_speed(base(), "width", target_latency_s=at_base * 0.95, measure=fake)
    assert result.coefficient == 1.0 and result.bracket is None
    assert dataclasses.replace(result.spec, name="resnet_18") == base()
    assert fake.calls == [spec_id(base())] * 2  # measured, then re-measured: nothing else
    top = speed._max_coefficient(bind_rule(base(), "width", {}), speed.MAX_FLOPS_RATIO)
    largest = fake.latency(get_rule("width").apply(base(), top))
    near = scale_to_speed(base(), "width", target_latency_s=largest * 1.05, measure=Fake())
    assert near.coefficient == near.max_coefficient == top and near.within_tolerance
    assert near.reach[1].coefficient == top and near.bracket is None


@pytest.mark.parametrize(("rule", "ratio"), [("depth", 64), ("compound", 64), ("width", 8)])
def test_the_largest_spec_tried_has_max_flops_ratio_times_the_base_flops(rule, ratio):
    fake = Fake()
    with pytest.raises(ValueError, match="above what"):
        scale_to_speed(base(), rule, target_latency_s=100.0, measure=fake, max_flops_ratio=ratio)
    flops = [count(spec).flops for spec in fake.specs]
    assert max(flops) / count(base()).flops == pytest.approx(ratio, rel=0.1)


def test_unreachable_targets_name_the_measured_range():
    fake = Fake()
    with pytest.raises(ValueError) as err:
        scale_to_speed(base(), "compound", target_latency_s="100us", measure=fake)
    message = str(err.value)
    low = format_seconds(fake.latency(base()))
    assert message.startswith(
        "target latency 100 us is below what rule 'compound' (phi) reaches from resnet_18 on "
        f"cpu at batch 1 (infer, fp32): {low} (phi=0, the base) ... "
    )
    assert re.search(
        r"\(phi=6\.\d+, 6\dx its multiply-adds\); allowed: a target in that "
        r"range \(within 10%\)$",
        message,
    )
    assert len(fake.calls) == 2  # the two ends of the range, nothing else
    with pytest.raises(ValueError, match="target latency 100 s is above what rule 'compound'"):
        scale_to_speed(base(), "compound", target_latency_s=100, measure=fake)
    with pytest.raises(ValueError, match=r"target throughput 1e\+06 images/s is above what"):
        scale_to_speed(base(), "compound", target_throughput=1e6, measure=fake)
    with pytest.raises(ValueError, match=r"target throughput 0.001 images/s is below what"):
        scale_to_speed(base(), "compound", target_throughput=0.001, measure=fake)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_latency_s": "20 parsecs"}, "target_latency='20 parsecs' is invalid: expected "
         "a duration > 0 with a unit, us, ms or s .e.g. 20ms, 0.02s, 500us."),
        ({"target_latency_s": "20"}, "target_latency='20' is invalid"),
        ({"target_latency_s": 0}, "target_latency=0 is invalid"),
        ({"target_latency_s": "20ms", "target_throughput": 5}, "exclusive: give one speed"),
        ({}, "no speed target: give target_latency_s or target_throughput"),
        ({"target_throughput": 0}, "target_throughput=0 is invalid: expected images/s, a number"),
        ({"target_throughput": -5.0}, "target_throughput=-5.0 is invalid"),
        ({"target_throughput": "fast"}, "target_throughput='fast' is invalid"),
        ({"target_throughput": 5, "mode": "fly"}, "mode='fly' is invalid; allowed: infer, train"),
        ({"target_latency_s": "5ms", "mode": "train"}, "mode='train' is invalid for a latency"),
        ({"target_latency_s": "5ms", "batch": 0}, "batch=0 is invalid; allowed: an int >= 1"),
        ({"target_latency_s": "5ms", "precision": "fp16"}, "precision='fp16' is invalid"),
        ({"target_latency_s": "5ms", "tolerance": -0.1}, "tolerance=-0.1 is invalid: expected"),
        ({"target_latency_s": "5ms", "max_flops_ratio": 1}, "max_flops_ratio=1 is invalid"),
        ({"target_latency_s": "5ms", "device": "tpu"}, "device='tpu' is invalid"),
        ({"target_latency_s": "5ms", "regime": "long"}, "option 'regime' is invalid for rule"),
        ({"target_latency_s": "5ms", "rule": "mobilenet"}, "rule='mobilenet' is invalid"),
    ],
)  # fmt: skip
def test_invalid_arguments_are_refused_before_measuring(kwargs, message):
    fake = Fake()
    rule = kwargs.pop("rule", "compound")
    with pytest.raises(ValueError, match=message):
        scale_to_speed(base(), rule, measure=fake, **kwargs)
    assert fake.calls == []


def test_rule_errors_are_spec_errors():
    with pytest.raises(SpecError, match=r"alpha=0\.5 is invalid"):
        scale_to_speed(base(), "compound", target_latency_s="5ms", alpha=0.5, measure=Fake())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20ms", 0.02), ("0.02s", 0.02), ("5ms", 0.005), ("500us", 5e-4), ("500µs", 5e-4),
     (" 20 MS ", 0.02), ("1e-3s", 1e-3), (".5s", 0.5), (0.25, 0.25), (2, 2.0)],
)  # fmt: skip
def test_parse_latency(text, seconds):
    assert parse_latency(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["20", "20 parsecs", "0ms", "-5ms", "ms", "", True, None, "inf s"])
def test_parse_latency_refuses(bad):
    with pytest.raises(ValueError, match="is invalid: expected a duration"):
        parse_latency(bad, "--target-latency")


def test_parse_throughput_and_format_seconds():
    assert parse_throughput("250") == 250.0 and parse_throughput(12) == 12.0
    with pytest.raises(ValueError, match="target_throughput='1k' is invalid"):
        parse_throughput("1k")
    assert [format_seconds(s) for s in (2.5, 0.48, 0.0019, 8.5e-5)] == [
        "2.5 s",
        "480 ms",
        "1.9 ms",
        "85 us",
    ]


def test_a_repeated_search_measures_nothing():
    first_fake, second_fake = Fake(), Fake()
    target = 3 * first_fake.latency(base())
    first = scale_to_speed(base(), "compound", target_latency_s=target, measure=first_fake)
    assert first.taken == len(first_fake.calls) > 2 and first.cached == 0
    second = scale_to_speed(base(), "compound", target_latency_s=target, measure=second_fake)
    assert second_fake.calls == []  # the re-measurement too came from the cache
    assert second.cached == first.taken and second.taken == 0
    assert (second.spec, second.achieved, second.coefficient) == (
        first.spec,
        first.achieved,
        first.coefficient,
    )
    entries = json.loads(cache_file().read_text())["entries"]
    assert len(entries) == len(first.measurements)
    chosen = next(e for e in entries.values() if e["fields"]["spec_id"] == spec_id(first.spec))
    assert len(chosen["samples"]) == 2  # the search's sample and the re-measurement
    # A renamed base is the same architecture: still nothing measured.
    renamed = dataclasses.replace(base(), name="other")
    third_fake = Fake()
    scale_to_speed(renamed, "compound", target_latency_s=target, measure=third_fake)
    assert third_fake.calls == []


def test_fresh_measures_again_and_other_settings_miss():
    target = 3 * Fake().latency(base())
    first = scale_to_speed(base(), "width", target_latency_s=target, measure=Fake())
    fake = Fake()
    fresh = scale_to_speed(base(), "width", target_latency_s=target, measure=fake, fresh=True)
    assert len(fake.calls) == first.taken and fresh.cached == 0
    for changed in ({"precision": "bf16"}, {"channels_last": False}, {"batch": 2}):
        fake = Fake()
        scale_to_speed(base(), "width", target_latency_s=target * 1.5, measure=fake, **changed)
        assert fake.calls and fake.calls[0] == spec_id(base()), changed  # the base: a miss


def test_cache_off_or_elsewhere(tmp_path):
    target = 3 * Fake().latency(base())
    scale_to_speed(base(), "width", target_latency_s=target, measure=Fake(), cache=False)
    assert not cache_file().exists()
    own = tmp_path / "mine.json"
    result = scale_to_speed(base(), "width", target_latency_s=target, measure=Fake(), cache=own)
    assert own.is_file() and result.cache_path == str(own) and not cache_file().exists()
    fake = Fake()
    scale_to_speed(base(), "width", target_latency_s=target, measure=fake, cache=str(own))
    assert fake.calls == []


def test_a_corrupt_cache_warns_and_the_search_goes_on():
    cache_file().parent.mkdir(parents=True)
    cache_file().write_text("{not json")
    target = 3 * Fake().latency(base())
    with pytest.warns(SpeedCacheWarning, match="ignoring the speed cache"):
        result = scale_to_speed(base(), "width", target_latency_s=target, measure=Fake())
    assert result.within_tolerance
    assert len(json.loads(cache_file().read_text())["entries"]) == len(result.measurements)


def test_an_interrupted_search_keeps_what_it_measured():
    class Interrupt(Exception):
        pass

    fake = Fake()

    def flaky(spec, **settings):
        if len(fake.calls) == 3:
            raise Interrupt
        return fake(spec, **settings)

    target = 3 * Fake().latency(base())
    with pytest.raises(Interrupt):
        scale_to_speed(base(), "compound", target_latency_s=target, measure=flaky)
    again = Fake()
    result = scale_to_speed(base(), "compound", target_latency_s=target, measure=again)
    assert result.cached >= 3 and not set(again.calls) & set(fake.calls)


def test_measure_may_return_a_profile_result_and_nothing_else():
    fake = Fake()

    def profile_like(spec, **settings):
        m = fake(spec, **settings)
        return type("R", (), {"latency_ms": m.latency_s * 1e3, "images_per_s": m.images_per_s})

    target = 3 * fake.latency(base())
    result = scale_to_speed(base(), "width", target_latency_s=target, measure=profile_like)
    assert result.within_tolerance
    with pytest.raises(TypeError, match="measure returned float; allowed: a Measurement"):
        scale_to_speed(
            base(), "width", target_latency_s=target, measure=lambda s, **k: 0.02, cache=False
        )


def test_out_of_memory_is_a_one_line_error():
    fake = Fake()

    def big(spec, **settings):
        if count(spec).flops > 4 * count(base()).flops:
            raise MemoryError("DefaultCPUAllocator: can't allocate memory\nmore detail")
        return fake(spec, **settings)

    with pytest.raises(ValueError) as err:
        scale_to_speed(base(), "width", target_latency_s=1.0, measure=big)
    assert str(err.value).startswith("out of memory measuring a spec of ")
    assert "on cpu at batch 1 (infer): DefaultCPUAllocator: can't allocate memory; allowed: " in (
        str(err.value)
    )


def test_summary_is_json_ready():
    fake = Fake()
    result = scale_to_speed(
        base(), "width", target_latency_s=3 * fake.latency(base()), measure=fake
    )
    summary = json.loads(json.dumps(result.summary()))
    assert summary["name"] == result.spec.name and "spec" not in summary
    assert summary["miss"] == result.miss and summary["within_tolerance"] is True
    assert summary["taken"] == result.taken and summary["device"] == "cpu"
    assert len(summary["measurements"]) == len(result.measurements)
    assert summary["bracket"][0]["spec_id"] == result.bracket[0].spec_id
    assert summary["reach"][1] is None  # the largest spec was not needed


def test_default_measure_is_looked_up_when_called(monkeypatch):
    fake = Fake()
    monkeypatch.setattr(speed, "measure_speed", fake)
    scale_to_speed(base(), "width", target_latency_s=3 * fake.latency(base()))
    assert fake.calls


def test_real_measurement_wiring(monkeypatch):
    """The one test that times anything: profile() on a 16 px toy model, 1 + 2 steps. Any
    real latency is far above 1 us, so the base is the answer within the (huge) tolerance:
    measured, re-measured, cached; the repeat measures nothing."""
    monkeypatch.setattr(measure_module, "matmul_peak", lambda *a, **k: 1e9)  # no probe
    toy = NetSpec(
        name="toy",
        stem=StemSpec(kind="conv", width=8, stride=1),
        stages=(StageSpec(block="basic", depth=1, width=8, stride=2),),
        head=HeadSpec(num_classes=4),
        resolution=16,
    )
    real = functools.partial(measure_speed, warmup=1, iters=2)
    result = scale_to_speed(toy, "width", target_latency_s="1us", measure=real, tolerance=1e9)
    assert result.coefficient == 1.0 and result.taken == 2 and result.achieved > 1e-6
    entry = next(iter(json.loads(cache_file().read_text())["entries"].values()))
    assert entry["samples"][1]["latency_s"] == result.achieved
    again = scale_to_speed(toy, "width", target_latency_s="1us", measure=real, tolerance=1e9)
    assert again.taken == 0 and again.cached == 2 and again.achieved == result.achieved
