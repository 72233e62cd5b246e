"""Design-space parameters: how one quantity of a network is drawn. No torch."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from netscale.spec.io import check_keys as spec_check_keys


class SpaceError(ValueError):
    """A design space or a sampling request is invalid; the message names the key and what
    is allowed."""


def is_number(value: Any) -> bool:
    """True for an int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """How one design parameter is drawn.

    Either `values`, a finite set drawn uniformly (the paper's b_i in {1, 2, 4} and
    g_i in {1, 2, ..., 32}, sec. 3.1), or the closed grid lo, lo + step, ..., hi drawn
    log-uniformly (`log=True`, the paper's AnyNet sampling) or uniformly. Quantized
    log-uniform follows pycls (sweep/random.py): value v takes the mass of (v - step, v]
    under a log-uniform density, the lowest value that of (lo - min(step, lo / 2), lo].
    A `Space` validates its parameters (`validate`), naming them in its errors.
    """

    lo: float = 0.0
    hi: float = 0.0
    step: float = 1.0
    log: bool = True
    values: tuple[float, ...] = ()

    def validate(self, path: str) -> None:
        """Raise SpaceError naming `path` if the parameter cannot be drawn."""
        if self.values:
            if not all(is_number(v) and math.isfinite(v) for v in self.values):
                raise SpaceError(
                    f"{path}.values={list(self.values)!r} is invalid: finite numbers only"
                )
            if len(set(self.values)) != len(self.values):
                raise SpaceError(f"{path}.values={list(self.values)!r} repeats a value")
            return
        for key in ("lo", "hi", "step"):
            value = getattr(self, key)
            if not is_number(value) or not math.isfinite(value):
                raise SpaceError(f"{path}.{key}={value!r} is invalid: a finite number")
        if not isinstance(self.log, bool):
            raise SpaceError(f"{path}.log={self.log!r} is invalid: true or false")
        if self.step <= 0:
            raise SpaceError(f"{path}.step={self.step!r} is invalid: must be > 0")
        if self.lo > self.hi:
            raise SpaceError(f"{path}: lo={self.lo!r} > hi={self.hi!r}; need lo <= hi")
        if self.log and self.lo <= 0:
            raise SpaceError(f"{path}.lo={self.lo!r} is invalid: log sampling needs lo > 0")
        steps = (self.hi - self.lo) / self.step
        if abs(steps - round(steps)) > 1e-6:
            raise SpaceError(
                f"{path}: hi - lo = {self.hi - self.lo!r} is not a multiple of "
                f"step={self.step!r}; allowed: hi = lo + k * step"
            )

    def grid(self) -> np.ndarray:
        """The values this parameter can take, ascending (int64 if all are integers)."""
        return _grid(self)[0]

    def probabilities(self) -> np.ndarray:
        """Probability of each value of `grid()` (sums to 1)."""
        return _grid(self)[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form: {"values": [...]} or {"lo", "hi", "step", "log"}."""
        if self.values:
            return {"values": list(self.values)}
        return {"lo": self.lo, "hi": self.hi, "step": self.step, "log": self.log}

    @classmethod
    def from_data(cls, path: str, data: Any) -> Param:
        """Read a parameter: a mapping, or a bare number meaning that one fixed value."""
        if is_number(data):
            data = {"values": [data]}
        if isinstance(data, list | tuple):
            raise SpaceError(
                f"{path}={list(data)!r} is ambiguous: write {{values: [...]}} for a set of "
                "values or {lo: .., hi: .., step: .., log: ..} for a range"
            )
        if not isinstance(data, dict):
            raise SpaceError(f"{path} must be a mapping or a number, got {data!r}")
        check_keys(path, data, [f.name for f in dataclasses.fields(cls)])
        if "values" in data:
            if set(data) != {"values"}:
                raise SpaceError(f"{path}: give either values or lo/hi/step/log, not both")
            if not isinstance(data["values"], list | tuple) or not data["values"]:
                raise SpaceError(f"{path}.values must be a non-empty list of numbers")
            return cls(values=tuple(data["values"]))
        if "lo" not in data or "hi" not in data:
            raise SpaceError(f"{path}: a range needs lo and hi (and optionally step, log)")
        return cls(**data)


@lru_cache(maxsize=256)
def _grid(param: Param) -> tuple[np.ndarray, np.ndarray]:
    if param.values:
        values = np.array(sorted(param.values))
        if all(float(v).is_integer() for v in param.values):
            values = values.astype(np.int64)
        return values, np.full(len(values), 1.0 / len(values))
    count = round((param.hi - param.lo) / param.step) + 1
    values = param.lo + param.step * np.arange(count)
    integral = all(float(v).is_integer() for v in (param.lo, param.step))
    values = values.astype(np.int64) if integral else np.round(values, 10)
    if not param.log:
        return values, np.full(count, 1.0 / count)
    edges = np.empty(count + 1)
    edges[0] = param.lo - min(param.step, param.lo / 2)
    edges[1:] = values
    mass = np.diff(np.log(edges))
    return values, mass / mass.sum()


def check_keys(path: str, data: dict, allowed: list[str]) -> None:
    """SpaceError for the first key of `data` not in `allowed` (spec.io's one check)."""
    spec_check_keys(data, allowed, where=path, error=SpaceError)
