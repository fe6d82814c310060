"""The machinery every chapter's self-checks share.

A self-check is a function ``check_…(student_code)`` decorated with :func:`self_check`. It
runs the student's code through :func:`run_student_code` (so that any exception becomes a
message that says where it happened), compares what comes back with the package's reference,
and ends either in :func:`fail` (an :class:`ExerciseError` naming the mistake and its fix) or
in :func:`succeed` (one line starting with ``✓``). The helpers below are the pieces several
chapters need:

- reporting: :class:`ExerciseError`, :func:`fail`, :func:`succeed`, :func:`format_shape`,
  :func:`display_name`;
- running student code: :func:`self_check`, :func:`seeded`, :func:`run_student_code`,
  :func:`require_callable`, :func:`as_number`, :func:`close_enough`;
- comparing networks: :func:`randomise_batchnorm`, :func:`transplant_weights`,
  :func:`parameter_listing`, :func:`count_conv_biases`, :func:`count_batchnorm_parameters`,
  :func:`check_forward_backward`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

import torch
from torch import Tensor, nn

from resnet_course.lessons.analysis.gradients import single_thread
from resnet_course.nn.summary import count_parameters

__all__ = [
    "ExerciseError",
    "as_number",
    "check_forward_backward",
    "close_enough",
    "count_batchnorm_parameters",
    "count_conv_biases",
    "display_name",
    "fail",
    "format_shape",
    "parameter_listing",
    "randomise_batchnorm",
    "require_callable",
    "run_student_code",
    "seeded",
    "self_check",
    "succeed",
    "transplant_weights",
]


# --------------------------------------------------------------------------- reporting


class ExerciseError(AssertionError):
    """A self-check failed; the message says what is wrong and how to fix it."""


def fail(check: str, message: str) -> NoReturn:
    """Stop the self-check ``check`` with an :class:`ExerciseError` whose text is ``"check: message"``."""
    raise ExerciseError(f"{check}: {message}")


def succeed(check: str, message: str) -> None:
    """Print the one line a passed self-check shows: ``✓ check: message``."""
    print(f"✓ {check}: {message}")


def format_shape(tensor: Tensor | Sequence[int]) -> str:
    """A tensor's shape (or a shape) as the book writes it: ``2×16×32×32``."""
    shape = tensor.shape if isinstance(tensor, Tensor) else tensor
    return "×".join(map(str, shape))


def display_name(obj: object) -> str:
    """How a message names the student's function or class: its ``__name__``, else its type's."""
    return getattr(obj, "__name__", None) or type(obj).__name__


# --------------------------------------------------------------------------- running the student's code


