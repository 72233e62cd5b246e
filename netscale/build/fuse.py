"""Inference optimization: fold BatchNorm into the adjacent convolution, channels_last.

In eval mode a BatchNorm is a fixed per-channel affine map z = s * y + t with
s = gamma / sqrt(running_var + eps) and t = beta - s * running_mean (Ioffe & Szegedy 2015,
Algorithm 2). After a conv y = W * x + b it folds exactly into W' = s[o] * W[o] and
b' = s * b + t. Before a 1x1 conv without padding (CoAtNet's pre-norm MBConv) it folds into
the conv's input channels: W'[o, i] = W[o, i] * s[i], b'[o] = b[o] + sum_i W[o, i] * t[i].
A conv with padding cannot absorb a preceding BN, because the zeros it pads are not
normalized. A BN after conv -> max-pool (airbench's conv_pool block) folds into the conv
when every scale s is >= 0: max-pooling commutes with a per-channel non-decreasing affine
map, bn(pool(y)) = pool(bn(y)). With a negative scale it would not (the max becomes a min),
so that BN stays, unfolded (in eval mode, a fixed per-channel affine map).

Which BN follows which conv is read from the layer plan each netscale block and chain carries
(`module.plan`, netscale/plan: the layers its forward applies in order), and from
`nn.Sequential`s (a Conv2d directly followed by a BatchNorm2d). A BatchNorm that no rule
places is an error: folding by guess could silently change the outputs.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn

from netscale.nn.layers import Chain, PlannedBlock
from netscale.plan.layers import Layer, Pool

_BN = (nn.BatchNorm2d, nn.SyncBatchNorm)  # eval mode: running statistics, foldable


class FuseError(ValueError):
    """A module that `optimize_for_inference` cannot take (its message says why)."""


def optimize_for_inference(model: nn.Module, *, channels_last: bool = True) -> nn.Module:
    """A copy of `model` for inference: eval mode, every BatchNorm folded into its conv,
    ConvNeXt's layer scale folded into the last linear, weights in channels_last. (A BN
    after conv -> max-pool folds only when none of its scales is negative; else it stays.)

    The input is not modified. Outputs equal the original's (eval mode) within fp32
    rounding. The copy keeps its class (a netscale `Net` keeps `.spec`), but its state dict
    has no BN entries and folded convs gain a bias. It is for inference only: training it
    would train a different (normalization-free) network. Feed channels_last inputs for
    the full speed-up. Raises `FuseError` (a ValueError) for a compiled or scripted
    module, parameters without data (meta device), a BatchNorm without running statistics,
    or a BatchNorm it cannot place next to a conv.
    """
    _check_input(model)
    out = copy.deepcopy(model).eval()
    kept: set[int] = set()  # BNs after a max-pool with a negative scale: left as they are
    with torch.no_grad():
        for module in list(out.modules()):
            kept.update(id(bn) for bn in _fold_children(module))
    left = [
        name
        for name, m in out.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in kept
    ]
    if left:
        raise FuseError(
            f"optimize_for_inference cannot fold {len(left)} BatchNorm layer(s) of "
            f"{type(model).__name__} ({', '.join(left[:5])}{', ...' if len(left) > 5 else ''}): "
            "it folds netscale blocks and Conv2d -> BatchNorm2d pairs in nn.Sequential"
        )
    if channels_last:
        out = out.to(memory_format=torch.channels_last)
    return out


def _check_input(model: object) -> None:
    """Reject what cannot be copied and folded, with the reason and what to pass instead."""
    if not isinstance(model, nn.Module):
        raise FuseError(f"optimize_for_inference needs an nn.Module, got {type(model).__name__}")
    if isinstance(model, torch.jit.ScriptModule):
        raise FuseError(
            "optimize_for_inference cannot take a TorchScript module; pass the eager one"
        )
    if hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
        raise FuseError(
            "optimize_for_inference cannot take a torch.compile'd module; pass the module "
            "before compiling, then compile the result"
        )
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.is_meta:
            raise FuseError(
                f"{name} is on the meta device (no data to fold); build on a real device"
            )
    for name, m in model.named_modules():
        is_bn = isinstance(m, nn.modules.batchnorm._BatchNorm)
        if is_bn and (m.running_mean is None or m.running_var is None):
            raise FuseError(
                f"{name} has no running statistics (track_running_stats=False), so it "
                "normalizes with batch statistics in eval mode and cannot be folded"
            )


def _planned_sequences(module: nn.Module) -> list[tuple[Layer, ...]]:
    """The layer sequences `module`'s forward applies in order, from its plan."""
    if isinstance(module, Chain):
        return [module.plan]
    if isinstance(module, PlannedBlock):
        return [module.plan.pre, *(res.branch for res in module.plan.residuals)]
    return []


