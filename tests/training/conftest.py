"""Shared fixtures: a tiny spec that trains on 8x8 digits in about a second per epoch."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import netscale
from netscale.spec import HeadSpec, NetSpec, StageSpec, StemSpec, save
from netscale.training.checkpoint import latest_checkpoint
from netscale.training.distributed import Ranks
from netscale.training.loop import TIMING_KEYS
from netscale.training.recipe import Recipe
from netscale.training.run import Run


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


def saved_run(out, source, *, batch_size, ema_decay=0.5, save=True, **recipe) -> Run:
    """A Run of `tiny_spec` on `source` with its directory `out` and (`save`) one checkpoint
    of random weights: BatchNorm statistics away from (0, 1), so eval mode matters, and EMA
    weights that differ from the model's. Nothing is trained."""
    fields = dict(epochs=1, batch_size=batch_size, precision="fp32", ema_decay=ema_decay)
    run = Run.create(
        tiny_spec(),
        source,
        Recipe(**{**fields, **recipe}),
        out,
        seed=0,
        device=torch.device("cpu"),
        minival=0.0,
        ranks=Ranks(),
    )
    run.open(resume=False)
    with torch.no_grad():
        for m in run.model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        if run.ema is not None:
            for p in run.ema.parameters():
                p.add_(0.5 * torch.randn_like(p))
    run.epoch = 1
    if save:
        run.save()
    return run


class StopTraining(Exception):
    """Raised by a progress hook: the run stops after an epoch's checkpoint, as if killed."""


def stop_after_first_epoch(spec, out, **kw) -> None:
    """Train `spec` on digits with the quick recipe and `kw` into `out`, stopped after its
    first epoch (its checkpoint written), for a resume to continue."""

    def stop(metrics):
        if metrics["epoch"] == 1:
            raise StopTraining

    with pytest.raises(StopTraining):
        netscale.train(spec, "digits", "quick", out, progress=stop, **kw)


def checkpoint_weights(run_dir, name="model.safetensors") -> dict[str, torch.Tensor]:
    """The tensors of `name` in the latest checkpoint of the run directory `run_dir`."""
    return load_file(latest_checkpoint(Path(run_dir) / "checkpoints") / name)


def assert_same_weights(dir_a, dir_b, names=("model.safetensors",)) -> None:
    """The latest checkpoints of two run directories hold bit-identical `names` files."""
    for name in names:
        wa, wb = checkpoint_weights(dir_a, name), checkpoint_weights(dir_b, name)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name


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
