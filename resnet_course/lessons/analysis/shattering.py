"""Shattered gradients for chapter 2.

Balduzzi, Frean, Leary, Lewis, Ma, McWilliams (2017), *The Shattered Gradients Problem: If
resnets are the answer, then what is the question?*: the gradient of a deep plain network
with respect to its input looks like white noise — neighbouring inputs get unrelated
gradients — while a residual network's looks like brown noise (§2, Fig. 1 and 2).
:func:`gradient_shattering` measures it along a line through input space,
:func:`shattering_sweep` for several kinds and depths of network; :func:`neighbour_correlation`
and :func:`autocorrelation` are the two measures.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.lessons.analysis.gradients import model_name, seeded_model

__all__ = [
    "Shattering",
    "autocorrelation",
    "calibrate_batchnorm",
    "gradient_shattering",
    "neighbour_correlation",
    "resize_images",
    "shattering_sweep"
]


# --------------------------------------------------------------------------- gradient shattering


def calibrate_batchnorm(model: nn.Module, inputs: Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics to those of ``inputs`` and switch to eval mode.

    After this the network normalises each layer as in training, but every input is
    processed on its own (no batch coupling), so the gradient of one output with
    respect to one input is a well-defined per-point quantity. Returns the model.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch gives exactly its statistics
    model.train()
    with torch.no_grad():
        model(inputs)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    return model.eval()


@dataclass
class Shattering:
    """Input gradients along a line through input space (Balduzzi et al. 2017)."""

    t: Tensor  # positions along the line, shape (n_points,)
    directional: Tensor  # d/dt of the output unit along the line, shape (n_points,)
    neighbour_correlation: float  # mean cosine similarity of full input gradients at neighbouring points
    autocorrelation: Tensor  # correlation of `directional` with itself at lags 0 … max_lag
    label: str = ""
    extra: dict = field(default_factory=dict)


def neighbour_correlation(grads: Tensor) -> float:
    """Mean cosine similarity between consecutive rows of ``grads`` (n × d): 1 = smooth, 0 = white noise."""
    flat = grads.reshape(grads.shape[0], -1)
    if flat.shape[0] < 2:
        raise ValueError("need gradients at two or more points")
    return float(F.cosine_similarity(flat[:-1], flat[1:], dim=1).mean())


def autocorrelation(signal: Tensor, max_lag: int) -> Tensor:
    """Pearson correlation of ``signal[i]`` with ``signal[i + k]`` for k = 0 … max_lag."""
    s = signal.double()
    values = []
    for k in range(max_lag + 1):
        a, b = s[: len(s) - k], s[k:]
        a, b = a - a.mean(), b - b.mean()
        denominator = a.norm() * b.norm()
        values.append(float(a @ b / denominator) if denominator > 0 else 0.0)
    return torch.tensor(values)


def gradient_shattering(
    model: nn.Module,
    *,
    n_points: int = 256,
    image_size: int = 16,
    start: Tensor | None = None,
    end: Tensor | None = None,
    calibration: Tensor | None = None,
    output_unit: int = 0,
    max_lag: int = 32,
    seed: int = 0,
    batch_size: int = 256,
) -> Shattering:
    """Gradients of one output unit with respect to the input, at ``n_points`` along a line (Balduzzi et al. 2017).

    The paper feeds a one-dimensional input sweep to fully connected networks and looks at
    the gradient as a function of the input: for deep plain networks it is like white
    noise (neighbouring points get unrelated gradients — "shattered"), for residual
    networks like brown noise (correlated over a distance). Here the CIFAR networks see
    the points ``x(t) = (1 − t)·start + t·end`` for t in [0, 1] (a straight line between
    two images; by default two seeded Gaussian images of ``image_size``²), which is a 1-D
    input to the network restricted to that line.

    BatchNorm is first calibrated on ``calibration`` (default: the line's points) and then
    used in eval mode, so each point is processed on its own. Returned: the directional
    derivative d f(x(t))/dt at every point, the mean cosine similarity of the full input
    gradients at neighbouring points, and the autocorrelation of the directional
    derivative over ``max_lag`` lags. A copy of the model is used; the model is unchanged.
    Deterministic for a given ``seed``.
    """
    if n_points < 2:
        raise ValueError("n_points must be at least 2")
    t, start, end, points = _line(model, n_points, image_size, start, end, seed)
    net = copy.deepcopy(model)
    calibrate_batchnorm(net, points if calibration is None else calibration.to(points.device))
    gradients = _input_gradients(net, points, output_unit, batch_size)
    directional = (gradients * (end - start)).flatten(1).sum(1)
    return Shattering(
        t=t,
        directional=directional.cpu(),
        neighbour_correlation=neighbour_correlation(gradients),
        autocorrelation=autocorrelation(directional, min(max_lag, n_points - 2)),
        label=getattr(model, "arch", type(model).__name__),
    )


def shattering_sweep(
    kinds: Sequence[str],
    depths: Sequence[int],
    images: Tensor,
    *,
    image_size: int = 8,
    n_points: int = 256,
    pair: tuple[int, int] = (0, 1),
    seed: int = 0,
) -> dict[tuple[str, int], Shattering]:
    """:func:`gradient_shattering` of fresh networks for every (kind, depth), on a line between two real images.

    ``images`` (N×3×32×32, normalised; N ≥ 2) are average-pooled to ``image_size``² (the
    CIFAR networks are fully convolutional, so they accept any size; smaller is cheaper).
    The line runs from ``images[pair[0]]`` to ``images[pair[1]]``, and every network's
    BatchNorm is calibrated on all of ``images``, so it normalises as it would on data.
    Runs on the device of ``images``.
    """
    small = resize_images(images, image_size)
    start, end = small[pair[0]], small[pair[1]]
    results = {}
    for kind in kinds:
        for depth in depths:
            model = seeded_model(kind, depth, seed).to(images.device)
            results[(kind, depth)] = gradient_shattering(model, n_points=n_points, start=start, end=end,
                                                         calibration=small, seed=seed)
            results[(kind, depth)].label = model_name(kind, depth)
    return results


def _line(model: nn.Module, n_points: int, image_size: int, start: Tensor | None, end: Tensor | None,
          seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``t``, the line's two ends and its points ``(1 − t)·start + t·end`` on the model's device.

    Missing ends are seeded Gaussian images of the model's input channels and ``image_size``².
    """
    generator = torch.Generator().manual_seed(seed)
    shape = (_input_channels(model), image_size, image_size)
    if start is None:
        start = torch.randn(shape, generator=generator)
    if end is None:
        end = torch.randn(shape, generator=generator)
    start, end = start.reshape(1, *start.shape[-3:]).cpu(), end.reshape(1, *end.shape[-3:]).cpu()
    t = torch.linspace(0.0, 1.0, n_points)
    points = (1 - t).view(-1, 1, 1, 1) * start + t.view(-1, 1, 1, 1) * end
    device = next(model.parameters()).device
    return t, start.to(device), end.to(device), points.to(device)


def _input_gradients(net: nn.Module, points: Tensor, output_unit: int, batch_size: int) -> Tensor:
    """∂ net(x)[output_unit] / ∂x at every point, in batches; ``net``'s parameters stop requiring gradients."""
    for p in net.parameters():
        p.requires_grad_(False)
    grads = []
    for chunk in points.split(batch_size):
        x = chunk.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(net(x)[:, output_unit].sum(), x)
        grads.append(grad)
    return torch.cat(grads)


def resize_images(images: Tensor, size: int) -> Tensor:
    """Average-pool (or, for a size that does not divide, bilinearly resize) N×C×H×W images to size×size."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    if images.shape[-1] % size == 0 and images.shape[-2] % size == 0:
        return F.avg_pool2d(images, (images.shape[-2] // size, images.shape[-1] // size))
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _input_channels(model: nn.Module) -> int:
    """The input channels of the model's first convolution."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    raise ValueError("the model has no nn.Conv2d layer to read the input channels from")
