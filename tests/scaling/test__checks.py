"""Argument checks of the scaling rules: SpecErrors naming the argument and what is allowed."""

import math

import pytest

from netscale.scaling._checks import check_choice, check_number
from netscale.spec import SpecError


@pytest.mark.parametrize(
    ("value", "minimum", "strict", "expected"),
    [
        (2, 0.0, False, 2.0),
        (0, 0.0, False, 0.0),  # the minimum itself is allowed unless strict
        (0.5, 0.5, False, 0.5),
        (1e-300, 0.0, True, 1e-300),
        (-1, -2.0, True, -1.0),
    ],
)
def test_accepts_finite_numbers_at_or_above_the_minimum(value, minimum, strict, expected):
    result = check_number("x", value, minimum=minimum, strict=strict)
    assert result == expected and type(result) is float


@pytest.mark.parametrize(
    ("value", "minimum", "strict", "message"),
    [
        (0, 0.0, True, "width mult=0 is invalid: expected a finite number > 0"),
        (-0.1, 0.0, False, "width mult=-0.1 is invalid: expected a finite number >= 0"),
        (1.0, 1.5, False, "width mult=1.0 is invalid: expected a finite number >= 1.5"),
        (math.inf, 0.0, False, "width mult=inf is invalid"),
        (math.nan, 0.0, False, "width mult=nan is invalid"),
        (True, 0.0, False, "width mult=True is invalid"),  # a bool is not a number here
        ("2", 0.0, False, "width mult='2' is invalid"),
        (None, 0.0, False, "width mult=None is invalid"),
        (1e-9, 1e-3, False, r"width mult=1e-09 is invalid: expected a finite number >= 0\.001"),
    ],
)
def test_refuses_naming_the_argument(value, minimum, strict, message):
    with pytest.raises(SpecError, match=message):
        check_number("width mult", value, minimum=minimum, strict=strict)


def test_spec_errors_are_value_errors():
    with pytest.raises(ValueError):
        check_number("phi", -1, minimum=0.0)


def test_check_choice():
    allowed = ("long", "short")
    assert check_choice("regime", "short", allowed) == "short"
    with pytest.raises(SpecError) as err:
        check_choice("regime", "mid", allowed)
    assert str(err.value) == "regime='mid' is invalid; allowed: 'long', 'short'"
    with pytest.raises(SpecError, match=r"regime=None is invalid; allowed: 'long', 'short'"):
        check_choice("regime", None, allowed)
    with pytest.raises(SpecError, match="regime='Long' is invalid"):  # case matters
        check_choice("regime", "Long", allowed)
