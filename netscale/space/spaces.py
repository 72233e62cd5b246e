"""Design spaces of "Designing Network Design Spaces" (Radosavovic et al., CVPR 2020). No torch.

A `Space` says how to draw the parameters of a network: AnyNetX_A..E (paper sec. 3.1-3.2)
draw per-stage depth d_i, width w_i, bottleneck ratio and group width g_i; RegNetX/Y
(sec. 3.3) draw depth, w0, wa, wm (eqs. 2-4), bottleneck ratio and group width. Spaces are
plain data: `Space.to_dict()` and `load_space(dict or YAML file)` round-trip them.

Bottleneck ratios use the spec's convention, inner width / block width (pycls BOT_MUL): the
paper's b in {1, 2, 4} is `bottleneck_ratio` in {1, 0.5, 0.25}.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netscale.space.params import Param, SpaceError, check_keys, is_number
from netscale.spec.io import load_yaml_mapping

SCHEMA_VERSION = 1
FAMILIES = ("anynet", "regnet")
STAGE_PARAMS = ("depth", "width", "bottleneck_ratio", "group_width")  # AnyNet, per stage
REGNET_PARAMS = ("depth", "w0", "wa", "wm", "bottleneck_ratio", "group_width")
MONOTONE_PARAMS = ("depth", "width")  # X_D: w_{i+1} >= w_i; X_E: also d_{i+1} >= d_i
# The complexity band of the paper's AnyNet/RegNet studies (sec. 3.1): 360MF-400MF at 224 px.
PAPER_FLOPS_BAND = (360e6, 400e6)
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


# name -> (integers only, minimum, minimum is exclusive): what each parameter may hold.
_RULES = {
    "depth": (True, 1, False),
    "width": (True, 1, False),
    "w0": (True, 8, False),
    "wa": (False, 0.0, False),
    "wm": (False, 1.0, True),
    "bottleneck_ratio": (False, 1e-3, False),
    "group_width": (True, 1, False),
}


def _check_param(name: str, param: Param) -> None:
    param.validate(name)
    integral, minimum, exclusive = _RULES[name]
    grid = param.grid()
    if integral and not all(float(v).is_integer() for v in grid):
        raise SpaceError(f"{name} must take integer values; got {param.to_dict()}")
    low = float(grid[0])
    if low < minimum or (exclusive and low == minimum):
        sign = ">" if exclusive else ">="
        raise SpaceError(f"{name} takes {low:g}; allowed: values {sign} {minimum:g}")
    if name == "w0" and any(int(v) % 8 for v in grid):
        raise SpaceError(f"w0 must be a multiple of 8 (RegNet eq. 4); got {param.to_dict()}")
    if name == "bottleneck_ratio" and float(grid[-1]) > 64:
        raise SpaceError(f"bottleneck_ratio takes {float(grid[-1]):g}; allowed: <= 64")


@dataclass(frozen=True, slots=True, kw_only=True)
class Space:
    """A design space: which networks exist and how to draw them.

    family "anynet": `stages` stages, each with its own depth, width, bottleneck ratio and
      group width, unless the parameter is in `shared` (one value for all stages: X_B shares
      the bottleneck ratio, X_C also the group width) or in `increasing` (non-decreasing
      over stages: X_D widths, X_E also depths).
    family "regnet": depth, w0, wa, wm of the quantized linear rule (eqs. 2-4), one
      bottleneck ratio and group width; draws that do not give exactly `stages` stages
      (or skip an exponent of eq. 4) are rejected, as pycls's sampler does.
    Every network takes `in_width`-channel images of `resolution` px and has a 3x3 conv
    stem of `stem_width` at `stem_stride`, stride-2 stages of bottleneck blocks (SE of
    `se_ratio` after the 3x3 conv) and a linear head to `num_classes`.
    """

    name: str
    family: str = "anynet"
    stages: int = 4
    depth: Param
    width: Param | None = None
    w0: Param | None = None
    wa: Param | None = None
    wm: Param | None = None
    bottleneck_ratio: Param
    group_width: Param
    shared: tuple[str, ...] = ()
    increasing: tuple[str, ...] = ()
    se_ratio: float = 0.0
    stem_width: int = 32
    stem_stride: int = 2
    resolution: int = 224
    num_classes: int = 1000
    in_width: int = 3
    description: str = ""
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        for key in ("shared", "increasing"):
            value = getattr(self, key)
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise SpaceError(f"{key}={value!r} is invalid: a list of parameter names")
            order = {p: i for i, p in enumerate(STAGE_PARAMS)}
            object.__setattr__(self, key, tuple(sorted(value, key=lambda p: order.get(p, 9))))
        _validate(self)

    @property
    def params(self) -> dict[str, Param]:
        """The drawn parameters of this space's family, by name."""
        names = STAGE_PARAMS if self.family == "anynet" else REGNET_PARAMS
        return {name: getattr(self, name) for name in names}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings); `load_space` inverts it."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Param):
                out[f.name] = value.to_dict()
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            elif value is not None:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Space:
        """Build a validated space from plain data; `base: NAME` starts from a named space."""
        if not isinstance(data, dict):
            raise SpaceError(f"a space must be a mapping of keys to values, got {data!r}")
        allowed = [f.name for f in dataclasses.fields(cls)]
        check_keys("", data, [*allowed, "base"])
        data = dict(data)
        if "base" in data:
            base = get_space(data.pop("base")).to_dict()
            data = {**base, "description": "", **data}
        if data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise SpaceError(f"schema={data['schema']!r}: this netscale reads {SCHEMA_VERSION}")
        missing = [k for k in ("name", "depth", "bottleneck_ratio", "group_width") if k not in data]
        if missing:
            raise SpaceError(f"missing required key {missing[0]!r}")
        for key in ("depth", "width", "w0", "wa", "wm", "bottleneck_ratio", "group_width"):
            if data.get(key) is not None:
                data[key] = Param.from_data(key, data[key])
        return cls(**data)


