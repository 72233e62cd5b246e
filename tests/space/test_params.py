"""Design-space parameters: grids, their probabilities, plain-data form and checks."""

import dataclasses
import math

import numpy as np
import pytest

from netscale.space.params import Param, SpaceError, is_number


def test_log_uniform_follows_pycls_quantization():
    """Value v takes the log-uniform mass of (v - step, v]; the lowest value that of
    (lo - min(step, lo/2), lo]: for 1..16, P(1) = P(2) = log 2 / log 32 = 0.2."""
    p = Param(lo=1, hi=16).probabilities()
    assert p[0] == pytest.approx(0.2) and p[1] == pytest.approx(0.2)
    assert p[15] == pytest.approx(math.log(16 / 15) / math.log(32))
    assert Param(lo=1, hi=4, log=False).probabilities() == pytest.approx([0.25] * 4)
    w = Param(lo=8, hi=1024, step=8)
    assert w.probabilities()[0] == pytest.approx(math.log(2) / math.log(1024 / 4))


def test_is_number():
    assert is_number(1) and is_number(1.5) and is_number(-0.0) and is_number(math.inf)
    assert not is_number(True) and not is_number("1") and not is_number(None)
    assert not is_number(np.array(1.0))


def test_small_log_grid_by_hand():
    """lo 2, hi 4, step 1: the lowest value takes (2 - min(1, 1), 2] = (1, 2], so the
    masses are log 2, log 3/2, log 4/3 out of log 4."""
    p = Param(lo=2, hi=4)
    assert list(p.grid()) == [2, 3, 4]
    expected = np.log([2.0, 1.5, 4 / 3]) / np.log(4.0)
    assert p.probabilities() == pytest.approx(expected)


def test_lowest_value_mass_uses_half_of_lo_when_the_step_is_larger():
    """lo 4, step 8: min(step, lo/2) = 2, so 4 takes (2, 4] and 12 takes (4, 12]."""
    p = Param(lo=4, hi=12, step=8)
    assert list(p.grid()) == [4, 12]
    total = math.log(12 / 2)
    assert p.probabilities() == pytest.approx([math.log(2) / total, math.log(3) / total])


def test_log_grid_matches_sampling_the_density():
    """Draw log-uniformly from (lo - min(step, lo/2), hi], round up onto the grid (pycls'
    quantization): the frequencies match probabilities()."""
    p = Param(lo=8, hi=64, step=8)
    rng = np.random.default_rng(0)
    start = p.lo - min(p.step, p.lo / 2)
    u = np.exp(rng.uniform(np.log(start), np.log(p.hi), 400_000))
    k = np.clip(np.ceil((u - p.lo) / p.step), 0, None).astype(int)
    freq = np.bincount(k, minlength=len(p.grid())) / u.size
    assert freq == pytest.approx(p.probabilities(), abs=3e-3)


@pytest.mark.parametrize(
    "param",
    [
        Param(lo=1, hi=16),
        Param(lo=8, hi=1024, step=8),
        Param(lo=0.25, hi=1.0, step=0.25),
        Param(lo=0, hi=10, log=False),
        Param(values=(1, 2, 4)),
    ],
)
def test_probabilities_sum_to_one(param):
    p = param.probabilities()
    assert p.shape == param.grid().shape and np.all(p > 0)
    assert p.sum() == pytest.approx(1.0)


def test_log_mass_shrinks_with_the_value():
    """Above the two lowest values, each next value takes less log-uniform mass."""
    p = Param(lo=1, hi=32).probabilities()
    assert np.all(np.diff(p[1:]) < 0)


def test_grid_types_and_order():
    ints = Param(lo=8, hi=32, step=8).grid()
    assert ints.dtype == np.int64 and list(ints) == [8, 16, 24, 32]
    floats = Param(lo=0.5, hi=2.0, step=0.5, log=False).grid()
    assert floats.dtype == np.float64 and list(floats) == [0.5, 1.0, 1.5, 2.0]
    clean = Param(lo=0.1, hi=0.3, step=0.1, log=False).grid()
    assert list(clean) == [0.1, 0.2, 0.3]  # rounded: not 0.30000000000000004
    values = Param(values=(4.0, 1.0, 2.0)).grid()  # sorted; integral floats become ints
    assert values.dtype == np.int64 and list(values) == [1, 2, 4]
    mixed = Param(values=(0.25, 1))
    assert mixed.grid().dtype == np.float64 and list(mixed.grid()) == [0.25, 1.0]
    assert list(mixed.probabilities()) == [0.5, 0.5]


