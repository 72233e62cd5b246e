"""fit_flops: bisection of a monotone coefficient onto a FLOPs budget, on synthetic
FLOPs curves (count() is replaced, so every step of the curve is known exactly)."""

import dataclasses
import math
from types import SimpleNamespace

import pytest

from netscale.scaling import search
from netscale.scaling.search import MAX_EXPANSIONS, Fit, fit_flops
from netscale.spec import SpecError


@pytest.fixture
def curve(monkeypatch):
    """Install `flops(c)` as the FLOPs of the "spec" ("spec", c); returns the coefficients
    evaluated, in order."""
    calls: list[float] = []

    def install(flops):
        def count(spec):
            calls.append(spec[1])
            return SimpleNamespace(flops=flops(spec[1]))

        monkeypatch.setattr(search, "count", count)
        return calls

    return install


def make(c: float):
    return ("spec", c)


def steps(c: float) -> int:
    """1000 multiply-adds per whole coefficient step: 1000, 2000, 3000, ..."""
    return 1000 * (1 + math.floor(c))


def test_smooth_curve_is_hit_closely(curve):
    curve(lambda c: int(1000 * 2**c))
    fit = fit_flops(make, 4000, identity=0.0, first=0.5, what="rule 'x' (c)")
    assert isinstance(fit, Fit) and fit.spec == ("spec", fit.coefficient)
    assert fit.flops == int(1000 * 2**fit.coefficient)
    assert abs(fit.flops - 4000) <= 1 and fit.coefficient == pytest.approx(2.0, abs=1e-3)


@pytest.mark.parametrize("first", [0.5, 1.7, 2.5])
def test_ends_at_the_closer_of_two_adjacent_steps(curve, first):
    """2900 lies between the steps 2000 (c < 2) and 3000 (c >= 2): 3000 is closer, and the
    coefficient found is where that step starts, whatever the first guess."""
    curve(steps)
    fit = fit_flops(make, 2900, identity=0.0, first=first, what="rule 'x' (c)")
    assert fit.flops == 3000 and fit.coefficient == pytest.approx(2.0, abs=1e-6)
    assert fit.coefficient >= 2.0  # on the step, not just below it
    fit = fit_flops(make, 2100, identity=0.0, first=first, what="rule 'x' (c)")
    assert fit.flops == 2000 and 1.0 <= fit.coefficient < 2.0


def test_target_between_coarse_steps_is_explained(curve):
    curve(steps)
    with pytest.raises(SpecError) as err:
        fit_flops(make, 2400, identity=0.0, first=0.5, what="rule 'x' (c)")
    message = str(err.value)
    assert message.startswith("target_flops=2400 is out of reach of rule 'x' (c) within 5%")
    assert "nearest specs have 2000 (-16.7%) and 3000 (+25.0%) multiply-adds" in message
    loose = fit_flops(make, 2400, identity=0.0, first=0.5, what="rule 'x' (c)", tolerance=0.2)
    assert loose.flops == 2000  # -16.7% is nearer than +25%


def test_target_at_or_below_the_base(curve):
    calls = curve(steps)
    fit = fit_flops(make, 1000, identity=0.0, first=0.5, what="rule 'x' (c)")
    assert (fit.coefficient, fit.flops) == (0.0, 1000)
    assert calls == [0.0]  # the base alone was counted
    fit = fit_flops(make, 960, identity=0.0, first=0.5, what="rule 'x' (c)")  # base +4.2%
    assert (fit.coefficient, fit.flops) == (0.0, 1000)
    with pytest.raises(SpecError) as err:
        fit_flops(make, 900, identity=0.0, first=0.5, what="rule 'x' (c)")  # base +11%
    message = str(err.value)
    assert message.startswith("target_flops=900 is invalid: below the base's 1000 multiply-adds")
    assert "rule 'x' (c) only scales up (coefficient >= 0)" in message


