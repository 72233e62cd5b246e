"""Shared fixtures: a tiny spec that trains on 8x8 digits in about a second per epoch."""

import pytest
import torch

from netscale.spec import HeadSpec, NetSpec, StageSpec, StemSpec, save
from netscale.training.loop import TIMING_KEYS


def tiny_spec() -> NetSpec:
    """Stride-1 stem, two bottleneck stages (total stride 4), for 8x8 inputs."""
    stages = (
        StageSpec(block="bottleneck", depth=1, width=16, stride=2, group_width=8),
        StageSpec(block="bottleneck", depth=1, width=32, stride=2, group_width=8),
    )
    return NetSpec(
        name="tiny",
        stem=StemSpec(kind="conv", width=8, stride=1),
        stages=stages,
        head=HeadSpec(num_classes=10),
        in_width=1,
        resolution=8,
    )


@pytest.fixture
def tiny_path(tmp_path):
    return str(save(tiny_spec(), tmp_path / "tiny.yaml"))


TIMING = TIMING_KEYS


def without_timing(metrics: list[dict]) -> list[dict]:
    """Metrics lines less the wall-clock fields, which differ between any two runs."""
    return [{k: v for k, v in m.items() if k not in TIMING} for m in metrics]


@pytest.fixture(autouse=True)
def one_thread():
    """Every training test runs on one torch thread: exact-resume comparisons need the same
    thread count, and pytest-xdist runs two test processes on two cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
