"""Bisection of a monotone scaling coefficient onto a FLOPs budget. No torch.

Every rule in netscale.scaling maps a coefficient to a spec whose multiply-adds never
decrease as the coefficient grows, but move in steps: widths round to multiples of 8, depths
to whole blocks, resolutions to multiples of 8 px. Bisection therefore ends between two
adjacent steps, and the closer of the two is the answer.

`expand` (the geometric bracket) and `narrow` (the bisection) work on any points with a
coefficient: `fit_flops` evaluates multiply-adds, netscale.profiling.speed measured speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from netscale.complexity import count
from netscale.scaling._checks import check_number
from netscale.spec.net import NetSpec, SpecError

MAX_EXPANSIONS = 6  # doublings of the search interval before a target counts as unreachable
_ITERATIONS = 60


@dataclass(frozen=True, slots=True)
class Fit:
    """A coefficient, the spec it gives and that spec's multiply-adds."""

    coefficient: float
    spec: NetSpec
    flops: int


def _evaluate(make: Callable[[float], NetSpec], coefficient: float) -> Fit:
    spec = make(coefficient)
    return Fit(coefficient, spec, count(spec).flops)


class Point(Protocol):
    """What `expand` and `narrow` need of an evaluated coefficient."""

    @property
    def coefficient(self) -> float: ...


P = TypeVar("P", bound=Point)


def expand(
    evaluate: Callable[[float], P],
    base: P,
    first: float,
    reached: Callable[[P], bool],
    *,
    limit: float | None = None,
) -> tuple[P, P]:
    """(lo, hi): `base` (at the rule's identity), then `evaluate(first)`, then coefficients
    doubling their distance from the identity (identity + 2^k (first - identity)), at most
    MAX_EXPANSIONS times and never past `limit`, until `reached(hi)`. lo is the point before
    hi. The caller checks `reached(hi)`: false means the last (largest) try fell short."""
    identity = base.coefficient

    def capped(c: float) -> float:
        return c if limit is None else min(c, limit)

    lo, hi = base, evaluate(capped(first))
    for _ in range(MAX_EXPANSIONS):
        if reached(hi) or (limit is not None and hi.coefficient >= limit):
            return lo, hi
        lo = hi
        hi = evaluate(capped(identity + 2 * (hi.coefficient - identity)))
    return lo, hi


def narrow(evaluate: Callable[[float], P], lo: P, hi: P, below: Callable[[P], bool]) -> tuple[P, P]:
    """Bisect the coefficients between `lo` (below the target) and `hi` (not below) until
    they are adjacent: 1e-9 apart (relative), so that no rounding step of a rule lies
    between them. Each midpoint replaces lo when `below(mid)`, else hi."""
    for _ in range(_ITERATIONS):
        if hi.coefficient - lo.coefficient <= 1e-9 * max(1.0, hi.coefficient):
            break
        mid = evaluate((lo.coefficient + hi.coefficient) / 2)
        lo, hi = (mid, hi) if below(mid) else (lo, mid)
    return lo, hi


def _bracket(
    make: Callable[[float], NetSpec], target: float, base: Fit, first: float, what: str
) -> tuple[Fit, Fit]:
    """(lo, hi) fits with lo.flops < target <= hi.flops, widening hi geometrically."""
    lo, hi = expand(lambda c: _evaluate(make, c), base, first, lambda f: f.flops >= target)
    if hi.flops >= target:
        return lo, hi
    raise SpecError(
        f"target_flops={target:.4g} is invalid: beyond the reach of {what}; its largest "
        f"tried coefficient {hi.coefficient:g} gives {hi.flops:.4g} multiply-adds"
    )


def fit_flops(
    make: Callable[[float], NetSpec],
    target: float,
    *,
    identity: float,
    first: float,
    what: str,
    tolerance: float = 0.05,
) -> Fit:
    """The coefficient c >= `identity` whose spec `make(c)` has multiply-adds closest to
    `target`, found by bisection; `make(identity)` must be the base spec and `first` a first
    guess above it. Raises SpecError (naming `what`, e.g. "rule 'compound' (phi)") when the
    target is below the base, beyond reach, or no step lands within `tolerance` (relative).
    """
    check_number("target_flops", target, minimum=0.0, strict=True)
    check_number("tolerance", tolerance, minimum=0.0)
    base = _evaluate(make, identity)
    if target <= base.flops:
        if base.flops / target - 1 <= tolerance:
            return base
        raise SpecError(
            f"target_flops={target:.4g} is invalid: below the base's {base.flops:.4g} "
            f"multiply-adds; {what} only scales up (coefficient >= {identity:g}); start from "
            "a smaller base, or shrink one with netscale.scaling.width(spec, mult < 1)"
        )
    lo, hi = _bracket(make, target, base, first, what)
    lo, hi = narrow(lambda c: _evaluate(make, c), lo, hi, lambda f: f.flops < target)
    best = min((lo, hi), key=lambda f: abs(f.flops / target - 1))
    if abs(best.flops / target - 1) > tolerance:
        raise SpecError(
            f"target_flops={target:.4g} is out of reach of {what} within {tolerance:.0%}: the "
            f"nearest specs have {lo.flops:.4g} ({lo.flops / target - 1:+.1%}) and "
            f"{hi.flops:.4g} ({hi.flops / target - 1:+.1%}) multiply-adds, one rounding step "
            "apart (widths to multiples of 8, depths to whole blocks, resolutions to multiples "
            "of 8 px); try another rule or target, or a larger tolerance"
        )
    return best
