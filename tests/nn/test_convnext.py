"""ConvNeXt block: its plan's layers, the channels-last MLP, the optional layer scale."""

import torch

from netscale.nn import ConvNeXtBlock

ARGS = dict(kernel=7, inner=64, act="gelu", eps=1e-6)


def test_downsampling_block_and_layer_scale():
    block = ConvNeXtBlock(8, 16, stride=2, layer_scale=1e-6, **ARGS)
    assert {k: tuple(v.shape) for k, v in block.named_parameters()} == block.plan.params()
    assert block(torch.randn(2, 8, 15, 15)).shape == (2, 16, 7, 7)  # h // 2: no padding
    assert block.gamma.shape == (16,) and torch.all(block.gamma == 1e-6)


def test_plain_block_is_identity_plus_branch():
    block = ConvNeXtBlock(16, 16, stride=1, layer_scale=0.0, **ARGS).eval()
    assert getattr(block, "gamma", None) is None and not hasattr(block, "downsample")
    x = torch.randn(1, 16, 5, 5)
    y = block.conv_dw(x).permute(0, 2, 3, 1)
    y = block.fc2(block.act(block.fc1(block.norm(y)))).permute(0, 3, 1, 2)
    torch.testing.assert_close(block(x), x + y)
