"""Grouped-convolution arithmetic of bottleneck stages, on numpy arrays; scalars go through
the same functions (`StageSpec.inner_width` calls `bottleneck_width`).

- `bottleneck_width`: the width of a bottleneck's kxk conv, max(1, round(width * ratio)).
- `adjust_group_compatibility`: RegNet paper appendix D (pycls's
  `adjust_block_compatibility`), used by the RegNet family, the design-space samplers and
  width scaling alike.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def bottleneck_width(width: ArrayLike, bottleneck_ratio: ArrayLike) -> np.ndarray:
    """Inner width of a bottleneck block, max(1, round(width * bottleneck_ratio)) (ties to
    even, as Python's round), broadcast over both arguments; an int64 array."""
    product = np.multiply(width, bottleneck_ratio, dtype=np.float64)
    return np.maximum(1, np.rint(product)).astype(np.int64)


def adjust_group_compatibility(
    widths: ArrayLike, bottleneck_ratios: ArrayLike, group_widths: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Widths and group widths made compatible (RegNet paper appendix D), broadcast over the
    three arguments; int64 arrays.

    The group width g is capped at the bottleneck width v = int(width * ratio); v is
    rounded to the nearest multiple of lcm(g, int(ratio)) if ratio > 1, else of g (at
    least one multiple); the width becomes int(v / ratio). Callers that need a valid spec
    check `bottleneck_width(width, ratio) % g == 0` afterwards (e.g. ratio 0.7).
    """
    ratios = np.asarray(bottleneck_ratios, dtype=np.float64)
    inner = np.maximum(1, np.trunc(np.multiply(widths, ratios))).astype(np.int64)
    groups = np.minimum(group_widths, inner).astype(np.int64)
    multiple = np.where(ratios > 1, np.lcm(groups, np.trunc(ratios).astype(np.int64)), groups)
    inner = np.maximum(multiple, np.rint(inner / multiple).astype(np.int64) * multiple)
    return np.trunc(inner / ratios).astype(np.int64), groups
