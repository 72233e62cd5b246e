"""The vectorized screen (netscale/space/vectorized.py): RegNet stages on arrays, closed-form
complexity equal to `count`, bounds, ordered draws, and draws unchanged by the move of the
RegNet rules into families/regnet.py."""

import dataclasses
import hashlib
import itertools
import json

import numpy as np
import pytest

from netscale.complexity.count import count
from netscale.families.regnet import regnet_widths
from netscale.space import Param, get_space, list_spaces
from netscale.space import vectorized as vec
from netscale.space.sample import _build

SMALL = {"stages": 3, "stem_stride": 1, "resolution": 32, "num_classes": 10, "in_width": 1}


def test_regnet_stages_vectorized_matches_regnet_widths():
    depth, w0 = np.array([13, 2]), np.array([24.0, 8.0])
    wa, wm = np.array([36.44, 100.0]), np.array([2.49, 1.5])
    depths, widths, ok = vec.regnet_stages(depth, w0, wa, wm, 4)
    assert regnet_widths(13, 24, 36.44, 2.49) == ([24, 56, 152, 368], [1, 1, 4, 7])
    assert widths[0].tolist() == [24, 56, 152, 368] and depths[0].tolist() == [1, 1, 4, 7]
    # u = [8, 108]: exponents 0 and 6, so stages 1-5 are skipped: rejected as in pycls
    assert ok.tolist() == [True, False]


@pytest.mark.parametrize("name", list_spaces())
@pytest.mark.parametrize("variant", [{}, SMALL])
def test_vectorized_complexity_equals_count(name, variant):
    space = get_space(name, **variant)
    batch = vec.draw(space, np.random.default_rng(7), 400)
    inner = vec.bottleneck_width(batch.widths, batch.ratios)
    flops, params, acts = vec.complexity(space, batch.depths, batch.widths, inner, batch.groups)
    reach = vec.bounds(space)
    valid = np.flatnonzero(batch.valid)
    assert len(valid) >= 20
    for i in valid[:25]:
        spec = dataclasses.replace(_build(space, batch, int(i), "x"), in_width=space.in_width)
        cx = count(spec)
        assert (cx.flops, cx.params, cx.acts) == (flops[i], params[i], acts[i])
        assert [st.depth for st in spec.stages] == batch.depths[i].tolist()
        assert [st.width for st in spec.stages] == batch.widths[i].tolist()
        for metric, value in zip(
            ("flops", "params", "acts"), (cx.flops, cx.params, cx.acts), strict=True
        ):
            assert reach[metric][0] <= value <= reach[metric][1]


def test_increasing_draws_match_rejection_sampling():
    """Non-decreasing tuples have the distribution of independent draws conditioned on
    order: probability proportional to the product of the values' probabilities."""
    param = Param(lo=1, hi=4)
    p = param.probabilities()
    tuples = [t for t in itertools.product(range(4), repeat=3) if t[0] <= t[1] <= t[2]]
    exact = np.array([p[list(t)].prod() for t in tuples])
    exact /= exact.sum()
    draws = vec.draw_increasing(np.random.default_rng(0), param, 40_000, 3)
    assert (np.diff(draws, axis=1) >= 0).all()
    index = {tuple(int(v) + 1 for v in t): j for j, t in enumerate(tuples)}
    freq = np.bincount([index[tuple(row)] for row in draws.tolist()], minlength=len(tuples))
    assert 0.5 * np.abs(freq / len(draws) - exact).sum() < 0.015


@pytest.mark.parametrize(
    ("name", "digest", "bounds"),
    [
        (
            "regnet_x",
            "99136620b634ff32",
            {
                "flops": (13021662, 500643305448),
                "params": (27960, 6243460744),
                "acts": (538726, 397821024),
            },
        ),
        (
            "anynet_xe",
            "3f6fdf9fb893f174",
            {
                "flops": (12725970, 160960414696),
                "params": (10784, 156682120),
                "acts": (510698, 222180328),
            },
        ),
    ],
)
def test_draws_and_bounds_unchanged(name, digest, bounds):
    """A seeded batch (valid and invalid candidates alike) and the space's bounds, recorded
    before the RegNet rules moved into families/regnet.py."""
    space = get_space(name)
    b = vec.draw(space, np.random.default_rng(0), 4096)
    arrays = [b.depths.tolist(), b.widths.tolist(), b.groups.tolist(), b.valid.tolist()]
    assert hashlib.sha256(json.dumps(arrays).encode()).hexdigest()[:16] == digest
    assert vec.bounds(space) == bounds


def test_adjust_flags_specs_that_stay_invalid():
    # ratio 0.7: appendix D rounds the bottleneck width 16 to a multiple of 8 (16) and sets
    # the width to int(16 / 0.7) = 22, whose spec bottleneck width round(15.4) = 15 is not
    # a multiple of 8: the candidate is flagged, not built. Ratio 1 always works.
    ratios = np.array([[0.7, 1.0]])
    widths, groups, ok = vec.adjust(np.array([[24, 20]]), ratios, np.array([[8, 8]]))
    assert widths.tolist() == [[22, 16]] and groups.tolist() == [[8, 8]]  # 20 / 8 = 2.5 -> 2
    assert ok.tolist() == [[False, True]]
    assert vec.bottleneck_width(widths, ratios).tolist() == [[15, 16]]
