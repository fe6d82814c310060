"""Self-checks for the book's exercises: students call them on their own solutions.

Every check builds what the student wrote, runs it on small inputs and compares it with
the package's reference implementation (:mod:`resnet_course.blocks`,
:mod:`resnet_course.models`). When something is wrong it raises :class:`ExerciseError`
(an ``AssertionError``) whose message says *what* is wrong — the output shape, the
parameter count, the behaviour with a zero residual branch, an in-place addition … —
and how to fix it. When everything is right it prints one line starting with ``✓`` and
returns ``None`` (so that a notebook cell shows just that line).

The checks are grouped by chapter:

- Chapter 1, *The degradation problem*: :func:`check_identity_layer`
- Chapter 2, *Residual learning*: :func:`check_residual`, :func:`check_neighbour_correlation`
- Chapter 3, *Building blocks*: :func:`check_basic_block`, :func:`check_bottleneck`,
  :func:`check_preact_block`, :func:`check_zero_init`
- Chapter 4, *The ResNet family*: :func:`check_cifar_param_formula`, :func:`check_cifar_resnet`

All checks are deterministic (they seed their own random numbers without disturbing the
caller's) and run in well under a second on a laptop CPU.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterator, NoReturn, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.analysis import single_thread
from resnet_course.blocks import BasicBlock, Bottleneck, PreActBasicBlock
from resnet_course.models import create_model

__all__ = [
    "ExerciseError",
    # chapter 1
    "check_identity_layer",
    "reference_make_identity",
    # chapter 2
    "check_residual",
    "check_neighbour_correlation",
    "ReferenceResidual",
    "reference_neighbour_correlation",
    # chapter 3
    "check_basic_block",
    "check_bottleneck",
    "check_preact_block",
    "check_zero_init",
    # chapter 4
    "check_cifar_param_formula",
    "check_cifar_resnet",
]


# ======================================================================================
# Shared helpers
# ======================================================================================


class ExerciseError(AssertionError):
    """A self-check failed; the message says what is wrong and how to fix it."""


def _fail(check: str, message: str) -> NoReturn:
    raise ExerciseError(f"{check}: {message}")


def _passed(check: str, message: str) -> None:
    print(f"✓ {check}: {message}")


def _shape(tensor: Tensor | Sequence[int]) -> str:
    shape = tensor.shape if isinstance(tensor, Tensor) else tensor
    return "×".join(map(str, shape))


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _name(obj: object) -> str:
    return getattr(obj, "__name__", None) or type(obj).__name__


@contextlib.contextmanager
def _seeded(seed: int = 0) -> Iterator[None]:
    """Seed torch inside the block and give the caller's random state back afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _small_and_fast(check_fn: Callable[..., None]) -> Callable[..., None]:
    """Run a check with one CPU thread and its own random numbers.

    Its tensors are tiny, and on a busy machine thread hand-offs would cost ten times the
    arithmetic. The caller's thread setting and random state are restored afterwards.
    """
    @functools.wraps(check_fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with single_thread(), _seeded(0):  # the caller's random state is given back, whatever the check draws
            return check_fn(*args, **kwargs)
    return wrapper


def _call(check: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the student's code; any exception becomes an ExerciseError that says where it happened."""
    try:
        return fn(*args, **kwargs)
    except ExerciseError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of the student's code is reported
        _fail(check, f"{what} raised {type(error).__name__}: {error}")


def _randomise_bn(module: nn.Module, seed: int) -> None:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _transplant(source: nn.Module, target: nn.Module) -> str | None:
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


def _layer_listing(module: nn.Module) -> str:
    """``conv1 36,864, bn1 128, …``: the parameters of each leaf layer that has any."""
    parts = []
    for name, m in module.named_modules():
        own = sum(p.numel() for p in m.parameters(recurse=False))
        if own:
            parts.append(f"{name} {own:,}")
    return ", ".join(parts)


def _conv_bias_count(module: nn.Module) -> int:
    return sum(m.bias.numel() for m in module.modules() if isinstance(m, nn.Conv2d) and m.bias is not None)


def _bn_param_count(module: nn.Module) -> int:
    return sum(_count(m) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


def _check_input_and_backward(check: str, what: str, module: nn.Module, x: Tensor, raw: Tensor) -> Tensor:
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
        _fail(check, f"the forward pass of {what} raised {type(error).__name__}: {error}.{hint}")
    if x._version != version:
        _fail(check, f"{what} changed its input x in place (an in-place addition such as `x += out` or "
                     "`identity += out`, where identity is x, or an in-place op applied to x). The caller's tensor is "
                     "overwritten, and autograd needs the original x for the backward pass of the first "
                     "convolution. Write `out = out + identity`: a new tensor, nothing overwritten.")
    try:
        out.float().square().mean().backward()
    except RuntimeError as error:
        if "inplace" in str(error):
            _fail(check, f"the backward pass of {what} fails: a tensor autograd saved for it was modified in place — "
                         "typically `out += identity` where `out` is the output of a ReLU (a ReLU keeps its output to "
                         "compute its gradient). Write `out = out + identity` instead. "
                         f"PyTorch said: {str(error).split(' Hint:')[0]}")
        _fail(check, f"the backward pass of {what} raised RuntimeError: {error}")
    if raw.grad is None or not torch.isfinite(raw.grad).all() or raw.grad.abs().sum() == 0:
        _fail(check, f"no gradient reaches the input of {what}: is the output computed from x with differentiable "
                     "operations (no .detach(), no torch.no_grad(), no .data)?")
    unused = [name for name, p in module.named_parameters() if p.requires_grad and p.grad is None]
    if unused:
        _fail(check, f"parameter(s) {', '.join(unused)} of {what} received no gradient: are they used in forward()?")
    return out


# ======================================================================================
# Chapter 1: the degradation problem
# ======================================================================================

# --------------------------------------------------------------------------- an identity layer


def reference_make_identity(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """The reference solution of ``ex-ch1-identity-layer``: make ``ReLU(bn(conv(x)))`` return ``x`` for ``x ≥ 0``.

    The convolution becomes a Dirac kernel (1 at the centre tap from channel ``c`` to
    channel ``c``, 0 elsewhere), so it copies its input; the BatchNorm undoes its own
    normalisation, ``γ = √(running_var + eps)`` and ``β = running_mean``, so in eval mode
    it is the identity too; the ReLU leaves non-negative inputs alone. The running
    statistics are not touched. This is the construction behind He et al. 2015, §1: a
    deeper plain network can copy a shallower one and make its extra layers identities.
    """
    with torch.no_grad():
        nn.init.dirac_(conv.weight)
        if conv.bias is not None:
            conv.bias.zero_()
        bn.weight.copy_(torch.sqrt(bn.running_var + bn.eps))
        bn.bias.copy_(bn.running_mean)


def _bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[Tensor, Tensor]:
    """γ and β of a BatchNorm (1 and 0 when it has no affine parameters)."""
    ones = torch.ones(bn.num_features)
    gamma = bn.weight.detach() if bn.weight is not None else ones
    beta = bn.bias.detach() if bn.bias is not None else torch.zeros_like(ones)
    return gamma, beta


def _diagnose_identity(check: str, conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm, channel: int) -> None:
    """Name what keeps ``ReLU(bn(conv(x)))`` from being the identity: the kernel, or the BatchNorm.

    ``channel`` is where the largest error was seen; it is named if it is one of the wrong ones.
    """
    weight = conv.weight.detach()
    out_c, in_c, kh, kw = weight.shape
    ch, cw = kh // 2, kw // 2
    centre = torch.zeros_like(weight)
    index = torch.arange(out_c)
    centre[index, index, ch, cw] = 1.0
    off = weight * (1 - centre)
    if off.abs().max() > 1e-6:
        o, i, h, w = (int(v) for v in torch.nonzero(off.abs() == off.abs().max())[0])
        _fail(check, f"the convolution is not a Dirac (copying) kernel: weight[{o}, {i}, {h}, {w}] = "
                     f"{float(weight[o, i, h, w]):.4g}, but only the centre tap from a channel to itself, "
                     f"weight[c, c, {ch}, {cw}], may be non-zero (1), so that output channel c at a pixel is input "
                     "channel c at the same pixel. torch.nn.init.dirac_(conv.weight) sets exactly that")
    scale = weight[index, index, ch, cw]
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros(out_c)
    gamma, beta = _bn_affine(bn)
    sigma = torch.sqrt(bn.running_var + bn.eps)
    # ReLU(BN(s·x + b)) = ReLU(a·x + d) with a = γ·s/σ and d = γ·(b − μ)/σ + β; the identity needs a = 1, d = 0.
    a = gamma * scale / sigma
    d = gamma * (bias - bn.running_mean) / sigma + beta
    wrong = (a - 1).abs() + d.abs()
    c = channel if float(wrong[channel]) > 1e-6 else int(wrong.argmax())
    if float(wrong[c]) <= 1e-6:
        return
    if torch.allclose(scale, torch.ones_like(scale)) and not bias.abs().any():
        hint = ""
        if abs(float(gamma[c]) - 1) < 1e-6 and abs(float(beta[c])) < 1e-6:
            hint = " (γ and β are still BatchNorm's defaults 1 and 0)"
        elif abs(float(gamma[c]) - float(torch.sqrt(bn.running_var[c]))) < 1e-6 * max(1.0, float(gamma[c])):
            hint = " (γ = √running_var forgets eps: use √(running_var + eps))"
        _fail(check, f"the BatchNorm does not undo itself: in eval mode it computes γ·(z − running_mean)/√(running_var "
                     f"+ eps) + β, so with a copying convolution it must have γ = √(running_var + eps) and "
                     f"β = running_mean. In channel {c}: γ = {float(gamma[c]):.6g} but √(running_var + eps) = "
                     f"{float(sigma[c]):.6g}; β = {float(beta[c]):.6g} but running_mean = "
                     f"{float(bn.running_mean[c]):.6g}{hint}")
    _fail(check, f"the convolution's centre taps are {float(scale[c]):.4g} (bias {float(bias[c]):.4g}) in channel {c}, "
                 f"and the BatchNorm does not compensate: together they compute {float(a[c]):.4g}·x "
                 f"{'−' if float(d[c]) < 0 else '+'} {abs(float(d[c])):.4g} in that channel, not x. Use a centre tap of 1 with no bias, γ = √(running_var + eps) and "
                 "β = running_mean")


@_small_and_fast
def check_identity_layer(layer: nn.Module) -> None:
    """Check that ``layer`` (conv → BatchNorm → ReLU, C → C channels, in eval mode) returns its input for ``x ≥ 0``.

    The layer is run, as you left it and on a copy, on non-negative inputs (a plain
    network's layers only ever see the output of a ReLU). In order: it is an
    ``nn.Module`` with an ``nn.Conv2d`` and a BatchNorm; the convolution maps C to C
    channels; it is in eval mode (in training mode BatchNorm uses each batch's own
    statistics, and no fixed weights undo those); the output has the input's shape; the
    output equals the input (else: the largest error and where, and whether the kernel is
    not a Dirac kernel or the BatchNorm does not undo itself); negative inputs become 0
    (the ReLU is there). This is the construction of He et al. 2015, §1.
    """
    check = "check_identity_layer"
    if isinstance(layer, type) or not isinstance(layer, nn.Module):
        what = layer.__name__ if isinstance(layer, type) else type(layer).__name__
        _fail(check, f"pass your layer itself, an nn.Module object such as nn.Sequential(conv, bn, relu) whose "
                     f"weights you have set, not {what}")
    convs = [m for m in layer.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in layer.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not convs or not bns:
        missing = " and ".join(n for n, found in (("nn.Conv2d", convs), ("nn.BatchNorm2d", bns)) if not found)
        _fail(check, f"your layer has no {missing}: the exercise asks for a plain network's layer, "
                     "nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU())")
    conv = convs[0]
    channels = conv.in_channels
    if conv.out_channels != conv.in_channels:
        _fail(check, f"wrong channel count: the convolution maps {conv.in_channels} to {conv.out_channels} channels; "
                     f"a layer that returns its input must keep them (nn.Conv2d({channels}, {channels}, 3, padding=1))")
    bad_stats = [m for m in bns if not m.track_running_stats]
    if bad_stats:
        _fail(check, "your BatchNorm has track_running_stats=False: it normalises every batch with that batch's own "
                     "mean and variance, even in eval mode, so no fixed γ and β can undo it. Build it with the "
                     "default nn.BatchNorm2d(C)")
    if any(m.training for m in bns):
        _fail(check, "the layer is in training mode, where BatchNorm normalises each batch with that batch's own mean "
                     "and variance: the output depends on the batch, and no fixed γ and β undo it for every batch. "
                     "Call layer.eval() — the construction is about the function the network computes at test time, "
                     "with the running statistics")

    generator = torch.Generator().manual_seed(0)
    raw = torch.randn(2, channels, 8, 8, generator=generator)
    x = raw.clamp(min=0)  # non-negative, with exact zeros, like the output of the previous layer's ReLU
    model = copy.deepcopy(layer)
    with torch.no_grad():
        y = _call(check, f"your layer on a 2×{channels}×8×8 input", model, x.clone())
    if not isinstance(y, Tensor):
        _fail(check, f"your layer returned {type(y).__name__}, not a tensor")
    if y.shape != x.shape:
        hint = ""
        if y.dim() == 4 and y.shape[1] != channels:
            hint = f" Hint: the output has {y.shape[1]} channels; it must keep all {channels}."
        elif y.dim() == 4 and y.shape[2:] != x.shape[2:]:
            hint = " Hint: a 3×3 convolution needs padding=1 (and stride 1) to keep height and width."
        _fail(check, f"wrong output shape: a {_shape(x)} input gives {_shape(y)}; the identity keeps the shape.{hint}")
    error = (y - x).abs()
    if not torch.allclose(y, x, rtol=1e-6, atol=1e-6):
        n, c, h, w = (int(v) for v in torch.nonzero(error == error.max())[0])
        where = (f"not the identity on non-negative inputs: the largest error is {float(error.max()):.3g}, at sample "
                 f"{n}, channel {c}, pixel ({h}, {w}) (input {float(x[n, c, h, w]):.4g}, output "
                 f"{float(y[n, c, h, w]):.4g})")
        if len(convs) == 1 and len(bns) == 1 and conv.groups == 1:
            try:
                _diagnose_identity(check, conv, bns[0], c)
            except ExerciseError as diagnosis:
                _fail(check, f"{where}. The cause: {str(diagnosis).removeprefix(check + ': ')}")
        _fail(check, f"{where}. Check the order conv → BatchNorm → ReLU and that nothing else is in the layer")

    negative = -x - 0.5
    with torch.no_grad():
        y_neg = _call(check, "your layer on a negative input", model, negative.clone())
    if torch.allclose(y_neg, negative, atol=1e-5):
        _fail(check, "your layer returns negative inputs unchanged: it has no ReLU. Every layer of a plain network "
                     "ends with one (conv → BatchNorm → ReLU); add nn.ReLU() at the end")
    _passed(check, f"your {channels}-channel conv → BatchNorm → ReLU layer returns its input exactly on non-negative "
                   "inputs (eval mode); negative inputs become 0 through the ReLU")


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


@_small_and_fast
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
        _fail(check, f"pass your class itself, e.g. check_residual(Residual), not a {type(residual_cls).__name__} "
                     "object: the check builds it around its own branches")
    channels = 4
    branch = _test_branch(channels)
    block = _call(check, f"{_name(residual_cls)}(branch)", residual_cls, branch)
    if not isinstance(block, nn.Module):
        _fail(check, f"{_name(residual_cls)}(branch) should be an nn.Module (subclass nn.Module), "
                     f"got {type(block).__name__}")
    own = {id(p) for p in block.parameters()}
    if not all(id(p) in own for p in branch.parameters()):
        _fail(check, "the branch's parameters are not registered in your module: store it as an attribute "
                     "(self.branch = branch) after calling super().__init__(), so that an optimiser trains it")

    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, channels, 6, 6, generator=generator)
    x_copy = x.clone()
    with torch.no_grad():
        y = _call(check, "the forward pass on a 2×4×6×6 input", block, x)
    if not isinstance(y, Tensor) or y.shape != x.shape:
        shape = "×".join(map(str, y.shape)) if isinstance(y, Tensor) else type(y).__name__
        _fail(check, f"the output should have the input's shape 2×4×6×6, got {shape}")
    if not torch.equal(x, x_copy):
        _fail(check, "your forward changed its input x in place (x += … or an in-place op on x): the caller's "
                     "tensor is overwritten; compute x + self.branch(x) as a new tensor")

    with torch.no_grad():
        f = branch(x)
    expected = x + f
    if not torch.allclose(y, expected, atol=1e-5):
        if torch.allclose(y, f, atol=1e-5):
            _fail(check, "you return F(x) only: the identity shortcut (+ x) is missing")
        if torch.allclose(y, torch.relu(expected), atol=1e-5):
            _fail(check, "you apply a ReLU after the addition; this exercise asks for the pure identity form "
                         "x + F(x) of He et al. 2016 (nothing after the addition)")
        if torch.allclose(y, 2 * x + f, atol=1e-5) or torch.allclose(y, x + 2 * f, atol=1e-5):
            _fail(check, "x or F(x) is added twice: the output should be x + F(x)")
        if torch.allclose(y, x, atol=1e-5):
            _fail(check, "your block returns x unchanged: the branch output F(x) is not added")
        error = float((y - expected).abs().max())
        _fail(check, f"the output is not x + F(x) (largest difference {error:.3g})")

    zero_branch = nn.Conv2d(channels, channels, 3, padding=1)
    nn.init.zeros_(zero_branch.weight)
    nn.init.zeros_(zero_branch.bias)
    identity_block = _call(check, f"{_name(residual_cls)}(zero branch)", residual_cls, zero_branch)
    with torch.no_grad():
        same = _call(check, "the forward pass with a zero branch", identity_block, x)
    if not torch.equal(same, x):
        _fail(check, "with a branch that outputs zeros the block must return its input exactly (F ≡ 0 ⇒ identity)")
    xg = x.clone().requires_grad_(True)
    out = identity_block(xg)
    if not out.requires_grad:
        _fail(check, "no gradient flows from the output back to x: is x detached, or the forward run under "
                     "torch.no_grad()?")
    (grad,) = torch.autograd.grad(out.sum(), xg)
    if not torch.allclose(grad, torch.ones_like(grad)):
        _fail(check, "with F ≡ 0 the gradient with respect to x should be exactly 1 everywhere (Eq. (5) of "
                     "He et al. 2016)")
    _passed(check, "output x + F(x), the identity when F ≡ 0, gradient 1 + ∂F/∂x, input left untouched")


# --------------------------------------------------------------------------- neighbour_correlation


def reference_neighbour_correlation(grads: Tensor) -> float:
    """The reference solution of ``ex-ch2-neighbour-correlation``."""
    flat = grads.reshape(grads.shape[0], -1)
    return float(F.cosine_similarity(flat[:-1], flat[1:], dim=1).mean())


def _as_number(check: str, value: Any, what: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            _fail(check, f"return one number (the mean over the neighbouring pairs), got a tensor of shape "
                         f"{'×'.join(map(str, value.shape))} for {what}")
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        _fail(check, f"return a number, got {type(value).__name__} for {what}")


@_small_and_fast
def check_neighbour_correlation(fn: Callable[[Tensor], Any]) -> None:
    """Check ``fn(grads) -> float``: the mean cosine similarity of consecutive rows of ``grads`` (n × …).

    Cases: identical rows (1), alternating signs (−1), rows of different lengths pointing
    the same way (1: divide by the norms), a slowly turning gradient (neighbours, not
    "everyone against the first row"), and image-shaped gradients (flatten each point's
    gradient first).
    """
    check = "check_neighbour_correlation"
    if not callable(fn):
        _fail(check, f"pass your function itself, e.g. check_neighbour_correlation(neighbour_correlation), "
                     f"not {type(fn).__name__}")
    generator = torch.Generator().manual_seed(0)
    row = torch.randn(1, 50, generator=generator)

    def run(grads: Tensor, what: str) -> float:
        return _as_number(check, _call(check, f"{_name(fn)} on {what}", fn, grads.clone()), what)

    value = run(row.repeat(5, 1), "five identical gradients")
    if abs(value - 1.0) > 1e-4:
        _fail(check, f"five identical gradients should give 1.0, got {value:.4g}")

    value = run(row * torch.tensor([1.0, -1.0, 1.0, -1.0]).view(4, 1), "gradients of alternating sign")
    if abs(value + 1.0 / 3.0) < 1e-4:
        _fail(check, "you compare every gradient with the first one; compare each with its neighbour "
                     "(rows i and i + 1)")
    if abs(value + 1.0) > 1e-4:
        _fail(check, f"gradients that flip sign at every step should give −1.0, got {value:.4g}")

    value = run(row * torch.tensor([1.0, 3.0, 0.5, 10.0]).view(4, 1), "gradients of different lengths")
    if abs(value - 1.0) > 1e-4:
        _fail(check, f"gradients pointing the same way with different lengths should give 1.0, got {value:.4g}: "
                     "divide the dot product by both norms (cosine similarity)")

    angles = torch.linspace(0, 1.5, 6)
    smooth = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    value = run(smooth, "a slowly turning 2-D gradient")
    neighbours = reference_neighbour_correlation(smooth)
    first = float(F.cosine_similarity(smooth[:1].expand(5, 2), smooth[1:], dim=1).mean())
    if abs(value - neighbours) > 1e-4:
        if abs(value - first) < 1e-4:
            _fail(check, "you compare every gradient with the first one; compare each with its neighbour "
                         "(rows i and i + 1)")
        _fail(check, f"for a slowly turning gradient the neighbour correlation is {neighbours:.4f}, got {value:.4f}")

    images = torch.randn(7, 3, 4, 4, generator=generator)
    value = run(images, "gradients of shape 7×3×4×4")
    expected = reference_neighbour_correlation(images)
    if abs(value - expected) > 1e-4:
        _fail(check, f"for image-shaped gradients (7×3×4×4) expected {expected:.4f}, got {value:.4f}: "
                     "flatten each point's gradient to one vector first (grads.reshape(n, -1))")
    _passed(check, "1 for equal directions, −1 for sign flips, neighbours only, any gradient shape")


# ======================================================================================
# Chapter 3: building blocks
# ======================================================================================


@dataclass(frozen=True)
class _BlockSpec:
    """What one kind of block must do, and the package's reference for it."""

    check: str
    kind: str  # "basic block", …
    reference: Callable[..., nn.Module]  # builds the reference for (in_planes, planes, stride)
    alternatives: tuple[tuple[str, Callable[..., nn.Module]], ...]  # other correct variants (label, builder)
    expansion: int
    configs: tuple[tuple[int, int, int], ...]  # (in_planes, planes, stride); the first keeps the shape
    post_activation: bool
    layout: str
    stride_hint: str


_SPATIAL = 8  # inputs are 2×C×8×8: small and fast, big enough for stride 2


def _check_expansion(spec: _BlockSpec, block_cls: type) -> None:
    expansion = getattr(block_cls, "expansion", None)
    if expansion is None:
        _fail(spec.check, f"{_name(block_cls)} has no class attribute `expansion`: add `expansion = {spec.expansion}` "
                          "(the network builder reads it to know that a block with `planes` planes outputs "
                          f"planes × {spec.expansion} channels)")
    if expansion != spec.expansion:
        _fail(spec.check, f"{_name(block_cls)}.expansion is {expansion!r}, but a {spec.kind} has expansion = "
                          f"{spec.expansion} (it outputs planes × {spec.expansion} channels)")


def _check_shape(spec: _BlockSpec, block: nn.Module, call: str, x: Tensor, out: Tensor, expected: tuple) -> None:
    if not isinstance(out, Tensor):
        _fail(spec.check, f"{call} returned {type(out).__name__}, not a tensor: forward() must return the "
                          "block's output")
    if tuple(out.shape) == expected:
        return
    hints = []
    if out.dim() == 4 and out.shape[1] != expected[1]:
        hints.append(f"the output should have planes × expansion = {expected[1]} channels")
    if out.dim() == 4 and out.shape[2:] != expected[2:]:
        stride = x.shape[2] // expected[2]
        hints.append(spec.stride_hint if stride > 1 else
                     "a block with stride 1 keeps height and width: 3×3 convolutions need padding=1")
    hint = f" Hint: {'; '.join(hints)}." if hints else ""
    _fail(spec.check, f"{call} maps a {_shape(x)} input to {_shape(out)}; expected {_shape(expected)}.{hint}")


def _check_parameters(spec: _BlockSpec, block: nn.Module, reference: nn.Module, call: str,
                      in_planes: int, planes: int, stride: int) -> None:
    got, expected = _count(block), _count(reference)
    if got == expected:
        return
    diff = got - expected
    out_planes = planes * spec.expansion
    shape_changes = stride != 1 or in_planes != out_planes
    projection = _count(reference.downsample) if getattr(reference, "downsample", None) is not None else 0
    with_bn = spec.post_activation
    identity_projection = in_planes * out_planes + (2 * out_planes if with_bn else 0)
    conv_bias = _conv_bias_count(block)
    if conv_bias and diff == conv_bias:
        hint = (f"your convolutions have biases ({conv_bias:,} parameters): build them with bias=False — the "
                "BatchNorm next to each convolution has its own shift β, so a bias is redundant")
    elif shape_changes and projection and diff == -projection:
        hint = (f"the shortcut has no projection: when the shape changes ({in_planes} → {out_planes} channels, stride "
                f"{stride}) option B uses a 1×1 convolution with stride {stride}"
                + (" followed by BatchNorm" if with_bn else "") + f" ({projection:,} parameters)")
    elif not shape_changes and diff == identity_projection:
        hint = ("there is a projection on a block whose shape does not change: option B keeps the identity there "
                "(a projection on every block is option C)")
    elif shape_changes and not with_bn and diff == 2 * out_planes:
        hint = ("the projection shortcut of a pre-activation block needs no BatchNorm: its input is already "
                "normalised (it takes ReLU(BN(x)))")
    elif _bn_param_count(block) == 0 and -diff == _bn_param_count(reference):
        hint = "there are no BatchNorm layers: every convolution of the branch is followed (or preceded) by one"
    else:
        hint = f"compare layer by layer — the reference has {_layer_listing(reference)}"
    _fail(spec.check, f"{call} has {got:,} parameters, the reference has {expected:,} ({diff:+,}). Hint: {hint}.")


def _check_zero_branch(spec: _BlockSpec, block: nn.Module, call: str) -> None:
    """With every convolution zero, F(x) = 0: the block must return ReLU(x) (post-activation) or x (pre-activation)."""
    block.eval()
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.zero_()
                if m.bias is not None:
                    m.bias.zero_()
        x = torch.randn(2, spec.configs[0][0], _SPATIAL, _SPATIAL)
        out = _call(spec.check, f"the forward pass of {call}", block, x.clone())
    expected = F.relu(x) if spec.post_activation else x
    if torch.allclose(out, expected, atol=1e-6):
        return
    prefix = f"with the residual branch switched off (every convolution weight zero), {call} should return "
    prefix += "ReLU(x)" if spec.post_activation else "x itself"
    if torch.allclose(out, torch.zeros_like(out), atol=1e-6):
        _fail(spec.check, prefix + " but it returns zeros: the shortcut is missing. A residual block adds its input "
                                   "back: out = F(x) + x (He et al. 2015, Eq. (1)).")
    if spec.post_activation and torch.allclose(out, x, atol=1e-6):
        _fail(spec.check, prefix + " but it returns x: the last ReLU must come after the addition, "
                                   "y = ReLU(F(x) + x) (He et al. 2015, Fig. 2).")
    if not spec.post_activation and torch.allclose(out, F.relu(x), atol=1e-6):
        _fail(spec.check, prefix + " but it returns ReLU(x): a pre-activation block applies nothing after the "
                                   "addition, x_{l+1} = x_l + F(x_l) (He et al. 2016, Eq. (3)).")
    _fail(spec.check, prefix + f", but the largest difference is {(out - expected).abs().max().item():.3g}: "
                               f"the shortcut must carry x unchanged to the addition ({spec.layout}).")


def _check_against_reference(spec: _BlockSpec, block_cls: type) -> str:
    """Copy the reference's weights into the student's block and compare the outputs (train and eval mode)."""
    hows, variants = set(), set()
    for in_planes, planes, stride in spec.configs:
        call = f"{_name(block_cls)}({in_planes}, {planes}, stride={stride})"
        with _seeded(1):
            reference = spec.reference(in_planes, planes, stride)
            _randomise_bn(reference, seed=2)
            block = _call(spec.check, call, block_cls, in_planes, planes, stride)
        how = _transplant(reference, block)
        if how is None:
            return ("(outputs not compared with the reference: register the layers in the reference's order, "
                    f"{', '.join(n for n, _ in reference.named_children())}, to enable that check)")
        hows.add(how)
        candidates = [("the reference", reference)]
        for label, build in spec.alternatives:
            alternative = build(in_planes, planes, stride)
            alternative.load_state_dict(reference.state_dict())
            candidates.append((label, alternative))
        with _seeded(3):
            x = torch.randn(4, in_planes, _SPATIAL, _SPATIAL)
        for mode in ("eval", "train"):
            with torch.no_grad():
                got = copy.deepcopy(block).train(mode == "train")(x.clone())
                outputs = {label: copy.deepcopy(m).train(mode == "train")(x.clone()) for label, m in candidates}
            close = [label for label, out in outputs.items()
                     if torch.allclose(got, out, rtol=1e-4, atol=1e-5 * max(1.0, out.abs().max().item()))]
            if not close:
                diff = (got - outputs["the reference"]).abs().max().item()
                hint = ""
                if stride != 1 or in_planes != planes * spec.expansion:
                    hint = " This block changes the shape: check the shortcut (its stride, and which tensor it takes)."
                _fail(spec.check, f"with the reference's weights copied into {call} ({how}), the outputs in "
                                  f"{mode} mode differ by up to {diff:.3g}. The layers must run in this order: "
                                  f"{spec.layout}.{hint}")
            if "the reference" not in close:
                variants.update(close)
    matching = f"; it matches {', '.join(sorted(variants))}" if variants else ""
    return f"(and with the reference's weights, copied {' and '.join(sorted(hows))}, equal outputs{matching})"


def _check_block(spec: _BlockSpec, block_cls: type) -> None:
    if not callable(block_cls):
        _fail(spec.check, f"pass your block class itself, e.g. {spec.check}(MyBlock), not {type(block_cls).__name__}")
    _check_expansion(spec, block_cls)
    for in_planes, planes, stride in spec.configs:
        call = f"{_name(block_cls)}({in_planes}, {planes}, stride={stride})"
        with _seeded(0):
            block = _call(spec.check, call, block_cls, in_planes, planes, stride)
            if not isinstance(block, nn.Module):
                _fail(spec.check, f"{call} is a {type(block).__name__}, not an nn.Module: subclass torch.nn.Module")
            reference = spec.reference(in_planes, planes, stride)
            raw = torch.randn(2, in_planes, _SPATIAL, _SPATIAL, requires_grad=True)
        x = F.relu(raw * 1.0)
        out = _check_input_and_backward(spec.check, call, block.train(), x, raw)
        expected = (2, planes * spec.expansion, _SPATIAL // stride, _SPATIAL // stride)
        _check_shape(spec, block, call, x, out, expected)
        _check_parameters(spec, block, reference, call, in_planes, planes, stride)
    in_planes, planes, stride = spec.configs[0]
    with _seeded(0):
        block = block_cls(in_planes, planes, stride)
    _check_zero_branch(spec, block, f"{_name(block_cls)}({in_planes}, {planes}, stride={stride})")
    compared = _check_against_reference(spec, block_cls)
    shapes = ", ".join(f"({a}, {b}, stride={s})" for a, b, s in spec.configs)
    _passed(spec.check, f"{_name(block_cls)} is a correct {spec.kind} — output shapes and parameter counts for "
            f"{shapes}, the shortcut, the backward pass without in-place trouble {compared}.")


def _reference(cls: type[nn.Module], **options: Any) -> Callable[..., nn.Module]:
    def build(in_planes: int, planes: int, stride: int) -> nn.Module:
        return cls(in_planes, planes, stride, "B", **options)
    return build


_BASIC = _BlockSpec(
    check="check_basic_block",
    kind="basic block (option B shortcut)",
    reference=_reference(BasicBlock),
    alternatives=(),
    expansion=1,
    configs=((16, 16, 1), (16, 32, 2)),
    post_activation=True,
    layout="conv3×3 (stride) → BN → ReLU → conv3×3 → BN, then + shortcut(x), then ReLU",
    stride_hint="a block with stride 2 halves height and width: give the first 3×3 convolution (and the "
                "projection shortcut) stride 2, and padding=1 to the 3×3 convolutions",
)

_BOTTLENECK = _BlockSpec(
    check="check_bottleneck",
    kind="bottleneck block (option B shortcut)",
    reference=_reference(Bottleneck),
    alternatives=(
        ("the paper's stride placement (stride on the first 1×1)", _reference(Bottleneck, stride_in_1x1=True)),
    ),
    expansion=4,
    configs=((64, 16, 1), (16, 16, 1), (64, 32, 2)),
    post_activation=True,
    layout="conv1×1 → BN → ReLU → conv3×3 (stride) → BN → ReLU → conv1×1 (×4 channels) → BN, then + shortcut(x), "
           "then ReLU",
    stride_hint="a block with stride 2 halves height and width: put the stride on the 3×3 convolution "
                "(torchvision) or on the first 1×1 (the 2015 paper), and on the projection shortcut",
)

_PREACT = _BlockSpec(
    check="check_preact_block",
    kind="pre-activation basic block (option B shortcut)",
    reference=_reference(PreActBasicBlock),
    alternatives=(),
    expansion=1,
    configs=((16, 16, 1), (16, 32, 2)),
    post_activation=False,
    layout="BN → ReLU → conv3×3 (stride) → BN → ReLU → conv3×3, then + shortcut; the projection shortcut "
           "(a 1×1 convolution, no BN) takes the pre-activated input ReLU(BN(x)), the identity takes x",
    stride_hint="a block with stride 2 halves height and width: give the first 3×3 convolution (and the "
                "projection shortcut) stride 2, and padding=1 to the 3×3 convolutions",
)


@_small_and_fast
def check_basic_block(block_cls: type) -> None:
    """Check a student's basic block (He et al. 2015, Fig. 2 / Fig. 5 left) with option B shortcuts.

    ``block_cls(in_planes, planes, stride)`` must build an ``nn.Module`` with class attribute
    ``expansion = 1`` computing ``ReLU(F(x) + shortcut(x))``, ``F`` = conv3×3 → BN → ReLU →
    conv3×3 → BN, the shortcut a 1×1 convolution + BN where the shape changes and the
    identity elsewhere. Checked: output shapes, parameter counts, that the input is not
    modified in place and gradients flow, ``ReLU(x)`` when the branch is zero, and — when
    the layers are registered in torchvision's order — equal outputs with the reference's weights.
    """
    return _check_block(_BASIC, block_cls)


@_small_and_fast
def check_bottleneck(block_cls: type) -> None:
    """Check a student's bottleneck block (He et al. 2015, Fig. 5 right, §4.1) with option B shortcuts.

    ``block_cls(in_planes, planes, stride)``: 1×1 (``planes``) → 3×3 (``planes``) → 1×1
    (``4·planes``), each followed by BN, ReLUs in between, ``expansion = 4``. Either stride
    placement is accepted (3×3 as torchvision, or first 1×1 as the paper).
    """
    return _check_block(_BOTTLENECK, block_cls)


@_small_and_fast
def check_preact_block(block_cls: type) -> None:
    """Check a student's pre-activation basic block (He et al. 2016, Fig. 1(b), Fig. 4(e)).

    ``x + F(x)`` with ``F`` = BN → ReLU → conv3×3 → BN → ReLU → conv3×3 and nothing after
    the addition; where the shape changes the shortcut is a 1×1 convolution (no BN) of the
    pre-activated input ``ReLU(BN(x))``.
    """
    return _check_block(_PREACT, block_cls)


def _residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, (BasicBlock, Bottleneck)) and getattr(m, "has_shortcut", False)]


@_small_and_fast
def check_zero_init(init_fn: Callable[[nn.Module], Any]) -> None:
    """Check a function that zero-initialises the residual branches of a network in place.

    ``init_fn(model)`` must set the weight γ (and bias β) of the *last* BatchNorm of every
    residual branch to zero — ``bn2`` in a basic block, ``bn3`` in a bottleneck — and change
    nothing else (Goyal et al. 2017, §5.1; torchvision's ``zero_init_residual``). Then every
    block computes ``ReLU(shortcut(x))``. It is tried on ResNet-20 (basic blocks, option A)
    and on a 20-layer CIFAR network of bottlenecks (option B, so shortcuts with BatchNorm).
    """
    check = "check_zero_init"
    if not callable(init_fn):
        _fail(check, f"pass your function itself, e.g. check_zero_init(my_zero_init), not {type(init_fn).__name__}")
    tried = []
    for label, options in (("ResNet-20", {}), ("ResNet-20 with bottlenecks", {"block": "bottleneck"})):
        with _seeded(0):
            model = create_model("resnet20", **options)
        _randomise_bn(model, seed=1)  # non-trivial BN statistics and scales everywhere …
        blocks = _residual_blocks(model)
        last_bn = {}
        with torch.no_grad():
            for name, block in blocks:
                last_bn[name] = next(n for n, m in block.named_children() if m is block.last_bn)
                block.last_bn.bias.zero_()  # … but β = 0 where a freshly built network has it: zeroing γ suffices
        before = copy.deepcopy(model.state_dict())
        _call(check, f"{_name(init_fn)}(model) on {label}", init_fn, model)
        # What changed besides the last BatchNorm of each branch …
        allowed = {f"{name}.{bn}.{p}" for name, bn in last_bn.items() for p in ("weight", "bias")}
        after = model.state_dict()
        extra = [k for k in before if not torch.equal(before[k], after[k]) and k not in allowed]
        changed = ""
        if extra:
            listing = ", ".join(extra[:4]) + (f" and {len(extra) - 4} more" if len(extra) > 4 else "")
            if any(".downsample." in k for k in extra):
                why = ("the shortcut's BatchNorm (downsample) must stay as it is: the shortcut is what carries the "
                       "signal while the branches are zero")
            elif any(k.endswith("weight") and after[k].dim() == 4 for k in extra):
                why = ("zero the last BatchNorm's γ instead of convolution weights, so that every convolution keeps "
                       "its He initialisation and only the BN scale has to grow during training")
            else:
                why = ("only the last BatchNorm of each residual branch should change: the stem and the other layers "
                       "of each branch keep their initialisation")
            changed = f"{_name(init_fn)}(model) changed {listing} in {label}: {why}."
        # … and is every block identity-plus-ReLU?
        model.eval()
        for name, block in blocks:
            x = torch.randn(2, block.conv1.in_channels, _SPATIAL, _SPATIAL, generator=torch.Generator().manual_seed(4))
            with torch.no_grad():
                shortcut = x if block.downsample is None else block.downsample(x)
                expected, got = F.relu(shortcut), block(x)
            if not torch.allclose(got, expected, atol=1e-6):
                gap = (got - expected).abs().max().item()
                _fail(check, f"after {_name(init_fn)}(model), block {name} ({type(block).__name__}) of {label} "
                             f"does not compute ReLU(shortcut(x)) (largest difference {gap:.3g}). "
                             f"Zero the weight γ (and the bias β) of the last BatchNorm of its residual branch, "
                             f"{name}.{last_bn[name]}; find the blocks with model.modules() and isinstance."
                             + (f" Besides, {changed}" if changed else ""))
        if changed:
            _fail(check, changed)
        tried.append(f"{label} ({len(blocks)} blocks)")
    _passed(check, f"{_name(init_fn)} zeroes exactly the last BatchNorm of every residual branch, so each block "
            f"starts as ReLU(shortcut(x)) — checked on {' and '.join(tried)}.")


# ======================================================================================
# Chapter 4: the ResNet family
# ======================================================================================

_CIFAR_WIDTHS = (16, 32, 64)
_CIFAR_SIZES = (32, 16, 8)


def _cifar_params(depth: int, **options: Any) -> int:
    return _count(create_model(f"resnet{depth}", **options))


@_small_and_fast
def check_cifar_param_formula(formula: Callable[[int], int]) -> None:
    """Check a closed formula ``formula(n)`` for the parameters of the CIFAR ResNet-(6n+2) of §4.2.

    Compared with the networks themselves (option A shortcuts, 10 classes) for n = 1, 3,
    5, 7, 9 and 18 (ResNet-8 … ResNet-110; Table 6 of He et al. 2015 lists 0.27M for
    ResNet-20 and 1.7M for ResNet-110).
    """
    check = "check_cifar_param_formula"
    if not callable(formula):
        _fail(check, f"pass your function itself, e.g. check_cifar_param_formula(my_formula), not "
                     f"{type(formula).__name__}")
    right: list[int] = []
    for n in (1, 3, 5, 7, 9, 18):
        depth = 6 * n + 2
        got = _call(check, f"{_name(formula)}({n})", formula, n)
        if isinstance(got, float) and float(got).is_integer():
            got = int(got)
        if not isinstance(got, int) or isinstance(got, bool):
            _fail(check, f"{_name(formula)}({n}) returned {got!r}; it should return the number of parameters as an int")
        expected = _cifar_params(depth)
        if got == expected:
            right.append(n)
            continue
        diff = got - expected
        message = (f"for n = {n} (ResNet-{depth}) your formula gives {got:,} parameters, the network has "
                   f"{expected:,} ({diff:+,}).")
        fc, stem = 64 * 10 + 10, 3 * 16 * 9 + 2 * 16
        model = create_model(f"resnet{depth}")
        if got == _cifar_params(depth, shortcut="B"):
            hint = ("you counted projection shortcuts (option B); the paper's CIFAR networks use option A "
                    "(zero-padding), which adds no parameters")
        elif diff == -fc:
            hint = "the classifier is missing: 64·10 weights + 10 biases = 650"
        elif diff == -10:
            hint = "the classifier's 10 biases are missing"
        elif diff == -stem or diff == -3 * 16 * 9:
            hint = "the first 3×3 convolution (3 → 16 channels, 432 weights) and its BatchNorm (32) are missing"
        elif diff == -_bn_param_count(model):
            hint = "the BatchNorm parameters are missing: γ and β, 2 per channel, after every convolution"
        elif diff == -(_bn_param_count(model) // 2):
            hint = "count both BatchNorm parameters, γ and β (2 per channel); the running statistics are buffers"
        elif right:
            hint = (f"the formula is right for n = {', '.join(map(str, right))} but not here: the count must grow "
                    "linearly in n — count one block of each stage, the first block of a stage separately")
        else:
            hint = ("count per stage: the first block of stages 2 and 3 goes from 16→32 and 32→64 channels, the "
                    "others keep 32 and 64; each block has two 3×3 convolutions and two BatchNorms")
        _fail(check, f"{message} Hint: {hint}.")
    _passed(check, f"{_name(formula)}(n) equals the parameter count of ResNet-8, -20, -32, -44, -56 and -110 "
            f"(e.g. {_cifar_params(20):,} for ResNet-20, Table 6: 0.27M).")


def _conv_calls(model: nn.Module, x: Tensor) -> tuple[Tensor, list[tuple[nn.Conv2d, tuple[int, ...]]]]:
    calls: list[tuple[nn.Conv2d, tuple[int, ...]]] = []

    def record(module: nn.Module, _inputs: Any, output: Tensor) -> None:
        calls.append((module, tuple(output.shape[1:])))

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return out, calls


@_small_and_fast
def check_cifar_resnet(build_fn: Callable[[int], nn.Module], depth: int = 20) -> None:
    """Check a student's CIFAR-10 ResNet builder against §4.2 of He et al. 2015.

    ``build_fn(depth)`` must return a network for 3×32×32 images and 10 classes: a 3×3
    convolution with 16 filters, three stages of ``n = (depth − 2) / 6`` basic blocks on
    32×32, 16×16 and 8×8 maps with 16, 32 and 64 filters, global average pooling and a
    fully connected layer — 6n+2 weighted layers — with option A (zero-padding) shortcuts,
    so that the parameter count equals Table 6's.
    """
    check = "check_cifar_resnet"
    if not callable(build_fn):
        _fail(check, f"pass your builder itself, e.g. check_cifar_resnet(my_resnet, 20), not {type(build_fn).__name__}")
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        _fail(check, f"depth {depth!r} is not a CIFAR ResNet depth: it must be 6n+2 (8, 14, 20, 32, 44, 56, 110 …)")
    n = (depth - 2) // 6
    with _seeded(0):
        model = _call(check, f"{_name(build_fn)}({depth})", build_fn, depth)
    if not isinstance(model, nn.Module):
        _fail(check, f"{_name(build_fn)}({depth}) returned {type(model).__name__}, not an nn.Module")
    with _seeded(1):
        x = torch.randn(2, 3, 32, 32)

    # 1. output shape
    model.eval()
    out, calls = _conv_calls(model, x)
    if not isinstance(out, Tensor) or tuple(out.shape) != (2, 10):
        got = _shape(out) if isinstance(out, Tensor) else type(out).__name__
        _fail(check, f"for a batch of two 3×32×32 images the network returns {got}; expected 2×10 (one score per "
                     "CIFAR-10 class): end with global average pooling, flatten, and nn.Linear(64, 10)")

    # 2. the 3×3 convolutions: how many, and on which maps
    convs3 = [(m, shape) for m, shape in calls if m.kernel_size == (3, 3)]
    expected_maps = [(16, 32, 32)] * (2 * n + 1) + [(32, 16, 16)] * (2 * n) + [(64, 8, 8)] * (2 * n)
    got_maps = [shape for _, shape in convs3]
    if got_maps != expected_maps:
        def runs(maps: list[tuple[int, ...]]) -> str:
            found: list[list[Any]] = []
            for shape in maps:
                if found and found[-1][0] == shape:
                    found[-1][1] += 1
                else:
                    found.append([shape, 1])
            return ", ".join(f"{k} × {_shape(s)}" for s, k in found) or "none"
        _fail(check, f"ResNet-{depth} has n = {n} blocks per stage, so 6n+1 = {6 * n + 1} 3×3 convolutions in "
                     f"this order: {runs(expected_maps)} (the first convolution, then 2n per stage at "
                     f"16, 32, 64 channels on 32×32, 16×16, 8×8 maps). Your network's 3×3 convolutions output: "
                     f"{runs(got_maps)}.")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    others = [m for m, _ in calls if m.kernel_size != (3, 3)]
    if len(linears) != 1:
        _fail(check, f"found {len(linears)} nn.Linear layers; the network has exactly one, the classifier "
                     f"(6n+2 = {depth} weighted layers = {6 * n + 1} convolutions + 1 fully connected)")

    # 3. parameters (option A adds none)
    got, expected = _count(model), _cifar_params(depth)
    if got != expected:
        diff = got - expected
        if others or got == _cifar_params(depth, shortcut="B"):
            hint = ("the paper's CIFAR networks use option A shortcuts (identity with zero-padded channels, "
                    "resnet_course.blocks.ZeroPadShortcut), which add no parameters; you have "
                    f"{len(others)} 1×1 projection(s)")
        elif _conv_bias_count(model) == diff:
            hint = "the convolutions have biases: use bias=False (BatchNorm follows each one)"
        elif diff == -_bn_param_count(create_model(f"resnet{depth}")):
            hint = "the BatchNorm layers are missing: one after every convolution"
        else:
            listing = _layer_listing(create_model(f"resnet{depth}"))[:300]
            hint = f"compare with create_model('resnet{depth}'): {listing} …"
        _fail(check, f"your ResNet-{depth} has {got:,} parameters, the paper's has {expected:,} ({diff:+,}). "
                     f"Hint: {hint}.")

    # 4. the shortcuts: with every block's convolutions zero, the signal must still reach the classifier
    probe = copy.deepcopy(model).eval()
    first = convs3[0][0]
    first_probe = dict(zip(model.modules(), probe.modules()))[first]
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, nn.Conv2d) and m is not first_probe:
                m.weight.zero_()
        with _seeded(2):
            a, b = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
        difference = (probe(a) - probe(b)).abs().max().item()
    if difference < 1e-6:
        _fail(check, "with every convolution after the first set to zero the network's output no longer depends on "
                     "the input: there are no shortcuts (a plain network). Each block must add its input back, "
                     "out = F(x) + shortcut(x).")

    # 5. gradients, without in-place trouble
    model.train()
    with _seeded(3):
        raw = torch.randn(2, 3, 32, 32, requires_grad=True)
    _check_input_and_backward(check, f"your ResNet-{depth}", model, raw * 1.0, raw)
    _passed(check, f"your ResNet-{depth} has {depth} weighted layers ({6 * n + 1} convolutions + 1 fully "
            f"connected), {got:,} parameters like the paper's, 16/32/64 channels on 32×32/16×16/8×8 maps "
            "and working shortcuts.")

