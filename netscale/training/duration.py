"""Wall-clock durations as people write them: `90s`, `15m`, `1h`, `1h30m`, `1.5h`, or a
number of seconds. Used by `netscale train --budget` and a study config's `budget:`.
No torch."""

from __future__ import annotations

import math
import re
from typing import Any

_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d*)?|\.\d+)h)?(?:(?P<m>\d+(?:\.\d*)?|\.\d+)m)?"
    r"(?:(?P<s>\d+(?:\.\d*)?|\.\d+)s)?"
)
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
ALLOWED = (
    "a duration > 0 with units, Ns, Nm, Nh or a combination in that order (90s, 15m, "
    "1h, 1h30m, 1.5h); in Python or YAML also a number of seconds"
)


def parse_duration(value: Any, what: str = "budget") -> float:
    """Seconds in `value`: a string of hours, minutes and seconds (`1h30m`, `90s`; at least
    one unit, in the order h, m, s) or a number of seconds (int or float); > 0 and finite.
    A ValueError names `what`, the value and the allowed forms."""
    seconds = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value.strip().lower())
        if match and any(match.groupdict().values()):
            seconds = sum(float(v) * _UNITS[k] for k, v in match.groupdict().items() if v)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what}={value!r} is invalid: {ALLOWED}")
    return seconds


def format_duration(seconds: float) -> str:
    """`seconds` written as parse_duration reads it: 5400 -> "1h30m", 90 -> "1m30s",
    0.5 -> "0.5s"."""
    whole = int(seconds)
    if whole != seconds or whole == 0:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n)
