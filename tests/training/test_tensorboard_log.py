"""TensorBoardLog as a progress hook: which scalars it writes, under which tags and steps
(a recording stand-in for SummaryWriter), and one real event file read back."""

import json
import sys
from typing import ClassVar

import pytest

from netscale.training import tensorboard_log
from netscale.training.tensorboard_log import (
    EPOCH_TAGS,
    INSTALL_HINT,
    MissingExtraError,
    TensorBoardLog,
    require_tensorboard,
)


class _Writer:
    """Records what a SummaryWriter is asked to do."""

    instances: ClassVar[list] = []

    def __init__(self, log_dir, purge_step=None):
        self.log_dir, self.purge_step = log_dir, purge_step
        self.scalars, self.texts, self.flushes, self.closed = [], [], 0, False
        _Writer.instances.append(self)

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def add_text(self, tag, text, step):
        self.texts.append((tag, text, step))

    def flush(self):
        self.flushes += 1

    def close(self):
        self.closed = True


@pytest.fixture
def writer(monkeypatch):
    _Writer.instances = []
    monkeypatch.setattr(tensorboard_log, "require_tensorboard", lambda: _Writer)
    return _Writer


def test_writer_gets_the_directory_and_purge_step(writer, tmp_path):
    TensorBoardLog(tmp_path / "tb", purge_step=22)
    TensorBoardLog(str(tmp_path / "tb2"))
    (a, b) = writer.instances
    assert (a.log_dir, a.purge_step) == (str(tmp_path / "tb"), 22)
    assert (b.log_dir, b.purge_step) == (str(tmp_path / "tb2"), None)


def test_start_writes_the_run_description_as_text(writer, tmp_path):
    log = TensorBoardLog(tmp_path)
    info = {"model": "tiny", "epochs": 2, "precision": "fp32"}
    log.on_start(info)
    ((tag, text, step),) = writer.instances[0].texts
    assert (tag, step) == ("run", 0)
    assert text.startswith("```\n") and text.endswith("\n```")
    assert json.loads(text[4:-4]) == info


def test_step_writes_loss_and_lr_at_the_global_step(writer, tmp_path):
    log = TensorBoardLog(tmp_path)
    log.on_step({"loss": 2.5, "lr": 0.1, "global_step": 7, "step": 3, "epoch": 1})
    log.on_step({"loss": 2.0, "lr": 0.05, "global_step": 8, "step": 4, "epoch": 1})
    assert writer.instances[0].scalars == [
        ("train/loss_step", 2.5, 7),
        ("train/lr", 0.1, 7),
        ("train/loss_step", 2.0, 8),
        ("train/lr", 0.05, 8),
    ]


def test_epoch_writes_each_numeric_metric_under_its_tag(writer, tmp_path):
    log = TensorBoardLog(tmp_path)
    metrics = {
        "epoch": 2,
        "step": 22,
        "train_loss": 1.5,
        "test_loss": 1.25,
        "test_top1": 61.0,
        "test_top1_flip": None,  # eval_flip off: no value, no point
        "ema_top1": 60,
        "ema_top1_flip": None,
        "images_per_s": 1234.5,
        "mfu": 0.01,
        "peak_memory_mb": None,  # CPU
        "resolution": 8,
        "dropout_rate": None,
        "randaug_magnitude": 0.0,
        "mixup_alpha": 0.0,
        "precision": "fp32",  # not a number: not a scalar
        "lr": 0.05,  # stepwise: written by on_step
        "wall_s": 3.0,
    }
    log(metrics)
    w = writer.instances[0]
    expected = [
        (EPOCH_TAGS[k], v, 22) for k, v in metrics.items() if k in EPOCH_TAGS and v is not None
    ]
    assert sorted(w.scalars) == sorted(expected)
    assert ("test/top1", 61.0, 22) in w.scalars and ("train/epoch", 2, 22) in w.scalars
    assert not any(tag.endswith("top1_flip") for tag, _, _ in w.scalars)
    assert w.flushes == 1  # each epoch's scalars are on disk after the call


def test_booleans_are_not_scalars(writer, tmp_path):
    log = TensorBoardLog(tmp_path)
    log({"step": 1, "train_loss": True, "test_loss": 0.5})
    assert writer.instances[0].scalars == [("test/loss", 0.5, 1)]


def test_close_closes_the_writer(writer, tmp_path):
    log = TensorBoardLog(tmp_path)
    log.close()
    assert writer.instances[0].closed


def test_tags_are_grouped_and_distinct():
    assert len(set(EPOCH_TAGS.values())) == len(EPOCH_TAGS)
    assert {tag.split("/")[0] for tag in EPOCH_TAGS.values()} == {"train", "test", "speed", "stage"}


def test_missing_package_is_an_import_error_naming_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(MissingExtraError) as err:
        TensorBoardLog(tmp_path)
    assert isinstance(err.value, ImportError) and INSTALL_HINT in str(err.value)
    assert str(err.value).startswith("tensorboard=True (--tensorboard) needs the tensorboard")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_real_event_file_holds_the_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert require_tensorboard().__name__ == "SummaryWriter"
    log = TensorBoardLog(tmp_path)
    log.on_step({"loss": 2.5, "lr": 0.1, "global_step": 1})
    log({"step": 1, "train_loss": 2.25, "test_top1": 40.0, "resolution": 8})
    log.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    assert scalars == {
        "train/loss_step": [(1, 2.5)],
        "train/lr": [(1, pytest.approx(0.1))],
        "train/loss": [(1, 2.25)],
        "test/top1": [(1, 40.0)],
        "stage/resolution": [(1, 8.0)],
    }