def test_interval_doubles_from_the_identity(curve):
    """Expansions go identity + 2^k (first - identity): from 1 with first 1.5 they try
    1.5, 2, 3, 5, ... until the target is bracketed."""
    calls = curve(lambda c: int(1000 * c))  # linear from the identity 1 (1000)
    fit = fit_flops(make, 4500, identity=1.0, first=1.5, what="rule 'x' (c)")
    assert calls[:5] == [1.0, 1.5, 2.0, 3.0, 5.0]
    assert fit.coefficient == pytest.approx(4.5, abs=1e-6)


def test_unreachable_target_names_the_rule_and_the_largest_try(curve):
    calls = curve(lambda c: min(steps(c), 5000))  # saturates at 5000
    with pytest.raises(SpecError) as err:
        fit_flops(make, 1e6, identity=0.0, first=1.0, what="rule 'x' (c)")
    largest = 2.0**MAX_EXPANSIONS
    assert str(err.value) == (
        f"target_flops=1e+06 is invalid: beyond the reach of rule 'x' (c); its largest "
        f"tried coefficient {largest:g} gives 5000 multiply-adds"
    )
    assert max(calls) == largest and len(calls) == MAX_EXPANSIONS + 2  # base, first, doublings


def test_reach_ends_after_the_last_doubling(curve):
    curve(lambda c: int(1000 * (1 + c)))
    top = 1000 * (1 + 2**MAX_EXPANSIONS)  # the last coefficient tried: 2^6 = 64
    assert fit_flops(make, top, identity=0.0, first=1.0, what="w").flops == top
    with pytest.raises(SpecError, match="beyond the reach of w"):
        fit_flops(make, top * 1.2, identity=0.0, first=1.0, what="w")


@pytest.mark.parametrize(
    ("target", "tolerance", "message"),
    [
        (0, 0.05, "target_flops=0 is invalid: expected a finite number > 0"),
        (-5e9, 0.05, "target_flops=-5000000000.0 is invalid"),
        (math.nan, 0.05, "target_flops=nan is invalid"),
        (4e9, -0.1, "tolerance=-0.1 is invalid: expected a finite number >= 0"),
    ],
)
def test_bad_arguments(curve, target, tolerance, message):
    calls = curve(steps)
    with pytest.raises(SpecError, match=message):
        fit_flops(make, target, identity=0.0, first=1.0, what="w", tolerance=tolerance)
    assert calls == []  # refused before anything is counted


def test_fit_is_frozen():
    fit = Fit(1.0, None, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.flops = 6


@dataclasses.dataclass(frozen=True)
class P:
    coefficient: float
    value: float


def test_expand_and_narrow_work_on_any_point_with_a_coefficient():
    """The measured speed search (netscale.profiling.speed) uses them on its own points."""
    tried: list[float] = []

    def evaluate(c: float) -> P:
        tried.append(c)
        return P(c, 10 * c)

    lo, hi = search.expand(evaluate, P(1.0, 10.0), 1.5, lambda p: p.value >= 45)
    assert tried == [1.5, 2.0, 3.0, 5.0] and (lo.coefficient, hi.coefficient) == (3.0, 5.0)
    lo, hi = search.narrow(evaluate, lo, hi, lambda p: p.value < 45)
    assert lo.value < 45 <= hi.value and hi.coefficient - lo.coefficient <= 1e-8


def test_expand_stops_at_its_limit():
    tried: list[float] = []

    def evaluate(c: float) -> P:
        tried.append(c)
        return P(c, c)

    lo, hi = search.expand(evaluate, P(0.0, 0.0), 1.0, lambda p: p.value >= 100, limit=5.0)
    assert tried == [1.0, 2.0, 4.0, 5.0] and hi.coefficient == 5.0 and lo.coefficient == 4.0
    tried.clear()
    _, hi = search.expand(evaluate, P(0.0, 0.0), 8.0, lambda p: p.value >= 100, limit=5.0)
    assert tried == [5.0] and hi.coefficient == 5.0  # the first guess is capped too
