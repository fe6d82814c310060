"""Filter-normalised loss landscapes (chapter 7).

Li, Xu, Taylor, Studer, Goldstein (2018), *Visualizing the Loss Landscape of Neural Nets*:
the loss around a trained network θ* is evaluated along random directions whose every filter
is rescaled to the norm of the network's own filter (§4, "filter normalisation"), so that
slices of different networks can be compared; skip connections keep the landscape of a deep
network smooth and convex-looking, while a deep plain network's becomes chaotic (§5, Fig. 5).

- :func:`filter_normalise` and :func:`filter_normalised_direction` — the directions;
- :func:`loss_surface`, :func:`slice_1d` and :func:`slice_2d` — the loss along them (the
  model's weights restored afterwards), on a :func:`grid` of coordinates;
- :func:`sharpness` — how fast the loss rises along a 1-D slice.

Pure functions of networks and data; :mod:`resnet_course.experiments.landscape` runs them on
the reference networks and stores the slices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from resnet_course.training.evaluation import evaluate

__all__ = [
    "Direction", "filter_normalise", "filter_normalised_direction", "grid", "loss_surface", "sharpness", "slice_1d",
    "slice_2d"
]


Direction = list[Tensor]


def filter_normalise(direction: Tensor, weight: Tensor) -> Tensor:
    """Li et al. 2018, §4: scale every filter ``direction[j]`` to the norm of ``weight[j]``; zero for 1-D tensors."""
    if weight.ndim <= 1:
        return torch.zeros_like(direction)
    direction_norms = direction.flatten(1).norm(dim=1).clamp_min(1e-12)
    weight_norms = weight.flatten(1).norm(dim=1)
    return direction * (weight_norms / direction_norms).view(-1, *([1] * (weight.ndim - 1)))


def filter_normalised_direction(model: nn.Module, seed: int = 0) -> Direction:
    """A random direction in weight space with every filter scaled to the norm of the model's (Li et al. §4).

    One tensor per parameter of ``model`` (in ``model.parameters()`` order). Convolution and
    linear weights (``ndim > 1``) get Gaussian noise rescaled filter by filter (a filter is
    one output channel, ``weight[j]``); one-dimensional parameters (BatchNorm's γ and β,
    biases) get zero.
    """
    generator = torch.Generator().manual_seed(seed)
    direction = []
    for parameter in model.parameters():
        weight = parameter.detach().float().cpu()
        noise = torch.randn(weight.shape, generator=generator) if weight.ndim > 1 else torch.zeros_like(weight)
        direction.append(filter_normalise(noise, weight))
    return direction


@torch.no_grad()
def _set_weights(model: nn.Module, origin: Sequence[Tensor], directions: Sequence[Direction],
                 coefficients: Sequence[float]) -> None:
    """Set the model's weights to ``origin + Σ coefficient_k · direction_k``."""
    for index, parameter in enumerate(model.parameters()):
        value = origin[index].clone()
        for direction, coefficient in zip(directions, coefficients):
            value += coefficient * direction[index].to(value.device, value.dtype)
        parameter.copy_(value)


def loss_surface(
    model: nn.Module,
    data: Iterable[tuple[Tensor, Tensor]],
    directions: Sequence[Direction],
    coordinates: Sequence[Sequence[float]],
    *,
    amp: str | bool | None = False,
) -> dict[str, list[float]]:
    """Loss and accuracy of ``model`` at ``θ* + Σ c_k·direction_k`` for each tuple ``c`` of ``coordinates``.

    The model's own weights are restored afterwards, even if an evaluation fails.
    """
    model.eval()
    origin = [p.detach().clone() for p in model.parameters()]
    losses, accuracies = [], []
    try:
        for point in coordinates:
            if len(point) != len(directions):
                raise ValueError(f"a point has {len(point)} coordinates for {len(directions)} directions")
            _set_weights(model, origin, directions, point)
            measured = evaluate(model, data, amp=amp)
            losses.append(measured["loss"])
            accuracies.append(measured["accuracy"])
    finally:
        _set_weights(model, origin, [], [])
    return {"loss": losses, "accuracy": accuracies}


def slice_1d(model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], alphas: Sequence[float], *,
             seed: int = 0, amp: str | bool | None = False) -> dict[str, list[float]]:
    """Loss and accuracy along one filter-normalised direction, at ``θ* + α·δ`` for each α."""
    direction = filter_normalised_direction(model, seed)
    return {"alpha": list(alphas), **loss_surface(model, data, [direction], [(a,) for a in alphas], amp=amp)}


def slice_2d(model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], alphas: Sequence[float], *,
             seed: int = 0, amp: str | bool | None = False) -> dict[str, Any]:
    """Loss and accuracy on the plane of two filter-normalised directions, as ``len(alphas)²`` grids (rows: β)."""
    first, second = filter_normalised_direction(model, seed), filter_normalised_direction(model, seed + 1)
    points = [(a, b) for b in alphas for a in alphas]
    flat = loss_surface(model, data, [first, second], points, amp=amp)
    n = len(alphas)
    return {"alpha": list(alphas), "beta": list(alphas),
            "loss": [flat["loss"][i * n:(i + 1) * n] for i in range(n)],
            "accuracy": [flat["accuracy"][i * n:(i + 1) * n] for i in range(n)]}


def grid(points: int, extent: float = 1.0) -> list[float]:
    """``points`` evenly spaced coordinates from ``-extent`` to ``extent`` (0 included when ``points`` is odd)."""
    if points < 2:
        raise ValueError(f"a slice needs at least 2 points, got {points}")
    return [round(-extent + 2 * extent * i / (points - 1), 6) for i in range(points)]


def sharpness(slice_1d: dict[str, Sequence[float]], radius: float = 0.5) -> dict[str, float]:
    """How fast the loss rises along a 1-D slice: the loss at ``α = ±radius`` against the centre.

    Returns ``{"centre", "left", "right", "increase", "ratio"}``: the loss at α = 0, at
    −radius and +radius (linearly interpolated between the slice's points), the mean
    increase ``(left + right)/2 − centre`` and the ratio ``(left + right)/(2·centre)``. The
    directions are filter-normalised, so the numbers can be compared between networks
    (Li et al. 2018, §4: that is what the normalisation is for). A flat minimum gives a
    ratio near 1, a sharp one a large ratio.
    """
    alpha = [float(a) for a in slice_1d["alpha"]]
    loss = [float(v) for v in slice_1d["loss"]]
    if not (min(alpha) <= -radius and radius <= max(alpha) and min(alpha) <= 0 <= max(alpha)):
        raise ValueError(f"the slice covers α from {min(alpha)} to {max(alpha)}; it must include 0 and ±{radius}")
    if any(b <= a for a, b in zip(alpha, alpha[1:])):
        raise ValueError("the slice's α must increase")

    def at(a: float) -> float:
        """The loss at ``a``, linearly interpolated between the slice's points."""
        for i in range(len(alpha) - 1):
            if alpha[i] <= a <= alpha[i + 1]:
                t = (a - alpha[i]) / (alpha[i + 1] - alpha[i])
                return (1 - t) * loss[i] + t * loss[i + 1]
        return loss[-1]

    centre, left, right = at(0.0), at(-radius), at(radius)
    return {"centre": centre, "left": left, "right": right, "increase": (left + right) / 2 - centre,
            "ratio": (left + right) / (2 * centre) if centre > 0 else math.inf}
