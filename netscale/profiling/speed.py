"""Scaling to a measured speed (`scale_to_speed`): FLOPs do not predict speed (ResNet-RS
sec. 4 and 7, RegNet sec. 5), so this bisects a scaling rule's coefficient on latency or
throughput measured on the device itself.

The rules, their coefficients and the search are netscale.scaling's (`bind_rule`,
search.py's `expand` and `narrow`), with measured seconds where `scale_to` counts
multiply-adds. The cost the search bisects grows with the coefficient: seconds per batch
for a latency target, seconds per image (1 / images/s) for a throughput target. Measured
speed is noisy and not quite monotone, so:

- each distinct spec is measured once per search (coefficients that give the same spec,
  as most do between two rounding steps, reuse it), and the bisection stops when its two
  ends are adjacent specs, one rounding step of the rule apart;
- each decision compares one measurement with the target, so noise can only move the
  search to another crossing of the target, never out of its bracket; the closer of the
  two final specs is chosen on the monotone envelope of all measurements (their isotonic,
  non-decreasing fit in the coefficient), which pools a noisy point with its neighbours;
- the chosen spec is measured again, and that re-measurement is the reported `achieved`,
  checked against `tolerance`.

The largest spec a search may try has `max_flops_ratio` (64) times the base's multiply-
adds; the smallest is the base (the rules only scale up). Measurements are cached on disk
per machine, spec and setting (speed_cache.py): a repeated search measures nothing.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from netscale.complexity import count
from netscale.profiling.device import device_name, machine_fingerprint, resolve_device
from netscale.profiling.measure import MODES, PRECISIONS, profile
from netscale.profiling.speed_cache import Measurement, SpeedCache, cache_file, speed_key
from netscale.scaling import BoundRule, bind_rule
from netscale.scaling.naming import number_label
from netscale.scaling.search import MAX_EXPANSIONS, expand, fit_flops, narrow
from netscale.spec import NetSpec, SpecError, spec_id

METRICS = ("latency", "throughput")
MAX_FLOPS_RATIO = 64.0  # the largest spec tried: this many times the base's multiply-adds
WARMUP, ITERS = 3, 10  # profile() steps per measurement (each also capped in seconds)
WARMUP_S, MEASURE_S = 5.0, 10.0

_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
_LATENCY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(us|µs|ms|s)\s*$", re.I)
LATENCY_FORMS = "a duration > 0 with a unit, us, ms or s (e.g. 20ms, 0.02s, 500us)"


def parse_latency(value: Any, what: str = "target_latency") -> float:
    """Seconds in `value`: text with a unit ("20ms", "0.02s", "500us") or a number of
    seconds; > 0 and finite. A ValueError names `what`, the value and the allowed forms."""
    seconds = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _LATENCY.match(value)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what}={value!r} is invalid: expected {LATENCY_FORMS}")
    return seconds


def parse_throughput(value: Any, what: str = "target_throughput") -> float:
    """Images per second in `value` (a number, or text of one); > 0 and finite."""
    rate = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        rate = float(value)
    elif isinstance(value, str):
        try:
            rate = float(value.strip())
        except ValueError:
            rate = None
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{what}={value!r} is invalid: expected images/s, a number > 0")
    return rate


def format_seconds(seconds: float) -> str:
    """ "480 ms", "1.9 ms", "85 us", "2.5 s": 3 significant digits in a fitting unit."""
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def measure_speed(
    spec: NetSpec,
    *,
    device: str,
    batch: int,
    mode: str,
    precision: str,
    channels_last: bool,
    warmup: int = WARMUP,
    iters: int = ITERS,
    warmup_s: float = WARMUP_S,
    measure_s: float = MEASURE_S,
) -> Measurement:
    """The real measurement: `netscale.profiling.profile` of `spec` at its resolution;
    latency is its median step time (a whole batch), images/s its throughput."""
    result = profile(
        spec,
        device=device,
        batch=batch,
        mode=mode,
        precision=precision,
        channels_last=channels_last,
        warmup=warmup,
        iters=iters,
        warmup_s=warmup_s,
        measure_s=measure_s,
    )
    return Measurement(result.latency_ms / 1e3, result.images_per_s)


MeasureFn = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class SpeedPoint:
    """One spec the search measured: the (first) coefficient that gave it, its analytic
    multiply-adds, its measurement, and whether that came from the cache file."""

    coefficient: float
    spec: NetSpec
    spec_id: str
    flops: int
    measurement: Measurement
    cached: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the spec."""
        return {
            "coefficient": self.coefficient,
            "spec_id": self.spec_id,
            "flops": self.flops,
            **self.measurement.to_dict(),
            "cached": self.cached,
        }


