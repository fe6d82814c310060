"""Chapter 2 (residual learning): self-checks.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.exercises.checking import (
    call_checked,
    fail,
    name_of,
    passed,
    small_and_fast,
)

__all__ = ["check_neighbour_correlation", "check_residual", "reference_neighbour_correlation", "ReferenceResidual"]


# ======================================================================================
# Chapter 2: residual learning
# ======================================================================================

# --------------------------------------------------------------------------- Residual(branch)


class ReferenceResidual(nn.Module):
    """The reference solution of ``ex-ch2-residual-wrapper``: ``y = x + F(x)``."""

    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        self.branch = branch

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


def _test_branch(channels: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, padding=1))


@small_and_fast
def check_residual(residual_cls: Callable[[nn.Module], nn.Module]) -> None:
    """Check a residual wrapper ``residual_cls(branch)`` whose forward returns ``x + branch(x)``.

    In order: it builds and is an ``nn.Module``; the branch's parameters are registered; the
    output has the input's shape; the input is not modified in place; the output equals
    ``x + F(x)`` for a random branch (naming the usual slips: only F(x), a ReLU after the
    addition, a term added twice); with a zero branch it is exactly the identity; and the
    gradient with respect to x is then exactly 1 (He et al. 2016, Eq. (5)).
    """
    check = "check_residual"
    if isinstance(residual_cls, nn.Module) or not callable(residual_cls):
        fail(check, f"pass your class itself, e.g. check_residual(Residual), not a {type(residual_cls).__name__} "
                     "object: the check builds it around its own branches")
    channels = 4
    branch = _test_branch(channels)
    block = call_checked(check, f"{name_of(residual_cls)}(branch)", residual_cls, branch)
    if not isinstance(block, nn.Module):
        fail(check, f"{name_of(residual_cls)}(branch) should be an nn.Module (subclass nn.Module), "
                     f"got {type(block).__name__}")
    own = {id(p) for p in block.parameters()}
    if not all(id(p) in own for p in branch.parameters()):
        fail(check, "the branch's parameters are not registered in your module: store it as an attribute "
                     "(self.branch = branch) after calling super().__init__(), so that an optimiser trains it")

    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, channels, 6, 6, generator=generator)
    x_copy = x.clone()
    with torch.no_grad():
        y = call_checked(check, "the forward pass on a 2×4×6×6 input", block, x)
    if not isinstance(y, Tensor) or y.shape != x.shape:
        shape = "×".join(map(str, y.shape)) if isinstance(y, Tensor) else type(y).__name__
        fail(check, f"the output should have the input's shape 2×4×6×6, got {shape}")
    if not torch.equal(x, x_copy):
        fail(check, "your forward changed its input x in place (x += … or an in-place op on x): the caller's "
                     "tensor is overwritten; compute x + self.branch(x) as a new tensor")

    with torch.no_grad():
        f = branch(x)
    expected = x + f
    if not torch.allclose(y, expected, atol=1e-5):
        if torch.allclose(y, f, atol=1e-5):
            fail(check, "you return F(x) only: the identity shortcut (+ x) is missing")
        if torch.allclose(y, torch.relu(expected), atol=1e-5):
            fail(check, "you apply a ReLU after the addition; this exercise asks for the pure identity form "
                         "x + F(x) of He et al. 2016 (nothing after the addition)")
        if torch.allclose(y, 2 * x + f, atol=1e-5) or torch.allclose(y, x + 2 * f, atol=1e-5):
            fail(check, "x or F(x) is added twice: the output should be x + F(x)")
        if torch.allclose(y, x, atol=1e-5):
            fail(check, "your block returns x unchanged: the branch output F(x) is not added")
        error = float((y - expected).abs().max())
        fail(check, f"the output is not x + F(x) (largest difference {error:.3g})")

    zero_branch = nn.Conv2d(channels, channels, 3, padding=1)
    nn.init.zeros_(zero_branch.weight)
    nn.init.zeros_(zero_branch.bias)
    identity_block = call_checked(check, f"{name_of(residual_cls)}(zero branch)", residual_cls, zero_branch)
    with torch.no_grad():
        same = call_checked(check, "the forward pass with a zero branch", identity_block, x)
    if not torch.equal(same, x):
        fail(check, "with a branch that outputs zeros the block must return its input exactly (F ≡ 0 ⇒ identity)")
    xg = x.clone().requires_grad_(True)
    out = identity_block(xg)
    if not out.requires_grad:
        fail(check, "no gradient flows from the output back to x: is x detached, or the forward run under "
                     "torch.no_grad()?")
    (grad,) = torch.autograd.grad(out.sum(), xg)
    if not torch.allclose(grad, torch.ones_like(grad)):
        fail(check, "with F ≡ 0 the gradient with respect to x should be exactly 1 everywhere (Eq. (5) of "
                     "He et al. 2016)")
    passed(check, "output x + F(x), the identity when F ≡ 0, gradient 1 + ∂F/∂x, input left untouched")


# --------------------------------------------------------------------------- neighbour_correlation


def reference_neighbour_correlation(grads: Tensor) -> float:
    """The reference solution of ``ex-ch2-neighbour-correlation``."""
    flat = grads.reshape(grads.shape[0], -1)
    return float(F.cosine_similarity(flat[:-1], flat[1:], dim=1).mean())


def _as_number(check: str, value: Any, what: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            fail(check, f"return one number (the mean over the neighbouring pairs), got a tensor of shape "
                         f"{'×'.join(map(str, value.shape))} for {what}")
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        fail(check, f"return a number, got {type(value).__name__} for {what}")


@small_and_fast
def check_neighbour_correlation(fn: Callable[[Tensor], Any]) -> None:
    """Check ``fn(grads) -> float``: the mean cosine similarity of consecutive rows of ``grads`` (n × …).

    Cases: identical rows (1), alternating signs (−1), rows of different lengths pointing
    the same way (1: divide by the norms), a slowly turning gradient (neighbours, not
    "everyone against the first row"), and image-shaped gradients (flatten each point's
    gradient first).
    """
    check = "check_neighbour_correlation"
    if not callable(fn):
        fail(check, f"pass your function itself, e.g. check_neighbour_correlation(neighbour_correlation), "
                     f"not {type(fn).__name__}")
    generator = torch.Generator().manual_seed(0)
    row = torch.randn(1, 50, generator=generator)

    def run(grads: Tensor, what: str) -> float:
        return _as_number(check, call_checked(check, f"{name_of(fn)} on {what}", fn, grads.clone()), what)

    value = run(row.repeat(5, 1), "five identical gradients")
    if abs(value - 1.0) > 1e-4:
        fail(check, f"five identical gradients should give 1.0, got {value:.4g}")

    value = run(row * torch.tensor([1.0, -1.0, 1.0, -1.0]).view(4, 1), "gradients of alternating sign")
    if abs(value + 1.0 / 3.0) < 1e-4:
        fail(check, "you compare every gradient with the first one; compare each with its neighbour "
                     "(rows i and i + 1)")
    if abs(value + 1.0) > 1e-4:
        fail(check, f"gradients that flip sign at every step should give −1.0, got {value:.4g}")

    value = run(row * torch.tensor([1.0, 3.0, 0.5, 10.0]).view(4, 1), "gradients of different lengths")
    if abs(value - 1.0) > 1e-4:
        fail(check, f"gradients pointing the same way with different lengths should give 1.0, got {value:.4g}: "
                     "divide the dot product by both norms (cosine similarity)")

    angles = torch.linspace(0, 1.5, 6)
    smooth = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    value = run(smooth, "a slowly turning 2-D gradient")
    neighbours = reference_neighbour_correlation(smooth)
    first = float(F.cosine_similarity(smooth[:1].expand(5, 2), smooth[1:], dim=1).mean())
    if abs(value - neighbours) > 1e-4:
        if abs(value - first) < 1e-4:
            fail(check, "you compare every gradient with the first one; compare each with its neighbour "
                         "(rows i and i + 1)")
        fail(check, f"for a slowly turning gradient the neighbour correlation is {neighbours:.4f}, got {value:.4f}")

    images = torch.randn(7, 3, 4, 4, generator=generator)
    value = run(images, "gradients of shape 7×3×4×4")
    expected = reference_neighbour_correlation(images)
    if abs(value - expected) > 1e-4:
        fail(check, f"for image-shaped gradients (7×3×4×4) expected {expected:.4f}, got {value:.4f}: "
                     "flatten each point's gradient to one vector first (grads.reshape(n, -1))")
    passed(check, "1 for equal directions, −1 for sign flips, neighbours only, any gradient shape")
