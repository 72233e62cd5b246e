"""Scaling to a FLOPs budget (`scale_to`) and by explicit factors (`scale`). No torch.

`scale_to(spec, "compound", "1G")` answers "EfficientNet-B0 scaled to 1 GFLOPs": it bisects
the rule's coefficient (search.py) and names the result "<base>_<rule>_<flops>".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netscale.complexity import count
from netscale.scaling._checks import check_number
from netscale.scaling.basic import resolution as set_resolution
from netscale.scaling.compound import compound, scale_dims
from netscale.scaling.efficientnet_v2 import compound_v2, v2_depth
from netscale.scaling.naming import flops_label, number_label, parse_flops, scaled_name
from netscale.scaling.resnet_rs import resnet_rs_scale
from netscale.scaling.search import fit_flops
from netscale.spec.net import NetSpec, SpecError


@dataclass(frozen=True, slots=True)
class Rule:
    """A scaling rule `apply(spec, coefficient, **options)` whose FLOPs never decrease as
    the coefficient grows from `identity` (where it returns the base spec)."""

    name: str
    coefficient: str  # what the coefficient is, e.g. "phi"
    identity: float
    apply: Callable[..., NetSpec]
    options: tuple[str, ...]
    summary: str  # one line, with the paper section


def _width(spec: NetSpec, mult: float) -> NetSpec:
    return scale_dims(spec, width_mult=mult)


def _depth(spec: NetSpec, mult: float) -> NetSpec:
    return scale_dims(spec, depth_mult=mult)


def _resolution(spec: NetSpec, mult: float) -> NetSpec:
    return scale_dims(spec, res_mult=mult)


# fmt: off
_TABLE = (
    # name, coefficient, identity, apply, options, summary
    ("compound", "phi", 0.0, compound, ("alpha", "beta", "gamma"),
     "EfficientNet compound scaling, eq. 3 (sec. 3.3)"),
    ("compound_v2", "phi", 0.0, compound_v2, ("alpha", "beta", "gamma", "max_res", "from_stage"),
     "EfficientNetV2: compound, depth to later stages, resolution cap (sec. 3.3)"),
    ("width", "width mult", 1.0, _width, (),
     "width only, multiples of 8 (EfficientNet sec. 3.2)"),
    ("depth", "depth mult", 1.0, _depth, (),
     "depth only, rounded up per stage (EfficientNet sec. 3.2)"),
    ("v2_depth", "depth mult", 1.0, v2_depth, ("from_stage",),
     "depth added to later stages only (EfficientNetV2 sec. 3.3)"),
    ("resolution", "resolution mult", 1.0, _resolution, (),
     "resolution only, multiples of 8 px (EfficientNet sec. 3.2)"),
    ("resnet_rs", "position", 0.0, resnet_rs_scale, ("regime", "res_rate"),
     "ResNet-RS: depth (long) or width (short) first, resolution slowly (sec. 7)"),
)
# fmt: on
RULES: dict[str, Rule] = {row[0]: Rule(*row) for row in _TABLE}


def get_rule(name: str) -> Rule:
    """The rule called `name` ("-" reads as "_", so "resnet-rs" works); unknown names raise
    a SpecError listing the allowed ones."""
    key = name.replace("-", "_").lower() if isinstance(name, str) else name
    if key not in RULES:
        raise SpecError(f"rule={name!r} is invalid; allowed: {', '.join(RULES)}")
    return RULES[key]


@dataclass(frozen=True, slots=True)
class ScaleResult:
    """What `scale_to` found: the spec, the rule's coefficient and the multiply-adds."""

    spec: NetSpec
    rule: str
    coefficient_name: str  # e.g. "phi", "width mult"
    coefficient: float
    flops: int  # multiply-adds of `spec`
    target_flops: float
    base_flops: int
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> float:
        """Relative miss of the target: flops / target_flops - 1."""
        return self.flops / self.target_flops - 1

    def summary(self) -> dict[str, Any]:
        """Plain data (JSON-ready) of everything but the spec."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "spec"}
        return {"name": self.spec.name, **out, "error": self.error}


@dataclass(frozen=True, slots=True)
class BoundRule:
    """A rule with its options, applied to one base spec: `make(c)` is the base scaled to
    coefficient c. What `scale_to` searches over, and netscale.profiling's measured search."""

    rule: Rule
    base: NetSpec
    options: dict[str, Any]

    def make(self, coefficient: float) -> NetSpec:
        """The base scaled by the rule to `coefficient`."""
        return self.rule.apply(self.base, coefficient, **self.options)

    @property
    def first(self) -> float:
        """The search's first guess above the identity: phi = 1 / position 1 (about 2x the
        FLOPs) or a multiplier of 2."""
        return self.rule.identity + 1.0

    @property
    def what(self) -> str:
        """The rule and its coefficient in words, e.g. "rule 'compound' (phi)"."""
        return f"rule {self.rule.name!r} ({self.rule.coefficient})"

    def name(self, label: str) -> str:
        """The scaled spec's name: "<base>_<rule>[_<regime>]_<label>"."""
        parts = [self.rule.name]
        if "regime" in self.options:
            parts.append(str(self.options["regime"]))
        return scaled_name(self.base.name, *parts, label)


