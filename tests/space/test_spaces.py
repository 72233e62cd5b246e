"""Design-space definitions: the paper's spaces, round trips, errors (sizes: test_size.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import netscale.space as space_pkg
from netscale.space import Space, SpaceError, get_space, list_spaces, load_space

EXAMPLES = Path(space_pkg.__file__).parent / "examples"


def test_list_spaces():
    assert list_spaces() == [
        "anynet_xa",
        "anynet_xb",
        "anynet_xc",
        "anynet_xd",
        "anynet_xe",
        "regnet_x",
        "regnet_y",
    ]


def test_anynet_ranges_are_the_papers():
    """Sec. 3.1: d_i <= 16, w_i <= 1024 divisible by 8, b_i in {1, 2, 4}, g_i in {1..32}."""
    space = get_space("anynet_xa")
    assert space.stages == 4 and space.stem_width == 32 and space.resolution == 224
    assert list(space.depth.grid()) == list(range(1, 17))
    assert list(space.width.grid()) == list(range(8, 1025, 8))
    assert sorted(1 / r for r in space.bottleneck_ratio.grid()) == [1, 2, 4]
    assert list(space.group_width.grid()) == [1, 2, 4, 8, 16, 32]


@pytest.mark.parametrize(
    ("name", "shared", "increasing"),
    [
        ("anynet_xa", (), ()),
        ("anynet_xb", ("bottleneck_ratio",), ()),
        ("anynet_xc", ("bottleneck_ratio", "group_width"), ()),
        ("anynet_xd", ("bottleneck_ratio", "group_width"), ("width",)),
        ("anynet_xe", ("bottleneck_ratio", "group_width"), ("depth", "width")),
    ],
)
def test_anynet_constraints(name, shared, increasing):
    space = get_space(name)
    assert (space.shared, space.increasing) == (shared, increasing)


def test_regnet_ranges():
    """Sec. 3.3: d < 64, w0 < 256, wa < 256, 1.5 <= wm <= 3; RegNetY adds SE 0.25."""
    x, y = get_space("regnet_x"), get_space("regnet_y")
    assert x.family == "regnet" and x.se_ratio == 0 and y.se_ratio == 0.25
    assert x.depth.grid()[-1] == 63 and x.w0.grid()[-1] == 248 and x.wa.grid()[-1] < 256
    assert (x.wm.grid()[0], x.wm.grid()[-1]) == (1.5, 3.0)
    assert all(w % 8 == 0 for w in x.w0.grid())


@pytest.mark.parametrize("name", list_spaces())
def test_round_trip_dict_and_yaml(name, tmp_path):
    space = get_space(name)
    assert load_space(space.to_dict()) == space
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space.to_dict()))
    assert load_space(path) == space
    assert load_space(name) == space


def test_small_image_variant():
    space = get_space("anynet_xa", stages=3, stem_stride=1, resolution=32, num_classes=10)
    assert (space.stages, space.stem_stride, space.resolution, space.num_classes) == (
        3,
        1,
        32,
        10,
    )
    assert space.depth == get_space("anynet_xa").depth
    with pytest.raises(SpaceError, match=r"resolution=16 is invalid: .* need >= 32 px"):
        get_space("regnet_x", resolution=16)


def test_unknown_space_lists_close_matches_first():
    with pytest.raises(SpaceError) as err:
        get_space("regnet_z")
    message = str(err.value)
    assert message.startswith("unknown design space 'regnet_z'; allowed: regnet_")
    assert all(name in message for name in list_spaces())
    with pytest.raises(SpaceError, match="neither a built-in space"):
        load_space("anynet_q")
    with pytest.raises(SpaceError, match="cannot read a space from int"):
        load_space(5)


def test_example_space_loads():
    space = load_space(EXAMPLES / "anynet_small.yaml")
    assert (space.name, space.stages, space.stem_stride, space.resolution) == (
        "anynet_small",
        3,
        1,
        32,
    )
    assert space.increasing == ("width",)


def test_base_key_starts_from_a_named_space():
    space = load_space({"base": "anynet_xe", "name": "narrow", "width": {"lo": 8, "hi": 64}})
    assert space.increasing == ("depth", "width") and space.width.grid()[-1] == 64
    assert space.width.log is True and space.width.step == 1


def test_fixed_value_shorthand():
    space = load_space({"base": "regnet_x", "name": "regnet_b1", "bottleneck_ratio": 1})
    assert list(space.bottleneck_ratio.grid()) == [1]


def test_malformed_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\ndepth: {lo: 1")
    with pytest.raises(SpaceError, match=r"bad\.yaml: not a valid YAML mapping: .* at line"):
        load_space(path)
    path.write_bytes(bytes(range(256)) * 4)  # binary garbage: named, not a codec error
    with pytest.raises(SpaceError, match=r"space file .*bad\.yaml: not a valid YAML mapping"):
        load_space(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_space(tmp_path / "missing.yaml")


BAD = {"base": "anynet_xa", "name": "bad"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"widht": {"lo": 8, "hi": 64}}, r"unknown key 'widht' \(did you mean 'width'\?\)"),
        ({"width": {"lo": 8, "hi": 64, "stpe": 8}}, r"unknown key 'width.stpe'"),
        ({"width": {"lo": 64, "hi": 8}}, r"width: lo=64 > hi=8; need lo <= hi"),
        ({"width": {"lo": 8, "hi": 60, "step": 8}}, r"not a multiple of step=8"),
        ({"width": {"lo": 0, "hi": 64}}, r"width.lo=0 is invalid: log sampling needs lo > 0"),
        ({"width": {"lo": 8, "hi": 64, "step": 0}}, r"width.step=0 is invalid: must be > 0"),
        ({"width": [8, 64]}, r"width=\[8, 64\] is ambiguous"),
        ({"width": {"lo": 8}}, r"width: a range needs lo and hi"),
        ({"depth": {"lo": 0, "hi": 4, "log": False}}, r"depth takes 0; allowed: values >= 1"),
        ({"depth": {"lo": 1.5, "hi": 4.5}}, r"depth must take integer values"),
        ({"group_width": {"values": []}}, r"group_width.values must be a non-empty list"),
        ({"group_width": {"values": [1, 1]}}, r"group_width.values=\[1, 1\] repeats"),
        ({"bottleneck_ratio": {"values": [100.0]}}, r"bottleneck_ratio takes 100; allowed"),
        ({"shared": ["widths"]}, r"shared: 'widths' is invalid; allowed: depth, width"),
        ({"increasing": ["group_width"]}, r"increasing: 'group_width' is invalid"),
        ({"shared": ["width"], "increasing": ["width"]}, r"'width' cannot be both"),
        ({"w0": {"lo": 8, "hi": 64, "step": 8}}, r"'w0' is not a parameter of family 'anynet'"),
        ({"family": "regnet"}, r"'width' is not a parameter of family 'regnet'"),
        ({"family": "resnet"}, r"family='resnet' is invalid; allowed: anynet, regnet"),
        ({"stages": 0}, r"stages=0 is invalid: an integer >= 1"),
        ({"in_width": 0}, r"in_width=0 is invalid: an integer >= 1"),
        ({"stem_stride": 4}, r"stem_stride=4 is invalid; allowed: 1, 2"),
        ({"se_ratio": 2}, r"se_ratio=2 is invalid"),
        ({"name": "Bad Name"}, r"name='Bad Name' is invalid"),
        ({"schema": 9}, r"schema=9"),
        ({"base": "anynet_xq"}, r"unknown design space 'anynet_xq'"),
    ],
)
def test_bad_space_definitions(change, message):
    with pytest.raises(SpaceError, match=message):
        load_space({**BAD, **change})


def test_regnet_specific_errors():
    base = {"base": "regnet_x", "name": "bad"}
    with pytest.raises(SpaceError, match=r"w0 must be a multiple of 8"):
        load_space({**base, "w0": {"lo": 12, "hi": 60, "step": 12}})
    with pytest.raises(SpaceError, match=r"wm takes 1; allowed: values > 1"):
        load_space({**base, "wm": {"values": [1.0, 2.0]}})
    with pytest.raises(SpaceError, match=r"needs depth >= 4"):
        load_space({**base, "depth": {"lo": 1, "hi": 3}})
    with pytest.raises(SpaceError, match=r"apply to family 'anynet' only"):
        load_space({**base, "shared": ["depth"]})
    with pytest.raises(SpaceError, match=r"missing required key 'name'"):
        load_space({"depth": 1})
    with pytest.raises(SpaceError, match="a space must be a mapping"):
        Space.from_dict([1, 2])


def test_float_grids_are_clean():
    grid = get_space("regnet_x").wa.grid()
    assert grid[0] == 8.0 and grid[1] == 8.1 and grid[-1] == 255.9 and len(grid) == 2480


def test_space_package_imports_no_torch():
    code = (
        "import sys\n"
        "from netscale.space import get_space, sample, size\n"
        "out = sample(get_space('regnet_y'), 3, seed=0, flops=(360e6, 400e6))\n"
        "assert size('anynet_xa') > 1e18 and len(out) == 3\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
