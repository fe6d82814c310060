"""Gradient analysis for chapter 2: gradient norms per layer and the gradient identity.

- :func:`gradient_norms` — ‖∂L/∂W‖ of every convolution at initialisation, the measurement
  behind the "vanishing/exploding gradients" discussion of He et al. 2015, §1 and §4.1;
- :func:`block_output_gradient_norms` — ‖∂L/∂x_l‖ at every block's input;
- :func:`check_gradient_identity` — He et al. 2016, Eq. (5), checked numerically on a small
  chain of pre-activation branches: ``∂L/∂x_l = ∂L/∂x_L · (1 + ∂/∂x_l Σ F(x_i))``.

Also the small tools the other analyses share: the chapter's networks by kind and depth
(:func:`model_name`, :func:`seeded_model`), a real CIFAR-10 batch (:func:`cifar_batch`), the
blocks of a model (:func:`residual_blocks`, the chapters' name for
:func:`resnet_course.nn.inspection.find_blocks`), and two context managers that give back what
they change (:func:`single_thread`, :func:`preserved_state`). The blocks are found and the
forward passes watched by :mod:`resnet_course.nn.inspection`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.nn.inspection import BLOCK_CLASSES, find_blocks, trace_forward

__all__ = [
    "BLOCK_CLASSES",
    "NETWORK_KINDS",
    "GradientIdentityCheck",
    "LossFn",
    "block_output_gradient_norms",
    "check_gradient_identity",
    "cifar_batch",
    "gradient_norms",
    "gradient_profiles",
    "model_name",
    "preserved_state",
    "residual_blocks",
    "residual_chain",
    "run_chain",
    "seeded_model",
    "single_thread"
]


LossFn = Callable[[Tensor, Tensor], Tensor]

# The network families of chapter 2, by the block type a reader picks.
NETWORK_KINDS: dict[str, str] = {"plain": "plain{depth}", "residual": "resnet{depth}",
                                 "preact": "preact_resnet{depth}"}


# --------------------------------------------------------------------------- small helpers


def model_name(kind: str, depth: int) -> str:
    """The registry name of a chapter-2 network: ``model_name("plain", 56) == "plain56"``."""
    if kind not in NETWORK_KINDS:
        raise ValueError(f"unknown network kind {kind!r}: choose one of {', '.join(NETWORK_KINDS)}")
    return NETWORK_KINDS[kind].format(depth=int(depth))


def seeded_model(kind: str, depth: int, seed: int = 0, **options: object) -> nn.Module:
    """A freshly initialised CIFAR network (plain, residual or pre-activation) from ``torch.manual_seed(seed)``."""
    from resnet_course.nn.registry import create_model

    torch.manual_seed(seed)
    return create_model(model_name(kind, depth), **options)


def cifar_batch(n: int = 64, *, split: str = "test", seed: int = 0,
                root: str | None = None) -> tuple[Tensor, Tensor]:
    """``n`` real CIFAR-10 images (class-balanced, seeded), normalised as for training, and their labels."""
    from resnet_course.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD, load_cifar10

    data = load_cifar10(split, root).subset(n, seed)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return (data.images.float() / 255 - mean) / std, data.labels.clone()


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run PyTorch's CPU kernels on one thread inside the block, then restore the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """Run code on ``model`` and put back its buffers (BatchNorm statistics), train/eval mode and ``.grad``s.

    Measuring gradients in training mode would otherwise move every BatchNorm's running
    statistics — an analysis should not change the network it looks at.
    """
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    modes = {name: m.training for name, m in model.named_modules()}
    grads = {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in model.named_parameters()}
    try:
        yield model
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for name, m in model.named_modules():
            m.training = modes[name]
        for name, p in model.named_parameters():
            p.grad = grads[name]


def _loss(outputs: Tensor, targets: Tensor | None, loss: str | LossFn) -> Tensor:
    """The scalar to backpropagate: ``"cross_entropy"`` (own predictions without targets), ``"sum"`` or a function."""
    if callable(loss):
        if targets is None:
            raise ValueError("a custom loss needs targets")
        return loss(outputs, targets)
    if loss == "cross_entropy":
        if targets is None:  # the network's own predictions as labels
            targets = outputs.detach().argmax(dim=1)
        return F.cross_entropy(outputs, targets)
    if loss == "sum":
        return outputs.sum()
    raise ValueError(f"unknown loss {loss!r}: 'cross_entropy', 'sum' or a function (outputs, targets) -> scalar")


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every block (residual, pre-activation or plain twin) of ``model`` with its name, in module order.

    The name chapters 1 and 7 use for :func:`resnet_course.nn.inspection.find_blocks`
    (all blocks, plain twins included): ``residual_blocks(create_model("resnet20"))`` gives
    ``layer1.0`` … ``layer3.2``.
    """
    return find_blocks(model)


