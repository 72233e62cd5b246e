"""Relative attention: the offset index, the bias table (and its interpolation to other map
sizes), and the forward pass against a per-head reference computation."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from netscale.nn.attention import RelativeAttention, relative_position_index


def test_relative_position_index():
    index = relative_position_index(2, 3)
    assert index.shape == (6, 6) and int(index.max()) == 3 * 5 - 1
    assert torch.all(index.diagonal() == (2 - 1) * 5 + (3 - 1))  # offset (0, 0)
    attn = RelativeAttention(4, 8, head_width=4, size=3)
    assert attn.bias(3, 3).shape == (2, 9, 9) and attn.bias(2, 2).shape == (2, 4, 4)


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 4), (3, 2), (3, 3), (4, 5)])
def test_relative_position_index_matches_brute_force(h, w):
    """Position i = (y_i, x_i) row-major; entry (i, j) is the row of offset
    (y_i - y_j, x_i - x_j) in a (2h-1) x (2w-1) table, offsets shifted to start at 0."""
    positions = [(y, x) for y in range(h) for x in range(w)]
    expected = torch.tensor(
        [
            [(yi - yj + h - 1) * (2 * w - 1) + (xi - xj + w - 1) for (yj, xj) in positions]
            for (yi, xi) in positions
        ]
    )
    index = relative_position_index(h, w)
    assert index.dtype == torch.int64
    assert torch.equal(index, expected)


def test_every_offset_has_a_row_and_reversed_pairs_mirror():
    """Every table row (every offset in [-(h-1), h-1] x [-(w-1), w-1]) is used, and the
    pair (j, i) reads the row of the opposite offset to (i, j)'s."""
    h, w = 3, 4
    index = relative_position_index(h, w)
    assert sorted(set(index.flatten().tolist())) == list(range((2 * h - 1) * (2 * w - 1)))
    # antisymmetry: offset(i, j) = -offset(j, i), i.e. row r <-> row (rows - 1 - r)
    rows = (2 * h - 1) * (2 * w - 1)
    assert torch.equal(index.t(), rows - 1 - index)


def _attention(w_in=4, w_out=8, head_width=4, size=3, seed=0) -> RelativeAttention:
    torch.manual_seed(seed)
    attn = RelativeAttention(w_in, w_out, head_width=head_width, size=size)
    with torch.no_grad():  # a bias large enough to matter in the comparisons below
        attn.bias_table.normal_(0.0, 1.0)
    return attn


def test_parameters_and_buffers():
    attn = RelativeAttention(6, 12, head_width=4, size=5)
    assert (attn.num_heads, attn.head_width, attn.size) == (3, 4, 5)
    assert attn.bias_table.shape == ((2 * 5 - 1) ** 2, 3)
    assert attn.qkv.weight.shape == (36, 6, 1, 1) and attn.proj.weight.shape == (12, 12, 1, 1)
    # the index is derived, not learned: not saved with the weights
    assert "index" not in attn.state_dict() and "bias_table" in attn.state_dict()
    assert torch.equal(attn.index, relative_position_index(5, 5))


def test_bias_at_the_table_size_reads_the_table_by_offset():
    attn = _attention(size=3)
    h = w = 3
    bias = attn.bias(h, w)
    positions = [(y, x) for y in range(h) for x in range(w)]
    for head in range(attn.num_heads):
        for i, (yi, xi) in enumerate(positions):
            for j, (yj, xj) in enumerate(positions):
                row = (yi - yj + h - 1) * (2 * w - 1) + (xi - xj + w - 1)
                assert bias[head, i, j] == attn.bias_table[row, head]


def test_bias_depends_on_the_offset_only():
    attn = _attention(size=4)
    bias = attn.bias(4, 4)
    positions = [(y, x) for y in range(4) for x in range(4)]
    for (i, a), (j, b) in itertools.product(enumerate(positions), repeat=2):
        shifted = (a[0] + 1, a[1]), (b[0] + 1, b[1])  # the same pair moved one row down
        if shifted[0] in positions and shifted[1] in positions:
            k, m = positions.index(shifted[0]), positions.index(shifted[1])
            assert torch.equal(bias[:, i, j], bias[:, k, m])