def test_single_value_range():
    p = Param(lo=5, hi=5)
    assert list(p.grid()) == [5] and list(p.probabilities()) == [1.0]


def test_param_is_a_frozen_hashable_value():
    a, b = Param(lo=1, hi=4), Param(lo=1, hi=4)
    assert a == b and hash(a) == hash(b)  # grids are cached per value
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.lo = 2


@pytest.mark.parametrize(
    "param",
    [Param(lo=1, hi=16), Param(lo=0.5, hi=2.0, step=0.5, log=False), Param(values=(1, 2, 4))],
)
def test_plain_data_round_trip(param):
    data = param.to_dict()
    assert Param.from_data("p", data) == param
    assert set(data) == ({"values"} if param.values else {"lo", "hi", "step", "log"})


def test_from_data_forms():
    assert Param.from_data("p", 3) == Param(values=(3,))  # a bare number: that value
    assert Param.from_data("p", 0.25).grid().tolist() == [0.25]
    assert Param.from_data("p", {"lo": 1, "hi": 8}) == Param(lo=1, hi=8, step=1.0, log=True)
    assert Param.from_data("p", {"values": [2, 1]}).values == (2, 1)  # stored as given


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], r"p=\[1, 2\] is ambiguous: write \{values: \[...\]\}"),
        ((1, 2), r"p=\[1, 2\] is ambiguous"),
        ("wide", r"p must be a mapping or a number, got 'wide'"),
        (True, r"p must be a mapping or a number, got True"),
        ({"values": [1], "lo": 1}, r"p: give either values or lo/hi/step/log, not both"),
        ({"values": 3}, r"p.values must be a non-empty list of numbers"),
        ({"values": []}, r"p.values must be a non-empty list of numbers"),
        ({"lo": 1}, r"p: a range needs lo and hi"),
        ({"hi": 4, "step": 1}, r"p: a range needs lo and hi"),
        (
            {"lo": 1, "hi": 4, "stp": 1},
            r"unknown key 'p.stp' \(did you mean 'step'\?\); allowed keys: lo, hi, step, log",
        ),
    ],
)
def test_from_data_errors_name_the_path(data, message):
    with pytest.raises(SpaceError, match=message):
        Param.from_data("p", data)


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (Param(values=(1, "a")), r"s.w.values=\[1, 'a'\] is invalid: finite numbers only"),
        (Param(values=(1, True)), r"s.w.values=\[1, True\] is invalid: finite numbers only"),
        (Param(values=(2, 2.0)), r"s.w.values=\[2, 2.0\] repeats a value"),
        (Param(lo="1", hi=4), r"s.w.lo='1' is invalid: a finite number"),
        (Param(lo=1, hi=None), r"s.w.hi=None is invalid: a finite number"),
        (Param(lo=1, hi=4, log=1), r"s.w.log=1 is invalid: true or false"),
        (Param(lo=1, hi=4, step=-1), r"s.w.step=-1 is invalid: must be > 0"),
        (Param(lo=5, hi=4), r"s.w: lo=5 > hi=4; need lo <= hi"),
        (Param(lo=-1, hi=4), r"s.w.lo=-1 is invalid: log sampling needs lo > 0"),
        (Param(lo=1, hi=4, step=2), r"s.w: hi - lo = 3 is not a multiple of step=2"),
    ],
)
def test_validate_names_the_path(param, message):
    with pytest.raises(SpaceError, match=message):
        param.validate("s.w")


def test_valid_params_pass():
    for param in (
        Param(lo=1, hi=4),
        Param(lo=0, hi=4, log=False),  # lo 0 is fine without log sampling
        Param(lo=0.1, hi=0.3, step=0.1, log=False),  # float steps within rounding
        Param(values=(0.5, 1, 2)),
    ):
        assert param.validate("s.w") is None


def test_space_errors_are_value_errors():
    assert issubclass(SpaceError, ValueError)


@pytest.mark.parametrize(
    "param",
    [
        Param(lo=1, hi=math.inf),
        Param(lo=math.nan, hi=4),
        Param(values=(1, math.nan)),
        Param(values=(1, math.inf)),
    ],
    ids=["inf-hi", "nan-lo", "nan-value", "inf-value"],
)
def test_non_finite_numbers_are_refused_naming_the_path(param):
    with pytest.raises(SpaceError, match=r"s\.w"):
        param.validate("s.w")