# --------------------------------------------------------------------------- gradient norms


def gradient_norms(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor | None = None,
    *,
    loss: str | LossFn = "cross_entropy",
) -> list[tuple[str, float]]:
    """‖∂L/∂W‖ of every convolution's weight, in the order the forward pass uses them.

    One forward and backward pass at the current weights, with BatchNorm in training mode
    (batch statistics, as during the first SGD step). ``loss`` is ``"cross_entropy"``
    (with ``targets``; without, the network's own predicted labels), ``"sum"`` (the sum of
    the outputs) or a function ``(outputs, targets) -> scalar``. The model is left as it
    was (BatchNorm statistics, mode, existing ``.grad``).

    This is the measurement behind the "vanishing/exploding gradients" discussion of He
    et al. 2015, §1 and §4.1 (which argue that BatchNorm keeps plain networks' gradients
    healthy) and behind Balduzzi et al. 2017, §1.
    """
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the model has no nn.Conv2d layers")
    with preserved_state(model):
        model.train()
        model.zero_grad(set_to_none=True)
        with trace_forward(model, convs) as trace:
            outputs = model(inputs)
        _loss(outputs, targets, loss).backward()
        modules = dict(convs)
        result = []
        for name in trace.names():  # each convolution once, in the order the forward pass first used it
            grad = modules[name].weight.grad
            result.append((name, 0.0 if grad is None else float(grad.norm())))
    return result


def block_output_gradient_norms(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor | None = None,
    *,
    loss: str | LossFn = "cross_entropy",
) -> list[tuple[str, float]]:
    """‖∂L/∂x_l‖ for the input x_l of every block, in forward order (tensor hooks).

    This is the quantity of He et al. 2016, Eq. (5): with identity shortcuts
    ``∂L/∂x_l = ∂L/∂x_L (1 + ∂/∂x_l Σ_{i=l}^{L-1} F(x_i))``, so the gradient reaching an
    early block contains the late gradient ∂L/∂x_L unchanged and does not vanish even if
    the residual branches' Jacobians are small. For a plain network the gradient is a
    product of the blocks' Jacobians instead. BatchNorm runs in training mode; the model
    is left as it was. The norm is over the whole batch (the loss is a batch mean).
    """
    blocks = find_blocks(model)
    if not blocks:
        raise ValueError("the model has no residual or plain blocks (resnet_course.nn.blocks)")
    grads: dict[int, float] = {}
    with preserved_state(model):
        model.train()
        model.zero_grad(set_to_none=True)
        with trace_forward(model, blocks, keep_tensors=True) as trace:
            outputs = model(inputs.clone().requires_grad_(True))
        for index, call in enumerate(trace):  # a block leaves its input as it was, so a hook on it now sees ∂L/∂x_l
            x = call.inputs[0]
            if x.requires_grad:
                x.register_hook(lambda g, index=index: grads.__setitem__(index, float(g.norm())))
        _loss(outputs, targets, loss).backward()
    return [(call.name, grads.get(index, 0.0)) for index, call in enumerate(trace)]


def gradient_profiles(
    kinds: Sequence[str],
    depths: Sequence[int],
    inputs: Tensor,
    targets: Tensor | None = None,
    *,
    seed: int = 0,
) -> dict[tuple[str, int], list[tuple[str, float]]]:
    """:func:`gradient_norms` of fresh networks for every (kind, depth): ``{("plain", 56): [...], ...}``."""
    device = inputs.device
    targets = None if targets is None else targets.to(device)
    return {(kind, depth): gradient_norms(seeded_model(kind, depth, seed).to(device), inputs, targets)
            for kind in kinds for depth in depths}


# --------------------------------------------------------------------------- the gradient identity


