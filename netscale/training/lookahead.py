"""Lookahead (Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step back") in the
form airbench uses for fast CIFAR-10 training: a slow copy of the weights that, every `k`
steps, moves toward the fast (trained) weights, which are then reset to it.

Every k steps from the recipe's start on: slow = rho * slow + (1 - rho) * fast, fast = slow,
with rho = lookahead_decay ** k * (step / steps) ** lookahead_power: averaging is weak early
and strong at the end. The slow copy covers every floating-point parameter and buffer
(BatchNorm statistics too); at the end of each epoch the model takes the slow weights, so
at an epoch boundary slow == fast and a checkpoint needs no copy of its own: a resumed run
starts its slow copy from the restored model, exactly as an uninterrupted one holds it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from netscale.training.recipe import Recipe


def _tensors(model: nn.Module) -> list[torch.Tensor]:
    """The floating-point parameters and buffers of `model`, in state-dict order."""
    return [t for t in model.state_dict(keep_vars=True).values() if t.is_floating_point()]


class Lookahead:
    """The slow weights of `model` (a copy of its floating-point state when made)."""

    def __init__(self, model: nn.Module) -> None:
        self.slow = [t.detach().clone() for t in _tensors(model)]

    @torch.no_grad()
    def sync(self, model: nn.Module, rho: float) -> None:
        """slow = rho * slow + (1 - rho) * fast, then fast = slow."""
        fast = [t.detach() for t in _tensors(model)]
        torch._foreach_lerp_(self.slow, fast, 1.0 - rho)
        torch._foreach_copy_(fast, self.slow)


def start_step(recipe: Recipe, steps_per_epoch: int) -> int:
    """The first optimizer step (1-based count) lookahead may act at."""
    return math.ceil(recipe.lookahead_start_epochs * steps_per_epoch)


def lookahead_rho(recipe: Recipe, step: int, total_steps: int) -> float:
    """The slow weights' share after `step` of `total_steps` optimizer steps."""
    k = recipe.lookahead_every
    return recipe.lookahead_decay**k * (step / total_steps) ** recipe.lookahead_power
