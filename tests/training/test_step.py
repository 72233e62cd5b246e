"""step.update: one optimizer step as a function of its inputs alone."""

import copy

import torch

from netscale.build import build
from netscale.training.optim import build_optimizer
from netscale.training.recipe import load_recipe
from netscale.training.step import update

from .conftest import tiny_spec


def _setup():
    torch.manual_seed(0)
    model = build(tiny_spec()).train()
    optimizer = build_optimizer(model, load_recipe("quick"))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 1, 8, 8, generator=g)
    y = torch.nn.functional.one_hot(torch.arange(8) % 10, 10).float()
    return model, optimizer, x, y


def test_same_inputs_same_update():
    """Two copies given the same batch and lr end with the same weights: the update reads
    nothing but its arguments (dropout-free model)."""
    results = []
    for _ in range(2):
        model, optimizer, x, y = _setup()
        loss = update(model, model, optimizer, None, x, y, lr=0.1, autocast=None)
        results.append((loss, model.state_dict()))
    (la, a), (lb, b) = results
    assert torch.equal(la, lb) and all(torch.equal(a[k], b[k]) for k in a)


def test_lr_zero_changes_nothing_and_ema_follows():
    model, optimizer, x, y = _setup()
    before = copy.deepcopy(model.state_dict())
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    update(model, model, optimizer, ema, x, y, lr=0.0, autocast=None, ema_decay=0.5)
    weights = [k for k, v in before.items() if v.is_floating_point() and "running" not in k]
    assert all(torch.equal(before[k], model.state_dict()[k]) for k in weights)
    loss = update(model, model, optimizer, ema, x, y, lr=0.5, autocast=None, ema_decay=0.5)
    assert loss.requires_grad is False and torch.isfinite(loss)
    changed = [k for k in weights if not torch.equal(before[k], model.state_dict()[k])]
    assert changed  # a step with lr > 0 moves the weights
    k = changed[0]
    ema_k = ema.state_dict()[k]
    assert not torch.equal(ema_k, before[k]) and not torch.equal(ema_k, model.state_dict()[k])


def test_grad_clip_bounds_the_step():
    model, optimizer, x, y = _setup()
    update(model, model, optimizer, None, x, y, lr=0.1, autocast=None, grad_clip=1e-6)
    norms = [p.grad.norm() for p in model.parameters() if p.grad is not None]
    assert torch.linalg.vector_norm(torch.stack(norms)) <= 1e-6 * 1.01


def test_ema_decay_warms_up_with_the_step_count():
    """ema_step t: decay min(ema_decay, (1+t)/(10+t)); the first step (t=1) keeps 2/11 of
    the EMA's weights, not 0.9999 of them. lr 0 keeps the model's weights fixed."""
    model, optimizer, x, y = _setup()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    results = {}
    for ema_step in (None, 1, 100):
        ema = copy.deepcopy(model).eval().requires_grad_(False)
        with torch.no_grad():
            for p in ema.parameters():
                p.zero_()
        kw = dict(lr=0.0, autocast=None, ema_decay=0.9999, ema_step=ema_step)
        update(model, model, optimizer, ema, x, y, **kw)
        results[ema_step] = ema.state_dict()
    k = next(n for n, _ in model.named_parameters())
    for ema_step, decay in ((None, 0.9999), (1, 2 / 11), (100, 101 / 110)):
        expected = (1 - decay) * weights[k]
        assert torch.allclose(results[ema_step][k], expected, rtol=1e-5, atol=1e-7), ema_step