@dataclass
class GradientIdentityCheck:
    """The pieces of He et al. 2016, Eq. (5), computed separately, for one chain of blocks."""

    autograd: Tensor  # ∂L/∂x_l by backpropagation through the whole chain
    direct: Tensor  # ∂L/∂x_L: the term the identity shortcuts carry unchanged
    residual: Tensor  # ∂L/∂x_L · ∂/∂x_l Σ F(x_i), from the explicit Jacobian of the residual sum
    jacobian: Tensor  # ∂/∂x_l Σ_{i=l}^{L-1} F(x_i) as an (n × n) matrix, n = x_l.numel()
    num_blocks: int

    @property
    def formula(self) -> Tensor:
        """∂L/∂x_L (1 + ∂/∂x_l Σ F): the right-hand side of Eq. (5)."""
        return self.direct + self.residual

    @property
    def max_abs_error(self) -> float:
        """max |autograd − formula|: zero up to rounding when Eq. (5) holds."""
        return float((self.autograd - self.formula).abs().max())

    def table(self) -> str:
        """The norms of the three terms and of their sum, and the largest disagreement, as text."""
        rows = [("∂E/∂x_l by autograd", self.autograd), ("∂E/∂x_L (direct term)", self.direct),
                ("∂E/∂x_L · ∂ΣF/∂x_l (residual term)", self.residual), ("direct + residual (Eq. 5)", self.formula)]
        width = max(len(r[0]) for r in rows)
        lines = [f"{name.ljust(width)}  norm {float(t.norm()):.6f}" for name, t in rows]
        lines.append(f"{'max |autograd - Eq. 5|'.ljust(width)}  {self.max_abs_error:.1e}")
        return "\n".join(lines)


class _Branch(nn.Module):
    """The residual branch of a pre-activation block as its own module: BN-ReLU-conv-BN-ReLU-conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
                               nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        """F(x): the branch alone, without the shortcut."""
        return self.f(x)


def residual_chain(num_blocks: int = 4, channels: int = 3, *, seed: int = 0,
                   zero_branches: bool = False) -> nn.ModuleList:
    """Residual branches F_0 … F_{L-1} of a chain ``x_{i+1} = x_i + F_i(x_i)`` (float64, eval-mode BN).

    Pre-activation branches (He et al. 2016, Fig. 4(e)) so that the shortcut and the
    after-addition mapping are both identities, the setting of Eq. (4) and (5).
    ``zero_branches=True`` zeroes each branch's last convolution (F ≡ 0).
    """
    torch.manual_seed(seed)
    branches = nn.ModuleList(_Branch(channels) for _ in range(num_blocks)).double().eval()
    if zero_branches:
        for branch in branches:
            nn.init.zeros_(branch.f[-1].weight)
            nn.init.zeros_(branch.f[-1].bias)
    return branches


def run_chain(branches: Sequence[nn.Module], x: Tensor) -> Tensor:
    """x_L = x_l + Σ F_i(x_i) computed block by block (He et al. 2016, Eq. (4))."""
    for branch in branches:
        x = x + branch(x)
    return x


def check_gradient_identity(
    num_blocks: int = 4,
    channels: int = 3,
    size: int = 4,
    *,
    seed: int = 0,
    zero_branches: bool = False,
) -> GradientIdentityCheck:
    """Check He et al. 2016, Eq. (5) numerically on a tiny chain of residual blocks.

    Computes ∂L/∂x_l three ways: (1) autograd through the chain; (2) the direct term
    ∂L/∂x_L, read off at the chain's end; (3) the residual term ∂L/∂x_L · J with
    J = ∂/∂x_l Σ F(x_i), the full Jacobian of the residual sum built column by column by
    ``torch.autograd.functional.jacobian``. Eq. (5) says (1) = (2) + (3). The loss is
    L = ½‖x_L − t‖² for a fixed random target t; everything is float64.
    """
    branches = residual_chain(num_blocks, channels, seed=seed, zero_branches=zero_branches)
    generator = torch.Generator().manual_seed(seed + 1)
    x_l = torch.randn(1, channels, size, size, generator=generator, dtype=torch.float64)
    target = torch.randn(x_l.shape, generator=generator, dtype=torch.float64)

    def loss_of(x_end: Tensor) -> Tensor:
        return 0.5 * ((x_end - target) ** 2).sum()

    x = x_l.clone().requires_grad_(True)
    x_end = run_chain(branches, x)
    x_end.retain_grad()
    loss_of(x_end).backward()
    autograd_grad, direct = x.grad.detach().clone(), x_end.grad.detach().clone()

    def residual_sum(x_in: Tensor) -> Tensor:
        total = torch.zeros_like(x_in)
        for branch in branches:
            f = branch(x_in)
            total = total + f
            x_in = x_in + f
        return total

    n = x_l.numel()
    jacobian = torch.autograd.functional.jacobian(residual_sum, x_l).reshape(n, n)
    residual = (direct.reshape(1, n) @ jacobian).reshape(x_l.shape)
    return GradientIdentityCheck(autograd_grad, direct, residual, jacobian, num_blocks)
