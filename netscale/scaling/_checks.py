"""Argument checks shared by the scaling rules: errors are SpecErrors naming the argument."""

from __future__ import annotations

import math

from netscale.spec.net import SpecError


def check_number(name: str, value: object, *, minimum: float, strict: bool = False) -> float:
    """`value` as a float if it is a finite real number >= `minimum` (> if `strict`), else a
    SpecError naming `name` and what is allowed."""
    bad = isinstance(value, bool) or not isinstance(value, int | float)
    if not bad:
        bad = not math.isfinite(value) or value < minimum or (strict and value == minimum)
    if bad:
        relation = ">" if strict else ">="
        raise SpecError(
            f"{name}={value!r} is invalid: expected a finite number {relation} {minimum:g}"
        )
    return float(value)


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else a SpecError listing them."""
    if value not in allowed:
        raise SpecError(f"{name}={value!r} is invalid; allowed: {', '.join(map(repr, allowed))}")
    return value  # type: ignore[return-value]
