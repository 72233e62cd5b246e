"""2-D multi-head self-attention with a relative-position bias (CoAtNet eq. 3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def relative_position_index(h: int, w: int) -> torch.Tensor:
    """(h*w, h*w) indices into a ((2h-1) * (2w-1))-row table of relative offsets."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack((ys.flatten(), xs.flatten()))  # (2, N)
    rel = coords[:, :, None] - coords[:, None, :]  # (2, N, N)
    return (rel[0] + h - 1) * (2 * w - 1) + (rel[1] + w - 1)


class RelativeAttention(nn.Module):
    """Multi-head self-attention over all positions of a feature map with a learned bias per
    head and relative offset (CoAtNet eq. 3). The bias table is sized for `size` x `size`
    maps; other sizes interpolate it bilinearly (any input resolution works)."""

    def __init__(self, w_in: int, w_out: int, *, head_width: int, size: int) -> None:
        super().__init__()
        self.num_heads, self.head_width = w_out // head_width, head_width
        self.qkv = nn.Conv2d(w_in, 3 * w_out, 1)  # channels: (head, q|k|v, head_width)
        self.bias_table = nn.Parameter(torch.zeros((2 * size - 1) ** 2, self.num_heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self.size = size
        self.register_buffer("index", relative_position_index(size, size), persistent=False)
        self.proj = nn.Conv2d(w_out, w_out, 1)

    def bias(self, h: int, w: int) -> torch.Tensor:
        """(heads, h*w, h*w) attention bias for an h x w map."""
        table, index = self.bias_table, self.index
        if (h, w) != (self.size, self.size):
            grid = table.t().reshape(1, self.num_heads, 2 * self.size - 1, 2 * self.size - 1)
            grid = F.interpolate(
                grid, size=(2 * h - 1, 2 * w - 1), mode="bilinear", align_corners=True
            )
            table = grid.reshape(self.num_heads, -1).t()
            index = relative_position_index(h, w).to(table.device)
        n = h * w
        return table[index.reshape(-1)].reshape(n, n, self.num_heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        qkv = self.qkv(x).reshape(b, self.num_heads, 3 * self.head_width, h * w)
        q, k, v = qkv.chunk(3, dim=2)  # each (B, heads, head_width, N)
        attn = (q.transpose(-2, -1) * self.head_width**-0.5) @ k  # (B, heads, N, N)
        attn = (attn + self.bias(h, w)).softmax(dim=-1)
        out = v @ attn.transpose(-2, -1)  # (B, heads, head_width, N)
        return self.proj(out.reshape(b, -1, h, w))
