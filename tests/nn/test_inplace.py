"""In-place activations and residual adds (nn/layers.py) change no number: outputs and
gradients equal those of the same model built without them (bit for bit where the memory
layout of every tensor stays the same; within fp32 rounding where an in-place add keeps a
permuted layout that an out-of-place one would not, as in CoAtNet), and no forward
overwrites its input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import netscale
from netscale.nn import layers

# one model of each family whose blocks are planned (ReLU, SiLU and GELU; BN and LN)
MODELS = [
    ("resnet_18", 32),
    ("resnet_rs_50", 32),
    ("regnet_y_400mf", 32),
    ("efficientnet_b0", 32),
    ("efficientnet_v2_s", 32),
    ("coatnet_0", 64),
    (str(Path(__file__).parents[1] / "fixtures" / "airbench94.yaml"), 32),  # conv_pool, GELU
]


def _build(name: str, px: int, monkeypatch, inplace: bool) -> nn.Module:
    with monkeypatch.context() as m:
        if not inplace:
            m.setattr(layers, "inplace_acts", lambda *seqs: set())
            m.setattr(layers, "_adds_in_place", lambda branch: False)
            m.setattr(layers, "make_act", lambda name, inplace=False: layers.ACTIVATIONS[name]())
        torch.manual_seed(0)
        return netscale.create_model(name, resolution=px)


@pytest.mark.parametrize(("name", "px"), MODELS)
def test_in_place_ops_change_no_output_or_gradient(name, px, monkeypatch):
    ours, plain = (_build(name, px, monkeypatch, flag) for flag in (True, False))
    if "resnet" in name or "regnet" in name:  # the ReLU nets
        assert any(isinstance(m, nn.ReLU) and m.inplace for m in ours.modules())
    if "efficientnet" in name:  # SiLU in place where no gradient is recorded
        assert any(isinstance(m, layers.SiLU) and m.inplace for m in ours.modules())
    assert not any(getattr(m, "inplace", False) for m in plain.modules())
    x = torch.randn(2, 3, px, px)
    for model in (ours, plain):
        model.train()
    inputs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = []
    for model, inp in zip((ours, plain), inputs, strict=True):
        torch.manual_seed(1)  # the same stochastic-depth and dropout draws
        outs.append(model(inp))
    same = torch.equal if name != "coatnet_0" else _close
    assert same(outs[0], outs[1])
    for out in outs:
        out.square().sum().backward()
    assert torch.equal(inputs[0], x)  # the input is not overwritten
    assert same(inputs[0].grad, inputs[1].grad)
    for (k, a), (_, b) in zip(ours.named_parameters(), plain.named_parameters(), strict=True):
        assert same(a.grad, b.grad), k
    with torch.inference_mode():
        ours.eval(), plain.eval()
        y = x.clone()
        assert same(ours(y), plain(x)) and torch.equal(y, x)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal within fp32 rounding of a changed reduction order (gradients through the
    whole net differ by up to about 1e-6 on torch's AVX2 paths)."""
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    return True


def test_bf16_autocast_adds_without_in_place_promotion(monkeypatch):
    """Under autocast a branch (bf16) and an fp32 shortcut add out of place, as before."""
    ours, plain = (_build("resnet_18", 32, monkeypatch, flag) for flag in (True, False))
    x = torch.randn(2, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        a, b = ours.eval()(x), plain.eval()(x)
    assert a.dtype == b.dtype and torch.equal(a, b)