def test_bias_of_a_smaller_map_samples_the_table_grid():
    """size 3: a 5x5 grid of offsets per head. For a 2x2 map (a 3x3 grid), bilinear with
    align_corners samples grid rows and columns 0, 2, 4 exactly: offset (dy, dx) reads the
    table's offset (2 dy, 2 dx). For 2x3 (3x5), rows 0, 2, 4 and every column."""
    attn = _attention(size=3)
    grid = attn.bias_table.t().reshape(attn.num_heads, 5, 5)
    for h, w, sy, sx in ((2, 2, 2, 2), (2, 3, 2, 1)):
        bias = attn.bias(h, w)
        assert bias.shape == (attn.num_heads, h * w, h * w)
        positions = [(y, x) for y in range(h) for x in range(w)]
        for i, (yi, xi) in enumerate(positions):
            for j, (yj, xj) in enumerate(positions):
                expected = grid[:, 2 + sy * (yi - yj), 2 + sx * (xi - xj)]
                assert torch.allclose(bias[:, i, j], expected, atol=1e-6)


def test_bias_of_a_larger_map_interpolates_between_offsets():
    """size 2 (3x3 grid) to a 3x3 map (5x5 grid): align_corners puts the new offsets at
    half steps, so offset (1, 0) of the new grid (between old offsets 0 and 1 in y) is
    the mean of the two."""
    attn = _attention(size=2)
    grid = attn.bias_table.t().reshape(attn.num_heads, 3, 3)
    bias = attn.bias(3, 3)
    # positions 3 = (1, 0) and 0 = (0, 0): offset (1, 0) -> new grid (2 + 1, 2 + 0)
    expected = (grid[:, 1, 1] + grid[:, 2, 1]) / 2
    assert torch.allclose(bias[:, 3, 0], expected, atol=1e-6)
    # offset (2, 2) is the grid's corner, kept exactly
    assert torch.allclose(bias[:, 8, 0], grid[:, 2, 2], atol=1e-6)


def _reference(attn: RelativeAttention, x: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-head attention written out: qkv channels are laid out as (head,
    q|k|v, head_width); logits q.k / sqrt(d) + bias; softmax over keys."""
    b, _, h, w = x.shape
    n, d = h * w, attn.head_width
    qkv = F.conv2d(x, attn.qkv.weight, attn.qkv.bias).reshape(b, -1, n)
    bias = attn.bias(h, w)
    heads = []
    for head in range(attn.num_heads):
        base = head * 3 * d
        q = qkv[:, base : base + d]  # (B, d, N)
        k = qkv[:, base + d : base + 2 * d]
        v = qkv[:, base + 2 * d : base + 3 * d]
        logits = torch.einsum("bdi,bdj->bij", q, k) / d**0.5 + bias[head]
        weights = torch.softmax(logits, dim=-1)  # (B, N queries, N keys)
        heads.append(torch.einsum("bij,bdj->bdi", weights, v))
    out = torch.cat(heads, dim=1).reshape(b, -1, h, w)
    return F.conv2d(out, attn.proj.weight, attn.proj.bias)


@pytest.mark.parametrize(("h", "w"), [(3, 3), (2, 4), (5, 5)])
def test_forward_matches_a_per_head_reference(h, w):
    attn = _attention(w_in=4, w_out=8, head_width=4, size=3)
    x = torch.randn(2, 4, h, w, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = attn(x)
        expected = _reference(attn, x)
    assert out.shape == (2, 8, h, w)
    assert torch.allclose(out, expected, atol=1e-5)


def test_samples_of_a_batch_are_independent():
    attn = _attention()
    x = torch.randn(3, 4, 3, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        together = attn(x)
        alone = torch.cat([attn(x[i : i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-6)


def test_without_bias_attention_is_permutation_equivariant():
    """1x1 convolutions act per position and attention without a position bias treats the
    positions as a set: permuting the input's positions permutes the output's alike. The
    relative bias breaks this (a real position-dependent term)."""
    attn = _attention()
    x = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(3))
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(4))

    def permuted(t: torch.Tensor) -> torch.Tensor:
        return t.flatten(2)[:, :, perm].reshape(t.shape)

    with torch.no_grad():
        assert not torch.allclose(attn(permuted(x)), permuted(attn(x)), atol=1e-4)
        attn.bias_table.zero_()
        assert torch.allclose(attn(permuted(x)), permuted(attn(x)), atol=1e-5)


def test_constant_values_pass_through_the_softmax():
    """Attention weights sum to 1 over the keys: when every position has the same value
    vector, each output is that vector (then projected), whatever the logits."""
    attn = _attention(w_in=4, w_out=8, head_width=4)
    x = torch.randn(1, 4, 1, 1, generator=torch.Generator().manual_seed(5)).expand(1, 4, 3, 3)
    with torch.no_grad():
        out = attn(x.contiguous())
    assert torch.allclose(out, out[:, :, :1, :1].expand_as(out), atol=1e-5)


def test_gradient_reaches_the_bias_table():
    attn = _attention()
    attn(torch.randn(2, 4, 3, 3)).square().sum().backward()
    assert attn.bias_table.grad is not None and attn.bias_table.grad.abs().sum() > 0
