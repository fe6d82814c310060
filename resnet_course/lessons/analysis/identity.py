"""Learning the identity with plain and residual stacks (chapter 1).

He et al. 2015, §3.1: "if identity mappings are optimal, it is easier to push the residual to
zero than to fit an identity mapping by a stack of nonlinear layers". :func:`identity_stack`
builds the stacks, :func:`identity_learning_curves` trains them to be the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from resnet_course.lessons.analysis.gradients import single_thread

__all__ = ["identity_learning_curves", "identity_stack"]


# --------------------------------------------------------------------------- learning the identity


def identity_stack(kind: str, blocks: int = 2, channels: int = 16) -> nn.Sequential:
    """``blocks`` basic blocks on ``channels`` channels, trained in :func:`identity_learning_curves`.

    ``kind``: ``"plain"`` (conv-BN-ReLU-conv-BN-ReLU, no shortcut), ``"residual"`` (the
    basic block, default initialisation) or ``"residual_zero"`` (the basic block with its
    last BatchNorm zeroed, so F ≡ 0 and the block starts as ReLU(x)).
    """
    from resnet_course.nn.blocks import BasicBlock, PlainBasicBlock, zero_init_last_bn
    from resnet_course.nn.init import init_weights

    if kind not in ("plain", "residual", "residual_zero"):
        raise ValueError(f"unknown kind {kind!r}: 'plain', 'residual' or 'residual_zero'")
    cls = PlainBasicBlock if kind == "plain" else BasicBlock
    stack = nn.Sequential(*(cls(channels, channels, 1, "A") for _ in range(blocks)))
    init_weights(stack)
    if kind == "residual_zero":
        zero_init_last_bn(stack)
    return stack


def identity_learning_curves(
    steps: int = 200,
    seed: int = 0,
    *,
    blocks: int = 2,
    channels: int = 16,
    size: int = 8,
    batch_size: int = 32,
    lr: float = 0.05,
    kinds: Sequence[str] = ("plain", "residual", "residual_zero"),
) -> dict[str, list[float]]:
    """Train stacks of blocks to be the identity map; return each one's loss per step.

    He et al. 2015, §3.1: if the identity were the best a few extra layers could do, a
    residual block only has to drive F to zero, while a plain stack of nonlinear layers has
    to *fit* the identity. The inputs are non-negative (ReLU of Gaussian noise, like the
    output of any earlier block), so the identity is exactly representable by every stack.
    Loss: mean squared error ‖stack(x) − x‖²; SGD with momentum 0.9, fresh batches from a
    seeded generator, the same batches for every kind; BatchNorm in training mode.
    """
    curves: dict[str, list[float]] = {}
    with single_thread():  # tensors this small gain nothing from threads, and lose a lot on a busy CPU
        for kind in kinds:
            curves[kind] = _train_identity(kind, steps, seed, blocks, channels, size, batch_size, lr)
    return curves


def _train_identity(kind: str, steps: int, seed: int, blocks: int, channels: int, size: int, batch_size: int,
                    lr: float) -> list[float]:
    """One stack trained by SGD to be the identity on fresh non-negative batches; its loss per step."""
    torch.manual_seed(seed)
    stack = identity_stack(kind, blocks, channels).train()
    optimizer = torch.optim.SGD(stack.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed + 1)
    losses = []
    for _ in range(steps):
        x = torch.relu(torch.randn(batch_size, channels, size, size, generator=generator))
        loss = F.mse_loss(stack(x), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
