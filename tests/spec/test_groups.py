import itertools
import math

import numpy as np

from netscale.spec import StageSpec
from netscale.spec.groups import adjust_group_compatibility, bottleneck_width


def test_bottleneck_width_rounds_half_to_even_and_is_at_least_one():
    widths = np.arange(1, 1025)
    for ratio in (0.25, 1 / 3, 0.5, 0.7, 1.0, 1.5, 2.0, 4.0, 1e-3):
        expected = [max(1, round(w * ratio)) for w in range(1, 1025)]
        assert bottleneck_width(widths, ratio).tolist() == expected
    assert bottleneck_width(7, 0.5) == 4  # 3.5 rounds to even, as Python's round
    assert bottleneck_width(5, 0.5) == 2


def test_stage_inner_width_is_bottleneck_width():
    for w, ratio in itertools.product((1, 7, 24, 368), (0.25, 0.5, 1.0, 4.0)):
        stage = StageSpec(block="bottleneck", depth=1, width=w, bottleneck_ratio=ratio)
        assert stage.inner_width == max(1, round(w * ratio))
        assert type(stage.inner_width) is int


def _appendix_d_reference(w, b, g):
    """pycls's adjust_block_compatibility for one stage, transcribed."""
    v = int(max(1, w * b))
    g = int(min(g, v))
    m = math.lcm(g, int(b)) if b > 1 else g
    v = max(m, round(v / m) * m)
    return int(v / b), g


def test_group_compatibility_matches_pycls_on_a_grid():
    widths = np.arange(1, 400)
    for ratio, group in itertools.product(
        (0.25, 1 / 3, 0.5, 1.0, 1.5, 2.0, 4.0), (1, 3, 8, 24, 232)
    ):
        got_widths, got_groups = adjust_group_compatibility(widths, ratio, group)
        expected = [_appendix_d_reference(int(w), ratio, group) for w in widths]
        assert list(zip(got_widths.tolist(), got_groups.tolist(), strict=True)) == expected
