"""TensorBoard scalars of a run, and the error when the package is missing."""

import sys

import pytest

import netscale
from netscale.training.tensorboard_log import MissingExtraError, require_tensorboard

from .conftest import tiny_spec


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_scalars_match_the_metrics(tmp_path):
    result = netscale.train(
        tiny_spec(), "digits", "quick", tmp_path, epochs=2, ema_decay=0.9, tensorboard=True
    )
    scalars = _scalars(tmp_path / "tensorboard")
    for tag in (
        "train/loss",
        "test/top1",
        "test/ema_top1",
        "speed/images_per_s",
        "stage/resolution",
    ):
        assert [step for step, _ in scalars[tag]] == [11, 22], tag
    last = result.metrics[-1]
    assert scalars["test/top1"][-1][1] == pytest.approx(last["test_top1"])
    assert scalars["train/loss"][-1][1] == pytest.approx(last["train_loss"])
    assert scalars["stage/resolution"][-1][1] == 8
    assert len(scalars["train/lr"]) == 22 and len(scalars["train/loss_step"]) == 22
    assert "test/top1_flip" not in scalars  # eval_flip is off: no value, no curve


def test_missing_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"pip install 'netscale\[tensorboard\]'"):
        require_tensorboard()
    with pytest.raises(ImportError, match="needs the tensorboard package"):
        netscale.train(tiny_spec(), "digits", "quick", tmp_path / "run", tensorboard=True)
    assert not (tmp_path / "run").exists()  # failed before any work


def test_needs_a_run_directory():
    with pytest.raises(ValueError, match="tensorboard=True needs a run directory"):
        netscale.train(tiny_spec(), "digits", "quick", None, tensorboard=True)
