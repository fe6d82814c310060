"""Looking inside a network: one block finder and one forward-pass tracer for the whole package.

Two questions come back in every chapter that takes a ResNet apart: *which modules are the
residual blocks?* (the gradient analysis, the lesion study, the diagrams, the exercises) and
*what did each module output?* (the summary table, the diagrams, the block widget, the
exercises' shape checks, the gradient analyses, the lesion study's branch gains). This module
answers each once.

The block finder
----------------
:func:`is_block` says whether a module is a residual block or one of its plain twins:
every class of :data:`~resnet_course.nn.blocks.BLOCK_TYPES` and their subclasses (the Wide
ResNet block, ...), and any module *shaped* like a block: a ``downsample`` or ``shortcut``
attribute and at least one ``nn.Conv2d`` inside (a reader's own block in the exercises,
torchvision's ``BasicBlock``). :func:`find_blocks` lists the outermost blocks of a network,
in registration order, with their qualified names (``"layer2.0"``): the blocks the paper
counts (He et al. 2015, Table 1 and §4.2: ResNet-20 has 3 stages × 3 blocks). It never looks
inside a block, and never returns the network itself.
:func:`has_shortcut` tells residual blocks from plain twins (``has_shortcut = False``).

The tracer
----------
:func:`trace_forward` is a context manager: inside it, forward hooks on the chosen modules
record every call as a :class:`TracedCall` (qualified name, module, input and output
shapes, and on request the tensors themselves) in a :class:`ForwardTrace`; on leaving the
block every hook is removed, also when the forward pass raised. Calls are recorded in the
order the modules *finish* (a forward hook runs after its module), which is the order they
are called whenever no chosen module contains another one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from torch import Tensor, nn

from resnet_course.nn.blocks import BLOCK_TYPES

__all__ = [
    "BLOCK_CLASSES",
    "ForwardTrace",
    "ModuleSelection",
    "TracedCall",
    "find_blocks",
    "has_shortcut",
    "is_block",
    "trace_forward",
]


#: The package's block classes (their subclasses count too).
BLOCK_CLASSES: tuple[type[nn.Module], ...] = tuple(BLOCK_TYPES.values())

#: What :func:`trace_forward` hooks: ``"children"`` (the network's top-level parts),
#: ``"leaves"`` (modules without children), ``"all"`` (every submodule), ``"blocks"``
#: (:func:`find_blocks`), a predicate ``(name, module) -> bool`` over the submodules, or
#: an explicit iterable of ``(name, module)`` pairs.
ModuleSelection = Union[str, Callable[[str, nn.Module], bool], Iterable[tuple[str, nn.Module]]]


# --------------------------------------------------------------------------- blocks


def is_block(module: nn.Module) -> bool:
    """Whether ``module`` is a residual block or a plain twin of one (see the module docstring)."""
    if isinstance(module, BLOCK_CLASSES):
        return True
    shaped_like_one = hasattr(module, "downsample") or hasattr(module, "shortcut")
    return shaped_like_one and any(isinstance(m, nn.Conv2d) for m in module.modules())


def has_shortcut(block: nn.Module) -> bool:
    """Whether ``block`` adds a shortcut to its branch: false only for plain twins (``has_shortcut = False``)."""
    return bool(getattr(block, "has_shortcut", True))


def find_blocks(model: nn.Module, *, residual_only: bool = False) -> list[tuple[str, nn.Module]]:
    """The outermost blocks of ``model`` as ``(qualified name, block)``, in registration order.

    ``residual_only=True`` leaves out plain twins (blocks without a shortcut). The search
    does not descend into a block, and ``model`` itself is never returned, even when it
    is a block: ``find_blocks(create_model("resnet20"))`` gives the 9 blocks
    ``layer1.0`` … ``layer3.2``; ``find_blocks(BasicBlock(16, 16))`` gives ``[]``.
    """
    found: list[tuple[str, nn.Module]] = []

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            path = f"{prefix}{name}"
            if is_block(child):
                if has_shortcut(child) or not residual_only:
                    found.append((path, child))
            else:
                visit(child, path + ".")

    visit(model, "")
    return found


# --------------------------------------------------------------------------- the tracer


def _shape(value: object) -> tuple[int, ...]:
    return tuple(value.shape) if isinstance(value, Tensor) else ()


@dataclass
class TracedCall:
    """One call of a traced module during a forward pass.

    ``input_shapes`` are the full shapes (batch included) of the positional tensor
    arguments, ``output_shape`` that of the output (``()`` when it is not a tensor).
    ``inputs`` and ``output`` hold the tensors themselves only when the trace was asked
    to keep them (``keep_tensors=True``); they are not detached, so a caller can still
    call ``output.retain_grad()`` before ``backward()``.
    """

    name: str
    module: nn.Module
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    inputs: tuple[Any, ...] | None = None
    output: Any = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of the first positional input (``()`` if there is none)."""
        return self.input_shapes[0] if self.input_shapes else ()


