"""Training speed of several networks, measured fairly on a machine that may be doing other work (chapter 8).

Timing networks one after the other gives the later ones whatever load the machine happens
to carry at that moment. :func:`training_step_rates` interleaves them instead: in every round
each network does one training step (forward, loss, backward, SGD update) on the same batch,
in turn, and the result is each network's median over the rounds. A slow-down that lasts
longer than a round slows every network alike, so the *ratios* between networks — what the
chapter compares — survive it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping

import torch
from torch import Tensor, nn

__all__ = ["training_step_rates"]


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()


def training_step_rates(models: Mapping[str, nn.Module], images: Tensor, labels: Tensor, *, rounds: int = 5,
                        warmup: int = 1) -> dict[str, float]:
    """Images per second of one training step of each model, the median of ``rounds`` interleaved rounds.

    The models are trained in place (a few SGD steps with learning rate 0.01: measure
    copies if that matters). ``warmup`` rounds run first and are not timed.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    device = images.device
    optimizers = {name: torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) for name, model in models.items()}
    for model in models.values():
        model.train()
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(warmup + rounds):
        for name, model in models.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            _step(model, optimizers[name], images, labels)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: len(images) / statistics.median(seconds) for name, seconds in times.items()}
