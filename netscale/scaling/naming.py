"""Names of scaled specs and FLOPs budgets as text ("4G" <-> 4e9). No torch."""

from __future__ import annotations

import re

from netscale.spec.net import SpecError

_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_FLOPS = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgGtT]?)\s*$")


def parse_flops(value: str | float) -> float:
    """Multiply-adds from a number or text with an optional suffix K, M, G or T (powers of
    1000, case-insensitive): "4G" -> 4e9, "400M" -> 4e8, "1.5e9" -> 1.5e9."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _FLOPS.match(value) if isinstance(value, str) else None
    if match is None:
        raise SpecError(
            f"target_flops={value!r} is invalid: expected multiply-adds as a number with an "
            "optional suffix K, M, G or T (e.g. 4G, 400M, 1.5e9)"
        )
    return float(match.group(1)) * _SUFFIXES[match.group(2).upper()]


def number_label(value: float) -> str:
    """A number as a name part: 2 -> "2", 1.4 -> "1_4", 0.25 -> "0_25" (3 decimals at most)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text.replace(".", "_").replace("-", "m")


def flops_label(flops: float) -> str:
    """Multiply-adds in RegNet's naming style: 4e8 -> "400mf", 1.6e9 -> "1_6gf"."""
    rounded = float(f"{flops:.3g}")  # 3 significant digits first: 999.6e6 is 1gf
    if rounded >= 1e9:
        return number_label(rounded / 1e9) + "gf"
    return number_label(rounded / 1e6) + "mf"


def scaled_name(base: str, *parts: str) -> str:
    """The base name (or "net" for an unnamed spec) followed by `parts`, joined by "_"."""
    return "_".join([base or "net", *parts])
