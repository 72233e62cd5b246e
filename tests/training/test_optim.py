"""Optimizers of the recipes: parameter groups (no weight decay on norms, biases and bias
tables), the linearly scaled learning rate, set_lr, the EMA update and its warm-up. The
TF-style RMSProp's own arithmetic: test_rmsprop_tf.py."""

import copy

import pytest
import torch
from torch import nn

from netscale.nn.attention import RelativeAttention
from netscale.training.optim import build_optimizer, ema_decay_at, set_lr, update_ema
from netscale.training.recipe import Recipe
from netscale.training.rmsprop_tf import RMSpropTF


class _Toy(nn.Module):
    """One of each kind of parameter: conv and linear weights (decayed), biases, norm
    scales and shifts, a 1-D layer scale and an attention bias table (not decayed)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.attn = RelativeAttention(4, 4, head_width=2, size=2)
        self.gamma = nn.Parameter(torch.ones(4))
        self.fc = nn.Linear(4, 2)


DECAYED = {"conv.weight", "attn.qkv.weight", "attn.proj.weight", "fc.weight"}
NOT_DECAYED = {
    "bn.weight",
    "bn.bias",
    "attn.qkv.bias",
    "attn.bias_table",
    "attn.proj.bias",
    "gamma",
    "fc.bias",
}


def _names(model: nn.Module, params: list) -> set[str]:
    ids = {id(p) for p in params}
    return {name for name, p in model.named_parameters() if id(p) in ids}


def test_no_decay_on_norms_biases_and_bias_tables():
    model = _Toy()
    assert {n for n, _ in model.named_parameters()} == DECAYED | NOT_DECAYED  # all covered
    opt = build_optimizer(model, Recipe(weight_decay=0.05, no_decay_norm_bias=True))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert _names(model, decay["params"]) == DECAYED
    assert _names(model, no_decay["params"]) == NOT_DECAYED


def test_one_group_with_decay_on_everything_when_asked():
    model = _Toy()
    opt = build_optimizer(model, Recipe(weight_decay=0.05, no_decay_norm_bias=False))
    (group,) = opt.param_groups
    assert group["weight_decay"] == 0.05
    assert _names(model, group["params"]) == DECAYED | NOT_DECAYED


@pytest.mark.parametrize("no_decay_norm_bias", [True, False])
def test_frozen_parameters_are_left_out(no_decay_norm_bias):
    model = _Toy()
    model.conv.requires_grad_(False)
    model.bn.requires_grad_(False)
    opt = build_optimizer(model, Recipe(no_decay_norm_bias=no_decay_norm_bias))
    names = set().union(*(_names(model, g["params"]) for g in opt.param_groups))
    assert names == (DECAYED | NOT_DECAYED) - {"conv.weight", "bn.weight", "bn.bias"}
    # each trainable parameter once
    assert sum(len(g["params"]) for g in opt.param_groups) == len(names)


def test_sgd_settings_and_linearly_scaled_lr():
    """lr 0.1 for 128 images per step, trained with 512: 0.4 (Goyal et al. 2017)."""
    recipe = Recipe(optimizer="sgd", lr=0.1, lr_batch=128, batch_size=512, momentum=0.8)
    opt = build_optimizer(_Toy(), recipe)
    assert type(opt) is torch.optim.SGD
    for group in opt.param_groups:
        assert group["lr"] == pytest.approx(0.4)
        assert group["momentum"] == 0.8 and group["nesterov"] is True


def test_sgd_without_momentum_drops_nesterov():
    """torch refuses Nesterov without momentum; a momentum-free recipe is plain SGD."""
    opt = build_optimizer(_Toy(), Recipe(optimizer="sgd", momentum=0.0, nesterov=True))
    assert all(g["nesterov"] is False and g["momentum"] == 0.0 for g in opt.param_groups)
    opt = build_optimizer(_Toy(), Recipe(optimizer="sgd", momentum=0.9, nesterov=False))
    assert all(g["nesterov"] is False for g in opt.param_groups)


def test_rmsprop_settings():
    recipe = Recipe(
        optimizer="rmsprop",
        lr=0.016,
        lr_batch=256,
        batch_size=64,
        rmsprop_decay=0.9,
        rmsprop_eps=1e-3,
        momentum=0.9,
        weight_decay=1e-5,
    )
    opt = build_optimizer(_Toy(), recipe)
    assert type(opt) is RMSpropTF
    for group in opt.param_groups:
        assert group["lr"] == pytest.approx(0.004)
        assert (group["decay"], group["eps"], group["momentum"]) == (0.9, 1e-3, 0.9)
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-5, 0.0]


def test_adamw_takes_the_groups_weight_decay():
    """AdamW's own default decay (0.01) must not apply: each group carries its own."""
    opt = build_optimizer(_Toy(), Recipe(optimizer="adamw", lr=1e-3, weight_decay=0.05))
    assert type(opt) is torch.optim.AdamW
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    assert all(g["lr"] == pytest.approx(1e-3) for g in opt.param_groups)


def test_weight_decay_moves_only_the_decayed_group():
    """With zero gradients, one SGD step changes a weight by -lr * wd * w and leaves the
    no-decay parameters where they were."""
    model = _Toy()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(2.0)
    before = copy.deepcopy(model.state_dict())
    recipe = Recipe(optimizer="sgd", lr=0.5, momentum=0.0, weight_decay=0.1)
    opt = build_optimizer(model, recipe)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    after = model.state_dict()
    for name in DECAYED:
        assert torch.allclose(after[name], before[name] * (1 - 0.5 * 0.1)), name
    for name in NOT_DECAYED:
        assert torch.equal(after[name], before[name]), name


