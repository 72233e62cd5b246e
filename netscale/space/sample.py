"""Draw n distinct networks of a design space inside a complexity band (paper sec. 3.1:
draws are repeated until n models lie in the target regime, 360MF-400MF). No torch.

Candidates are drawn and screened in batches with numpy (`vectorized.py`); only those inside
every band become `NetSpec`s, whose complexity `count` then confirms exactly.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from netscale.complexity.count import count
from netscale.families.regnet import anynet, regnet
from netscale.space import vectorized as vec
from netscale.space.params import SpaceError, is_number
from netscale.space.spaces import Space, load_space
from netscale.spec.groups import adjust_group_compatibility
from netscale.spec.io import spec_id
from netscale.spec.net import NetSpec, SpecError

CHUNK = 2048  # candidates per batch; fixed, so a seed gives the same stream for any n
_METRICS = ("flops", "params", "acts")
_SHARED_KEYS = {"depth": "d", "width": "w", "bottleneck_ratio": "b", "group_width": "g"}


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled network.

    design: the parameters, flat, for trend plots and fits. Per stage i = 1..K: d_i
    (blocks), w_i (width), b_i (the paper's bottleneck ratio, width / bottleneck width: 1,
    2 or 4), g_i (group width), as built (after appendix D's group-width adjustment);
    "depth" (total blocks) and "w_last"; AnyNet's shared parameters also as drawn, "d",
    "w", "b", "g"; RegNet adds its drawn "w0", "wa", "wm", "b", "g".
    flops (multiply-adds), params, acts: `netscale.complexity.count` of `spec`.
    """

    spec: NetSpec
    design: dict[str, float]
    flops: int
    params: int
    acts: int
    spec_id: str


def sample(
    space: Space | str,
    n: int,
    *,
    seed: int,
    flops: tuple[float, float] | None = None,
    params: tuple[float, float] | None = None,
    acts: tuple[float, float] | None = None,
    max_draws: int = 100_000,
) -> list[Sample]:
    """n distinct networks (by spec id) of `space`, each inside every given [lo, hi] band.

    Draws come from `numpy.random.default_rng(seed)`; the same seed gives the same list,
    and a smaller n gives its prefix. At most `max_draws` candidates are drawn. A band no
    network of the space can reach raises SpaceError ("empty band") before drawing; an
    exhausted budget raises SpaceError saying how many were found.
    """
    space = load_space(space)
    _check_int("n", n, 1)
    _check_int("seed", seed, 0)
    _check_int("max_draws", max_draws, 1)
    given = zip(_METRICS, (flops, params, acts), strict=True)
    bands = {metric: _band(metric, band) for metric, band in given if band is not None}
    _check_reachable(space, bands)
    rng = np.random.default_rng(seed)
    found: list[Sample] = []
    seen: set[str] = set()
    drawn = hits = 0
    while len(found) < n and drawn < max_draws:
        batch = vec.draw(space, rng, CHUNK)
        ok = _screen(space, batch, bands)
        ok[max_draws - drawn :] = False  # the budget ends inside this batch
        hits += int(ok.sum())
        for i in np.flatnonzero(ok):
            if len(found) == n:
                break
            got = _accept(space, batch, int(i), len(found), bands)
            if got is not None and got.spec_id not in seen:
                seen.add(got.spec_id)
                found.append(got)
        drawn += min(CHUNK, max_draws - drawn)
    if len(found) < n:
        raise SpaceError(
            f"found {len(found)} of {n} distinct networks of {space.name} in {drawn} draws "
            f"({hits} inside {_describe(bands)}); widen the band or raise max_draws"
        )
    return found


def _screen(space: Space, batch: vec.Batch, bands: dict[str, tuple[float, float]]) -> np.ndarray:
    """Which candidates of `batch` are networks of the space inside every band."""
    inner = vec.bottleneck_width(batch.widths, batch.ratios)
    metrics = vec.complexity(space, batch.depths, batch.widths, inner, batch.groups)
    ok = batch.valid.copy()
    for metric, (lo, hi) in bands.items():
        value = metrics[_METRICS.index(metric)]
        ok &= (value >= lo) & (value <= hi)
    return ok


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise SpaceError(f"{name}={value!r} is invalid: an integer >= {minimum}")


