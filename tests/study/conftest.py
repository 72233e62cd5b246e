"""Tiny study configs: digits at 8 px, small-image spaces, 1-2 epochs (seconds per trial)."""

from __future__ import annotations

from typing import Any

import pytest

from netscale.study.config import StudyConfig, parse_config


def tiny_config(**changes: Any) -> StudyConfig:
    """A design-space study of 2 + 2 small models on digits; `changes` replace top-level keys
    or (under "design_space") the planner section."""
    data: dict[str, Any] = {
        "name": "tiny",
        "planner": "design_space",
        "data": "digits",
        "recipe": "quick",
        "recipe_overrides": {"batch_size": 128},
        "epochs": 1,
        "seed": 0,
        "design_space": {
            "spaces": ["anynet_xa", "anynet_xe"],
            "samples": 2,
            "stages": 2,
            "stem_stride": 1,
            "resolution": 8,
            "flops": ["50K", "400K"],
        },
    }
    section = changes.pop("design_space", {})
    data.update(changes)
    data["design_space"].update(section)
    return parse_config(data, source="tiny")


@pytest.fixture
def tiny() -> StudyConfig:
    return tiny_config()