def test_rmsprop_weight_decay_moves_only_the_decayed_group():
    """TF's L2 term through RMSProp, zero gradients, w=2, wd=0.1, lr=0.5: g = 0.2,
    ms = 0.9 + 0.1 * 0.2^2 = 0.904, w -= 0.5 * 0.2 / sqrt(0.904 + 1e-3); the no-decay
    parameters see g = 0 and stay (mom = 0)."""
    model = _Toy()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(2.0)
    before = copy.deepcopy(model.state_dict())
    recipe = Recipe(optimizer="rmsprop", lr=0.5, weight_decay=0.1, rmsprop_eps=1e-3)
    opt = build_optimizer(model, recipe)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    after = model.state_dict()
    moved = 2.0 - 0.5 * 0.2 / (0.905**0.5)
    for name in DECAYED:
        assert torch.allclose(after[name], torch.full_like(after[name], moved)), name
    for name in NOT_DECAYED:
        assert torch.equal(after[name], before[name]), name


def test_set_lr_sets_every_group():
    opt = build_optimizer(_Toy(), Recipe())
    set_lr(opt, 0.123)
    assert [g["lr"] for g in opt.param_groups] == [0.123, 0.123]


def _pair() -> tuple[nn.Module, nn.Module]:
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    ema = copy.deepcopy(model)
    with torch.no_grad():
        for p in ema.parameters():
            p.fill_(0.0)
        for p in model.parameters():
            p.fill_(1.0)
    model[1].running_mean.fill_(5.0)
    model[1].num_batches_tracked.fill_(7)
    return ema, model


def test_ema_blends_parameters_and_copies_buffers():
    ema, model = _pair()
    update_ema(ema, model, decay=0.9)  # 0.9 * 0 + 0.1 * 1
    for p in ema.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.1))
    update_ema(ema, model, decay=0.9)  # 0.9 * 0.1 + 0.1 * 1
    for p in ema.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.19))
    assert torch.equal(ema[1].running_mean, torch.full((3,), 5.0))
    assert int(ema[1].num_batches_tracked) == 7
    assert all(torch.equal(p, torch.ones_like(p)) for p in model.parameters())  # unchanged


def test_ema_extremes():
    ema, model = _pair()
    update_ema(ema, model, decay=1.0)
    assert all(torch.equal(p, torch.zeros_like(p)) for p in ema.parameters())
    update_ema(ema, model, decay=0.0)
    assert all(torch.equal(p, torch.ones_like(p)) for p in ema.parameters())


def test_ema_of_another_architecture_is_refused():
    _, model = _pair()
    with pytest.raises(ValueError, match="EMA has 2 parameters, the model 4"):
        update_ema(nn.Linear(2, 3), model, decay=0.5)
    no_buffers = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3))
    with pytest.raises(ValueError, match="EMA has 0 buffers, the model 3"):
        update_ema(no_buffers, model, decay=0.5)


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 1 / 10), (1, 2 / 11), (100, 101 / 110), (1_000_000, 0.9999)],
)
def test_ema_decay_warms_up_as_tensorflows(step, expected):
    """tf.train.ExponentialMovingAverage(0.9999, num_updates=t): min(0.9999, (1+t)/(10+t))."""
    assert ema_decay_at(0.9999, step) == pytest.approx(expected, rel=1e-12)
    assert ema_decay_at(0.5, 100) == 0.5  # the recipe's decay caps it


def test_ema_after_a_few_hundred_steps_has_left_the_initial_weights():
    """The issue's case: 300 steps at a fixed 0.9999 keep ~97% of the initial weights; with
    the warm-up their share (the product of the decays) is ~1e-16."""
    fixed = 0.9999**300
    warm = 1.0
    for t in range(1, 301):
        warm *= ema_decay_at(0.9999, t)
    assert fixed > 0.97 and warm < 1e-15


@pytest.mark.parametrize("no_decay_norm_bias", [True, False])
def test_norm_lr_scale_gives_norms_a_group_with_the_same_decay_per_step(no_decay_norm_bias):
    model = _Toy()
    recipe = Recipe(
        lr=0.2, weight_decay=0.01, norm_lr_scale=64.0, no_decay_norm_bias=no_decay_norm_bias
    )
    opt = build_optimizer(model, recipe)
    norm = opt.param_groups[-1]
    assert _names(model, norm["params"]) == {"bn.weight", "bn.bias"}
    assert norm["lr"] == pytest.approx(0.2 * 64) and norm["lr_scale"] == 64.0
    if no_decay_norm_bias:
        assert norm["weight_decay"] == 0.0 and len(opt.param_groups) == 3
    else:  # lr x wd, the decay per step, is the other parameters'
        assert norm["lr"] * norm["weight_decay"] == pytest.approx(0.2 * 0.01)
        assert len(opt.param_groups) == 2
    others = set().union(*(_names(model, g["params"]) for g in opt.param_groups[:-1]))
    assert others == (DECAYED | NOT_DECAYED) - {"bn.weight", "bn.bias"}
    set_lr(opt, 0.5)
    assert norm["lr"] == pytest.approx(32.0)
    assert all(g["lr"] == 0.5 for g in opt.param_groups[:-1])


def test_without_norm_lr_scale_the_groups_are_as_before():
    """Checkpoints of earlier runs hold two groups (decay, no decay): a recipe without
    norm_lr_scale keeps exactly those."""
    opt = build_optimizer(_Toy(), Recipe(weight_decay=0.05))
    assert len(opt.param_groups) == 2 and "lr_scale" not in opt.param_groups[0]