def _check_options(found: Rule, options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(found.options))
    if unknown:
        allowed = ", ".join(found.options) or "none"
        raise SpecError(
            f"option {unknown[0]!r} is invalid for rule {found.name!r}; allowed: {allowed}"
        )


def bind_rule(spec: NetSpec, rule: str | Rule, options: dict[str, Any]) -> BoundRule:
    """`rule` (a name in RULES, or a Rule) with `options` bound to the base `spec`. Raises
    SpecError for an unknown rule, an option the rule does not take, or an invalid value
    (the rule is applied once at its identity to check them)."""
    found = rule if isinstance(rule, Rule) else get_rule(rule)
    _check_options(found, options)
    found.apply(spec, found.identity, **options)  # validates the options before searching
    return BoundRule(found, spec, dict(options))


def scale_to(
    spec: NetSpec,
    rule: str,
    target_flops: float | str,
    *,
    tolerance: float = 0.05,
    name: str | None = None,
    **options: Any,
) -> ScaleResult:
    """Scale `spec` by `rule` (a name in RULES) to `target_flops` multiply-adds (a number or
    text such as "4G"), within `tolerance` (relative), by bisection on the rule's coefficient.

    `options` go to the rule (e.g. regime="short" for "resnet_rs"; alpha, beta, gamma for
    "compound"). The result is named `name` or "<base>_<rule>[_<regime>]_<flops>". Raises
    SpecError for an unknown rule or option, a target below the base, and a target no
    rounding step reaches within tolerance (the message says which).
    """
    found = get_rule(rule)
    _check_options(found, options)
    target = parse_flops(target_flops)
    check_number("target_flops", target, minimum=0.0, strict=True)
    bound = bind_rule(spec, found, options)
    fit = fit_flops(
        bound.make,
        target,
        identity=found.identity,
        first=bound.first,
        what=bound.what,
        tolerance=tolerance,
    )
    label = name if name is not None else bound.name(flops_label(target))
    return ScaleResult(
        spec=dataclasses.replace(fit.spec, name=label),
        rule=found.name,
        coefficient_name=found.coefficient,
        coefficient=fit.coefficient,
        flops=fit.flops,
        target_flops=target,
        base_flops=count(spec).flops,
        options=dict(options),
    )


def scale(
    spec: NetSpec,
    *,
    phi: float | None = None,
    width_mult: float | None = None,
    depth_mult: float | None = None,
    resolution: int | None = None,
    name: str | None = None,
) -> NetSpec:
    """`compound(spec, phi)`, or any of width x `width_mult`, depth x `depth_mult` and
    input `resolution` (pixels, exact), named `name` or "<base>_phi2" / "<base>_w1_4_d1_8_r380".
    phi excludes the other three; at least one is required.
    """
    explicit = {"width_mult": width_mult, "depth_mult": depth_mult, "resolution": resolution}
    given = [k for k, v in explicit.items() if v is not None]
    if phi is not None and given:
        raise SpecError(f"phi={phi!r} is invalid together with {given[0]}: phi sets all three")
    if phi is None and not given:
        raise SpecError("nothing to scale: give phi, or width_mult, depth_mult or resolution")
    if phi is not None:
        return dataclasses.replace(
            compound(spec, phi), name=name or scaled_name(spec.name, f"phi{number_label(phi)}")
        )
    parts = []
    if width_mult is not None:
        check_number("width mult", width_mult, minimum=0.0, strict=True)
        spec, parts = scale_dims(spec, width_mult=width_mult), [f"w{number_label(width_mult)}"]
    if depth_mult is not None:
        check_number("depth mult", depth_mult, minimum=0.0, strict=True)
        spec = scale_dims(spec, depth_mult=depth_mult)
        parts.append(f"d{number_label(depth_mult)}")
    if resolution is not None:
        spec = set_resolution(spec, resolution)
        parts.append(f"r{resolution}")
    return dataclasses.replace(spec, name=name or scaled_name(spec.name, *parts))
