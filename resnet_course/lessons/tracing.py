"""Watching a forward pass: which modules run, in which order, on which shapes.

One tracer for everything in the book that looks inside a network while it runs — the
architecture diagram (:mod:`~resnet_course.lessons.diagram`), the block explorer
(:mod:`~resnet_course.lessons.widgets`), the gradient analyses
(:mod:`~resnet_course.lessons.analysis.gradients`), the lesion study's branch gains
(:mod:`~resnet_course.lessons.lesion`) and the chapter 4 self-check. PyTorch's forward hooks
do the watching; :func:`forward_hooks` makes sure they are removed again, even when the
forward pass raises, and :func:`trace_calls` records one :class:`ModuleCall` per call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ModuleCall", "forward_hooks", "trace_calls"]


Hook = Callable[..., Any]


@contextlib.contextmanager
def forward_hooks(hooks: Iterable[tuple[nn.Module, Hook]], *, pre: bool = False) -> Iterator[None]:
    """Register each ``(module, hook)`` as a forward hook (``pre=True``: a forward pre-hook) inside the block.

    A forward hook is called as ``hook(module, inputs, output)`` after the module runs, a
    pre-hook as ``hook(module, inputs)`` before; both are removed when the block ends.
    """
    handles = [module.register_forward_pre_hook(hook) if pre else module.register_forward_hook(hook)
               for module, hook in hooks]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class ModuleCall:
    """One call of a watched module: the module, its first input's shape and its output's shape (batch included).

    A shape is ``()`` when the input or output is not a tensor.
    """

    module: nn.Module
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def _shape(value: Any) -> tuple[int, ...]:
    """A tensor's shape, or ``()`` for anything else."""
    return tuple(value.shape) if isinstance(value, Tensor) else ()


def trace_calls(model: nn.Module, inputs: Tensor, modules: Sequence[nn.Module]) -> tuple[Any, list[ModuleCall]]:
    """Run ``model(inputs)`` without gradients; return its output and every call of one of ``modules``, in order.

    A module called twice (a ReLU reused in a block) appears twice. On the meta device
    (``inputs`` and ``model`` on ``"meta"``) only the shapes are computed, which makes
    tracing even ResNet-152 take a fraction of a second.
    """
    calls: list[ModuleCall] = []

    def record(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        calls.append(ModuleCall(module, _shape(args[0]) if args else (), _shape(output)))

    with forward_hooks((m, record) for m in modules), torch.no_grad():
        output = model(inputs)
    return output, calls