def _validate(space: Space) -> None:
    if not isinstance(space.name, str) or not _NAME.match(space.name):
        raise SpaceError(
            f"name={space.name!r} is invalid: lowercase words joined by '_' (e.g. my_space)"
        )
    if space.family not in FAMILIES:
        raise SpaceError(f"family={space.family!r} is invalid; allowed: {', '.join(FAMILIES)}")
    _check_ints(space)
    if not is_number(space.se_ratio) or not 0 <= space.se_ratio <= 1:
        raise SpaceError(f"se_ratio={space.se_ratio!r} is invalid: a number in [0, 1]")
    _check_family_params(space)
    _check_constraints(space)
    if space.family == "regnet" and space.depth.grid()[-1] < space.stages:
        raise SpaceError(
            f"depth reaches at most {space.depth.grid()[-1]}: a regnet with "
            f"stages={space.stages} needs depth >= {space.stages}"
        )


def _check_ints(space: Space) -> None:
    for key in ("stages", "stem_width", "resolution", "num_classes", "in_width"):
        value = getattr(space, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpaceError(f"{key}={value!r} is invalid: an integer >= 1")
    if space.stem_stride not in (1, 2) or isinstance(space.stem_stride, bool):
        raise SpaceError(f"stem_stride={space.stem_stride!r} is invalid; allowed: 1, 2")
    total = space.stem_stride * 2**space.stages
    if space.resolution < total:
        raise SpaceError(
            f"resolution={space.resolution} is invalid: the stem and {space.stages} "
            f"stride-2 stages need >= {total} px"
        )
    if not isinstance(space.description, str):
        raise SpaceError(f"description={space.description!r} is invalid: a string")


def _check_family_params(space: Space) -> None:
    needed = STAGE_PARAMS if space.family == "anynet" else REGNET_PARAMS
    for name in ("depth", "width", "w0", "wa", "wm", "bottleneck_ratio", "group_width"):
        value = getattr(space, name)
        if name in needed and value is None:
            raise SpaceError(f"family {space.family!r} needs {name!r}")
        if name not in needed and value is not None:
            raise SpaceError(
                f"{name!r} is not a parameter of family {space.family!r}; "
                f"allowed: {', '.join(needed)}"
            )
        if value is not None:
            if not isinstance(value, Param):
                raise SpaceError(f"{name}={value!r} is invalid: a Param")
            _check_param(name, value)


def _check_constraints(space: Space) -> None:
    if space.family == "regnet":
        if space.shared or space.increasing:
            raise SpaceError(
                "shared/increasing apply to family 'anynet' only; a regnet's stages follow eqs. 2-4"
            )
        return
    for key, allowed in (("shared", STAGE_PARAMS), ("increasing", MONOTONE_PARAMS)):
        for name in getattr(space, key):
            if name not in allowed:
                raise SpaceError(f"{key}: {name!r} is invalid; allowed: {', '.join(allowed)}")
        if len(set(getattr(space, key))) != len(getattr(space, key)):
            raise SpaceError(f"{key}={list(getattr(space, key))!r} repeats a name")
    both = set(space.shared) & set(space.increasing)
    if both:
        raise SpaceError(f"{sorted(both)[0]!r} cannot be both shared and increasing")


# The paper's AnyNetX ranges (sec. 3.1): log-uniform d_i <= 16, w_i <= 1024 and divisible
# by 8, b_i in {1, 2, 4} (ratio 1/b), g_i in {1, 2, ..., 32}.
_ANYNET = {
    "depth": Param(lo=1, hi=16),
    "width": Param(lo=8, hi=1024, step=8),
    "bottleneck_ratio": Param(values=(1.0, 0.5, 0.25)),
    "group_width": Param(values=(1, 2, 4, 8, 16, 32)),
}
# RegNet (sec. 3.3): d < 64, w0 < 256, wa < 256, 1.5 <= wm <= 3, b and g as in AnyNetX.
# The paper gives no lower bounds; w0 >= 8 and wa >= 8 are pycls's regnet_sampler
# defaults, as are its distributions (depth uniform; w0, wa, wm log-uniform in steps of
# 8, 0.1 and 0.001).
_REGNET = {
    "depth": Param(lo=1, hi=63, log=False),
    "w0": Param(lo=8, hi=248, step=8),
    "wa": Param(lo=8.0, hi=255.9, step=0.1),
    "wm": Param(lo=1.5, hi=3.0, step=0.001),
    "bottleneck_ratio": _ANYNET["bottleneck_ratio"],
    "group_width": _ANYNET["group_width"],
}
_SPACES: dict[str, Space] = {
    "anynet_xa": Space(name="anynet_xa", **_ANYNET, description="AnyNetX_A: free stages, sec. 3.1"),
    "anynet_xb": Space(
        name="anynet_xb",
        **_ANYNET,
        shared=("bottleneck_ratio",),
        description="AnyNetX_A with b_i = b, sec. 3.2",
    ),
    "anynet_xc": Space(
        name="anynet_xc",
        **_ANYNET,
        shared=("bottleneck_ratio", "group_width"),
        description="AnyNetX_B with g_i = g",
    ),
    "anynet_xd": Space(
        name="anynet_xd",
        **_ANYNET,
        shared=("bottleneck_ratio", "group_width"),
        increasing=("width",),
        description="AnyNetX_C with w_{i+1} >= w_i",
    ),
    "anynet_xe": Space(
        name="anynet_xe",
        **_ANYNET,
        shared=("bottleneck_ratio", "group_width"),
        increasing=("depth", "width"),
        description="AnyNetX_D with d_{i+1} >= d_i",
    ),
    "regnet_x": Space(
        name="regnet_x",
        family="regnet",
        **_REGNET,
        description="RegNetX: quantized linear widths, sec. 3.3",
    ),
    "regnet_y": Space(
        name="regnet_y",
        family="regnet",
        **_REGNET,
        se_ratio=0.25,
        description="RegNetY: RegNetX with SE 0.25, sec. 5",
    ),
}


def list_spaces() -> list[str]:
    """Names of the built-in design spaces, in the paper's order."""
    return list(_SPACES)


def get_space(
    name: str,
    *,
    stages: int | None = None,
    stem_stride: int | None = None,
    resolution: int | None = None,
    num_classes: int | None = None,
    in_width: int | None = None,
) -> Space:
    """A built-in space, optionally for small images, e.g.
    `get_space("anynet_xa", stages=3, stem_stride=1, resolution=32, num_classes=10)`."""
    if name not in _SPACES:
        close = difflib.get_close_matches(str(name), _SPACES, n=len(_SPACES), cutoff=0.5)
        ordered = close + [s for s in _SPACES if s not in close]
        raise SpaceError(f"unknown design space {name!r}; allowed: {', '.join(ordered)}")
    changes = {
        key: value
        for key, value in (
            ("stages", stages),
            ("stem_stride", stem_stride),
            ("resolution", resolution),
            ("num_classes", num_classes),
            ("in_width", in_width),
        )
        if value is not None
    }
    return dataclasses.replace(_SPACES[name], **changes)


def load_space(source: str | os.PathLike[str] | dict[str, Any] | Space) -> Space:
    """A space from a dict (as `Space.to_dict()` writes), a `.yaml`/`.yml`/`.json` file,
    or a built-in name. Malformed files, unknown keys and bad ranges raise SpaceError."""
    if isinstance(source, Space):
        return source
    if isinstance(source, dict):
        return Space.from_dict(source)
    if isinstance(source, str) and source in _SPACES:
        return get_space(source)
    if not isinstance(source, str | os.PathLike):
        raise SpaceError(
            f"cannot read a space from {type(source).__name__}; allowed: a Space, a dict, "
            "a .yaml/.yml/.json path or a built-in name"
        )
    path = Path(source)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise SpaceError(
            f"{str(path)!r} is neither a built-in space ({', '.join(_SPACES)}) nor a "
            ".yaml/.yml/.json file"
        )
    if not path.is_file():
        raise FileNotFoundError(f"space file {str(path)!r} does not exist")
    data = load_yaml_mapping(path, SpaceError, "space file")
    try:
        return Space.from_dict(data)
    except SpaceError as err:
        raise SpaceError(f"{path}: {err}") from None
