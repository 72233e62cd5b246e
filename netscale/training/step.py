"""One training step as a pure update: (model, optimizer, EMA, a batch, the step's learning
rate and settings) -> the loss, with the parameters, optimizer state and EMA updated. It
reads no run state and draws no randomness of its own (the caller seeds dropout and
augmentation from (seed, epoch, step, rank))."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from netscale.training.optim import ema_decay_at, set_lr, update_ema


def update(
    model: nn.Module,
    train_model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: nn.Module | None,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    autocast: torch.dtype | None,
    grad_clip: float = 0.0,
    ema_decay: float = 0.0,
    ema_step: int | None = None,
) -> torch.Tensor:
    """One optimizer step on images `x` (B, C, H, W) and soft targets `y` (B, classes);
    returns the detached mean loss. `train_model` is `model` or its DDP wrapper; `autocast`
    the autocast dtype (None: fp32); `grad_clip` the max global grad norm (0: off);
    `ema_step` the optimizer steps taken, this one included: given, the EMA decay warms up
    as min(ema_decay, (1 + ema_step) / (10 + ema_step)) (optim.ema_decay_at)."""
    set_lr(optimizer, lr)
    with torch.autocast(x.device.type, dtype=autocast, enabled=autocast is not None):
        logits = train_model(x)
    loss = torch.sum(-y * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    if ema is not None:
        decay = ema_decay if ema_step is None else ema_decay_at(ema_decay, ema_step)
        update_ema(ema, model, decay)
    return loss.detach()