@contextlib.contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Seed torch inside the block and give the caller's random state back afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def self_check(check_fn: Callable[..., None]) -> Callable[..., None]:
    """Decorate a self-check: run it on one CPU thread with its own random numbers.

    Its tensors are tiny, and on a busy machine thread hand-offs would cost ten times the
    arithmetic. The caller's thread setting and random state are restored afterwards, so a
    check never changes what the student's notebook draws next.
    """
    @functools.wraps(check_fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with single_thread(), seeded(0):  # the caller's random state is given back, whatever the check draws
            return check_fn(*args, **kwargs)
    return wrapper


def run_student_code(check: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; any exception becomes an :class:`ExerciseError` saying that ``what`` raised it."""
    try:
        return fn(*args, **kwargs)
    except ExerciseError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of the student's code is reported
        fail(check, f"{what} raised {type(error).__name__}: {error}")


def require_callable(check: str, obj: object, example: str, kind: str = "function") -> None:
    """Fail unless ``obj`` can be called: "pass your function itself, e.g. check_x(example), not int"."""
    if not callable(obj):
        fail(check, f"pass your {kind} itself, e.g. {check}({example}), not {type(obj).__name__}")


def as_number(check: str, value: Any, what: str, *, hint: str = "") -> float:
    """The student's answer as one float: from a float, an int, a NumPy scalar or a one-element tensor.

    A tensor of several elements, a bool, a string or anything ``float`` refuses fails with
    "``what`` returned …; return one number``hint``" (``hint`` says which number, e.g.
    " (the mean over the neighbouring pairs)").
    """
    if isinstance(value, Tensor):
        if value.numel() != 1:
            fail(check, f"{what} returned a tensor of shape {format_shape(value)}; return one number{hint}")
        value = value.item()
    if isinstance(value, (bool, str, bytes)):
        fail(check, f"{what} returned {type(value).__name__} {value!r}; return a number{hint}")
    try:
        return float(value)
    except (TypeError, ValueError):
        fail(check, f"{what} returned {type(value).__name__}; return a number{hint}")


def close_enough(a: float, b: float) -> bool:
    """``a`` equals ``b`` up to rounding: within 1e-9 absolute plus 1e-6 relative to ``b``."""
    return abs(a - b) <= 1e-9 + 1e-6 * abs(b)


# --------------------------------------------------------------------------- comparing networks


def randomise_batchnorm(module: nn.Module, seed: int) -> None:
    """Give every BatchNorm2d of ``module`` non-trivial running statistics and affine parameters.

    A freshly built BatchNorm is the identity in eval mode (mean 0, variance 1, γ = 1, β = 0),
    which would hide a BatchNorm in the wrong place; after this every one of them changes its
    input. (``tests/nn/test_blocks.py`` has a test-local twin.)
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def transplant_weights(source: nn.Module, target: nn.Module) -> str | None:
    """Copy ``source``'s state into ``target`` by name, else by position; say how, or None if impossible.

    "By position" pairs the tensors in registration order when only the names differ, so a
    student's block with its own attribute names can still be compared with the reference.
    """
    src, dst = source.state_dict(), target.state_dict()
    if list(src) == list(dst) and all(src[k].shape == dst[k].shape for k in src):
        target.load_state_dict(src)
        return "by name"
    src_items = [(k, v) for k, v in src.items() if not k.endswith("num_batches_tracked")]
    dst_items = [(k, v) for k, v in dst.items() if not k.endswith("num_batches_tracked")]
    if [v.shape for _, v in src_items] == [v.shape for _, v in dst_items]:
        with torch.no_grad():
            for (_, s), (_, d) in zip(src_items, dst_items):
                d.copy_(s)
        return "by position"
    return None


def parameter_listing(module: nn.Module) -> str:
    """``conv1 36,864, bn1 128, …``: the parameters of each layer that has its own."""
    parts = []
    for name, m in module.named_modules():
        own = sum(p.numel() for p in m.parameters(recurse=False))
        if own:
            parts.append(f"{name} {own:,}")
    return ", ".join(parts)


def count_conv_biases(module: nn.Module) -> int:
    """How many parameters the convolutions' biases hold (0 when every one has ``bias=False``)."""
    return sum(m.bias.numel() for m in module.modules() if isinstance(m, nn.Conv2d) and m.bias is not None)


def count_batchnorm_parameters(module: nn.Module) -> int:
    """How many parameters (γ and β) the BatchNorm layers of ``module`` hold."""
    return sum(count_parameters(m) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


_SHAPE_MISMATCH_HINT = (
    " Hint: the residual branch and the shortcut have different shapes — where a block changes the number of "
    "channels or the spatial size, the shortcut must change them too (a projection)."
)


def check_forward_backward(check: str, what: str, module: nn.Module, x: Tensor, raw: Tensor) -> Tensor:
    """Run forward and backward; catch in-place changes of the input and of saved tensors.

    ``x`` is the output of a ReLU of ``raw`` (like the output of the previous block), so
    modifying it in place breaks the ReLU's backward pass as well as the first convolution's.
    Afterwards every trainable parameter must have a gradient, and ``raw`` a finite, non-zero one.
    """
    version = x._version
    try:
        out = module(x)
    except Exception as error:  # noqa: BLE001
        hint = _SHAPE_MISMATCH_HINT if "must match the size" in str(error) else ""
        fail(check, f"the forward pass of {what} raised {type(error).__name__}: {error}.{hint}")
    if x._version != version:
        fail(check, f"{what} changed its input x in place (an in-place addition such as `x += out` or "
                     "`identity += out`, where identity is x, or an in-place op applied to x). The caller's tensor is "
                     "overwritten, and autograd needs the original x for the backward pass of the first "
                     "convolution. Write `out = out + identity`: a new tensor, nothing overwritten.")
    _backward(check, what, out)
    if raw.grad is None or not torch.isfinite(raw.grad).all() or raw.grad.abs().sum() == 0:
        fail(check, f"no gradient reaches the input of {what}: is the output computed from x with differentiable "
                     "operations (no .detach(), no torch.no_grad(), no .data)?")
    unused = [name for name, p in module.named_parameters() if p.requires_grad and p.grad is None]
    if unused:
        fail(check, f"parameter(s) {', '.join(unused)} of {what} received no gradient: are they used in forward()?")
    return out


def _backward(check: str, what: str, out: Tensor) -> None:
    """Backpropagate a loss of ``out``, explaining autograd's in-place error in the course's words."""
    try:
        out.float().square().mean().backward()
    except RuntimeError as error:
        if "inplace" in str(error):
            fail(check, f"the backward pass of {what} fails: a tensor autograd saved for it was modified in place — "
                         "typically `out += identity` where `out` is the output of a ReLU (a ReLU keeps its output to "
                         "compute its gradient). Write `out = out + identity` instead. "
                         f"PyTorch said: {str(error).split(' Hint:')[0]}")
        fail(check, f"the backward pass of {what} raised RuntimeError: {error}")
