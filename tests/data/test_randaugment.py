"""netscale.data.randaugment: every op runs on uint8 batches; magnitude 0 is gentle."""

import pytest
import torch

from netscale.data.randaugment import OPS, apply_op, rand_augment


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_op_keeps_shape_and_dtype(op, channels):
    x = torch.randint(0, 256, (4, channels, 9, 7), dtype=torch.uint8)
    for signed in (-1.0, -0.3, 0.0, 0.3):
        y = apply_op(x, op, signed)
        assert y.shape == x.shape and y.dtype == torch.uint8
        if signed == 0.0 and op not in ("autocontrast", "equalize"):
            assert torch.equal(y, x)


def test_chunks_get_different_ops():
    x = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    y = rand_augment(x, num_layers=1, magnitude=20, generator=g, num_chunks=8)
    changed = (y != x).flatten(1).float().mean(1).view(8, 8).mean(1)
    assert len(set(changed.round(decimals=3).tolist())) > 2
    assert torch.equal(rand_augment(x, num_layers=0, magnitude=20, generator=g), x)
    small = rand_augment(x[:3], num_layers=2, magnitude=9, generator=g, num_chunks=8)
    assert small.shape == (3, 3, 16, 16)
