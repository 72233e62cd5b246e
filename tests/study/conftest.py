"""Tiny study configs: digits at 8 px, small-image spaces, 1-2 epochs (seconds per trial);
a runtime study of 4 small models at 16 px, each measured in a few steps; a search of 3
candidates; `fake_device`, a deterministic speed measurement for speed-matched scaling;
`ledger_of_errors`, a stored study of given errors (no training) for `compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import netscale
from netscale.complexity import count
from netscale.study.config import StudyConfig, parse_config
from netscale.study.records import TrialPlan
from netscale.study.store import Store

SMALL_SPACE = str(Path(netscale.__file__).parent / "space" / "examples" / "anynet_small.yaml")


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


def runtime_config(*, section: dict | None = None, **top: Any) -> StudyConfig:
    """A runtime_correlation study of 4 small models at 16 px, measured briefly on the CPU;
    `section` changes keys of the planner's section, `top` top-level keys."""
    data: dict[str, Any] = {
        "name": "runtime-tiny",
        "planner": "runtime_correlation",
        "seed": 0,
        "runtime_correlation": {"space": SMALL_SPACE, "samples": 4, "flops": ["1M", "4M"],
                                "resolution": 16, "batch": 2, "warmup": 1, "iters": 2},
    }  # fmt: skip
    data["runtime_correlation"].update(section or {})
    data.update(top)
    return parse_config(data, source="runtime-tiny")


def search_config(*, section: dict | None = None, **top: Any) -> StudyConfig:
    """A training-aware search of 3 candidates on digits at 8 px: EfficientNetV2-S's first 2
    stages at a quarter of its widths, a stride-1 stem, 1 epoch in fp32, step times from 2
    steps of 16 images; `section` changes keys of the planner's section, `top` top-level
    keys."""
    data: dict[str, Any] = {
        "name": "search-tiny",
        "planner": "training_aware",
        "data": "digits",
        "recipe": "quick",
        "recipe_overrides": {"batch_size": 128, "precision": "fp32"},
        "epochs": 1,
        "seed": 0,
        "training_aware": {"small_images": True, "resolution": 8, "width_ratio": 0.25,
                           "stages": 2, "samples": 3,
                           "step_time": {"batch": 16, "warmup": 0, "iters": 2}},
    }  # fmt: skip
    data["training_aware"].update(section or {})
    data.update(top)
    return parse_config(data, source="search-tiny")


@pytest.fixture
def fake_device(monkeypatch, tmp_path):
    """Latency = 1 ms + 2 ns per multiply-add x batch (monotone in every rule); no real
    measurement, a cache of its own. Returns the list of measured specs."""
    from netscale.profiling import speed
    from netscale.profiling.speed_cache import Measurement

    monkeypatch.setenv("NETSCALE_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake(spec, *, device, batch, mode, precision, channels_last):
        calls.append(spec)
        latency = 1e-3 + 2e-9 * count(spec).flops * batch
        return Measurement(latency, batch / latency)

    monkeypatch.setattr(speed, "measure_speed", fake)
    return calls


def ledger_of_errors(path, name: str, errors: dict[tuple[str, int], float], epochs: int):
    """A study at `path` whose trials (group, i) completed with the given top-1 errors, plus
    one that failed; returned for `compare`."""
    plans = [
        TrialPlan(group=g, spec={"i": i}, spec_id=f"id{i}", recipe={}, seed=0, epochs=epochs,
                  flops=1, params=1, acts=1)
        for g, i in [*errors, ("a", 99)]
    ]  # fmt: skip
    store = Store.create(path, {"name": name, "planner": "design_space"}, plans)
    for tid, e in enumerate([*errors.values(), None]):
        assert store.claim("h:1", 60).trial_id == tid
        end, metrics = ("failed", None) if e is None else ("completed", {"error": e})
        assert store.finish(tid, "h:1", end, metrics, error="x" if e is None else None)
    store.close()
    return path
