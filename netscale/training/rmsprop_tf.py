"""RMSProp as TensorFlow 1's `tf.train.RMSPropOptimizer` computes it: the optimizer of the
official EfficientNet (tensorflow/tpu models/official/efficientnet, utils.build_optimizer)
and EfficientNetV2 (google/automl efficientnetv2) training code.

Per parameter p with gradient g (TF's ApplyRMSProp kernel, training_ops.cc)::

    g   = g + weight_decay * p            # the official code's L2 term, wd * l2_loss(p)
    ms  = ms + (g**2 - ms) * (1 - decay)  # = decay * ms + (1 - decay) * g**2; ms starts at 1
    mom = momentum * mom + lr * g / sqrt(ms + eps)
    p   = p - mom

It differs from `torch.optim.RMSprop` in three ways that change what a learning rate means:
epsilon is added inside the square root, the mean square starts at one (not zero), and the
learning rate is applied inside the momentum buffer (a changed lr acts on new gradients only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class RMSpropTF(torch.optim.Optimizer):
    """TF1-style RMSProp (module docstring). Group keys: lr, decay, momentum, eps,
    weight_decay. State per parameter: `square_avg` (ms) and `momentum_buffer` (mom)."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float,
        decay: float = 0.9,
        momentum: float = 0.9,
        eps: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        for name, value, low, high in (
            ("lr", lr, 0.0, float("inf")),
            ("decay", decay, 0.0, 1.0),
            ("momentum", momentum, 0.0, 1.0),
            ("eps", eps, 0.0, float("inf")),
            ("weight_decay", weight_decay, 0.0, float("inf")),
        ):
            if not low <= value < high:
                raise ValueError(
                    f"RMSpropTF {name}={value!r} is invalid: must lie in [{low}, {high})"
                )
        defaults = dict(lr=lr, decay=decay, momentum=momentum, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _init_group(self, group: dict[str, Any]) -> tuple[list, list, list, list]:
        """The group's parameters that have a gradient, their gradients, mean squares and
        momentum buffers (created on the first step: ms ones, mom zeros)."""
        params, grads, squares, buffers = [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("RMSpropTF does not support sparse gradients")
            state = self.state[p]
            if not state:
                state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            squares.append(state["square_avg"])
            buffers.append(state["momentum_buffer"])
        return params, grads, squares, buffers

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter with a gradient (formula: module docstring)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, squares, buffers = self._init_group(group)
            if not params:
                continue
            if group["weight_decay"]:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            torch._foreach_lerp_(squares, torch._foreach_mul(grads, grads), 1.0 - group["decay"])
            denom = torch._foreach_add(squares, group["eps"])
            torch._foreach_sqrt_(denom)
            torch._foreach_mul_(buffers, group["momentum"])
            torch._foreach_addcdiv_(buffers, grads, denom, value=group["lr"])
            torch._foreach_sub_(params, buffers)
        return loss
