"""Study configs: top-level keys and types, the planner section, YAML files and the shipped
examples (each planner's own section is tested beside it, in tests/study/planners/)."""

from __future__ import annotations

import pytest
import yaml

from netscale.study.config import (
    StudyConfigError,
    example_config,
    list_examples,
    load_config,
    parse_config,
)

from .conftest import tiny_config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"planner": "nas"}, "planner='nas' is invalid; allowed: design_space"),
        ({"colour": 1}, "unknown key 'colour'"),
        ({"epochs": 0}, "epochs=0 is invalid"),
        ({"seed": "0"}, "seed='0' is invalid: expected int"),
        ({"minival": 1.0}, r"minival=1\.0 must lie in \[0, 1\)"),
    ],
)
def test_bad_configs_are_named(changes, message):
    with pytest.raises(StudyConfigError, match=message):
        tiny_config(**changes)


def test_round_trip_through_a_file(tmp_path):
    config = tiny_config(epochs=2)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert load_config(path) == parse_config(config.to_dict(), source="tiny")
    assert example_config("anynet-digits").section["spaces"] == ["anynet_xa", "anynet_xe"]
    assert "anynet-digits" in list_examples()


def test_malformed_yaml_and_missing_section(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nplanner: [unclosed\n")
    with pytest.raises(StudyConfigError, match=r"not a valid YAML mapping: .* at line"):
        load_config(bad)
    bad.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(StudyConfigError, match=r"study config .*bad\.yaml: not a valid YAML"):
        load_config(bad)
    with pytest.raises(StudyConfigError, match="needs a mapping under the key 'ablation'"):
        parse_config({"name": "x", "planner": "ablation"})
    with pytest.raises(StudyConfigError, match="example='nope' is unknown"):
        example_config("nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_recipe_overrides_cannot_set_what_the_plan_sets():
    import pytest

    from netscale.study.config import StudyConfigError
    from netscale.study.planners import DataShape, plan

    from .conftest import tiny_config

    with pytest.raises(StudyConfigError, match=r"recipe_overrides.epochs cannot be honoured"):
        plan(tiny_config(recipe_overrides={"epochs": 5}), DataShape(10, 1))
    with pytest.raises(StudyConfigError, match=r"recipe_overrides.resolution cannot be hon"):
        plan(tiny_config(recipe_overrides={"resolution": 64}), DataShape(10, 1))
