"""Optimizers of the recipes, learning-rate setting, and the EMA update."""

from __future__ import annotations

import torch
from torch import nn

from netscale.training.recipe import Recipe
from netscale.training.rmsprop_tf import RMSpropTF


def _param_groups(model: nn.Module, recipe: Recipe) -> list[dict]:
    """Weight decay on conv/linear weights only when `no_decay_norm_bias` (norm parameters,
    biases, layer scales and attention bias tables are 1-D or tables, not weights)."""
    if not recipe.no_decay_norm_bias:
        return [
            {
                "params": [p for p in model.parameters() if p.requires_grad],
                "weight_decay": recipe.weight_decay,
            }
        ]
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith("bias_table") else decay).append(p)
    return [
        {"params": decay, "weight_decay": recipe.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), RMSProp in TensorFlow 1's form (EfficientNet), or AdamW."""
    groups, lr = _param_groups(model, recipe), recipe.scaled_lr()
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            lr=lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov and recipe.momentum > 0,
        )
    if recipe.optimizer == "rmsprop":
        # TensorFlow 1's RMSProp (rmsprop_tf.py): what the papers' lr 0.256 was tuned for.
        return RMSpropTF(
            groups,
            lr=lr,
            decay=recipe.rmsprop_decay,
            momentum=recipe.momentum,
            eps=recipe.rmsprop_eps,
        )
    return torch.optim.AdamW(groups, lr=lr)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def ema_decay_at(decay: float, step: int) -> float:
    """The warmed-up EMA decay after `step` optimizer steps (this one included):
    min(decay, (1 + step) / (10 + step)), as tf.train.ExponentialMovingAverage(decay,
    num_updates=global_step) computes it in the official EfficientNet, EfficientNetV2 and
    ResNet-RS code (applied after the optimizer step, global_step already incremented)."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * model for parameters; buffers are copied. One
    multi-tensor op each (a single fused kernel per dtype on CUDA, not one per tensor)."""
    e_params, m_params = list(ema.parameters()), [p.detach() for p in model.parameters()]
    if len(e_params) != len(m_params):
        raise ValueError(f"EMA has {len(e_params)} parameters, the model {len(m_params)}")
    torch._foreach_lerp_(e_params, m_params, 1.0 - decay)
    e_bufs, m_bufs = list(ema.buffers()), list(model.buffers())
    if len(e_bufs) != len(m_bufs):
        raise ValueError(f"EMA has {len(e_bufs)} buffers, the model {len(m_bufs)}")
    torch._foreach_copy_(e_bufs, m_bufs)
