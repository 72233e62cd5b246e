"""How many networks a design space holds: Table 1's counts ("paper") and the exact number
of sampling-grid points ("exact")."""

import math

import numpy as np
import pytest

from netscale.space import Param, Space, SpaceError, get_space, load_space, size
from netscale.space.size import PAPER_LEVELS

# Table 1 of the paper, to its two significant digits.
PAPER_SIZES = {
    "anynet_xa": "1.8e+18",
    "anynet_xb": "6.8e+16",
    "anynet_xc": "3.2e+14",
    "anynet_xd": "1.3e+13",
    "anynet_xe": "5.5e+11",
    "regnet_x": "3.0e+08",
    "regnet_y": "3.0e+08",
}


@pytest.mark.parametrize("name", list(PAPER_SIZES))
def test_size_reproduces_table_1(name):
    assert f"{size(get_space(name)):.1e}" == PAPER_SIZES[name]


def test_size_formulas():
    """The paper's counts: (16*128*3*6)^4 for X_A, then shared b, shared g, and a 4!
    division per monotone constraint; exact counts use multisets for the monotone ones."""
    assert size("anynet_xa") == (16 * 128 * 3 * 6) ** 4
    assert size("anynet_xb") == (16 * 128 * 6) ** 4 * 3
    assert size("anynet_xc") == (16 * 128) ** 4 * 3 * 6
    assert size("anynet_xd") == (16 * 128) ** 4 * 3 * 6 / 24
    assert size("anynet_xe") == (16 * 128) ** 4 * 3 * 6 / 24**2
    assert size("regnet_x") == 64**4 * 3 * 6
    assert size("anynet_xa", method="exact") == (16 * 128 * 3 * 6) ** 4
    assert size("anynet_xd", method="exact") == 16**4 * math.comb(131, 4) * 18
    assert size("anynet_xe", method="exact") == math.comb(19, 4) * math.comb(131, 4) * 18
    assert size("regnet_x", method="exact") == 63 * 31 * 2480 * 1501 * 3 * 6


def test_size_exact_counts_a_small_space_by_enumeration():
    space = Space(
        name="tiny",
        stages=3,
        depth=Param(lo=1, hi=3),
        width=Param(values=(8, 16)),
        bottleneck_ratio=Param(values=(1.0,)),
        group_width=Param(values=(1, 2)),
        shared=("group_width",),
        increasing=("depth", "width"),
    )
    monotone = lambda m: sum(  # noqa: E731
        1 for t in np.ndindex(*(m,) * 3) if t[0] <= t[1] <= t[2]
    )
    assert size(space, method="exact") == monotone(3) * monotone(2) * 1 * 2
    with pytest.raises(SpaceError, match="method='nope' is invalid; allowed: paper, exact"):
        size(space, method="nope")


def _tiny(**changes) -> Space:
    fields = dict(
        name="tiny",
        stages=2,
        depth=Param(values=(1, 2, 3)),
        width=Param(values=(8, 16)),
        bottleneck_ratio=Param(values=(1.0, 2.0)),
        group_width=Param(values=(4,)),
    )
    return Space(**{**fields, **changes})


def test_unconstrained_space_counts_every_per_stage_choice():
    """No sharing, no ordering: paper and exact agree, (3 * 2 * 2 * 1)^stages."""
    for stages in (1, 2, 3):
        space = _tiny(stages=stages)
        assert size(space, method="exact") == (3 * 2 * 2 * 1) ** stages
        assert size(space) == pytest.approx((3 * 2 * 2 * 1) ** stages)


def test_shared_parameter_counts_once():
    space = _tiny(stages=3, shared=("bottleneck_ratio",))
    assert size(space, method="exact") == (3 * 2 * 1) ** 3 * 2
    assert size(space) == pytest.approx((3 * 2 * 1) ** 3 * 2)


def test_exact_counts_by_brute_force_and_paper_divides_by_k_factorial():
    space = _tiny(stages=2, shared=("group_width",), increasing=("depth", "width"))
    exact = 0
    for d in np.ndindex(3, 3):
        for w in np.ndindex(2, 2):
            for _b in np.ndindex(2, 2):
                exact += d[0] <= d[1] and w[0] <= w[1]
    assert size(space, method="exact") == exact == 6 * 3 * 4
    # paper: 3^2 / 2! depths, 2^2 / 2! widths, 2^2 ratios, 1 group width
    assert size(space) == pytest.approx(9 / 2 * 4 / 2 * 4)


def test_return_types():
    assert type(size("anynet_xe", method="exact")) is int
    assert type(size("anynet_xe")) is float
    assert type(size("regnet_x", method="exact")) is int and type(size("regnet_x")) is float


def test_regnet_paper_count_takes_64_levels_per_free_linear_parameter():
    """Table 1 counts d, w0, wa and wm as 64 values each; a fixed one counts 1, and the
    other parameters (bottleneck ratio, group width) their own number of values."""
    assert PAPER_LEVELS == 64
    fixed = load_space({"base": "regnet_x", "name": "fixed_depth", "depth": 13})
    assert size(fixed) == 64**3 * 3 * 6
    assert size(fixed, method="exact") == 31 * 2480 * 1501 * 3 * 6
    b1 = load_space({"base": "regnet_x", "name": "b1", "bottleneck_ratio": 1})
    assert size(b1) == 64**4 * 6 and size(b1, method="exact") == 63 * 31 * 2480 * 1501 * 6


def test_names_and_spaces_alike():
    assert size("anynet_xc") == size(get_space("anynet_xc"))
    with pytest.raises(SpaceError, match="'anynet_q' is neither a built-in space"):
        size("anynet_q")
