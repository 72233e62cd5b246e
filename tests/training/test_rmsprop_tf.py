"""RMSpropTF: TensorFlow 1's RMSProp (ApplyRMSProp), checked against the formula worked out
by hand: ms starts at 1, ms = decay*ms + (1-decay)*g^2, mom = momentum*mom +
lr*g/sqrt(ms + eps), p -= mom."""

import io
import math

import pytest
import torch

from netscale.training.rmsprop_tf import RMSpropTF


def _param(value: float = 1.0) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor([value], dtype=torch.float64))


def _step(opt: torch.optim.Optimizer, p: torch.Tensor, grad: float, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
    p.grad = torch.tensor([grad], dtype=torch.float64)
    opt.step()


def test_one_step_is_tensorflows_formula():
    """p=1, g=1e-3, lr=0.016, decay 0.9, momentum 0.9, eps 1e-3:
    ms  = 0.9 * 1 + 0.1 * (1e-3)^2          = 0.9000001
    mom = 0.016 * 1e-3 / sqrt(0.9000001 + 1e-3) = 1.6e-5 / 0.94921025068 = 1.68561180e-5
    p   = 1 - 1.68561180e-5                   = 0.99998314388"""
    p = _param()
    opt = RMSpropTF([p], lr=0.016, decay=0.9, momentum=0.9, eps=1e-3)
    _step(opt, p, 1e-3, 0.016)
    state = opt.state[p]
    assert state["square_avg"].item() == pytest.approx(0.9000001, rel=1e-12)
    assert state["momentum_buffer"].item() == pytest.approx(1.68561180081e-5, rel=1e-10)
    assert p.item() == pytest.approx(0.99998314388199, rel=1e-12)


def test_torchs_rmsprop_takes_a_700_times_larger_first_step():
    """The issue: torch's RMSprop (eps outside the root, ms from zero) moves the same p by
    0.016 * 1e-3 / (sqrt(1e-7) + 1e-3) = 0.01216, 721 times TF's 1.686e-5."""
    p, q = _param(), _param()
    _step(RMSpropTF([p], lr=0.016), p, 1e-3, 0.016)
    _step(torch.optim.RMSprop([q], lr=0.016, alpha=0.9, eps=1e-3, momentum=0.9), q, 1e-3, 0.016)
    ratio = (1 - q.item()) / (1 - p.item())
    assert ratio == pytest.approx(721.16, rel=1e-4)


def test_lr_acts_inside_the_momentum_buffer():
    """Second step with g=2e-3 at half the lr (0.008):
    ms  = 0.9 * 0.9000001 + 0.1 * (2e-3)^2          = 0.81000049
    mom = 0.9 * 1.68561180e-5 + 0.008 * 2e-3 / sqrt(0.81100049)
        = 1.51705062e-5 + 1.6e-5 / 0.90055565625      = 3.29373148e-5
    p   = 0.99998314388 - 3.29373148e-5               = 0.99995020657
    (with lr outside the buffer, as torch applies it, p would be 0.99995779182)."""
    p = _param()
    opt = RMSpropTF([p], lr=0.016, decay=0.9, momentum=0.9, eps=1e-3)
    _step(opt, p, 1e-3, 0.016)
    _step(opt, p, 2e-3, 0.008)
    assert opt.state[p]["square_avg"].item() == pytest.approx(0.81000049, rel=1e-12)
    assert opt.state[p]["momentum_buffer"].item() == pytest.approx(3.29373148315e-5, rel=1e-10)
    assert p.item() == pytest.approx(0.99995020656716, rel=1e-12)
    assert abs(p.item() - 0.99995779182026) > 7e-6


def test_weight_decay_is_an_l2_gradient_through_the_normaliser():
    """wd * l2_loss(p) adds wd * p to the gradient before ms: p=2, g=0, wd=0.1, lr=0.1:
    g = 0.2, ms = 0.9 + 0.1 * 0.04 = 0.904, mom = 0.1 * 0.2 / sqrt(0.905), p = 2 - mom."""
    p = _param(2.0)
    opt = RMSpropTF([p], lr=0.1, weight_decay=0.1)
    _step(opt, p, 0.0, 0.1)
    assert opt.state[p]["square_avg"].item() == pytest.approx(0.904, rel=1e-12)
    assert p.item() == pytest.approx(2 - 0.02 / math.sqrt(0.905), rel=1e-12)


def test_no_momentum_and_parameters_without_gradients():
    p, frozen = _param(), _param()
    opt = RMSpropTF([p, frozen], lr=0.1, momentum=0.0, eps=0.0, decay=0.5)
    _step(opt, p, 1.0, 0.1)  # ms = 0.5 + 0.5 = 1: p = 1 - 0.1 * 1 / 1
    assert p.item() == pytest.approx(0.9, rel=1e-12)
    assert frozen.item() == 1.0 and frozen not in opt.state


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"lr": -1.0}, "lr"), ({"lr": 0.1, "decay": 1.0}, "decay"),
     ({"lr": 0.1, "momentum": -0.1}, "momentum"), ({"lr": 0.1, "eps": -1e-3}, "eps"),
     ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay")],
)  # fmt: skip
def test_invalid_settings_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=f"RMSpropTF {name}="):
        RMSpropTF([_param()], **kwargs)


def test_state_dict_round_trips_through_a_weights_only_file():
    """As checkpoints store it (torch.save, torch.load(weights_only=True)): a restored
    optimizer continues exactly as the original."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = RMSpropTF(model.parameters(), lr=0.01, weight_decay=1e-5)
    x = torch.randn(4, 3)
    for _ in range(3):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "model": model.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict(saved["model"])
    twin_opt = RMSpropTF(twin.parameters(), lr=0.5)  # lr comes from the state dict
    twin_opt.load_state_dict(saved["optimizer"])
    assert twin_opt.param_groups[0]["lr"] == 0.01
    for m, o in ((model, opt), (twin, twin_opt)):
        o.zero_grad()
        m(x).square().sum().backward()
        o.step()
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True)
    )
