"""Chapter 2 (*Residual learning*): the self-checks of its two graded exercises.

- ``ex-ch2-residual-wrapper`` — a module ``Residual(branch)`` computing ``x + F(x)``:
  :func:`check_residual`, solution :class:`ReferenceResidual` (He et al. 2016, Eq. (3)-(5)).
- ``ex-ch2-neighbour-correlation`` — the mean cosine similarity of gradients at
  neighbouring inputs, the measure of shattering (Balduzzi et al. 2017):
  :func:`check_neighbour_correlation`, solution :func:`reference_neighbour_correlation`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.exercises.checking import (
    as_number,
    display_name,
    fail,
    format_shape,
    require_callable,
    run_student_code,
    self_check,
    succeed,
)

__all__ = ["ReferenceResidual", "check_neighbour_correlation", "check_residual", "reference_neighbour_correlation"]


# --------------------------------------------------------------------------- Residual(branch)


class ReferenceResidual(nn.Module):
    """The reference solution of ``ex-ch2-residual-wrapper``: ``y = x + F(x)``."""

    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        self.branch = branch

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


def _test_branch(channels: int) -> nn.Module:
    """A seeded conv → ReLU → conv branch F that keeps ``channels``."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, padding=1))


def _build_around(check: str, residual_cls: Callable[[nn.Module], nn.Module], branch: nn.Module,
                  label: str) -> nn.Module:
    """``residual_cls(branch)``, which must be an ``nn.Module`` that registers the branch's parameters."""
    call = f"{display_name(residual_cls)}({label})"
    block = run_student_code(check, call, residual_cls, branch)
    if not isinstance(block, nn.Module):
        fail(check, f"{call} should be an nn.Module (subclass nn.Module), got {type(block).__name__}")
    own = {id(p) for p in block.parameters()}
    if not all(id(p) in own for p in branch.parameters()):
        fail(check, "the branch's parameters are not registered in your module: store it as an attribute "
                     "(self.branch = branch) after calling super().__init__(), so that an optimiser trains it")
    return block


def _check_sum(check: str, x: Tensor, y: Any, f: Tensor) -> None:
    """``y`` must be ``x + F(x)``; name the usual slips (F(x) only, a ReLU after the addition, a term twice)."""
    if not isinstance(y, Tensor) or y.shape != x.shape:
        shape = format_shape(y) if isinstance(y, Tensor) else type(y).__name__
        fail(check, f"the output should have the input's shape {format_shape(x)}, got {shape}")
    expected = x + f
    if torch.allclose(y, expected, atol=1e-5):
        return
    if torch.allclose(y, f, atol=1e-5):
        fail(check, "you return F(x) only: the identity shortcut (+ x) is missing")
    if torch.allclose(y, torch.relu(expected), atol=1e-5):
        fail(check, "you apply a ReLU after the addition; this exercise asks for the pure identity form "
                     "x + F(x) of He et al. 2016 (nothing after the addition)")
    if torch.allclose(y, 2 * x + f, atol=1e-5) or torch.allclose(y, x + 2 * f, atol=1e-5):
        fail(check, "x or F(x) is added twice: the output should be x + F(x)")
    if torch.allclose(y, x, atol=1e-5):
        fail(check, "your block returns x unchanged: the branch output F(x) is not added")
    fail(check, f"the output is not x + F(x) (largest difference {float((y - expected).abs().max()):.3g})")


def _check_zero_branch(check: str, residual_cls: Callable[[nn.Module], nn.Module], x: Tensor) -> None:
    """Around a branch that outputs zeros the block is the identity, with gradient exactly 1 (Eq. (5))."""
    zero_branch = nn.Conv2d(x.shape[1], x.shape[1], 3, padding=1)
    nn.init.zeros_(zero_branch.weight)
    nn.init.zeros_(zero_branch.bias)
    identity_block = _build_around(check, residual_cls, zero_branch, "zero branch")
    with torch.no_grad():
        same = run_student_code(check, "the forward pass with a zero branch", identity_block, x)
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


@self_check
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
    block = _build_around(check, residual_cls, branch, "branch")
    x = torch.randn(2, channels, 6, 6, generator=torch.Generator().manual_seed(1))
    x_copy = x.clone()
    with torch.no_grad():
        y = run_student_code(check, "the forward pass on a 2×4×6×6 input", block, x)
    if isinstance(y, Tensor) and y.shape == x.shape and not torch.equal(x, x_copy):
        fail(check, "your forward changed its input x in place (x += … or an in-place op on x): the caller's "
                     "tensor is overwritten; compute x + self.branch(x) as a new tensor")
    with torch.no_grad():
        f = branch(x_copy)
    _check_sum(check, x_copy, y, f)
    _check_zero_branch(check, residual_cls, x_copy)
    succeed(check, "output x + F(x), the identity when F ≡ 0, gradient 1 + ∂F/∂x, input left untouched")


# --------------------------------------------------------------------------- neighbour_correlation


def reference_neighbour_correlation(grads: Tensor) -> float:
    """The reference solution of ``ex-ch2-neighbour-correlation``: mean cosine of consecutive rows.

    Balduzzi et al. 2017, §2: gradients at neighbouring inputs of a residual network stay
    correlated (brown noise), those of a deep plain network do not (white noise).
    """
    flat = grads.reshape(grads.shape[0], -1)
    return float(F.cosine_similarity(flat[:-1], flat[1:], dim=1).mean())


_ONE_NUMBER = " (the mean over the neighbouring pairs)"


@self_check
def check_neighbour_correlation(fn: Callable[[Tensor], Any]) -> None:
    """Check ``fn(grads) -> float``: the mean cosine similarity of consecutive rows of ``grads`` (n × …).

    Cases: identical rows (1), alternating signs (−1), rows of different lengths pointing
    the same way (1: divide by the norms), a slowly turning gradient (neighbours, not
    "everyone against the first row"), and image-shaped gradients (flatten each point's
    gradient first).
    """
    check = "check_neighbour_correlation"
    require_callable(check, fn, "neighbour_correlation")
    generator = torch.Generator().manual_seed(0)
    row = torch.randn(1, 50, generator=generator)

    def run(grads: Tensor, what: str) -> float:
        call = f"{display_name(fn)} on {what}"
        return as_number(check, run_student_code(check, call, fn, grads.clone()), call, hint=_ONE_NUMBER)

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
    succeed(check, "1 for equal directions, −1 for sign flips, neighbours only, any gradient shape")