def _band(metric: str, band: object) -> tuple[float, float]:
    ok = isinstance(band, tuple | list) and len(band) == 2 and all(map(is_number, band))
    if not ok or not 0 <= band[0] <= band[1] or not all(map(math.isfinite, band)):
        raise SpaceError(
            f"{metric}={band!r} is invalid: expected (lo, hi) with 0 <= lo <= hi, e.g. "
            f"{metric}=(360e6, 400e6)"
        )
    return float(band[0]), float(band[1])


def _describe(bands: dict[str, tuple[float, float]]) -> str:
    if not bands:
        return "the space"
    return ", ".join(f"{m} in [{lo:.4g}, {hi:.4g}]" for m, (lo, hi) in bands.items())


def _check_reachable(space: Space, bands: dict[str, tuple[float, float]]) -> None:
    if not bands:
        return
    reach = vec.bounds(space)
    for metric, (lo, hi) in bands.items():
        low, high = reach[metric]
        if hi < low or lo > high:
            raise SpaceError(
                f"empty band: no network of {space.name} at {space.resolution} px has "
                f"{metric} in [{lo:.4g}, {hi:.4g}]; its {metric} lie within "
                f"[{low:.4g}, {high:.4g}]"
            )


def _accept(
    space: Space, batch: vec.Batch, i: int, index: int, bands: dict[str, tuple[float, float]]
) -> Sample | None:
    """The Sample of candidate i, or None where the exact spec disagrees with the screen
    (a floating-point edge of eq. 3, or a group width that still does not divide)."""
    try:
        spec = _build(space, batch, i, f"{space.name}_{index}")
        spec = dataclasses.replace(spec, in_width=space.in_width)
    except SpecError:
        return None
    cx = count(spec)
    values = {"flops": cx.flops, "params": cx.params, "acts": cx.acts}
    if len(spec.stages) != space.stages or any(
        not lo <= values[m] <= hi for m, (lo, hi) in bands.items()
    ):
        return None
    design = _design(space, spec, {k: v[i] for k, v in batch.drawn.items()})
    return Sample(spec, design, cx.flops, cx.params, cx.acts, spec_id(spec))


def _build(space: Space, batch: vec.Batch, i: int, name: str) -> NetSpec:
    common = {
        "se_ratio": space.se_ratio,
        "stem_width": space.stem_width,
        "stem_stride": space.stem_stride,
        "resolution": space.resolution,
        "num_classes": space.num_classes,
        "name": name,
    }
    drawn = batch.drawn
    if space.family == "regnet":
        return regnet(
            int(drawn["depth"][i]),
            int(drawn["w0"][i]),
            float(drawn["wa"][i]),
            float(drawn["wm"][i]),
            int(drawn["group_width"][i]),
            bottleneck_ratio=float(drawn["bottleneck_ratio"][i]),
            **common,
        )
    ratios = drawn["bottleneck_ratio"][i].astype(np.float64)
    widths, groups = adjust_group_compatibility(drawn["width"][i], ratios, drawn["group_width"][i])
    return anynet(
        drawn["depth"][i].tolist(),
        widths.tolist(),
        bottleneck_ratios=ratios.tolist(),
        group_widths=groups.tolist(),
        **common,
    )


def _design(space: Space, spec: NetSpec, drawn: dict[str, np.ndarray]) -> dict[str, float]:
    design: dict[str, float] = {}
    for i, stage in enumerate(spec.stages, 1):
        design[f"d{i}"] = float(stage.depth)
        design[f"w{i}"] = float(stage.width)
        design[f"b{i}"] = 1.0 / stage.bottleneck_ratio
        design[f"g{i}"] = float(stage.group_width)
    design["depth"] = float(sum(stage.depth for stage in spec.stages))
    design["w_last"] = float(spec.stages[-1].width)
    if space.family == "regnet":
        for key in ("w0", "wa", "wm"):
            design[key] = float(drawn[key])
        design["b"] = 1.0 / float(drawn["bottleneck_ratio"])
        design["g"] = float(drawn["group_width"])
    for name in space.shared:  # as drawn, before appendix D's adjustment
        value = float(drawn[name][0])
        design[_SHARED_KEYS[name]] = 1.0 / value if name == "bottleneck_ratio" else value
    return design