@dataclass(frozen=True, slots=True)
class SpeedScaleResult:
    """What `scale_to_speed` found. `target`, `achieved` and `searched` are in the target's
    unit: seconds per batch (metric "latency") or images/s ("throughput"). `achieved` is
    the re-measurement of `spec`, `searched` the measurement the search chose it by.
    `measurements`: every distinct spec measured, in the order measured; `bracket`: the
    two adjacent specs the bisection ended between (None when the answer is an end of the
    range); `reach`: the measurements at the smallest coefficient (the base) and at the
    largest (`max_coefficient`), the latter None unless the search had to measure it.
    `taken` counts calls of the measure function, `cached` measurements read from the
    cache file (both include the re-measurement)."""

    spec: NetSpec
    rule: str
    coefficient_name: str
    coefficient: float
    options: dict[str, Any]
    metric: str
    target: float
    achieved: float
    searched: float
    tolerance: float
    device: str
    device_name: str
    machine: str
    batch: int
    resolution: int
    mode: str
    precision: str
    channels_last: bool
    flops: int
    base_flops: int
    max_coefficient: float
    measurements: tuple[SpeedPoint, ...]
    bracket: tuple[SpeedPoint, SpeedPoint] | None
    reach: tuple[SpeedPoint, SpeedPoint | None]
    taken: int
    cached: int
    cache_path: str | None

    @property
    def miss(self) -> float:
        """Relative miss of the re-measured speed: achieved / target - 1."""
        return self.achieved / self.target - 1

    @property
    def within_tolerance(self) -> bool:
        """Whether |miss| <= tolerance."""
        return abs(self.miss) <= self.tolerance

    def summary(self) -> dict[str, Any]:
        """Plain data (JSON-ready) of everything but the specs."""
        out: dict[str, Any] = {"name": self.spec.name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "spec":
                continue
            if f.name == "measurements":
                value = [p.to_dict() for p in value]
            elif f.name in ("bracket", "reach"):
                value = None if value is None else [p and p.to_dict() for p in value]
            out[f.name] = value
        return {**out, "miss": self.miss, "within_tolerance": self.within_tolerance}


class _Target:
    """The target as a cost that grows with the coefficient: seconds per batch (latency) or
    per image (throughput); `value` gives a measurement in the target's own unit."""

    def __init__(self, metric: str, value: float) -> None:
        self.metric, self.value = metric, value
        self.cost = value if metric == "latency" else 1.0 / value

    def of(self, m: Measurement) -> float:
        return m.latency_s if self.metric == "latency" else m.images_per_s

    def cost_of(self, m: Measurement) -> float:
        return m.latency_s if self.metric == "latency" else 1.0 / m.images_per_s

    def miss(self, value: float) -> float:
        return value / self.value - 1

    def text(self, value: float) -> str:
        if self.metric == "latency":
            return format_seconds(value)
        return f"{value:.4g} images/s"


def _check_settings(
    batch: Any, mode: Any, precision: Any, tolerance: Any, max_flops_ratio: Any
) -> None:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch={batch!r} is invalid; allowed: an int >= 1")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is invalid; allowed: {', '.join(MODES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is invalid; allowed: {', '.join(PRECISIONS)}")
    checks = (("tolerance", tolerance, ">=", 0.0), ("max_flops_ratio", max_flops_ratio, ">", 1.0))
    for name, value, relation, low in checks:
        bad = isinstance(value, bool) or not isinstance(value, int | float)
        if bad or not math.isfinite(value) or value < low or (relation == ">" and value == low):
            raise ValueError(
                f"{name}={value!r} is invalid: expected a finite number {relation} {low:g}"
            )


