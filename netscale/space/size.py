"""How many networks a design space holds (paper Table 1). No torch."""

from __future__ import annotations

import math

from netscale.space.params import SpaceError
from netscale.space.spaces import Space, load_space

# Table 1 counts RegNet as ~64^4 * 6 * 3: about 64 values for each of d, w0, wa and wm.
PAPER_LEVELS = 64
METHODS = ("paper", "exact")


def size(space: Space | str, *, method: str = "paper") -> int | float:
    """Number of configurations of `space`.

    method "paper" (a float): Table 1's count. Each parameter contributes its number of
      values, once if shared and per stage otherwise; each non-decreasing constraint over
      K stages divides by K! (sec. 3.2: "reduces the space by O(4!)"); RegNet's d, w0, wa,
      wm count 64 values each (1 if fixed). The built-in spaces give ~1.8e18 (AnyNetX_A),
      6.8e16, 3.2e14, 1.3e13, 5.5e11 (AnyNetX_E) and 3.0e8 (RegNet).
    method "exact" (an int): points of the sampling grid, with non-decreasing K-tuples of
      m values counted exactly, C(m + K - 1, K) (AnyNetX_D 1.38e13, X_E 8.2e11). Appendix
      D's group-width adjustment, and for RegNet eqs. 2-4, map some points to one network.
    """
    space = load_space(space)
    if method not in METHODS:
        raise SpaceError(f"method={method!r} is invalid; allowed: {', '.join(METHODS)}")
    if space.family == "regnet":
        return _regnet(space, method)
    k = space.stages
    total = 1
    divisor = 1
    for name, param in space.params.items():
        m = len(param.grid())
        if name in space.shared:
            total *= m
        elif name in space.increasing and method == "exact":
            total *= math.comb(m + k - 1, k)
        else:
            total *= m**k
            divisor *= math.factorial(k) if name in space.increasing else 1
    return total if method == "exact" else total / divisor


def _regnet(space: Space, method: str) -> int | float:
    total = 1
    for name, param in space.params.items():
        m = len(param.grid())
        linear = name in ("depth", "w0", "wa", "wm")
        total *= (PAPER_LEVELS if m > 1 else 1) if linear and method == "paper" else m
    return total if method == "exact" else float(total)
