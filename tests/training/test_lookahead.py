"""Lookahead as airbench applies it: the slow weights' arithmetic, when it acts, and a run
with it (and the rest of the fast CIFAR recipe's fields) that resumes exactly."""

import pytest
import torch
from torch import nn

import netscale
from netscale.spec import HeadSpec, NetSpec, StageSpec, StemSpec
from netscale.training.lookahead import Lookahead, lookahead_rho, start_step
from netscale.training.recipe import Recipe

from .conftest import (
    assert_same_weights,
    checkpoint_weights,
    stop_after_first_epoch,
    without_timing,
)


def test_sync_moves_the_slow_weights_and_resets_the_model_to_them():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    slow = Lookahead(model)
    before = [t.clone() for t in slow.slow]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.add_(2.0)
    fast = [t.clone() for t in model.state_dict().values() if t.is_floating_point()]
    slow.sync(model, 0.75)
    now = [t for t in model.state_dict().values() if t.is_floating_point()]
    for b, f, s, m in zip(before, fast, slow.slow, now, strict=True):
        assert torch.allclose(s, 0.75 * b + 0.25 * f) and torch.equal(m, s)
    assert model[1].num_batches_tracked.dtype == torch.int64  # integers are left alone


def test_rho_grows_with_the_cube_of_progress_and_the_start_step():
    r = Recipe(lookahead_every=5, lookahead_decay=0.95, lookahead_power=3.0)
    assert lookahead_rho(r, 480, 480) == pytest.approx(0.95**5)
    assert lookahead_rho(r, 240, 480) == pytest.approx(0.95**5 / 8)
    assert start_step(Recipe(lookahead_start_epochs=3.0), 48) == 144
    assert start_step(Recipe(lookahead_start_epochs=0.5), 7) == 4


def _plain_spec() -> NetSpec:
    """A net without zero-initialized norms, so its norm weights may be frozen."""
    stages = (
        StageSpec(block="basic", depth=1, width=8, stride=2),
        StageSpec(block="basic", depth=1, width=16, stride=2),
    )
    return NetSpec(
        name="plain",
        stem=StemSpec(kind="conv", width=8, stride=1),
        stages=stages,
        head=HeadSpec(num_classes=10),
        in_width=1,
        resolution=8,
        zero_init_residual=False,
    )


FAST = dict(
    epochs=3,
    precision="fp32",
    lr=0.2,
    momentum=0.85,
    weight_decay=1e-3,
    no_decay_norm_bias=False,
    norm_lr_scale=8.0,
    train_norm_weight=False,
    schedule="linear",
    warmup_epochs=0.6,
    warmup_start_ratio=0.2,
    min_lr_ratio=0.07,
    label_smoothing=0.2,
    lookahead_every=2,
    lookahead_start_epochs=0.5,
    bn_momentum=0.4,
    bn_eps=1e-12,
    crop_padding=1,
    flip=True,
    eval_flip=True,
    eval_translate=1,
)


def test_a_fast_cifar_style_run_resumes_exactly(tmp_path):
    """Stopped after its first epoch and resumed, a run with lookahead, a norm group with
    its own lr, frozen norm weights, a linear schedule and 6-view TTA ends with the metrics
    and weights of an uninterrupted one; the norm weights never moved."""
    ref = netscale.train(_plain_spec(), "digits", "quick", tmp_path / "ref", **FAST)
    assert ref.status == "completed" and ref.top1_tta is not None and ref.top1 > 30
    line = ref.metrics[-1]
    assert line["test_top1_tta"] == ref.top1_tta and line["ema_top1_tta"] is None
    assert all(m["test_top1_tta"] is None for m in ref.metrics[:-1])  # the last epoch only

    stop_after_first_epoch(_plain_spec(), tmp_path / "r", **FAST)
    resumed = netscale.train(_plain_spec(), "digits", "quick", tmp_path / "r", resume=True, **FAST)
    assert without_timing(resumed.metrics) == without_timing(ref.metrics)
    assert_same_weights(tmp_path / "ref", tmp_path / "r")
    a = checkpoint_weights(tmp_path / "ref")
    norm_weights = [k for k in a if k.endswith("weight") and a[k].ndim == 1]  # every BN's
    assert len(norm_weights) == 7  # the stem's, two per block, one per shortcut
    assert all(torch.equal(a[k], torch.ones_like(a[k])) for k in norm_weights)


def test_lookahead_changes_the_result():
    off = netscale.train(_plain_spec(), "digits", "quick", None, **{**FAST, "lookahead_every": 0})
    on = netscale.train(_plain_spec(), "digits", "quick", None, **FAST)
    assert without_timing(off.metrics) != without_timing(on.metrics)


def test_frozen_norm_weights_refuse_zero_initialized_residuals(tmp_path):
    spec = _plain_spec()
    zeroed = NetSpec(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__},
                        "zero_init_residual": True})  # fmt: skip
    with pytest.raises(ValueError, match="train_norm_weight=false freezes norm weights"):
        netscale.train(zeroed, "digits", "quick", tmp_path / "z", train_norm_weight=False)
    assert not (tmp_path / "z").exists()


def test_a_whitening_stem_is_set_from_the_data_and_stays_frozen(tmp_path, airbench94):
    """The airbench-shaped net on digits (fitted to 1 channel, 8 px raised to 9): the
    stem's weights come from the training images and do not move while training."""
    from netscale.build import build
    from netscale.build.whiten import init_whitening
    from netscale.data import load_data
    from netscale.training.setup import whitening_images

    res = netscale.train(airbench94, "digits", "fast_cifar", tmp_path / "w", epochs=2,
                         batch_size=128, precision="fp32")  # fmt: skip
    assert res.status == "completed" and res.top1 > 30  # chance: 10%
    weights = checkpoint_weights(tmp_path / "w")
    spec = netscale.spec.load(tmp_path / "w" / "spec.yaml")
    assert spec.stem.width == 8 and spec.resolution == 9  # 2 * 1 * 2 * 2 channels
    fresh = build(spec)
    assert init_whitening(fresh, whitening_images(load_data("digits"), 9, seed=0))
    assert torch.equal(weights["stem.conv.weight"], fresh.stem.conv.weight.detach())
