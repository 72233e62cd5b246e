"""What every planner shares: section defaults and key checks, the trial maker, the
small-image stem and the config value checks."""

from __future__ import annotations

import pytest

from netscale.families import resolve_spec
from netscale.study.planners import PLANNERS, DataShape
from netscale.study.planners.base import (
    base_spec,
    flops_band,
    make_trial,
    positive_int,
    small_image_stem,
)
from netscale.study.records import StudyConfig, StudyConfigError

from ..conftest import tiny_config


def test_options_fill_defaults_and_never_share_them():
    planner = PLANNERS["scaling"]
    config = StudyConfig(name="s", planner="scaling", section={"base": "resnet_18"})
    options = planner.options(config)
    assert options["base"] == "resnet_18" and options["rules"] == planner.defaults["rules"]
    options["rules"].append("mine")  # a caller's change must not reach the next study
    assert "mine" not in planner.defaults["rules"]
    with pytest.raises(StudyConfigError, match=r"s: unknown key 'scaling.colour'.*allowed"):
        planner.options(StudyConfig(name="s", planner="scaling", section={"colour": 1}))


def test_make_trial_resolves_the_recipe_and_counts():
    config = tiny_config(recipe_overrides={"batch_size": 32, "lr": 0.3})
    spec = resolve_spec("resnet_18", num_classes=10, in_width=1, resolution=32)
    trial = make_trial(config, spec, "g", design={"x": 1.0}, epochs=3, seed=7,
                       recipe_changes={"lr": 0.2})  # fmt: skip
    assert trial.recipe["lr"] == 0.2 and trial.recipe["batch_size"] == 32
    assert trial.recipe["epochs"] == 3 == trial.epochs and trial.recipe["resolution"] == 32
    assert trial.seed == 7 and trial.group == "g" and trial.flops > 0 and trial.meta == {}
    assert make_trial(config, spec, "g", design={}).seed == config.seed


def test_small_images_and_base_spec():
    spec = small_image_stem(resolve_spec("resnet_18"))
    assert (spec.stem.stride, spec.stem.kernel, spec.stem.pool) == (1, 3, "none")
    shape = DataShape(num_classes=10, in_width=1)
    options = {"base": "resnet_18", "small_images": True, "resolution": 16}
    base = base_spec(options, shape, "scaling.base")
    assert base.resolution == 16 and base.in_width == 1 and base.stem.stride == 1
    with pytest.raises(StudyConfigError, match=r"scaling\.base=None is invalid"):
        base_spec({**options, "base": None}, shape, "scaling.base")


def test_value_checks():
    assert flops_band(None, "k") is None
    assert flops_band(["2M", 8e6], "k") == (2e6, 8e6)
    with pytest.raises(StudyConfigError, match=r"k=\['2M'\] is invalid: expected \[low, high\]"):
        flops_band(["2M"], "k")
    assert positive_int(3, "k") == 3
    for bad in (0, True, 1.5):
        with pytest.raises(StudyConfigError, match=r"k=.* is invalid: an integer >= 1"):
            positive_int(bad, "k")
