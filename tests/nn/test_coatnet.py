"""CoAtNet blocks: shortcut listed first, pooled residual, attention at any map size."""

import torch

from netscale.nn import PreNormMBConv, TransformerBlock


def test_pre_norm_mbconv():
    block = PreNormMBConv(8, 16, stride=2, kernel=3, inner=64, se_width=4, act="gelu", eps=1e-5)
    names = [k for k, _ in block.named_parameters()]
    assert names[0].startswith("shortcut.") and names[2].startswith("pre_norm.")
    assert block(torch.randn(2, 8, 9, 9)).shape == (2, 16, 5, 5)
    assert block.last_norm() is None


def test_transformer_block_and_attention_sizes():
    block = TransformerBlock(8, 16, stride=2, head_width=8, inner=32, size=4, act="gelu", eps=1e-6)
    assert {k: tuple(v.shape) for k, v in block.named_parameters()} == block.plan.params()
    assert block(torch.randn(2, 8, 8, 8)).shape == (2, 16, 4, 4)
    assert block(torch.randn(1, 8, 14, 14)).shape == (1, 16, 7, 7)  # table interpolated