def _fold_pair(module: nn.Module, first: str, second: str, *, before: bool) -> None:
    """Fold the pair of children (`first`, `second`) that `module` applies in a row:
    a BN after a conv, a layer scale after a linear, or (before=True) a BN before a conv."""
    a, b = getattr(module, first, None), getattr(module, second, None)
    if before:
        if isinstance(a, _BN) and isinstance(b, nn.Conv2d) and _foldable_before(b):
            _fold_before(a, b)  # CoAtNet's pre-norm BN before a 1x1 conv
            setattr(module, first, nn.Identity())
    elif isinstance(a, nn.Conv2d) and isinstance(b, _BN):
        _fold_after(a, b)
        setattr(module, second, nn.Identity())
    elif isinstance(a, nn.Linear) and isinstance(b, nn.Parameter):
        _fold_scale(a, b)  # ConvNeXt's layer scale: y * gamma after fc2 (sec. 2.6)
        setattr(module, second, None)


def _fold_through_pool(module: nn.Module, first: str, pool: Layer, third: str) -> bool:
    """Fold bn(max_pool(conv(x))) (children `first`, `pool`, `third` in a row) into the conv
    when the BN's scales are all >= 0; False when such a BN must stay."""
    conv, bn = getattr(module, first, None), getattr(module, third, None)
    if not (isinstance(pool, Pool) and pool.kind.startswith("max")):
        return True
    if not (isinstance(conv, nn.Conv2d) and isinstance(bn, _BN)):
        return True
    scale, _ = _bn_affine(bn)
    if bool((scale < 0).any()):
        return False
    _fold_after(conv, bn)  # pool(s * y + t) = s * pool(y) + t for s >= 0
    setattr(module, third, nn.Identity())
    return True


def _fold_children(module: nn.Module) -> list[nn.Module]:
    """Fold the BatchNorms (and layer scales) among `module`'s direct children that a rule
    places: BNs after convs (directly or through a max-pool) first, then BNs before convs
    (the order fixes the rounding). Returns the BNs after a max-pool left unfolded."""
    kept = []
    for layers in _planned_sequences(module):
        for first, pool, third in zip(layers, layers[1:], layers[2:], strict=False):
            if not _fold_through_pool(module, first.name, pool, third.name):
                kept.append(getattr(module, third.name))
    for before in (False, True):
        for layers in _planned_sequences(module):
            for first, second in itertools.pairwise(layers):
                _fold_pair(module, first.name, second.name, before=before)
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for prev, name in itertools.pairwise(names):
            conv, bn = module._modules[prev], module._modules[name]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, _BN):
                _fold_after(conv, bn)
                module._modules[name] = nn.Identity()
    return kept


def _bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, t) of the eval-mode BN as z = s * y + t, in float64 for an exact fold."""
    var = bn.running_var.double()
    mean = bn.running_mean.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
    s = gamma / torch.sqrt(var + bn.eps)
    return s, beta - s * mean


def _set_bias(conv: nn.Conv2d | nn.Linear, bias: torch.Tensor) -> None:
    """Write `bias` into the layer, creating the parameter when it had none."""
    value = bias.to(conv.weight.dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(value, requires_grad=conv.weight.requires_grad)
    else:
        conv.bias.copy_(value)


def _fold_after(conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """bn(conv(x)) -> conv'(x): scale output channels, shift the bias."""
    s, t = _bn_affine(bn)
    w = conv.weight.double() * s.reshape(-1, 1, 1, 1)  # (C_out, C_in / g, k, k)
    b = conv.bias.double() if conv.bias is not None else torch.zeros_like(s)
    conv.weight.copy_(w.to(conv.weight.dtype))
    _set_bias(conv, s * b + t)


def _foldable_before(conv: nn.Conv2d) -> bool:
    """A conv can absorb a BatchNorm before it only when dense and unpadded."""
    return conv.groups == 1 and all(p == 0 for p in conv.padding)


def _fold_before(bn: nn.modules.batchnorm._BatchNorm, conv: nn.Conv2d) -> None:
    """conv(bn(x)) -> conv'(x) for a dense conv without padding: scale input channels."""
    if not _foldable_before(conv):
        raise FuseError("a BatchNorm before a padded or grouped conv cannot be folded")
    s, t = _bn_affine(bn)
    w = conv.weight.double()  # (C_out, C_in, k, k)
    b = conv.bias.double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype)
    b = b + (w * t.reshape(1, -1, 1, 1)).sum((1, 2, 3))
    conv.weight.copy_((w * s.reshape(1, -1, 1, 1)).to(conv.weight.dtype))
    _set_bias(conv, b)


def _fold_scale(linear: nn.Linear, scale: torch.Tensor) -> None:
    """linear(x) * scale -> linear'(x): scale output rows and the bias."""
    s = scale.double()
    linear.weight.copy_((linear.weight.double() * s[:, None]).to(linear.weight.dtype))
    b = linear.bias.double() if linear.bias is not None else torch.zeros_like(s)
    _set_bias(linear, b * s)
