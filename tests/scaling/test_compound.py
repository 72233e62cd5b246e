"""EfficientNet compound scaling (eq. 3) and the coefficient grid (sec. 3.3, step 1)."""

import math

import pytest

import netscale
from netscale.complexity import count
from netscale.scaling import CompoundCoefficients, compound, compound_grid, round_resolution
from netscale.spec import HeadSpec, NetSpec, SpecError, StageSpec, StemSpec

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
NOMINAL = ALPHA * BETA**2 * GAMMA**2  # 1.9203: FLOPs growth per unit of phi (eq. 3)
BASES = [b for b in ("regnet_y_400mf", "resnet_50", "efficientnet_b0") if netscale.list_models(b)]


def _widths(spec: NetSpec) -> list[int]:
    head = [spec.head.width] if spec.head.width else []
    mid = [spec.stem.mid_width] if spec.stem.mid_width else []
    return [spec.stem.width, *mid, *(s.width for s in spec.stages), *head]


def rounding_envelope(base: NetSpec, scaled: NetSpec, phi: float) -> tuple[float, float]:
    """Bounds on FLOPs(scaled) / FLOPs(base) / NOMINAL^phi from the realized rounding.

    A conv's multiply-adds are k*k * c_in/groups * c_out * h*w and a stage holds `depth`
    blocks, so each layer's growth is at most (depth factor) x (width factor)^2 x
    (feature-map factor)^2 times nominal, each factor the realized / ideal value: depths
    round up (factor in [1, 1 + 1/(d alpha^phi))), widths round to multiples of 8 with the
    10% rule (factor >= 0.9), resolutions to multiples of 8 px and feature maps up at each
    stride. `hi` multiplies the largest factors, a strict bound. Some layers grow slower
    than d * w^2 * r^2 and pull the ratio down: depthwise and grouped convs (fixed group
    width: linear in width), the 3-channel stem input, the 1000-way classifier, SE at 1x1.
    `lo` multiplies the smallest width and feature-map factors and allows 10% for them.
    """
    depth = max(
        s2.depth / (s1.depth * ALPHA**phi)
        for s1, s2 in zip(base.stages, scaled.stages, strict=True)
    )
    width = [w2 / (w1 * BETA**phi) for w1, w2 in zip(_widths(base), _widths(scaled), strict=True)]
    # Feature-map sizes of the stem and the stages (the head's is 1 px).
    parts = zip(count(base).parts[:-1], count(scaled).parts[:-1], strict=True)
    res = [scaled.resolution / (base.resolution * GAMMA**phi)]
    res += [q.resolution / (p.resolution * GAMMA**phi) for p, q in parts]
    return 0.9 * min(width) ** 2 * min(res) ** 2, depth * max(width) ** 2 * max(res) ** 2


@pytest.mark.parametrize("name", netscale.list_models())
def test_phi_zero_is_identity_and_phi_one_is_valid(name):
    spec = netscale.get_spec(name)
    assert compound(spec, 0) == spec and compound(spec, 0.0) is spec
    scaled = compound(spec, 1)
    assert count(scaled).flops > count(spec).flops
    assert scaled.resolution % 8 == 0 and scaled.resolution >= scaled.total_stride


@pytest.mark.parametrize("name", BASES)
@pytest.mark.parametrize("phi", [1, 2, 3])
def test_flops_grow_by_about_two_to_the_phi(name, phi):
    base = netscale.get_spec(name)
    scaled = compound(base, phi)
    ratio = count(scaled).flops / count(base).flops / NOMINAL**phi
    lo, hi = rounding_envelope(base, scaled, phi)
    assert lo <= ratio <= hi, (lo, ratio, hi)
    # What the envelope means in practice on these bases: within [0.95, 1.3] x 1.92^phi.
    assert 0.95 < ratio < 1.3


def _rounding_free_base() -> NetSpec:
    """Wide, deep, high-resolution: rounding moves FLOPs by ~1% here, so the exponents show."""
    stages = tuple(
        StageSpec(block="basic", depth=40, width=512 * 2**i, stride=1 if i == 0 else 2)
        for i in range(3)
    )
    return NetSpec(stem=StemSpec(width=512), stages=stages, head=HeadSpec(), resolution=2048)


@pytest.mark.parametrize("phi", [1, 2, 3])
def test_flops_follow_eq3_when_rounding_is_negligible(phi):
    base = _rounding_free_base()
    scaled = compound(base, phi)
    ratio = count(scaled).flops / count(base).flops / NOMINAL**phi
    lo, hi = rounding_envelope(base, scaled, phi)
    assert hi < 1.06 and lo <= ratio <= hi
    assert abs(ratio - 1) < 0.05


def test_fractional_phi_and_dimensions():
    base = netscale.get_spec("resnet_50")
    scaled = compound(base, 1.5)
    assert scaled.resolution == round_resolution(224 * GAMMA**1.5, base) == 280  # 276.2
    assert [s.depth for s in scaled.stages] == [math.ceil(d * ALPHA**1.5) for d in (3, 4, 6, 3)]
    assert scaled.stem.width == 72  # 64 * 1.1^1.5 = 73.8: nearest multiple of 8
    assert compound(base, 1, alpha=1.0, beta=1.0, gamma=1.0) == base


def test_round_resolution_respects_total_stride():
    spec = netscale.get_spec("resnet_50")  # total stride 32
    assert round_resolution(3.0, spec) == 32 and round_resolution(299.0, spec) == 296
    assert round_resolution(299.0, spec, divisor=4) == 300


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phi": -1}, "phi=-1 is invalid: expected a finite number >= 0"),
        ({"phi": float("nan")}, "phi=nan is invalid"),
        ({"phi": "2"}, "phi='2' is invalid"),
        ({"phi": 1, "alpha": 0.9}, "alpha=0.9 is invalid: expected a finite number >= 1"),
        ({"phi": 1, "gamma": 0}, "gamma=0 is invalid"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(SpecError, match=message):
        compound(netscale.get_spec("resnet_18"), **kwargs)


def test_grid_holds_the_paper_coefficients_and_only_valid_ones():
    grid = compound_grid()
    assert CompoundCoefficients(1.2, 1.1, 1.15) in grid
    assert len(grid) == len(set(grid)) > 50
    for c in grid:
        assert min(c.alpha, c.beta, c.gamma) >= 1.0
        assert abs(c.flops_ratio - 2.0) <= 0.1 + 1e-9
        assert all(round((x - 1) / 0.05, 6).is_integer() for x in (c.alpha, c.beta, c.gamma))
    keys = [(round(abs(c.flops_ratio - 2), 12), c.alpha, c.beta, c.gamma) for c in grid]
    assert keys == sorted(keys) and grid == compound_grid()


def test_grid_is_complete_on_a_brute_force_check():
    grid = set(compound_grid(step=0.1, target=2.0, tolerance=0.2))
    values = [round(1 + 0.1 * k, 10) for k in range(13)]
    brute = {
        CompoundCoefficients(a, b, g)
        for a in values
        for b in values
        for g in values
        if abs(a * b * b * g * g - 2.0) <= 0.2 + 1e-12
    }
    assert grid == brute


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": 0}, "step=0 is invalid"),
        ({"step": 1e-5}, "too fine a grid"),
        ({"target": 1.0}, "target=1.0 is invalid: expected a finite number > 1"),
        ({"tolerance": -0.1}, "tolerance=-0.1 is invalid"),
    ],
)
def test_grid_bad_arguments(kwargs, message):
    with pytest.raises(SpecError, match=message):
        compound_grid(**kwargs)