def _target(target_latency_s: Any, target_throughput: Any, mode: str) -> _Target:
    if target_latency_s is not None and target_throughput is not None:
        raise ValueError(
            "target_latency and target_throughput are exclusive: give one speed target"
        )
    if target_latency_s is None and target_throughput is None:
        raise ValueError("no speed target: give target_latency_s or target_throughput")
    if target_throughput is not None:
        return _Target("throughput", parse_throughput(target_throughput))
    seconds = parse_latency(target_latency_s)
    if mode != "infer":
        raise ValueError(
            f"mode={mode!r} is invalid for a latency target; allowed: infer (a latency is "
            "one inference step; for training speed give target_throughput)"
        )
    return _Target("latency", seconds)


def _max_coefficient(bound: BoundRule, ratio: float) -> float:
    """The coefficient where the rule's multiply-adds reach `ratio` x the base's (the
    nearest rounding step), or the largest the FLOPs search tries if they never do."""
    base_flops = count(bound.base).flops
    try:
        fit = fit_flops(
            bound.make,
            ratio * base_flops,
            identity=bound.rule.identity,
            first=bound.first,
            what=bound.what,
            tolerance=1e9,
        )
    except SpecError:  # the rule saturates below ratio x: its last doubling
        identity = bound.rule.identity
        return identity + 2**MAX_EXPANSIONS * (bound.first - identity)
    return fit.coefficient


