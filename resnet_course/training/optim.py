"""Optimisers (He et al. 2015 §3.4, §4.2) and learning-rate schedules.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn

__all__ = ["check_choice", "make_optimizer", "make_schedule", "OPTIMIZERS", "schedule_multiplier", "SCHEDULES"]


# ----------------------------------------------------------------------------------------
# Learning-rate schedules: a multiplier of the base lr for every optimizer step
# ----------------------------------------------------------------------------------------

SCHEDULES = ("paper", "cosine", "onecycle", "constant")


def check_choice(kind: str, name: str, valid: tuple[str, ...]) -> None:
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; choose one of {', '.join(map(repr, valid))}")


def schedule_multiplier(name: str, total_steps: int, warmup_steps: int = 0) -> Callable[[int], float]:
    """The function ``step -> lr / base_lr`` of schedule ``name`` (steps count from 0).

    * ``"paper"``: 1 until 50% of the steps, 0.1 until 75%, then 0.01 -- §4.2's divisions
      by 10 at 32k and 48k of 64k iterations.
    * ``"cosine"``: half a cosine from 1 down to (almost) 0 at the last step.
    * ``"onecycle"``: a triangle -- linear up to 1 at 30% of the steps (or at
      ``warmup_steps`` if given), then linear down to ``1 / (steps after the peak + 1)`` at
      the last step (the triangular one-cycle that airbench uses; torch's ``OneCycleLR`` instead
      anneals with cosines and starts at ``lr / 25``).
    * ``"constant"``: 1.

    Except for ``"onecycle"`` (which ramps up anyway), ``warmup_steps > 0`` multiplies the
    first steps by a linear ramp ``(step + 1) / warmup_steps``.
    """
    check_choice("schedule", name, SCHEDULES)
    total = max(1, int(total_steps))
    warmup = max(0, int(warmup_steps))

    if name == "onecycle":
        peak = warmup if warmup > 0 else max(1, round(0.3 * total))

        def onecycle(step: int) -> float:
            if step < peak:
                return (step + 1) / peak
            return max(total - step, 1) / (total - peak + 1)

        return onecycle

    def main(step: int) -> float:
        if name == "paper":
            return 1.0 if step < 0.5 * total else 0.1 if step < 0.75 * total else 0.01
        if name == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        return 1.0

    def with_warmup(step: int) -> float:
        ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
        return ramp * main(step)

    return with_warmup


def make_schedule(
    name: str, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepping :func:`schedule_multiplier` once per optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule_multiplier(name, total_steps, warmup_steps))


# ----------------------------------------------------------------------------------------
# Optimisers
# ----------------------------------------------------------------------------------------

OPTIMIZERS = ("sgd", "adamw")


def make_optimizer(
    model: nn.Module,
    name: str = "sgd",
    *,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    nesterov: bool = False,
    decay_bn_and_bias: bool = True,
    fused: bool = False,
) -> torch.optim.Optimizer:
    """SGD with momentum (the paper's, §3.4 and §4.2) or AdamW.

    The paper decays every parameter. ``decay_bn_and_bias=False`` exempts the 1-d
    parameters -- batch-norm scales and shifts and all biases -- a common modern tweak:
    decaying a BN scale only changes the effective learning rate of the layer before it.
    ``momentum`` and ``nesterov`` apply to SGD only; AdamW keeps its default betas (it
    wants a far smaller ``lr``, around 1e-3).

    ``fused=True`` updates all parameters in one fused kernel per group (PyTorch's
    ``fused=True``; same arithmetic, fewer launches). ``False`` keeps PyTorch's default
    implementation (``foreach`` on a GPU, a loop over parameters on the CPU).
    """
    check_choice("optimizer", name, OPTIMIZERS)
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_bn_and_bias:
        groups = [{"params": params, "weight_decay": weight_decay}]
    else:
        groups = [
            {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ]
        groups = [g for g in groups if g["params"]]
    implementation = {"fused": True} if fused else {}  # fused=False would also switch foreach off
    if name == "sgd":
        return torch.optim.SGD(
            groups, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, **implementation
        )
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, **implementation)
