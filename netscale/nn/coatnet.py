"""CoAtNet (Dai et al. 2021) blocks: pre-norm MBConv and the transformer block with 2-D
relative attention. Layouts follow the paper (sec. 3) as timm's `coatnet_*` models do."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from netscale.nn.blocks import DropPath, LayerNorm2d, SqueezeExcite, conv2d, make_act


class PoolShortcut(nn.Module):
    """Residual path of a downsampling block: 2x2 avg-pool (stride 2), then a 1x1 conv with
    bias if the width changes (CoAtNet sec. 3.4: "pooling on the residual path")."""

    def __init__(self, w_in: int, w_out: int, stride: int) -> None:
        super().__init__()
        self.pool: nn.Module = nn.Identity()
        if stride > 1:
            self.pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
        self.conv = nn.Conv2d(w_in, w_out, 1) if w_in != w_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class PreNormMBConv(nn.Module):
    """BN -> 1x1 expand + BN + act -> kxk depthwise (stride) + BN + act -> SE -> 1x1 project
    (bias), added to the pooled shortcut. Inner and SE widths derive from the output width."""

    def __init__(
        self,
        w_in: int,
        w_out: int,
        *,
        stride: int,
        kernel: int,
        inner: int,
        se_width: int,
        act: str,
        drop_path_rate: float,
        eps: float,
    ) -> None:
        super().__init__()
        self.shortcut = (
            PoolShortcut(w_in, w_out, stride) if stride != 1 or w_in != w_out else nn.Identity()
        )
        self.pre_norm = nn.BatchNorm2d(w_in, eps=eps)
        self.conv1 = conv2d(w_in, inner, 1)
        self.bn1 = nn.BatchNorm2d(inner, eps=eps)
        self.act1 = make_act(act)
        self.conv2 = conv2d(inner, inner, kernel, stride=stride, groups=inner)
        self.bn2 = nn.BatchNorm2d(inner, eps=eps)
        self.act2 = make_act(act)
        # SE with SiLU, as timm's CoAtNets (the paper does not specify it)
        self.se_mid = SqueezeExcite(inner, se_width, "silu") if se_width else nn.Identity()
        self.conv3 = conv2d(inner, w_out, 1, bias=True)
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv1(self.pre_norm(x))))  # (B, inner, H, W)
        y = self.se_mid(self.act2(self.bn2(self.conv2(y))))  # (B, inner, H/s, W/s)
        return self.shortcut(x) + self.drop_path(self.conv3(y))


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


class TransformerBlock(nn.Module):
    """Pre-norm transformer block on a 2-D map: x + attn(pool(LN(x))), then x + MLP(LN(x)).
    A downsampling first block pools on the branch and pools + projects the residual."""

    def __init__(
        self,
        w_in: int,
        w_out: int,
        *,
        stride: int,
        head_width: int,
        inner: int,
        size: int,
        act: str,
        drop_path_rate: float,
        eps: float,
    ) -> None:
        super().__init__()
        self.shortcut = (
            PoolShortcut(w_in, w_out, stride) if stride != 1 or w_in != w_out else nn.Identity()
        )
        self.norm1 = LayerNorm2d(w_in, eps=eps)
        self.pool: nn.Module = nn.Identity()
        if stride > 1:
            self.pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
        self.attn = RelativeAttention(w_in, w_out, head_width=head_width, size=size)
        self.norm2 = LayerNorm2d(w_out, eps=eps)
        self.fc1 = nn.Conv2d(w_out, inner, 1)
        self.act = make_act(act)
        self.fc2 = nn.Conv2d(inner, w_out, 1)
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shortcut(x) + self.drop_path(self.attn(self.pool(self.norm1(x))))
        return x + self.drop_path(self.fc2(self.act(self.fc1(self.norm2(x)))))
