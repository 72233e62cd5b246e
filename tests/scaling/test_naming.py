"""FLOPs budgets as text ("4G" <-> 4e9) and the names of scaled specs."""

import pytest

from netscale.scaling import parse_flops
from netscale.scaling.naming import flops_label, number_label, scaled_name
from netscale.spec import SpecError


@pytest.mark.parametrize(
    ("text", "value"),
    [("4G", 4e9), ("400m", 4e8), ("1.5e9", 1.5e9), (" 2 T ", 2e12), ("750K", 7.5e5), (3e9, 3e9)],
)
def test_parse_flops(text, value):
    assert parse_flops(text) == value


def test_labels():
    assert [flops_label(x) for x in (4e8, 1.6e9, 4e9, 3.214e10)] == [
        "400mf",
        "1_6gf",
        "4gf",
        "32_1gf",
    ]
    assert [number_label(x) for x in (2, 2.0, 1.4, 0.125, 1.23456)] == [
        "2",
        "2",
        "1_4",
        "0_125",
        "1_235",
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (".5G", 5e8),  # no leading digit
        ("1e3K", 1e6),  # exponent and suffix together
        ("2E-3T", 2e9),
        ("1.5E9", 1.5e9),
        ("12", 12.0),  # no suffix: multiply-adds
        ("7k", 7e3),
        ("\t3g\n", 3e9),
        (12, 12.0),  # an int is taken as it is
    ],
)
def test_parse_flops_more_forms(text, value):
    result = parse_flops(text)
    assert result == pytest.approx(value, rel=1e-15) and isinstance(result, float)


@pytest.mark.parametrize(
    "value",
    ["4 GFLOPs", "4GF", "G", "", "-1G", "1,5G", "4P", "4 G G", "0x10", True, None, [4e9]],
)
def test_parse_flops_rejects_other_text_naming_the_forms(value):
    with pytest.raises(SpecError) as err:
        parse_flops(value)
    message = str(err.value)
    assert message.startswith(f"target_flops={value!r} is invalid: expected multiply-adds")
    assert "optional suffix K, M, G or T" in message


def test_flops_label_switches_to_gf_at_one_billion():
    assert flops_label(999e6) == "999mf" and flops_label(1e9) == "1gf"
    assert flops_label(1.0004e9) == "1gf"  # 3 significant digits
    assert flops_label(4.04e8) == "404mf" and flops_label(4.005e8) == "400mf"
    assert flops_label(5e5) == "0_5mf"  # below 1 M: a fraction of mf


def test_flops_label_rounding_up_to_one_billion_is_gf():
    assert flops_label(999.6e6) == flops_label(1e9) == "1gf"


def test_number_label():
    assert number_label(-0.5) == "m0_5"  # no "-" or "." in a name
    assert number_label(0.0004) == "0"  # 3 decimals at most
    assert number_label(1.9999) == "2"
    assert number_label(10) == "10" and number_label(100.5) == "100_5"


def test_scaled_name():
    assert scaled_name("resnet_50", "w1_4", "d2") == "resnet_50_w1_4_d2"
    assert scaled_name("resnet_50") == "resnet_50"
    assert scaled_name("", "phi1") == "net_phi1"  # an unnamed spec
    assert scaled_name("", flops_label(4e9)) == "net_4gf"
