"""Checkpoints: written atomically, the newest complete one found, damage named."""

import pytest
import torch
from torch import nn

from netscale.training.checkpoint import (
    CheckpointError,
    clean_partial,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def _model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def test_round_trip_and_only_the_newest_is_kept(tmp_path):
    a = _model(0)
    save_checkpoint(tmp_path, epoch=1, model=a, ema=None, state={"step": 5})
    last = save_checkpoint(tmp_path, epoch=2, model=a, ema=a, state={"step": 10})
    assert latest_checkpoint(tmp_path) == last and sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-0002",
        "latest",
    ]
    b, ema = _model(1), _model(2)
    state = load_checkpoint(last, model=b, ema=ema)
    assert state == {"step": 10, "epoch": 2}
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_a_stale_pointer_and_partial_writes(tmp_path):
    a = _model(0)
    first = save_checkpoint(tmp_path, epoch=1, model=a, ema=None, state={})
    (tmp_path / "latest").write_text("ckpt-0009\n")  # points at nothing complete
    assert latest_checkpoint(tmp_path) == first
    partial = tmp_path / ".tmp-ckpt-0002-123"
    partial.mkdir()
    clean_partial(tmp_path)
    assert not partial.exists()


def test_weights_of_another_model_are_a_checkpoint_error(tmp_path):
    path = save_checkpoint(tmp_path, epoch=1, model=_model(0), ema=None, state={})
    other = nn.Sequential(nn.Linear(4, 5))
    with pytest.raises(CheckpointError, match="do not fit this model"):
        load_checkpoint(path, model=other, ema=None)
