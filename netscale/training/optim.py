"""Optimizers of the recipes, learning-rate setting, and the EMA update."""

from __future__ import annotations

import torch
from torch import nn

from netscale.training.recipe import Recipe
from netscale.training.rmsprop_tf import RMSpropTF

NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def norm_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters (weights and biases) of every norm layer of `model`."""
    return [p for m in model.modules() if isinstance(m, NORM_LAYERS) for p in m.parameters(False)]


def _param_groups(model: nn.Module, recipe: Recipe) -> list[dict]:
    """Weight decay on conv/linear weights only when `no_decay_norm_bias` (norm parameters,
    biases, layer scales and attention bias tables are 1-D or tables, not weights).

    With `norm_lr_scale` s != 1, norm-layer parameters form a group of their own whose
    learning rate is s times the others' (`lr_scale`, read by `set_lr`) and whose weight
    decay is divided by s, so that lr x wd, the decay per step, is the others' (airbench's
    BatchNorm "bias_scaler"). Frozen parameters (requires_grad false) are left out."""
    scale = recipe.norm_lr_scale
    norms = {id(p) for p in norm_parameters(model)} if scale != 1.0 else set()
    decay, no_decay, norm = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) in norms:
            norm.append(p)
        elif recipe.no_decay_norm_bias and (p.ndim <= 1 or name.endswith("bias_table")):
            no_decay.append(p)
        else:
            decay.append(p)
    if not recipe.no_decay_norm_bias:
        groups = [{"params": decay, "weight_decay": recipe.weight_decay}]
    else:
        groups = [
            {"params": decay, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
    if norms:
        wd = 0.0 if recipe.no_decay_norm_bias else recipe.weight_decay / scale
        groups.append({"params": norm, "weight_decay": wd, "lr_scale": scale})
    return groups


def build_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), RMSProp in TensorFlow 1's form (EfficientNet), or AdamW."""
    groups, lr = _param_groups(model, recipe), recipe.scaled_lr()
    if recipe.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            groups,
            lr=lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov and recipe.momentum > 0,
        )
    elif recipe.optimizer == "rmsprop":
        # TensorFlow 1's RMSProp (rmsprop_tf.py): what the papers' lr 0.256 was tuned for.
        optimizer = RMSpropTF(
            groups,
            lr=lr,
            decay=recipe.rmsprop_decay,
            momentum=recipe.momentum,
            eps=recipe.rmsprop_eps,
        )
    else:
        optimizer = torch.optim.AdamW(groups, lr=lr)
    set_lr(optimizer, lr)  # each group's lr_scale applied from the start
    return optimizer


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group: `lr` times the group's `lr_scale`
    (1 unless set: the norm group of a recipe with `norm_lr_scale`)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


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
