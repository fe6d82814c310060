"""The lesion study and the unraveled view of residual networks (chapter 7).

Veit, Wilber, Belongie (2016), *Residual Networks Behave Like Ensembles of Relatively Shallow
Networks*: deleting one block of a trained ResNet barely hurts it, while deleting one layer of
a plain network destroys it (§4, Fig. 3); the error grows smoothly with the number of deleted
blocks (Fig. 5). Unraveled, a network of n residual blocks is a sum over 2^n paths of
binomially distributed lengths (§3, Eq. (5)-(6)), and because every branch shrinks the
gradient that goes through it, most of the gradient flows through short paths (§5, Fig. 6).

- :func:`deletable_blocks`, :func:`blocks_deleted` and :func:`lesion_study` — the lesion study;
- :func:`path_counts`, :func:`path_length_distribution` and :func:`central_lengths` — the
  unraveled view;
- :func:`branch_gains` — how much each residual branch scales the gradient.

The blocks are those :func:`resnet_course.nn.inspection.find_blocks` finds; :func:`branch_gains`
watches them with :func:`~resnet_course.nn.inspection.trace_forward`. Pure functions of networks
and data; :mod:`resnet_course.experiments.lesion` runs them on the reference networks and stores
the results.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from resnet_course.data.loaders import TensorLoader
from resnet_course.lessons.analysis.gradients import preserved_state
from resnet_course.nn.inspection import find_blocks, trace_forward
from resnet_course.training.evaluation import evaluate

__all__ = [
    "blocks_deleted", "branch_gains", "central_lengths", "deletable_blocks", "lesion_study", "path_counts",
    "path_length_distribution"
]


def _keeps_shape(block: nn.Module) -> bool:
    """Whether ``block``'s output has its input's shape: stride 1, as many channels out as in, no shortcut module.

    A shortcut module is a ``downsample`` (the package's blocks, torchvision's) or a ``shortcut``
    other than ``nn.Identity`` (many tutorials' blocks): where there is one, the block reshapes.
    """
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    same_channels = convs[0].in_channels == convs[-1].out_channels
    shortcut = getattr(block, "shortcut", None)
    identity = getattr(block, "downsample", None) is None and (shortcut is None or isinstance(shortcut, nn.Identity))
    return getattr(block, "stride", 1) == 1 and identity and same_channels


def deletable_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The blocks of ``model`` (:func:`~resnet_course.nn.inspection.find_blocks`) that map a tensor to one of
    the same shape (stride 1, no shortcut projection)."""
    return [(name, block) for name, block in find_blocks(model) if _keeps_shape(block)]


@contextlib.contextmanager
def blocks_deleted(model: nn.Module, names: Sequence[str]) -> Iterator[nn.Module]:
    """Inside the block, the named blocks of ``model`` are replaced by ``nn.Identity``; restored afterwards."""
    allowed = {name for name, _ in deletable_blocks(model)}
    refused = [name for name in names if name not in allowed]
    if refused:
        raise ValueError(f"cannot delete {', '.join(refused)}: only blocks that keep the shape can go "
                         f"({', '.join(sorted(allowed)) or 'none in this network'})")
    saved = []
    try:
        for name in names:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            saved.append((parent, child, getattr(parent, child)))
            setattr(parent, child, nn.Identity())
        yield model
    finally:
        for parent, child, block in reversed(saved):
            setattr(parent, child, block)


def lesion_study(
    model: nn.Module,
    data: TensorLoader,
    *,
    samples: int = 3,
    seed: int = 0,
    amp: str | bool | None = False,
) -> dict[str, Any]:
    """Test accuracy of ``model`` intact, with each deletable block deleted, and with k random ones deleted.

    Returns ``{"baseline": acc, "blocks": [names], "single": {name: acc}, "multiple": {k: [acc, ...]}}``
    where ``multiple[k]`` holds ``samples`` accuracies, each with a different random set
    of k blocks deleted (Veit et al. 2016, Fig. 5), for k = 2 … all deletable blocks.
    """
    model.eval()

    def accuracy() -> float:
        """Test accuracy of the network as it is now (blocks deleted or not)."""
        return evaluate(model, data, amp=amp)["accuracy"]

    names = [name for name, _ in deletable_blocks(model)]
    result: dict[str, Any] = {"baseline": accuracy(), "blocks": names, "single": {}, "multiple": {}}
    for name in names:
        with blocks_deleted(model, [name]):
            result["single"][name] = accuracy()
    chooser = random.Random(seed)
    for k in range(2, len(names) + 1):
        draws = samples if k < len(names) else 1  # deleting all of them can be done one way only
        accuracies = []
        for _ in range(draws):
            with blocks_deleted(model, chooser.sample(names, k)):
                accuracies.append(accuracy())
        result["multiple"][str(k)] = accuracies
    return result


# --------------------------------------------------------------------------- the unraveled view (chapter 7)


def path_counts(num_blocks: int) -> list[int]:
    """How many paths of the unraveled network pass through exactly ``k`` residual branches, for k = 0 … n.

    Veit et al. 2016, §3, Eq. (5)-(6): expanding ``y_i = y_{i-1} + f_i(y_{i-1})`` block by
    block turns a network of ``n`` residual blocks into a sum over ``2^n`` paths, one per
    subset of blocks whose branch the path goes through; a path of length ``k`` picks ``k``
    of the ``n`` branches, so there are ``C(n, k)`` of them (Fig. 6(a), the binomial
    distribution). Exact integers: ``sum(path_counts(n)) == 2**n``.
    """
    if num_blocks < 0:
        raise ValueError(f"a network has a non-negative number of blocks, not {num_blocks}")
    return [math.comb(num_blocks, k) for k in range(num_blocks + 1)]


def path_length_distribution(num_blocks: int, branch_gain: float = 1.0) -> list[float]:
    """Share of the paths (``branch_gain=1``) or of a gradient model's magnitude, per path length k = 0 … n.

    With ``branch_gain = g``, a path of length ``k`` is weighted by ``g^k``: the crude model
    "every residual branch a gradient passes through multiplies its size by g" behind Veit et
    al.'s Fig. 6(b), where the gradient reaching the input through a path shrinks roughly
    exponentially with the path's length. The weights ``C(n, k)·g^k`` normalised are the
    binomial distribution with ``p = g / (1 + g)``: for ``g < 1`` the mass moves to short paths.
    """
    if branch_gain < 0:
        raise ValueError(f"branch_gain must be non-negative, got {branch_gain}")
    p = branch_gain / (1.0 + branch_gain)
    return [math.comb(num_blocks, k) * p**k * (1 - p) ** (num_blocks - k) for k in range(num_blocks + 1)]


def central_lengths(distribution: Sequence[float], share: float = 0.95) -> tuple[int, int]:
    """The shortest range of path lengths ``(lo, hi)`` that holds at least ``share`` of ``distribution``.

    For a binomial distribution this is the range around its mode; Veit et al. call the
    lengths that carry most of the gradient the *effective paths* (ResNet-110: 5-17 blocks, §5).
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    total = float(sum(distribution))
    best: tuple[int, float, int, int] | None = None  # (width, -mass, lo, hi): shortest first, then heaviest
    for lo in range(len(distribution)):
        mass = 0.0
        for hi in range(lo, len(distribution)):
            mass += distribution[hi]
            if mass >= share * total * (1 - 1e-12):
                candidate = (hi - lo, -mass, lo, hi)
                best = candidate if best is None or candidate < best else best
                break
    if best is None:
        raise ValueError("the distribution is empty or has no positive mass")
    return best[2], best[3]


def branch_gains(model: nn.Module, images: Tensor, labels: Tensor) -> list[tuple[str, float]]:
    """For every residual block: how much its branch scales the loss gradient, relative to its shortcut.

    One forward and backward pass of the cross-entropy loss in evaluation mode. At each
    block ``y = ReLU(F(x) + s(x))`` the gradient ``g`` arriving at ``y`` is passed back
    through the ReLU, then once through the residual branch only (``J_F^T g'``) and once
    through the shortcut only (``J_s^T g'``); the gain is the ratio of their norms. A gain
    below one means a path gets weaker each time it goes through a branch rather than
    around it — the effect that makes short paths carry most of the gradient (Veit et al.
    2016, §5, Fig. 6(b)). Blocks without a shortcut (plain twins) are skipped.
    """
    blocks = [(name, block) for name, block in find_blocks(model, residual_only=True) if hasattr(block, "residual")]
    gains = []
    with preserved_state(model), torch.enable_grad():  # mode, BN statistics and .grad given back afterwards
        model.eval()
        with trace_forward(model, blocks, keep_tensors=True) as trace:
            logits = model(images)
        calls = {call.name: call for call in trace}  # each block's (last) call: its input and its output
        for call in calls.values():
            call.output.retain_grad()
        nn.functional.cross_entropy(logits, labels).backward()
        for name, block in blocks:
            output, block_input = calls[name].output, calls[name].inputs[0].detach()
            grad = output.grad * (output > 0)  # back through the ReLU after the addition
            x = block_input.clone().requires_grad_(True)
            (through_branch,) = torch.autograd.grad(block.residual(x), x, grad)
            x = block_input.clone().requires_grad_(True)
            shortcut = x if block.downsample is None else block.downsample(x)
            (through_shortcut,) = torch.autograd.grad(shortcut, x, grad)
            gains.append((name, (through_branch.norm() / through_shortcut.norm().clamp_min(1e-30)).item()))
    return gains