@dataclass
class ForwardTrace:
    """The calls recorded by :func:`trace_forward`, in the order the modules finished."""

    calls: list[TracedCall] = field(default_factory=list)

    def __iter__(self) -> Iterator[TracedCall]:
        return iter(self.calls)

    def __len__(self) -> int:
        return len(self.calls)

    def names(self) -> list[str]:
        """The traced modules that ran, each once, in the order of their first call."""
        return list(dict.fromkeys(call.name for call in self.calls))

    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each traced module's output shape (of its last call, if it ran more than once)."""
        return {call.name: call.output_shape for call in self.calls}


def _select(model: nn.Module, modules: ModuleSelection) -> list[tuple[str, nn.Module]]:
    """The ``(name, module)`` pairs a :data:`ModuleSelection` stands for."""
    submodules = [(name, m) for name, m in model.named_modules() if name]
    if isinstance(modules, str):
        choices: dict[str, Callable[[], list[tuple[str, nn.Module]]]] = {
            "children": lambda: list(model.named_children()),
            "leaves": lambda: [(n, m) for n, m in submodules if next(m.children(), None) is None],
            "all": lambda: submodules,
            "blocks": lambda: find_blocks(model),
        }
        if modules not in choices:
            raise ValueError(f"unknown module selection {modules!r}: choose one of {', '.join(choices)}, "
                             "a predicate (name, module) -> bool, or (name, module) pairs")
        return choices[modules]()
    if callable(modules):
        return [(n, m) for n, m in submodules if modules(n, m)]
    return [(str(n), m) for n, m in modules]


@contextlib.contextmanager
def trace_forward(
    model: nn.Module, modules: ModuleSelection = "children", *, keep_tensors: bool = False
) -> Iterator[ForwardTrace]:
    """Record each call of the chosen modules of ``model`` while the ``with`` block runs.

    >>> with trace_forward(model, "blocks") as trace:
    ...     model(images)
    >>> trace.output_shapes()["layer2.0"]
    (8, 32, 16, 16)

    ``modules`` is a :data:`ModuleSelection` (default: the top-level parts, what
    :func:`~resnet_course.nn.summary.summary` tabulates). With ``keep_tensors=True``
    each call also keeps its positional inputs and its output (memory: one activation
    per call). The hooks are removed when the block ends, whatever happens in it; the
    model is not otherwise touched (no mode change, no ``no_grad``: the caller decides).
    """
    trace = ForwardTrace()
    chosen = _select(model, modules)

    def hook_for(name: str) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
        def record(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            shapes = tuple(_shape(a) for a in args if isinstance(a, Tensor))
            kept_inputs, kept_output = (args, output) if keep_tensors else (None, None)
            trace.calls.append(TracedCall(name, module, shapes, _shape(output), kept_inputs, kept_output))
        return record

    handles = [module.register_forward_hook(hook_for(name)) for name, module in chosen]
    try:
        yield trace
    finally:
        for handle in handles:
            handle.remove()
