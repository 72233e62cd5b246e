"""Study configuration: one YAML file (or a shipped example) -> a validated `StudyConfig`.

    name: anynet-digits            # free text, for the report
    planner: design_space          # design_space | scaling | compound_search | ablation
                                   #   | runtime_correlation (measures; trains nothing)
                                   #   | training_aware (EfficientNetV2's search)
    data: digits                   # as `netscale train --data` (unused when measuring)
    recipe: quick                  # a shipped recipe name or a recipe YAML path
    recipe_overrides: {lr: 0.2}    # any recipe field
    epochs: 5                      # per trial (scaling may list several budgets)
    budget: 15m                    # optional: train each trial to this wall time (90s,
                                   #   1h30m, or seconds), its schedule of `epochs` fitted
    seed: 0                        # sampling and training seed
    design_space: {...}            # the chosen planner's own section (see planners/)

The planner and its section's keys are checked against the planner registry
(`netscale.study.planners.PLANNERS`); unknown keys, a missing planner section or a
malformed file raise `StudyConfigError` naming the key and what is allowed. No torch import.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

from netscale.spec.io import check_keys, load_yaml_mapping, yaml_load
from netscale.study.planners import PLANNERS
from netscale.study.records import StudyConfig, StudyConfigError
from netscale.training.duration import parse_duration

__all__ = ["StudyConfig", "StudyConfigError", "example_config", "list_examples",
           "load_config", "parse_config"]  # fmt: skip

_TOP = {f.name for f in dataclasses.fields(StudyConfig)} - {"section"}


def parse_config(data: Any, *, source: str = "config") -> StudyConfig:
    """A `StudyConfig` from a parsed mapping; errors name `source` and the key."""
    if not isinstance(data, dict):
        raise StudyConfigError(f"{source}: expected a mapping of keys to values, got {data!r}")
    planner = data.get("planner")
    if not isinstance(planner, str) or planner not in PLANNERS:
        raise StudyConfigError(
            f"{source}: planner={planner!r} is invalid; allowed: {', '.join(PLANNERS)}"
        )
    check_keys(data, sorted(_TOP | {planner}), error=lambda m: StudyConfigError(f"{source}: {m}"))
    section = data.get(planner)
    if not isinstance(section, dict):
        raise StudyConfigError(
            f"{source}: planner {planner!r} needs a mapping under the key {planner!r}, "
            f"got {section!r}"
        )
    PLANNERS[planner].check_section(section, source)
    fields = {k: v for k, v in data.items() if k in _TOP}
    fields.setdefault("name", source)
    if fields.get("budget") is not None:  # stored in seconds: 15m and 900s are one study
        try:
            fields["budget"] = parse_duration(fields["budget"])
        except ValueError as err:
            raise StudyConfigError(f"{source}: {err}") from None
    _check_types({k: v for k, v in fields.items() if k != "budget"}, source)
    return StudyConfig(section=section, **fields)


def _check_types(fields: dict[str, Any], source: str) -> None:
    expected = {
        "name": str,
        "planner": str,
        "data": str,
        "recipe": str,
        "recipe_overrides": dict,
        "epochs": int,
        "seed": int,
        "minival": float,
    }
    for key, value in fields.items():
        kind = expected[key]
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise StudyConfigError(
                f"{source}: {key}={value!r} is invalid: expected {kind.__name__}"
            )
    if fields.get("epochs", 1) < 1:
        raise StudyConfigError(f"{source}: epochs={fields['epochs']!r} is invalid: must be >= 1")
    if not 0.0 <= fields.get("minival", 0.0) < 1.0:
        raise StudyConfigError(f"{source}: minival={fields['minival']!r} must lie in [0, 1)")


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study config YAML file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"study config {str(path)!r} does not exist")
    data = load_yaml_mapping(path, StudyConfigError, "study config")
    return parse_config(data, source=str(path))


def list_examples(planner: str | None = None) -> list[str]:
    """Names of the example configs shipped with netscale (those of `planner` only, when
    given)."""
    root = resources.files("netscale.study") / "examples"
    names = sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))
    if planner is None:
        return names
    return [n for n in names if _planner_of(_example_data(n)) == planner]


def _example_data(name: str) -> Any:
    return yaml_load((resources.files("netscale.study") / "examples" / f"{name}.yaml").read_text())


def _planner_of(data: Any) -> Any:
    return data.get("planner") if isinstance(data, dict) else None


def example_config(name: str) -> StudyConfig:
    """A shipped example config by name (e.g. "anynet-digits")."""
    if name not in list_examples():
        raise StudyConfigError(
            f"example={name!r} is unknown; allowed: {', '.join(list_examples())}"
        )
    return parse_config(_example_data(name), source=f"example {name}")
