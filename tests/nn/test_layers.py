"""Modules from layer records: Chain, PlannedBlock, and one module per record kind."""

import pytest
import torch
from torch import nn

from netscale.nn import BLOCK_MODULES, Chain, DropPath, make
from netscale.plan import LAYOUTS
from netscale.plan.layers import SE, Act, Attention, Conv, Linear, Norm, Path, Pool, Scale


def test_registries_match():
    assert set(BLOCK_MODULES) == set(LAYOUTS)
    for kind, module in BLOCK_MODULES.items():
        assert module.layout is LAYOUTS[kind]


@pytest.mark.parametrize(
    "layer",
    [
        Conv("c", 8, 16, 3, stride=2, groups=4, bias=True),
        Conv("p", 8, 16, 4, stride=4, bias=True, same=False),
        Norm("n", 8, "batch", 1e-5),
        Norm("n", 8, "layer2d", 1e-6),
        SE("se", 8, 2, "silu"),
        Pool("pool", "max"),
        Pool("pool", "avg", 2),
        Attention("attn", 8, 16, 8, 5),
        Path(
            "shortcut", (Pool("pool", "avg"), Conv("conv", 8, 16, 1), Norm("bn", 16, "batch", 1e-5))
        ),
    ],
)
def test_module_matches_record(layer):
    """Parameter shapes and output size are the record's."""
    module = make(layer)
    shapes = {k: tuple(v.shape) for k, v in module.named_parameters()}
    assert shapes == {k: v for k, v in layer.params().items()}
    y = module(torch.randn(1, 8, 9, 9))
    assert y.shape[-1] == layer.out_size(9)


def test_linear_act_and_scale():
    assert isinstance(make(Linear("fc", 4, 5)), nn.Linear)
    assert isinstance(make(Act("act", "gelu")), nn.GELU)
    with pytest.raises(TypeError, match="no module"):
        make(Scale("gamma", 4, 1e-6))  # a parameter of its block, not a module


def test_chain_applies_layers_in_order():
    chain = Chain(
        (Conv("conv", 3, 4, 3, stride=2), Norm("bn", 4, "batch", 1e-5), Act("act", "relu"))
    )
    assert list(dict(chain.named_children())) == ["conv", "bn", "act"]
    x = torch.randn(2, 3, 8, 8)
    chain.eval()
    torch.testing.assert_close(chain(x), chain.act(chain.bn(chain.conv(x))))


def test_drop_path():
    drop = DropPath(0.5)
    x = torch.ones(1000, 1, 1, 1)
    torch.manual_seed(0)
    assert set(drop(x).unique().tolist()) == {0.0, 2.0}
    assert torch.equal(drop.eval()(x), x)
