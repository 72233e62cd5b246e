"""EfficientNet compound scaling (Tan & Le 2019, sec. 3.3, eq. 3) and its coefficient grid.

Pure spec -> spec functions; no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from netscale.scaling._checks import check_number
from netscale.scaling.basic import depth, resolution, width
from netscale.spec.net import NetSpec, SpecError

RES_DIVISOR = 8  # scaled resolutions are rounded to a multiple of this many pixels
_MAX_GRID_STEPS = 200  # grid points along alpha; keeps compound_grid under ~1 s


def round_resolution(res: float, spec: NetSpec, divisor: int = RES_DIVISOR) -> int:
    """`res` rounded to the nearest multiple of `divisor` pixels, at least the smallest such
    multiple that is >= the network's smallest input, its total stride (plus what an
    unpadded whitening stem removes), so the last feature map is >= 1 px."""
    floor = math.ceil(spec.min_resolution / divisor) * divisor
    return max(floor, divisor * round(res / divisor))


def scale_dims(
    spec: NetSpec,
    width_mult: float = 1.0,
    depth_mult: float = 1.0,
    res_mult: float = 1.0,
    res_divisor: int = RES_DIVISOR,
) -> NetSpec:
    """Width, depth and resolution multipliers applied together; a multiplier of exactly 1
    leaves its dimension untouched (no re-rounding of odd widths or resolutions)."""
    if width_mult != 1.0:
        spec = width(spec, width_mult)
    if depth_mult != 1.0:
        spec = depth(spec, depth_mult)
    if res_mult != 1.0:
        spec = resolution(spec, round_resolution(spec.resolution * res_mult, spec, res_divisor))
    return spec


def check_coefficients(alpha: float, beta: float, gamma: float) -> None:
    """SpecError unless alpha, beta, gamma >= 1 (EfficientNet sec. 3.3's constraint)."""
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        check_number(name, value, minimum=1.0)


def compound(
    spec: NetSpec,
    phi: float,
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
    res_divisor: int = RES_DIVISOR,
) -> NetSpec:
    """EfficientNet compound scaling (Tan & Le 2019, sec. 3.3, eq. 3).

    depth x alpha^phi (stage depths rounded up), width x beta^phi (multiples of 8, the 10%
    rule), resolution round(res * gamma^phi) to the nearest multiple of `res_divisor` px
    (at least the total stride). FLOPs grow by about (alpha * beta^2 * gamma^2)^phi, 1.92^phi
    with the paper's coefficients. phi=0 returns `spec` itself; phi < 0 is an error.
    """
    check_number("phi", phi, minimum=0.0)
    check_coefficients(alpha, beta, gamma)
    if phi == 0:
        return spec
    return scale_dims(spec, beta**phi, alpha**phi, gamma**phi, res_divisor)


@dataclass(frozen=True, slots=True)
class CompoundCoefficients:
    """One (alpha, beta, gamma) candidate of EfficientNet's step-1 grid search (sec. 3.3)."""

    alpha: float  # depth multiplier per unit of phi
    beta: float  # width multiplier per unit of phi
    gamma: float  # resolution multiplier per unit of phi

    @property
    def flops_ratio(self) -> float:
        """FLOPs growth per unit of phi: alpha * beta^2 * gamma^2 (EfficientNet eq. 3)."""
        return self.alpha * self.beta**2 * self.gamma**2


def compound_grid(
    step: float = 0.05, target: float = 2.0, tolerance: float = 0.1
) -> list[CompoundCoefficients]:
    """The (alpha, beta, gamma) on the grid 1, 1+step, 1+2*step, ... with
    |alpha * beta^2 * gamma^2 - target| <= tolerance: EfficientNet sec. 3.3, step 1 (fix phi=1,
    grid-search alpha, beta, gamma under eq. 3's constraint). Sorted by distance to `target`,
    then alpha, beta, gamma. The default grid holds the paper's (1.2, 1.1, 1.15).
    """
    check_number("step", step, minimum=0.0, strict=True)
    check_number("target", target, minimum=1.0, strict=True)
    check_number("tolerance", tolerance, minimum=0.0)
    limit = target + tolerance
    if (limit - 1.0) / step > _MAX_GRID_STEPS:
        finest = (limit - 1.0) / _MAX_GRID_STEPS
        raise SpecError(f"step={step!r} is invalid: too fine a grid; allowed: step >= {finest:.3g}")

    def axis(upper: float) -> list[float]:
        # Decimal-rounded grid values, so 1 + 3 * 0.05 is exactly the literal 1.15.
        return [round(1.0 + k * step, 10) for k in range(int((upper - 1.0) / step + 1e-9) + 1)]

    found = []
    for alpha in axis(limit):
        for beta in axis(math.sqrt(limit / alpha)):
            for gamma in axis(math.sqrt(limit / (alpha * beta**2))):
                cand = CompoundCoefficients(alpha, beta, gamma)
                if abs(cand.flops_ratio - target) <= tolerance + 1e-12:
                    found.append(cand)
    return sorted(
        found, key=lambda c: (round(abs(c.flops_ratio - target), 12), c.alpha, c.beta, c.gamma)
    )
