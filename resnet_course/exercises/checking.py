"""The machinery the chapters' self-checks share.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator, NoReturn, Sequence

import torch
from torch import Tensor, nn

from resnet_course.lessons.analysis.gradients import single_thread
from resnet_course.nn.summary import count_parameters

__all__ = [
    "bn_param_count", "call_checked", "check_input_and_backward", "conv_bias_count", "ExerciseError", "fail",
    "layer_listing", "name_of", "passed", "randomise_bn", "seeded", "shape_text", "small_and_fast", "transplant"
]


# ======================================================================================
# Shared helpers
# ======================================================================================


class ExerciseError(AssertionError):
    """A self-check failed; the message says what is wrong and how to fix it."""


def fail(check: str, message: str) -> NoReturn:
    raise ExerciseError(f"{check}: {message}")


def passed(check: str, message: str) -> None:
    print(f"✓ {check}: {message}")


def shape_text(tensor: Tensor | Sequence[int]) -> str:
    shape = tensor.shape if isinstance(tensor, Tensor) else tensor
    return "×".join(map(str, shape))


def name_of(obj: object) -> str:
    return getattr(obj, "__name__", None) or type(obj).__name__


@contextlib.contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Seed torch inside the block and give the caller's random state back afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def small_and_fast(check_fn: Callable[..., None]) -> Callable[..., None]:
    """Run a check with one CPU thread and its own random numbers.

    Its tensors are tiny, and on a busy machine thread hand-offs would cost ten times the
    arithmetic. The caller's thread setting and random state are restored afterwards.
    """
    @functools.wraps(check_fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with single_thread(), seeded(0):  # the caller's random state is given back, whatever the check draws
            return check_fn(*args, **kwargs)
    return wrapper


def call_checked(check: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's code; any exception becomes an ExerciseError that says where it happened."""
    try:
        return fn(*args, **kwargs)
    except ExerciseError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of the student's code is reported
        fail(check, f"{what} raised {type(error).__name__}: {error}")


def randomise_bn(module: nn.Module, seed: int) -> None:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def transplant(source: nn.Module, target: nn.Module) -> str | None:
    """Copy ``source``'s state into ``target`` by name, else by position; say how, or None if impossible."""
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


def layer_listing(module: nn.Module) -> str:
    """``conv1 36,864, bn1 128, …``: the parameters of each leaf layer that has any."""
    parts = []
    for name, m in module.named_modules():
        own = sum(p.numel() for p in m.parameters(recurse=False))
        if own:
            parts.append(f"{name} {own:,}")
    return ", ".join(parts)


def conv_bias_count(module: nn.Module) -> int:
    return sum(m.bias.numel() for m in module.modules() if isinstance(m, nn.Conv2d) and m.bias is not None)


def bn_param_count(module: nn.Module) -> int:
    return sum(count_parameters(m) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


def check_input_and_backward(check: str, what: str, module: nn.Module, x: Tensor, raw: Tensor) -> Tensor:
    """Run forward and backward; catch in-place changes of the input and of saved tensors.

    ``x`` is the output of a ReLU of ``raw`` (like the output of the previous block), so
    modifying it in place breaks the ReLU's backward pass as well as the first convolution's.
    """
    version = x._version
    try:
        out = module(x)
    except Exception as error:  # noqa: BLE001
        hint = ""
        if "must match the size" in str(error):
            hint = (" Hint: the residual branch and the shortcut have different shapes — where a block changes the "
                    "number of channels or the spatial size, the shortcut must change them too (a projection).")
        fail(check, f"the forward pass of {what} raised {type(error).__name__}: {error}.{hint}")
    if x._version != version:
        fail(check, f"{what} changed its input x in place (an in-place addition such as `x += out` or "
                     "`identity += out`, where identity is x, or an in-place op applied to x). The caller's tensor is "
                     "overwritten, and autograd needs the original x for the backward pass of the first "
                     "convolution. Write `out = out + identity`: a new tensor, nothing overwritten.")
    try:
        out.float().square().mean().backward()
    except RuntimeError as error:
        if "inplace" in str(error):
            fail(check, f"the backward pass of {what} fails: a tensor autograd saved for it was modified in place — "
                         "typically `out += identity` where `out` is the output of a ReLU (a ReLU keeps its output to "
                         "compute its gradient). Write `out = out + identity` instead. "
                         f"PyTorch said: {str(error).split(' Hint:')[0]}")
        fail(check, f"the backward pass of {what} raised RuntimeError: {error}")
    if raw.grad is None or not torch.isfinite(raw.grad).all() or raw.grad.abs().sum() == 0:
        fail(check, f"no gradient reaches the input of {what}: is the output computed from x with differentiable "
                     "operations (no .detach(), no torch.no_grad(), no .data)?")
    unused = [name for name, p in module.named_parameters() if p.requires_grad and p.grad is None]
    if unused:
        fail(check, f"parameter(s) {', '.join(unused)} of {what} received no gradient: are they used in forward()?")
    return out