def monotone_envelope(costs: list[float]) -> list[float]:
    """The non-decreasing least-squares fit of `costs` (ordered by coefficient): pool
    adjacent violators, each pooled run taking its mean."""
    blocks: list[list[float]] = []  # [sum, count]
    for c in costs:
        blocks.append([c, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, n = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += n
    out: list[float] = []
    for total, n in blocks:
        out += [total / n] * int(n)
    return out


class _Timings:
    """Measurements of specs in one setting (device, batch, mode, precision, layout) on this
    machine, through the cache file `path` (None: no cache); counts those taken and those
    read from the cache."""

    def __init__(
        self,
        measure: MeasureFn,
        path: Path | None,
        fresh: bool,
        dev: torch.device,
        settings: dict[str, Any],
    ) -> None:
        self.measure, self.path, self.dev = measure, path, dev
        self.cache = SpeedCache(path, fresh=fresh)
        self.settings = {"device": str(dev), **settings}
        self.machine = machine_fingerprint(dev)
        self.taken = self.cached = 0

    def key(self, spec: NetSpec, sid: str) -> tuple[str, dict[str, Any]]:
        s = self.settings
        return speed_key(
            machine=self.machine,
            device_kind=s["device"].split(":")[0],
            spec_id=sid,
            batch=s["batch"],
            resolution=spec.resolution,
            mode=s["mode"],
            precision=s["precision"],
            channels_last=s["channels_last"],
            torch_version=torch.__version__,
        )

    def sample(self, spec: NetSpec, sid: str, index: int) -> tuple[Measurement, bool]:
        """Sample `index` of `spec` from the cache, else measured (and recorded)."""
        key, fields = self.key(spec, sid)
        found = self.cache.sample(key, index)
        if found is not None:
            self.cached += 1
            return found, True
        try:
            raw = self.measure(spec, **self.settings)
        except (torch.cuda.OutOfMemoryError, MemoryError) as err:
            s = self.settings
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(
                f"out of memory measuring a spec of {count(spec).flops / 1e9:.3g} GMACs per "
                f"image on {s['device']} at batch {s['batch']} ({s['mode']}): {reason}; "
                "allowed: a smaller batch or target, or a smaller max_flops_ratio"
            ) from None
        value = _as_measurement(raw)
        self.taken += 1
        self.cache.put(key, index, value, fields, spec.name)
        return value, False


class _Search:
    """The specs of one rule's search, each measured once (by spec_id) with `timings`."""

    def __init__(self, bound: BoundRule, timings: _Timings) -> None:
        self.bound, self.timings = bound, timings
        self.points: dict[str, SpeedPoint] = {}  # by spec_id, in the order measured

    def __call__(self, coefficient: float) -> SpeedPoint:
        spec = self.bound.make(coefficient)
        sid = spec_id(spec)
        point = self.points.get(sid)
        if point is None:
            value, cached = self.timings.sample(spec, sid, 0)
            point = SpeedPoint(coefficient, spec, sid, count(spec).flops, value, cached)
            self.points[sid] = point
        return dataclasses.replace(point, coefficient=coefficient)


def _as_measurement(value: Any) -> Measurement:
    """A measure function's result: a Measurement, or anything with latency_ms and
    images_per_s (a ProfileResult)."""
    if isinstance(value, Measurement):
        return value
    if hasattr(value, "latency_ms") and hasattr(value, "images_per_s"):
        return Measurement(value.latency_ms / 1e3, value.images_per_s)
    raise TypeError(
        f"measure returned {type(value).__name__}; allowed: a Measurement, or an object with "
        "latency_ms and images_per_s (a ProfileResult)"
    )


def cached_speed(
    spec: NetSpec,
    *,
    batch: int = 1,
    device: str = "cpu",
    mode: str = "infer",
    precision: str = "fp32",
    channels_last: bool = True,
    measure: MeasureFn | None = None,
    cache: bool | str | Path = True,
    fresh: bool = False,
) -> Measurement:
    """`spec`'s speed as `scale_to_speed` measures a spec with these settings: the cache's
    first sample when it holds one (the one a search of the same settings reads), else
    measured now and cached. Arguments as `scale_to_speed`'s."""
    _check_settings(batch, mode, precision, 0.0, MAX_FLOPS_RATIO)
    timings = _timings(device, batch, mode, precision, channels_last, measure, cache, fresh)
    return timings.sample(spec, spec_id(spec), 0)[0]


def _timings(
    device: str,
    batch: int,
    mode: str,
    precision: str,
    channels_last: bool,
    measure: MeasureFn | None,
    cache: bool | str | Path,
    fresh: bool,
) -> _Timings:
    """The measurements of one setting (`cache`: True for $NETSCALE_CACHE/speed.json, a
    path for another file, False for none; `measure` None: `measure_speed`)."""
    path = cache_file() if cache is True else (Path(cache) if cache else None)
    settings = {"batch": batch, "mode": mode, "precision": precision,
                "channels_last": channels_last}  # fmt: skip
    return _Timings(measure or measure_speed, path, fresh, resolve_device(device), settings)


def scale_to_speed(
    spec: NetSpec,
    rule: str = "compound",
    *,
    target_latency_s: float | str | None = None,
    target_throughput: float | str | None = None,
    batch: int = 1,
    device: str = "cpu",
    mode: str = "infer",
    precision: str = "fp32",
    channels_last: bool = True,
    tolerance: float = 0.1,
    measure: MeasureFn | None = None,
    cache: bool | str | Path = True,
    fresh: bool = False,
    max_flops_ratio: float = MAX_FLOPS_RATIO,
    name: str | None = None,
    **rule_kwargs: Any,
) -> SpeedScaleResult:
    """Scale `spec` by `rule` (a name in netscale.scaling.RULES; `rule_kwargs` are its
    options, e.g. regime="long") until its measured speed on `device` meets the target:
    `target_latency_s`, the median time of one inference step of `batch` images (seconds,
    or text: "20ms", "0.02s", "500us"), or `target_throughput` in images/s (mode "infer"
    or "train"). `precision` and `channels_last` are profile()'s.

    `measure(spec, device=, batch=, mode=, precision=, channels_last=)` returns a
    Measurement (or a ProfileResult); default `measure_speed` (profile(), 3 + 10 steps).
    `cache`: True for $NETSCALE_CACHE/speed.json, a path for another file, False for none;
    `fresh` measures everything again (replacing the cached samples). The result is named
    `name` or "<base>_<rule>[_<regime>]_<target>_<device kind>", e.g.
    "efficientnet_b0_compound_20ms_cpu". Check `within_tolerance` (|achieved / target - 1|
    <= tolerance, on the re-measurement): a target between two adjacent specs, or noise,
    can miss it. Raises ValueError (SpecError for the rule and its options) for an invalid
    argument and for a target outside the range the rule reaches, naming that range.
    """
    _check_settings(batch, mode, precision, tolerance, max_flops_ratio)
    target = _target(target_latency_s, target_throughput, mode)
    bound = bind_rule(spec, rule, rule_kwargs)
    timings = _timings(device, batch, mode, precision, channels_last, measure, cache, fresh)
    search = _Search(bound, timings)
    dev, path, machine = timings.dev, timings.path, timings.machine
    identity = bound.rule.identity
    top = _max_coefficient(bound, max_flops_ratio)
    top_id = spec_id(bound.make(top))
    base = search(identity)

    def cost(p: SpeedPoint) -> float:
        return target.cost_of(p.measurement)

    def close(p: SpeedPoint) -> bool:
        return abs(target.miss(target.of(p.measurement))) <= tolerance

    def out_of_range(largest: SpeedPoint) -> ValueError:
        side = "below" if cost(base) > target.cost else "above"
        if target.metric == "throughput":
            side = "above" if side == "below" else "below"
        what = f"{target.metric} {target.text(target.value)}"
        coef = bound.rule.coefficient
        return ValueError(
            f"target {what} is {side} what {bound.what} reaches from "
            f"{spec.name or 'the base'} on {dev} at batch {batch} ({mode}, {precision}): "
            f"{target.text(target.of(base.measurement))} ({coef}={identity:g}, the base) ... "
            f"{target.text(target.of(largest.measurement))} ({coef}={largest.coefficient:.4g}, "
            f"{largest.flops / base.flops:.0f}x its multiply-adds); allowed: a target in "
            f"that range (within {tolerance:.0%})"
        )

    bracket = None
    if cost(base) >= target.cost:  # at or beyond the base: nothing smaller is reachable
        if not close(base):
            raise out_of_range(search(top))
        chosen = base
    else:
        reached = lambda p: cost(p) >= target.cost  # noqa: E731
        lo, hi = expand(search, base, bound.first, reached, limit=top)
        if not reached(hi):  # the largest spec tried (at `top`) is still too fast
            if not close(hi):
                raise out_of_range(hi)
            chosen = hi
        else:
            lo, hi = narrow(search, lo, hi, lambda p: not reached(p))
            bracket = (lo, hi)
            chosen = _closer(search, target, lo, hi)
    again, _ = timings.sample(chosen.spec, chosen.spec_id, 1)
    label = name if name is not None else bound.name(_label(target, dev))
    first = search.points[chosen.spec_id]
    return SpeedScaleResult(
        spec=dataclasses.replace(chosen.spec, name=label),
        rule=bound.rule.name,
        coefficient_name=bound.rule.coefficient,
        coefficient=chosen.coefficient,
        options=dict(rule_kwargs),
        metric=target.metric,
        target=target.value,
        achieved=target.of(again),
        searched=target.of(first.measurement),
        tolerance=float(tolerance),
        device=str(dev),
        device_name=device_name(dev),
        machine=machine,
        batch=batch,
        resolution=chosen.spec.resolution,
        mode=mode,
        precision=precision,
        channels_last=channels_last,
        flops=chosen.flops,
        base_flops=base.flops,
        max_coefficient=top,
        measurements=tuple(search.points.values()),
        bracket=bracket,
        reach=(search.points[base.spec_id], search.points.get(top_id)),
        taken=timings.taken,
        cached=timings.cached,
        cache_path=str(path) if path is not None else None,
    )


def _closer(search: _Search, target: _Target, lo: SpeedPoint, hi: SpeedPoint) -> SpeedPoint:
    """lo or hi, whichever the monotone envelope of every measurement puts nearer the
    target (relative, in the target's unit)."""
    ordered = sorted(search.points.values(), key=lambda p: p.coefficient)
    fitted = monotone_envelope([target.cost_of(p.measurement) for p in ordered])
    smooth = {p.spec_id: c for p, c in zip(ordered, fitted, strict=True)}

    def miss(p: SpeedPoint) -> float:
        c = smooth[p.spec_id]
        value = c if target.metric == "latency" else 1.0 / c
        return abs(target.miss(value))

    return min((lo, hi), key=miss)


def _label(target: _Target, dev: torch.device) -> str:
    if target.metric == "latency":
        text = f"{number_label(target.value * 1e3)}ms"
    else:
        text = f"{number_label(target.value)}ips"
    return f"{text}_{dev.type}"
