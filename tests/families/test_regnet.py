"""RegNet width generation (eqs. 2-4), appendix-D compatibility, AnyNet."""

import hashlib
import itertools
import json
import math

import numpy as np
import pytest

import netscale
from netscale.families.regnet import (
    REGNET_X,
    REGNET_Y,
    anynet,
    quantize_widths,
    regnet,
    regnet_block_widths,
    regnet_exponents,
    regnet_widths,
)
from netscale.spec import SpecError
from netscale.spec.groups import adjust_group_compatibility
from netscale.study.width_fit import quantized_width_fit

# Stage depths and widths of the published models (pycls MODEL_ZOO / timm, which agree).
STAGES = {
    "regnet_x_200mf": ([1, 1, 4, 7], [24, 56, 152, 368]),
    "regnet_x_400mf": ([1, 2, 7, 12], [32, 64, 160, 384]),
    "regnet_x_4gf": ([2, 5, 14, 2], [80, 240, 560, 1360]),
    "regnet_x_8gf": ([2, 5, 15, 1], [80, 240, 720, 1920]),
    "regnet_y_400mf": ([1, 3, 6, 6], [48, 104, 208, 440]),
    "regnet_y_4gf": ([2, 6, 12, 2], [128, 192, 512, 1088]),
    "regnet_y_8gf": ([2, 4, 10, 1], [168, 448, 896, 2016]),
}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_published_stage_tables(name):
    spec = netscale.get_spec(name)
    assert [s.depth for s in spec.stages] == STAGES[name][0]
    assert [s.width for s in spec.stages] == STAGES[name][1]


def test_compatibility_step_changes_widths():
    # Before appendix D, RegNetY-4.0GF's raw widths are [96, 216, 480, 1080] (g=64).
    widths, depths = regnet_widths(22, 96, 31.41, 2.24)
    assert widths == [96, 216, 480, 1080] and sum(depths) == 22
    adjusted, groups = adjust_group_compatibility(widths, 1.0, 64)
    assert adjusted.tolist() == [128, 192, 512, 1088] and groups.tolist() == [64] * 4
    # group width capped at the bottleneck width: X-8.0GF stage 1 has 80 channels, g=120
    assert netscale.get_spec("regnet_x_8gf").stages[0].group_width == 80


def test_bottleneck_ratio_below_one():
    spec = regnet(13, 24, 36.44, 2.49, 8, bottleneck_ratio=0.25)
    for stage in spec.stages:
        assert stage.inner_width % stage.group_width == 0


def test_invalid_regnet_parameters():
    with pytest.raises(SpecError, match="w0 > 0 and divisible by 8"):
        regnet_widths(13, 20, 36.44, 2.49)
    with pytest.raises(SpecError, match="wm > 1"):
        regnet_widths(13, 24, 36.44, 0.9)


def test_anynet_per_stage_and_shared_values():
    spec = anynet([1, 2], [32, 64], bottleneck_ratios=[1.0, 0.5], group_widths=8, se_ratio=0.25)
    assert [s.bottleneck_ratio for s in spec.stages] == [1.0, 0.5]
    assert [s.group_width for s in spec.stages] == [8, 8]
    with pytest.raises(SpecError, match="group_widths has 3 entries"):
        anynet([1, 2], [32, 64], group_widths=[8, 8, 8])
    with pytest.raises(SpecError, match="equal length"):
        anynet([1, 2], [32])


def test_stride_one_stem_for_small_images():
    d, w0, wa, wm, g, _ = REGNET_X["200mf"]
    spec = regnet(d, w0, wa, wm, g, stem_stride=1, resolution=32)
    assert spec.stem.stride == 1 and spec.total_stride == 16


def _regnet_widths_reference(depth, w0, wa, wm, quantum=8):
    """Eqs. 2-4 as written before they had one vectorized home (scalar math)."""
    exps = [round(math.log((w0 + wa * j) / w0) / math.log(wm)) for j in range(depth)]
    block_widths = [round(w0 * wm**e / quantum) * quantum for e in exps]
    widths = sorted(set(block_widths))
    return widths, [block_widths.count(w) for w in widths]


def test_block_widths_broadcast_and_match_the_scalar_rule():
    w0, wa, wm = np.array([[24.0], [48.0]]), np.array([36.44, 27.89, 0.0]), 2.49
    widths = regnet_block_widths(13, w0, wa, wm)
    assert widths.shape == (2, 3, 13) and widths.dtype == np.int64
    exps = regnet_exponents(13, w0, wa, wm)
    np.testing.assert_array_equal(widths, quantize_widths(w0[..., None], wm, exps))
    for i, j in itertools.product(range(2), range(3)):
        stages = regnet_widths(13, int(w0[i, 0]), float(wa[j]), wm)
        blocks = [w for w, d in zip(*stages, strict=True) for _ in range(d)]
        assert widths[i, j].tolist() == blocks
    assert regnet_block_widths(13, 24, 36.44, 2.49).tolist() == [24, 56] + [152] * 4 + [368] * 7


@pytest.mark.parametrize("table", [REGNET_X, REGNET_Y])
def test_published_parameters_give_the_pre_refactor_widths(table):
    for depth, w0, wa, wm, *_ in table.values():
        assert regnet_widths(depth, w0, wa, wm) == _regnet_widths_reference(depth, w0, wa, wm)


def test_regnet_widths_unchanged_on_20k_draws():
    """Digest of regnet_widths on 20,000 seeded parameter draws, recorded with the scalar
    (math.log) implementation before eqs. 2-4 moved into `regnet_block_widths`."""
    rng = np.random.default_rng(2020)
    n = 20_000
    params = zip(
        rng.integers(1, 64, n).tolist(),
        (8 * rng.integers(1, 32, n)).tolist(),
        rng.uniform(0, 256, n).round(2).tolist(),
        rng.uniform(1.05, 3.5, n).round(2).tolist(),
        strict=True,
    )
    out = json.dumps([regnet_widths(*p) for p in params]).encode()
    assert hashlib.sha256(out).hexdigest()[:16] == "a6c976b32bd19fa9"


def test_width_fit_unchanged():
    """study.width_fit.quantized_width_fit goes through `regnet_block_widths`; its fits of
    seeded random block widths, recorded before that change."""
    recorded = [
        (32, 44.415989206794265, 1.535, (32, 72, 112, 176, 176, 272, 272) + (416,) * 4 + (640,) * 2,
         0.1387323415404613),
        (40, 104.0196002395864, 2.385, (40, 96, 224, 544, 544), 0.13291688183719225),
        (144, 65.70246126622352, 1.505, (144, 216, 328, 328, 488, 488, 488, 736),
         0.10390321658835577),
        (16, 86.54423065731237, 1.51, (16, 128, 192, 288, 432, 432) + (656,) * 4 + (984, 984),
         0.1786859155903895),
    ]  # fmt: skip
    rng = np.random.default_rng(3)
    for w0, wa, wm, widths, e_fit in recorded:
        blocks = np.sort(8 * rng.integers(2, 100, rng.integers(2, 16))).tolist()
        fit = quantized_width_fit(blocks)
        assert (fit.w0, fit.widths) == (w0, widths)
        assert (fit.wa, fit.wm, fit.e_fit) == pytest.approx((wa, wm, e_fit), rel=1e-12)
