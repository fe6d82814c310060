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
- Chapter 7, *Why ResNets work*: :func:`check_filter_normalisation`, :func:`check_block_deleter`,
  :func:`check_path_count`
- Chapter 5, *Training ResNets on CIFAR-10*: :func:`check_lr_schedule`,
  :func:`check_confusion_summary`, :func:`check_crop_flip`, :func:`check_param_groups`
- Chapter 6, *Transfer learning on hand gestures*: :func:`check_new_head`,
  :func:`check_frozen_body`, :func:`check_finetune_param_groups`
- Chapter 8, *Beyond ResNet*: :func:`check_wrn_param_formula`, :func:`check_resnext_block`,
  :func:`check_dense_layer`, :func:`check_ddp_settings`

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
from resnet_course.summary import count_parameters

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
    # chapter 7
    "check_filter_normalisation",
    "check_block_deleter",
    "check_path_count",
    "reference_filter_normalise",
    "reference_delete_block",
    "reference_count_paths",
    # chapter 5
    "check_lr_schedule",
    "check_confusion_summary",
    "check_crop_flip",
    "check_param_groups",
    "reference_lr_at",
    "reference_confusion_summary",
    "reference_crop_flip",
    "reference_param_groups",
    # chapter 6
    "check_new_head",
    "check_frozen_body",
    "check_finetune_param_groups",
    "reference_finetune_param_groups",
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
    return sum(count_parameters(m) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


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
    got, expected = count_parameters(block), count_parameters(reference)
    if got == expected:
        return
    diff = got - expected
    out_planes = planes * spec.expansion
    shape_changes = stride != 1 or in_planes != out_planes
    projection = count_parameters(reference.downsample) if getattr(reference, "downsample", None) is not None else 0
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


_STRIDE_ON_FIRST_3X3 = ("a block with stride 2 halves height and width: give the first 3×3 convolution (and the "
                        "projection shortcut) stride 2, and padding=1 to the 3×3 convolutions")

_BASIC = _BlockSpec(
    check="check_basic_block",
    kind="basic block (option B shortcut)",
    reference=_reference(BasicBlock),
    alternatives=(),
    expansion=1,
    configs=((16, 16, 1), (16, 32, 2)),
    post_activation=True,
    layout="conv3×3 (stride) → BN → ReLU → conv3×3 → BN, then + shortcut(x), then ReLU",
    stride_hint=_STRIDE_ON_FIRST_3X3,
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
    stride_hint=_STRIDE_ON_FIRST_3X3,
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
    return count_parameters(create_model(f"resnet{depth}", **options))


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
    got, expected = count_parameters(model), _cifar_params(depth)
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



# ======================================================================================
# Chapter 7: why ResNets work
# ======================================================================================

# --------------------------------------------------------------------------- filter normalisation


def reference_filter_normalise(direction: Tensor, weight: Tensor) -> Tensor:
    """Li et al. 2018, §4: scale every filter ``direction[j]`` to the norm of ``weight[j]``; zero for 1-D tensors
    (the package's own :func:`resnet_course.landscape.filter_normalise`)."""
    from resnet_course.landscape import filter_normalise

    return filter_normalise(direction, weight)


def _filter_norms(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1)


@_small_and_fast
def check_filter_normalisation(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``fn(direction, weight)``: the filter-wise normalisation of Li et al. 2018, §4, for one tensor.

    For a convolution's weight (``out × in × k × k``) or a linear layer's (``out × in``) each
    filter ``direction[j]`` must keep its direction and get the norm of ``weight[j]``; for a
    one-dimensional parameter (BatchNorm's γ and β, a bias) the result must be zero. Neither
    argument may be changed in place.
    """
    check = "check_filter_normalisation"
    if not callable(fn):
        _fail(check, f"pass your function itself, e.g. check_filter_normalisation(my_normalise), not "
                     f"{type(fn).__name__}")
    scales = torch.tensor([0.1, 0.5, 1.0, 2.0, 3.0, 0.05, 1.5, 4.0])
    cases = {
        "a convolution weight 8×4×3×3": (torch.randn(8, 4, 3, 3), torch.randn(8, 4, 3, 3) * scales.view(8, 1, 1, 1)),
        "a linear weight 8×6": (torch.randn(8, 6), torch.randn(8, 6) * scales.view(8, 1)),
        "a BatchNorm γ of 8 channels": (torch.randn(8), 1.0 + torch.rand(8)),
    }
    for what, (direction, weight) in cases.items():
        d0, w0 = direction.clone(), weight.clone()
        out = _call(check, f"{_name(fn)}(direction, weight) for {what}", fn, direction, weight)
        if not torch.equal(direction, d0) or not torch.equal(weight, w0):
            changed = "direction" if not torch.equal(direction, d0) else "weight"
            _fail(check, f"for {what} your function changed its argument `{changed}` in place; return a new tensor "
                         "(e.g. `direction * scale`, not `direction.mul_(scale)`): the model's weights must stay as "
                         "they are, and a direction is reused")
        if not isinstance(out, Tensor) or out.shape != weight.shape:
            got = _shape(out) if isinstance(out, Tensor) else type(out).__name__
            _fail(check, f"for {what} your function returned {got}; expected a tensor of the weight's shape "
                         f"{_shape(weight)}")
        if not torch.isfinite(out).all():
            _fail(check, f"for {what} the result has NaN or infinite entries")
        if weight.ndim <= 1:
            if out.abs().max() > 0:
                _fail(check, f"for {what} the result is not zero. One-dimensional parameters (BatchNorm's γ and β, "
                             "biases) get a zero direction: Li et al. leave them where training put them — a BN "
                             "layer already undoes any rescaling of the filters before it, and moving γ or β would "
                             "change the network in a way the filter norms do not measure")
            continue
        got, want = _filter_norms(out), _filter_norms(weight)
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-6):
            if torch.allclose(got, torch.ones_like(got), rtol=1e-4):
                hint = ("every filter has norm 1: after dividing by ‖δ_j‖, multiply by the norm of the weight's own "
                        "filter, ‖θ_j‖")
            elif torch.allclose(out.transpose(0, 1).flatten(1).norm(dim=1),
                                weight.transpose(0, 1).flatten(1).norm(dim=1), rtol=1e-4):
                hint = ("you normalised along the input channels (weight[:, i]); a filter is weight[j], one output "
                        "channel: flatten(1) and norm(dim=1)")
            elif abs(out.norm() - weight.norm()) <= 1e-4 * weight.norm():
                hint = ("the whole tensor has the weight's norm, but its filters do not: you normalised the layer as "
                        "one vector. Normalise filter by filter — filter j is weight[j], one output channel")
            else:
                j = int((got - want).abs().argmax())
                hint = f"filter {j} has norm {got[j]:.4g}, the weight's filter {j} has {want[j]:.4g}"
            _fail(check, f"for {what} the filters of the result do not have the norms of the weight's filters: {hint}")
        cosine = F.cosine_similarity(out.flatten(1), direction.flatten(1), dim=1)
        if (cosine < 1 - 1e-4).any():
            j = int(cosine.argmin())
            _fail(check, f"for {what} filter {j} of the result does not point the way the random direction's filter "
                         f"does (cosine {cosine[j]:.3f}): only rescale each filter, δ_j · ‖θ_j‖ / ‖δ_j‖, do not "
                         "replace it")
    _passed(check, f"{_name(fn)} scales every filter (conv and linear) to the norm of the weight's filter, keeps its "
            "direction, and gives one-dimensional parameters a zero direction (Li et al. 2018, §4).")


# --------------------------------------------------------------------------- deleting a block


@contextlib.contextmanager
def reference_delete_block(model: nn.Module, name: str) -> Iterator[nn.Module]:
    """Replace the block ``name`` (e.g. ``"layer2.1"``) of ``model`` by ``nn.Identity`` inside the ``with``; restore it after."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    block = getattr(parent, child)
    setattr(parent, child, nn.Identity())
    try:
        yield model
    finally:
        setattr(parent, child, block)


class _Interrupted(RuntimeError):
    """Raised inside the student's ``with`` block to see that the block is restored anyway."""


def _lesion_test_model() -> nn.Module:
    model = create_model("resnet14")  # two blocks per stage: layer1.0, layer1.1, layer2.1, layer3.1 can go
    _randomise_bn(model, seed=7)
    return model.eval()


@_small_and_fast
def check_block_deleter(fn: Callable[[nn.Module, str], Any]) -> None:
    """Check a context manager ``fn(model, name)`` that deletes one block inside a ``with`` and restores it.

    Inside the ``with``, the network must compute what it computes with the block replaced by
    the identity (Veit et al. 2016, §4: a deleted residual block leaves its shortcut); after
    it — also when the code inside raised an exception — the very same module object must
    be back, and the network must compute what it computed before.
    """
    check = "check_block_deleter"
    if not callable(fn):
        _fail(check, f"pass your function itself, e.g. check_block_deleter(delete_block), not {type(fn).__name__}")
    model = _lesion_test_model()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
    for name in ("layer1.1", "layer3.1"):
        original = model.get_submodule(name)
        reference = copy.deepcopy(model)
        with torch.no_grad(), reference_delete_block(reference, name):
            expected = reference(x)
        manager = _call(check, f"{_name(fn)}(model, {name!r})", fn, model, name)
        if not (hasattr(manager, "__enter__") and hasattr(manager, "__exit__")):
            _fail(check, f"{_name(fn)}(model, {name!r}) returned {type(manager).__name__}, not a context manager: "
                         "decorate a generator function with @contextlib.contextmanager (or write a class with "
                         "__enter__ and __exit__) so that `with delete_block(model, name):` works")
        try:
            with manager:
                if model.get_submodule(name) is original:
                    _fail(check, f"inside the with block, model.{name} is still the original block: replace it, "
                                 "e.g. setattr(parent, child, nn.Identity()) with parent = "
                                 "model.get_submodule(parent_name)")
                with torch.no_grad():
                    inside = model(x)
                if torch.allclose(inside, before):
                    _fail(check, f"inside the with block the network computes exactly what it computed before: "
                                 f"{name} still runs")
                if not torch.allclose(inside, expected, atol=1e-5):
                    _fail(check, f"inside the with block the output differs from the network with {name} replaced "
                                 f"by the identity (largest difference {(inside - expected).abs().max():.3g}): the "
                                 "deleted block must pass its input through unchanged — the shortcut is what is left")
        except ExerciseError:
            raise
        except Exception as error:  # noqa: BLE001
            _fail(check, f"`with {_name(fn)}(model, {name!r}):` raised {type(error).__name__}: {error}")
        now = model.get_submodule(name)
        if now is not original:
            what = ("a copy of it" if type(now) is type(original) else f"a {type(now).__name__}")
            _fail(check, f"after the with block model.{name} is {what}, not the original block object: put the "
                         "very module back (an optimiser and other code hold references to its parameters)")
        with torch.no_grad():
            after = model(x)
        if not torch.equal(after, before):
            _fail(check, f"after the with block the network computes something else than before (largest difference "
                         f"{(after - before).abs().max():.3g}): deleting must not change the block's weights — swap "
                         "the module out and back, do not zero or edit it")
    name = "layer2.1"
    original = model.get_submodule(name)
    manager = _call(check, f"{_name(fn)}(model, {name!r})", fn, model, name)
    raised = False
    try:
        with manager:
            raise _Interrupted("an error inside the with block")  # a bug in the caller's code, or Ctrl-C
    except _Interrupted:
        raised = True
    if not raised:
        _fail(check, "an exception raised inside the with block disappeared: the context manager must not swallow it")
    if model.get_submodule(name) is not original:
        _fail(check, f"an exception inside the with block (a bug, Ctrl-C) left {name} deleted: restore the block in a "
                     "`finally:` clause around the `yield`")
    _passed(check, f"{_name(fn)} replaces a block by the identity inside the with block — the output matches the "
            "lesioned network — and puts the very same module back afterwards, also after an exception.")


# --------------------------------------------------------------------------- counting paths


def reference_count_paths(n: int, k: int) -> int:
    """The paths of length ``k`` in a residual network of ``n`` blocks unraveled (Veit et al. 2016, Eq. 6): C(n, k)."""
    import math

    return math.comb(n, k)


def check_path_count(fn: Callable[[int, int], Any]) -> None:
    """Check ``fn(n, k)``: how many of the 2^n paths of an unraveled ResNet of n blocks go through k residual branches.

    Compared for n = 1, 2, 3, 9, 27, 54 and 60 blocks and every k = 0 … n; the answer must be
    an exact integer (the counts for ResNet-110's 54 blocks pass 10^15).
    """
    import math
    import numbers

    check = "check_path_count"
    if not callable(fn):
        _fail(check, f"pass your function itself, e.g. check_path_count(count_paths), not {type(fn).__name__}")
    for n in (1, 2, 3, 9, 27, 54, 60):
        for k in range(n + 1):
            got = _call(check, f"{_name(fn)}({n}, {k})", fn, n, k)
            expected = math.comb(n, k)
            if isinstance(got, bool) or not isinstance(got, numbers.Integral):
                _fail(check, f"{_name(fn)}({n}, {k}) returned {got!r} ({type(got).__name__}); return an exact int — "
                             "floating-point numbers carry only 53 bits, and these counts grow past 2^53 (use "
                             "math.comb or integer arithmetic with //)")
            got = int(got)
            if got == expected:
                continue
            if got == 2**k:
                hint = "2^k counts the subsets of k given blocks; here the k blocks are chosen among n"
            elif got == math.perm(n, k):
                hint = ("that counts ordered choices; a path visits its blocks in network order, so the order is "
                        "fixed — divide by k!")
            elif got in (math.comb(n, k + 1) if k < n else -1, math.comb(n, k - 1) if k > 0 else -1,
                         math.comb(n + 1, k), math.comb(n - 1, k) if n > 0 else -1):
                hint = "off by one: a path of length k goes through k of the n residual branches and skips the other n−k"
            else:
                hint = "each block is either on the path's branch side or skipped, and the path's length is how many it goes through"
            _fail(check, f"{_name(fn)}({n}, {k}) = {got:,}, but a network of {n} blocks has {expected:,} path(s) of "
                         f"length {k}. Hint: {hint}.")
    _passed(check, f"{_name(fn)}(n, k) = C(n, k) for n up to 60: e.g. ResNet-110's 54 blocks give 2^54 = "
            f"{2**54:,} paths, {math.comb(54, 27):,} of them of length 27.")


# ======================================================================================
# Chapter 5: training ResNets on CIFAR-10
# ======================================================================================

PAPER_ITERATIONS = 64_000  # He et al. 2015 §4.2: 64k iterations, lr / 10 at 32k and 48k


def _scalar(check: str, value: Any, what: str) -> float:
    """One number from a float, an int, a NumPy scalar or a one-element tensor."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            _fail(check, f"{what} returned a tensor of shape {_shape(value)}; return one number")
        value = value.item()
    if isinstance(value, (bool, str, bytes)):
        _fail(check, f"{what} returned {type(value).__name__} {value!r}; return a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        _fail(check, f"{what} returned {type(value).__name__}; return a number")


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 + 1e-6 * abs(b)


# --------------------------------------------------------------------------- the paper's step schedule


def reference_lr_at(step: int) -> float:
    """The learning rate of §4.2 at ``step`` (counted from 0) of the 64k iterations.

    0.1, divided by 10 at 32k and again at 48k iterations: the reference solution of
    ``ex-ch5-lr-at``, equal to ``0.1 * schedule_multiplier("paper", 64_000)(step)``.
    """
    if step < 32_000:
        return 0.1
    if step < 48_000:
        return 0.01
    return 0.001


@_small_and_fast
def check_lr_schedule(lr_at: Callable[[int], Any]) -> None:
    """Check ``lr_at(step)``, the paper's learning rate at an iteration (He et al. 2015, §4.2).

    Compared with ``0.1 * resnet_course.train.schedule_multiplier("paper", 64_000)`` at the
    start, on both sides of each division (32k and 48k, steps counted from 0) and at the end.
    """
    from resnet_course.train import schedule_multiplier

    check = "check_lr_schedule"
    if not callable(lr_at):
        _fail(check, f"pass your function itself, e.g. check_lr_schedule(lr_at), not {type(lr_at).__name__}")
    multiplier = schedule_multiplier("paper", PAPER_ITERATIONS)
    steps = (0, 1, 1_000, 16_000, 31_998, 31_999, 32_000, 32_001, 40_000, 47_999, 48_000, 48_001, 56_000, 63_999)
    got = {s: _scalar(check, _call(check, f"{_name(lr_at)}({s})", lr_at, s), f"{_name(lr_at)}({s})") for s in steps}
    expected = {s: 0.1 * multiplier(s) for s in steps}
    wrong = [s for s in steps if not _close(got[s], expected[s])]
    if not wrong:
        _passed(check, f"{_name(lr_at)} gives 0.1 for steps 0-31,999, 0.01 from step 32,000 and 0.001 from step "
                       "48,000 to 63,999: the same as 0.1 × schedule_multiplier('paper', 64_000).")
        return
    if all(_close(got[s], multiplier(s)) for s in steps):
        _fail(check, f"{_name(lr_at)}(0) is {got[0]:g}: that is the multiplier of the base learning rate, not the "
                     "learning rate. Multiply by the paper's base lr, 0.1.")
    if not _close(got[0], 0.1):
        _fail(check, f"{_name(lr_at)}(0) is {got[0]:g}; the paper starts at lr 0.1.")
    for boundary, before, after in ((32_000, 0.1, 0.01), (48_000, 0.01, 0.001)):
        if _close(got[boundary], before) and _close(got[boundary + 1], after):
            _fail(check, f"at step {boundary:,} your lr is still {before:g}, one step late: steps count from 0, so "
                         f"after {boundary:,} iterations (steps 0 … {boundary - 1:,}) step {boundary:,} already uses "
                         f"{after:g}. Compare with `step < {boundary}`, not `step <= {boundary}`.")
        if _close(got[boundary - 1], after):
            _fail(check, f"at step {boundary - 1:,} your lr is already {after:g}, one step early: the division "
                         f"happens at {boundary:,} iterations, so steps 0 … {boundary - 1:,} use {before:g}.")
    if _close(got[56_000], 0.01):
        _fail(check, "the learning rate is 0.01 after 48k iterations too: the paper divides it by 10 a second time "
                     "at 48k, to 0.001.")
    step = wrong[0]
    _fail(check, f"at step {step:,} your lr is {got[step]:g}, the paper's is {expected[step]:g} (0.1 until 32k, "
                 "0.01 until 48k, then 0.001; each drop divides by 10).")


# --------------------------------------------------------------------------- reading a confusion matrix


def reference_confusion_summary(matrix: Tensor) -> tuple[float, Tensor]:
    """``(accuracy, per-class recall)`` of a confusion matrix (row = true class, column = predicted).

    The reference solution of ``ex-ch5-confusion``: accuracy is the trace over the total,
    the recall of class k is ``matrix[k, k]`` over row k's sum (how many images of class k
    were recognised as k).
    """
    m = torch.as_tensor(matrix).double()
    return (m.trace() / m.sum()).item(), m.diagonal() / m.sum(dim=1)


def _confusion_cases() -> list[Tensor]:
    """Matrices with unequal class counts (so accuracy ≠ mean recall, recall ≠ precision)."""
    small = torch.tensor([[50, 3, 7], [10, 20, 0], [5, 5, 90]])
    generator = torch.Generator().manual_seed(5)
    counts = torch.randint(20, 200, (10,), generator=generator)
    big = torch.randint(0, 8, (10, 10), generator=generator) + torch.diag(counts)
    return [small, big]


@_small_and_fast
def check_confusion_summary(fn: Callable[[Tensor], Any]) -> None:
    """Check ``fn(matrix) -> (accuracy, recall)`` on confusion matrices with unequal class counts.

    ``matrix[i, j]`` counts the images of true class ``i`` predicted as ``j`` (as
    :func:`resnet_course.train.confusion_matrix` returns); ``accuracy`` is a fraction and
    ``recall`` a vector with one fraction per class.
    """
    check = "check_confusion_summary"
    if not callable(fn):
        _fail(check, f"pass your function itself, e.g. check_confusion_summary(summary), not {type(fn).__name__}")
    for matrix in _confusion_cases():
        k = matrix.shape[0]
        what = f"{_name(fn)} on a {k}×{k} matrix"
        given = matrix.clone()
        result = _call(check, what, fn, given)
        if not torch.equal(given, matrix):
            _fail(check, f"{what} changed the matrix it was given (an in-place operation): compute new tensors")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            _fail(check, f"{what} returned {type(result).__name__}; return a pair (accuracy, recall)")
        accuracy = _scalar(check, result[0], f"{what} (the accuracy)")
        try:
            recall = torch.as_tensor(result[1]).double().flatten()
        except (TypeError, ValueError, RuntimeError):
            _fail(check, f"{what}: the recall is {type(result[1]).__name__}; return one number per class "
                         "(a tensor or a list)")
        m = matrix.double()
        true_accuracy, true_recall = reference_confusion_summary(matrix)
        if not _close(accuracy, true_accuracy):
            if _close(accuracy, 100 * true_accuracy):
                hint = "that is a percentage; return a fraction between 0 and 1"
            elif _close(accuracy, float(true_recall.mean())):
                hint = ("that is the mean of the per-class recalls (the 'balanced accuracy'); the accuracy counts "
                        "images, not classes: the correct predictions (the diagonal) over all images")
            elif _close(accuracy, float(m.trace())):
                hint = "that is the number of correct predictions; divide by the number of images, matrix.sum()"
            else:
                hint = "the accuracy is the diagonal's sum (correct predictions) over the sum of all entries"
            _fail(check, f"{what}: accuracy {accuracy:.4g}, expected {true_accuracy:.4g} — {hint}.")
        if recall.numel() != k:
            _fail(check, f"{what}: the recall has {recall.numel()} entries; return one per class ({k})")
        if torch.allclose(recall, true_recall, atol=1e-6):
            continue
        if torch.allclose(recall, 100 * true_recall, atol=1e-4):
            hint = "those are percentages; return fractions between 0 and 1"
        elif torch.allclose(recall, m.diagonal() / m.sum(dim=0), atol=1e-6):
            hint = ("you divided by the column sums, which gives the precision (of the images predicted as k, how "
                    "many are k); the recall divides by the row sums: of the images that are k, how many were "
                    "predicted as k")
        elif torch.allclose(recall, m.diagonal() / m.sum(), atol=1e-6):
            hint = ("you divided by the number of all images; divide each diagonal entry by its row's sum, the "
                    "number of images of that class")
        elif torch.allclose(recall, m.diagonal(), atol=1e-6):
            hint = "those are the counts of correct predictions; divide each by its row's sum"
        else:
            hint = "the recall of class k is matrix[k, k] / matrix[k].sum()"
        _fail(check, f"{what}: recall {[round(float(r), 4) for r in recall[:4]]}…, expected "
                     f"{[round(float(r), 4) for r in true_recall[:4]]}… — {hint}.")
    _passed(check, f"{_name(fn)} gives the accuracy (correct images over all images) and each class's recall "
                   "(diagonal over row sum), also when the classes have different numbers of images.")


# --------------------------------------------------------------------------- random crop and flip of a batch


def reference_crop_flip(images: Tensor, dy: Tensor, dx: Tensor, flips: Tensor, pad: int = 4) -> Tensor:
    """The augmentation of §4.2 for a batch, with given offsets: the reference of ``ex-ch5-crop-flip``.

    Pad every image with ``pad`` zero pixels on each side, cut the H×W window whose top-left
    corner is at row ``dy[b]``, column ``dx[b]`` of the padded image, and mirror it left-right
    where ``flips[b]`` is true -- what :class:`resnet_course.data.TensorLoader` computes as
    one gather.
    """
    height, width = images.shape[-2:]
    return _cut(F.pad(images, (pad, pad, pad, pad)), dy, dx, flips, height, width)  # F.pad pads with zeros


def _cut(padded: Tensor, dy: Tensor, dx: Tensor, flips: Tensor, height: int, width: int) -> Tensor:
    """Windows of ``height`` × ``width`` at (dy[b], dx[b]) of each padded image, mirrored where ``flips``."""
    crops = torch.stack([padded[b, :, int(dy[b]):int(dy[b]) + height, int(dx[b]):int(dx[b]) + width]
                         for b in range(padded.shape[0])])
    return torch.where(flips.view(-1, 1, 1, 1), crops.flip(3), crops)


@_small_and_fast
def check_crop_flip(fn: Callable[..., Any]) -> None:
    """Check ``fn(images, dy, dx, flips)`` (with ``pad=4`` by default) against :func:`reference_crop_flip`.

    The batch is ``uint8`` B×3×H×W with H ≠ W (so rows and columns cannot be swapped
    unnoticed), offsets include 0 and 2·pad, and some images are flipped.
    """
    check = "check_crop_flip"
    if not callable(fn):
        _fail(check, f"pass your function itself, e.g. check_crop_flip(crop_flip), not {type(fn).__name__}")
    pad = 4
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (6, 3, 10, 12), dtype=torch.uint8, generator=generator)  # no zero pixels
    dy = torch.tensor([0, 8, 3, 4, 8, 1])
    dx = torch.tensor([8, 0, 6, 4, 2, 7])
    flips = torch.tensor([False, True, True, False, True, False])
    given = images.clone()
    what = f"{_name(fn)}(images, dy, dx, flips)"
    out = _call(check, what, fn, given, dy.clone(), dx.clone(), flips.clone())
    if not torch.equal(given, images):
        _fail(check, f"{what} changed the input images in place; build the crops as new tensors")
    if not isinstance(out, Tensor):
        _fail(check, f"{what} returned {type(out).__name__}; return a tensor B×3×H×W")
    if tuple(out.shape) != tuple(images.shape):
        _fail(check, f"for a batch of shape {_shape(images)} {what} returned {_shape(out)}; the crops must have the "
                     f"images' own size (pad by {pad} on each side, then cut H×W back out)")
    expected = reference_crop_flip(images, dy, dx, flips, pad)
    got = out.detach().to(torch.int64)
    if torch.equal(got, expected.long()):
        _passed(check, f"{_name(fn)} pads with {pad} zero pixels, crops at (dy, dx) of the padded image and mirrors "
                       "left-right where flips is true, for every image of the batch.")
        return

    def same(candidate: Tensor) -> bool:
        return torch.equal(got, candidate.long())

    if same(reference_crop_flip(images, dy, dx, torch.zeros_like(flips), pad)):
        _fail(check, "no image is mirrored: where flips[b] is true, flip the crop left-right (torch.flip(crop, "
                     "dims=[-1]))")
    if same(reference_crop_flip(images, dy, dx, ~flips, pad)):
        _fail(check, "the images where flips[b] is False are mirrored and the others are not: flip where it is True")
    vertical = reference_crop_flip(images, dy, dx, torch.zeros_like(flips), pad)
    vertical = torch.where(flips.view(-1, 1, 1, 1), vertical.flip(2), vertical)
    if same(vertical):
        _fail(check, "you flipped up-down (dimension 2, the rows); the augmentation mirrors left-right: the last "
                     "dimension, the columns (dims=[3] or [-1])")
    flipped_first = reference_crop_flip(torch.where(flips.view(-1, 1, 1, 1), images.flip(3), images), dy, dx,
                                        torch.zeros_like(flips), pad)
    if same(flipped_first):
        _fail(check, "you flip before you crop. As a random augmentation that is just as good, but the offsets "
                     "(dy, dx) are defined on the padded *unflipped* image: crop first, then mirror the crop (this "
                     "is how TensorLoader applies them)")
    if same(reference_crop_flip(images, dx, dy, flips, pad)):
        _fail(check, "rows and columns are swapped: dy is the vertical offset (rows, dimension 2), dx the "
                     "horizontal one (columns, dimension 3)")
    height, width = images.shape[-2:]
    for mode in ("replicate", "reflect"):
        padded = F.pad(images.float(), (pad, pad, pad, pad), mode=mode).to(torch.uint8)
        if same(_cut(padded, dy, dx, flips, height, width)):
            _fail(check, f"the border is filled by '{mode}' padding; the paper (and torchvision's "
                         "RandomCrop(padding=4)) pad with zeros: F.pad(images, (4, 4, 4, 4)) with its default "
                         "mode='constant'")
    wrong = [b for b in range(images.shape[0]) if not torch.equal(got[b], expected[b].long())]
    b = wrong[0]
    _fail(check, f"image {b} (dy={int(dy[b])}, dx={int(dx[b])}, flip={bool(flips[b])}) differs from the expected "
                 f"crop in {int((got[b] != expected[b].long()).sum())} of {expected[b].numel()} values. Output pixel "
                 f"(i, j) is pixel (dy + i, dx + j) of the image padded with {pad} zeros on each side, i.e. pixel "
                 f"(dy + i − {pad}, dx + j − {pad}) of the image, or 0 outside it.")


# --------------------------------------------------------------------------- no weight decay on BN and biases


def reference_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimiser parameter groups: weight decay on the weight matrices and kernels, none on
    the 1-d parameters (BatchNorm γ and β, biases) -- the reference of ``ex-ch5-no-decay``,
    as :func:`resnet_course.train.make_optimizer` does with ``decay_bn_and_bias=False``."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]


def _kind(name: str, p: Tensor, model: nn.Module) -> str:
    owner = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    if isinstance(owner, nn.modules.batchnorm._BatchNorm):
        return "BatchNorm γ (weight)" if name.endswith("weight") else "BatchNorm β (bias)"
    if name.endswith("bias"):
        return "bias"
    return "convolution kernel" if p.ndim == 4 else "fully connected weight"


@_small_and_fast
def check_param_groups(fn: Callable[[nn.Module, float], Any]) -> None:
    """Check ``fn(model, weight_decay)`` -> parameter groups for ``torch.optim.SGD`` that exempt
    BatchNorm parameters and biases from weight decay and decay everything else.

    Tried on ResNet-20 with projection shortcuts (option B: its ``downsample.1`` BatchNorms
    are not called ``bn…``). A group without a ``"weight_decay"`` key gets the optimiser's
    default, here ``weight_decay``, as it would in ``SGD(groups, lr=…, weight_decay=…)``.
    """
    check = "check_param_groups"
    if not callable(fn):
        _fail(check, f"pass your function itself, e.g. check_param_groups(param_groups), not {type(fn).__name__}")
    model = create_model("resnet20", shortcut="B")
    weight_decay = 5e-4
    what = f"{_name(fn)}(model, {weight_decay})"
    groups = _call(check, what, fn, model, weight_decay)
    if isinstance(groups, dict) or not isinstance(groups, (list, tuple)):
        _fail(check, f"{what} returned {type(groups).__name__}; return a list of groups, each a dict "
                     "{'params': [...], 'weight_decay': ...}")
    names = {id(p): n for n, p in model.named_parameters()}
    decay_of: dict[str, list[float]] = {}
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or "params" not in group:
            _fail(check, f"group {i} is {type(group).__name__}, not a dict with a 'params' list")
        params = list(group["params"])
        decay = _scalar(check, group.get("weight_decay", weight_decay), f"group {i}'s weight_decay")
        for p in params:
            if id(p) not in names:
                _fail(check, f"group {i} holds a tensor that is not a parameter of the model")
            decay_of.setdefault(names[id(p)], []).append(decay)
    missing = [n for n in names.values() if n not in decay_of]
    if missing:
        _fail(check, f"{len(missing)} parameter(s) are in no group, e.g. {', '.join(missing[:3])}: every parameter "
                     "must be in exactly one group, or the optimiser never updates it")
    twice = [n for n, d in decay_of.items() if len(d) > 1]
    if twice:
        _fail(check, f"{len(twice)} parameter(s) are in more than one group, e.g. {', '.join(twice[:3])} "
                     "(torch.optim refuses that): put each in exactly one")
    problems: dict[str, list[str]] = {}
    for name, p in model.named_parameters():
        want = weight_decay if p.ndim > 1 else 0.0
        got = decay_of[name][0]
        if not _close(got, want):
            problems.setdefault(_kind(name, p, model), []).append(f"{name} (weight_decay={got:g})")
    if not problems:
        n_decay = sum(1 for p in model.parameters() if p.ndim > 1)
        n_free = sum(1 for p in model.parameters() if p.ndim <= 1)
        _passed(check, f"{n_decay} weight tensors (kernels and the classifier's matrix) get weight decay "
                       f"{weight_decay:g}, the {n_free} BatchNorm γ/β and bias tensors none, each in exactly one group.")
        return
    kind, examples = next(iter(problems.items()))
    if kind in ("convolution kernel", "fully connected weight"):
        hint = (f"the {kind}s must keep weight decay {weight_decay:g} (the function's argument): only 1-d parameters "
                "are exempt — select by p.ndim, not by name")
    elif kind.startswith("BatchNorm"):
        hint = ("BatchNorm parameters must have weight_decay 0. Names are unreliable (this network's shortcut "
                "BatchNorms are called downsample.1, not bn…): every 1-d parameter, p.ndim <= 1, is a BN γ/β or a "
                "bias")
    else:
        hint = "biases must have weight_decay 0, like the BatchNorm parameters: exempt every parameter with p.ndim <= 1"
    _fail(check, f"{len(examples)} {kind} tensor(s) have the wrong weight decay, e.g. {', '.join(examples[:2])}: "
                 f"{hint}.")


# ======================================================================================
# Chapter 6: transfer learning on hand gestures
# ======================================================================================


def _trained_cifar_network(seed: int = 0) -> nn.Module:
    """A CIFAR ResNet-20 with random weights and non-trivial BatchNorm statistics (stands in for a trained one)."""
    with _seeded(seed):
        model = create_model("resnet20")
    _randomise_bn(model, seed + 1)
    return model.eval()


def _matches(name: str, names: Sequence[str]) -> str | None:
    """The entry of ``names`` that ``name`` is, possibly under a prefix (``body.conv1.weight`` is ``conv1.weight``).

    The longest match wins: ``body.layer1.0.bn1.weight`` is ``layer1.0.bn1.weight``, not ``bn1.weight``.
    """
    found = [c for c in names if name == c or name.endswith("." + c)]
    return max(found, key=len) if found else None


def _out_features_hint(model: nn.Module, k: int, got: int) -> str:
    fc = getattr(model, "fc", None)
    if isinstance(fc, nn.Linear) and fc.out_features == k and fc.weight.shape[0] != k:
        return ("changing fc.out_features only edits a number: the weight keeps its "
                f"{fc.weight.shape[0]} rows. Assign a new layer: model.fc = nn.Linear(model.fc.in_features, {k})")
    if got == 10:
        return "that is still the CIFAR-10 classifier: replace model.fc by a new nn.Linear with k outputs"
    return f"the new classifier needs {k} outputs, one per class"


# --------------------------------------------------------------------------- a new head


@_small_and_fast
def check_new_head(replace_head: Callable[[nn.Module, int], nn.Module]) -> None:
    """Check ``replace_head(model, k)``: the trained body unchanged under a new ``k``-way classifier.

    The network given is a CIFAR ResNet-20 (``model.fc`` reads 64 features); the one
    returned must output ``k`` logits, keep every weight and BatchNorm statistic of the
    body, and have exactly ``64 k + k`` classifier parameters, all trainable.
    """
    check = "check_new_head"
    if not callable(replace_head):
        _fail(check, f"pass your function itself, e.g. check_new_head(replace_head), not {type(replace_head).__name__}")
    for k in (6, 3):
        original = _trained_cifar_network(seed=k)
        body = {name: t.clone() for name, t in original.state_dict().items() if not name.startswith("fc.")}
        body_params = sum(p.numel() for name, p in original.named_parameters() if not name.startswith("fc."))
        what = f"replace_head(resnet20, {k})"
        model = _call(check, what, replace_head, original, k)
        if not isinstance(model, nn.Module):
            _fail(check, f"{what} returned {type(model).__name__}; return the network (an nn.Module)")
        with _seeded(7):
            x = torch.randn(2, 3, 32, 32)
        out = _call(check, f"the network {what} returned, on a 2×3×32×32 batch", model.eval(), x)
        if not isinstance(out, Tensor) or out.shape != (2, k):
            got = out.shape[-1] if isinstance(out, Tensor) and out.ndim == 2 else -1
            shape = _shape(out) if isinstance(out, Tensor) else type(out).__name__
            _fail(check, f"{what}: the output is {shape}, expected 2×{k} — {_out_features_hint(model, k, got)}.")
        expected, got = body_params + 64 * k + k, count_parameters(model)
        if got != expected:
            if got > expected:
                hint = (f"{got - expected:,} too many: did you put a new layer after the old 10-way classifier instead "
                        "of replacing it? The old head must go: model.fc = nn.Linear(64, k)")
            else:
                hint = f"{expected - got:,} too few: the classifier is a 64 → {k} linear layer with a bias"
            _fail(check, f"{what} has {got:,} parameters, expected {expected:,} (the body's {body_params:,} and "
                         f"64·{k} + {k} in the new classifier) — {hint}.")
        state = model.state_dict()
        where = {_matches(key, list(body)): key for key in state}
        for name, tensor in body.items():
            if name not in where:
                _fail(check, f"{what}: the body's {name} is gone; keep the network you were given and change only "
                             "its classifier")
            if not torch.equal(state[where[name]], tensor):
                _fail(check, f"{what}: the body's {name} differs from the trained network's. The body must keep its "
                             "trained weights and BatchNorm statistics (did you build a new network with "
                             "create_model instead of changing the one you were given?).")
        frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
        if frozen:
            _fail(check, f"{what}: {len(frozen)} parameter(s) do not require gradients, e.g. {frozen[0]}; for "
                         "fine-tuning every weight stays trainable")
    _passed(check, "the trained body is kept, weights and BatchNorm statistics, under a new k-way classifier "
            "of 64·k + k trainable parameters.")


# --------------------------------------------------------------------------- a frozen body


@_small_and_fast
def check_frozen_body(freeze_body: Callable[[nn.Module, int], nn.Module]) -> None:
    """Check ``freeze_body(model, k)``: feature extraction, a frozen body under a new trainable head.

    The network given is a CIFAR ResNet-20 with trained-looking BatchNorm statistics. The
    returned network is put in training mode (as :func:`resnet_course.train.fit` does every
    epoch) and trained for one step; the check then asks that only a new 64 → ``k`` head
    requires and gets gradients, that the body's weights and BatchNorm running statistics
    are unchanged, and that the body computes the given network's features.
    """
    check = "check_frozen_body"
    if not callable(freeze_body):
        _fail(check, f"pass your function itself, e.g. check_frozen_body(freeze_body), not {type(freeze_body).__name__}")
    k = 6
    original = _trained_cifar_network(seed=3)
    reference = copy.deepcopy(original).eval()
    body_names = [name for name, _ in original.named_parameters() if not name.startswith("fc.")]
    body_ids = {id(p) for name, p in original.named_parameters() if not name.startswith("fc.")}
    what = f"freeze_body(resnet20, {k})"
    model = _call(check, what, freeze_body, original, k)
    if not isinstance(model, nn.Module):
        _fail(check, f"{what} returned {type(model).__name__}; return the network (an nn.Module)")
    buffers = {name: b.clone() for name, b in model.named_buffers()}

    def in_body(name: str, p: Tensor) -> bool:
        return id(p) in body_ids or _matches(name, body_names) is not None

    # 1. only the head is trainable
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    leaks = [name for name, p in trainable if in_body(name, p)]
    if leaks:
        _fail(check, f"{len(leaks)} of the body's parameter tensors still require gradients (e.g. {', '.join(leaks[:3])}): "
                     "call requires_grad_(False) on every parameter of the body")
    if not trainable:
        _fail(check, "no parameter requires a gradient: the new head must stay trainable (create it after freezing "
                     "the body, or leave its requires_grad alone)")
    n_trainable = sum(p.numel() for _, p in trainable)
    if n_trainable != 64 * k + k:
        _fail(check, f"{n_trainable:,} trainable parameters ({', '.join(n for n, _ in trainable[:4])}), expected "
                     f"{64 * k + k} — one new 64 → {k} linear layer with a bias; the old 10-way classifier must not be "
                     "trained (drop it, or leave it frozen and unused)")

    # 2. a training step as fit does it: train mode, forward, backward, SGD on the trainable parameters
    model.train()
    with _seeded(11):
        x, y = torch.randn(16, 3, 32, 32), torch.randint(0, k, (16,))
    out = _call(check, f"the network {what} returned, in training mode on a 16×3×32×32 batch", model, x)
    if not isinstance(out, Tensor) or out.shape != (16, k):
        got = out.shape[-1] if isinstance(out, Tensor) and out.ndim == 2 else -1
        shape = _shape(out) if isinstance(out, Tensor) else type(out).__name__
        _fail(check, f"the output is {shape}, expected 16×{k} — {_out_features_hint(model, k, got)}.")
    changed = [name for name, b in model.named_buffers()
               if name in buffers and not name.endswith("num_batches_tracked") and not torch.equal(b, buffers[name])]
    if changed:
        training_bn = [name for name, m in model.named_modules()
                       if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
        _fail(check, f"after model.train() and one forward pass the body's BatchNorm statistics changed "
                     f"({changed[0]}, {len(changed)} buffers in all; {len(training_bn)} BatchNorm layers are in "
                     "training mode). Frozen weights are not enough: a BatchNorm in training mode normalises with "
                     "the batch's statistics and re-estimates its running mean and variance on the new data, so the "
                     "features drift away from the trained network's. fit() calls model.train() every epoch, so "
                     "setting body.eval() once does not last: override train() in your module to put the body "
                     "back in eval mode (super().train(mode); self.body.eval(); return self).")
    if not out.requires_grad:
        _fail(check, "the output does not depend on any trainable parameter: is the new head used in forward()?")
    loss = F.cross_entropy(out, y)
    _call(check, "backward() through your network", loss.backward)
    with_grad = [name for name, p in model.named_parameters()
                 if in_body(name, p) and p.grad is not None and p.grad.abs().sum() > 0]
    if with_grad:
        _fail(check, f"the body's {with_grad[0]} received a gradient; the body must be frozen")
    if all(p.grad is None or not p.grad.abs().sum() > 0 for _, p in trainable):
        _fail(check, "the head received no gradient: is it used in forward()?")

    # 3. the body computes the given network's features: compare with the head applied to them
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.weight.requires_grad]
    if len(heads) == 1:
        model.eval()
        with torch.no_grad():
            mine = model(x)
            expected = heads[0](reference.features(x))
        if not torch.allclose(mine, expected, atol=1e-5, rtol=1e-4):
            _fail(check, "in eval mode your network's output is not the new head applied to the given network's "
                         "features (largest difference "
                         f"{(mine - expected).abs().max().item():.2g}): keep the given network's body and weights, up "
                         "to its global average pooling, and put only the new head after it")
    _passed(check, f"only the new {k}-way head ({64 * k + k} parameters) is trained; in training mode the body gets no "
            "gradient and its BatchNorm statistics stay those of the trained network.")


# --------------------------------------------------------------------------- two learning rates


def reference_finetune_param_groups(model: nn.Module, head_lr: float, body_lr: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups: ``model.fc`` at ``head_lr``, every other trainable parameter at ``body_lr``.

    The reference solution of ``ex-ch6-two-lrs`` ("discriminative" learning rates: the new
    head starts from random numbers and may move fast, the pre-trained body should move
    little). Pass the groups to ``torch.optim.SGD(groups, momentum=0.9)``.
    """
    head = [p for p in model.fc.parameters() if p.requires_grad]
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    return [{"params": body, "lr": body_lr}, {"params": head, "lr": head_lr}]


@_small_and_fast
def check_finetune_param_groups(fn: Callable[[nn.Module, float, float], Any]) -> None:
    """Check ``fn(model, head_lr, body_lr)``: optimizer groups, the classifier ``model.fc`` at ``head_lr``, the rest at ``body_lr``.

    Every trainable parameter must be in exactly one group, and ``torch.optim.SGD`` must
    accept the groups; frozen parameters may be left out.
    """
    check = "check_finetune_param_groups"
    if not callable(fn):
        _fail(check, f"pass your function itself, e.g. check_finetune_param_groups(param_groups), not "
                     f"{type(fn).__name__}")
    head_lr, body_lr = 0.1, 0.01
    model = create_model("resnet20", num_classes=6)
    what = f"{_name(fn)}(model, head_lr={head_lr}, body_lr={body_lr})"
    groups = _call(check, what, fn, model, head_lr, body_lr)
    if isinstance(groups, dict):
        groups = [groups]
    try:
        groups = list(groups)
    except TypeError:
        _fail(check, f"{what} returned {type(groups).__name__}; return a list of dicts "
                     "[{'params': [...], 'lr': ...}, ...]")
    if not groups or not all(isinstance(g, dict) and "params" in g for g in groups):
        _fail(check, f"{what} must return a list of dicts, each with a 'params' list and an 'lr'")
    missing_lr = [i for i, g in enumerate(groups) if "lr" not in g]
    if missing_lr:
        _fail(check, f"group {missing_lr[0]} has no 'lr': without one it takes the optimizer's default, the same for "
                     "every group; give each group its own learning rate")
    names = {id(p): name for name, p in model.named_parameters()}
    lr_of: dict[str, list[float]] = {}
    for g in groups:
        params = [g["params"]] if isinstance(g["params"], Tensor) else list(g["params"])
        for p in params:
            if id(p) not in names:
                _fail(check, f"a group holds a tensor of shape {_shape(p)} that is not a parameter of the model")
            lr_of.setdefault(names[id(p)], []).append(float(g["lr"]))
    twice = [name for name, lrs in lr_of.items() if len(lrs) > 1]
    if twice:
        _fail(check, f"{len(twice)} parameter(s) are in more than one group (e.g. {twice[0]}); SGD refuses that. "
                     "Put the classifier's parameters in one group and all the others in the other")
    left_out = [name for name, p in model.named_parameters() if p.requires_grad and name not in lr_of]
    if left_out:
        _fail(check, f"{len(left_out)} trainable parameter(s) are in no group (e.g. {left_out[0]}): the optimizer would "
                     "never update them")
    for name, (lr,) in lr_of.items():
        expected = head_lr if name.startswith("fc.") else body_lr
        if not _close(lr, expected):
            part = "the new classifier" if name.startswith("fc.") else "the pre-trained body"
            if _close(lr, head_lr if expected == body_lr else body_lr):
                hint = "the two learning rates are swapped"
            else:
                hint = f"{part} takes {'head_lr' if expected == head_lr else 'body_lr'}"
            _fail(check, f"{name} ({part}) has lr {lr:g}, expected {expected:g} — {hint}.")
    try:
        torch.optim.SGD(groups, lr=1.0, momentum=0.9)
    except (TypeError, ValueError) as error:
        _fail(check, f"torch.optim.SGD does not accept the groups: {error}")
    _passed(check, f"{len(lr_of)} parameter tensors in {len(groups)} groups: the classifier at head_lr, the body at "
            "body_lr, each exactly once.")


# ======================================================================================
# Chapter 8: beyond ResNet
# ======================================================================================

__all__ += [
    "check_wrn_param_formula",
    "check_resnext_block",
    "check_dense_layer",
    "check_ddp_settings",
    "ReferenceResNeXtBlock",
    "reference_wrn_params",
    "reference_ddp_settings",
]

_WRN_CASES = ((10, 2), (16, 4), (16, 8), (22, 2), (28, 10), (40, 4))


def reference_wrn_params(depth: int, k: int, num_classes: int = 10) -> int:
    """Parameters of WRN-``depth``-``k`` (k ≥ 2) in closed form (Zagoruyko & Komodakis 2016, Table 1).

    Per stage s = 0, 1, 2 of width w = 16k·2^s and input width i (16, then the previous w):
    a first block BN(i) + 3×3 (i→w) + BN(w) + 3×3 (w→w) + a 1×1 projection (i→w), then
    n - 1 blocks of two BNs and two 3×3 convolutions at w; plus the stem (3×3, 3→16), the
    final BN and the classifier.
    """
    n = (depth - 4) // 6
    total, inputs = 9 * 3 * 16, 16
    for width in (16 * k, 32 * k, 64 * k):
        total += 2 * inputs + 9 * inputs * width + 2 * width + 9 * width * width + inputs * width
        total += (n - 1) * (4 * width + 18 * width * width)
        inputs = width
    return total + 2 * inputs + inputs * num_classes + num_classes


def _wrn_parts(depth: int, k: int) -> dict[str, int]:
    """The pieces of a WRN's parameter count that a formula most often gets wrong."""
    from resnet_course.variants import WideBasicBlock, wide_resnet

    with torch.device("meta"):
        model = wide_resnet(depth, k)
    blocks = [m for m in model.modules() if isinstance(m, WideBasicBlock)]
    return {
        "total": count_parameters(model),
        "projections": sum(count_parameters(b.downsample) for b in blocks if b.downsample is not None),
        "block BatchNorms": sum(count_parameters(b.bn1) + count_parameters(b.bn2) for b in blocks),
        "final BatchNorm": count_parameters(model.final_bn),
        "classifier": count_parameters(model.fc),
        "stem": count_parameters(model.conv1),
        "first BatchNorms": sum(count_parameters(s[0].bn1) for s in (model.layer1, model.layer2, model.layer3)),
    }


@_small_and_fast
def check_wrn_param_formula(formula: Callable[[int, int], int]) -> None:
    """Check ``formula(depth, k)`` against the parameter count of WRN-depth-k (10 classes, k ≥ 2).

    Compared with the networks themselves (built on the meta device) for WRN-10-2, 16-4,
    16-8, 22-2, 28-10 and 40-4 (Zagoruyko & Komodakis 2016: 2.7M for WRN-16-4, 36.5M for
    WRN-28-10).
    """
    check = "check_wrn_param_formula"
    if not callable(formula):
        _fail(check, f"pass your function itself, e.g. check_wrn_param_formula(wrn_params), not {type(formula).__name__}")
    for depth, k in _WRN_CASES:
        got = _call(check, f"{_name(formula)}({depth}, {k})", formula, depth, k)
        if isinstance(got, float) and float(got).is_integer():
            got = int(got)
        if not isinstance(got, int) or isinstance(got, bool):
            _fail(check, f"{_name(formula)}({depth}, {k}) returned {got!r}; return the number of parameters as an int")
        parts = _wrn_parts(depth, k)
        expected = parts["total"]
        if got == expected:
            continue
        diff = got - expected
        message = f"for WRN-{depth}-{k} your formula gives {got:,} parameters, the network has {expected:,} ({diff:+,})."
        hints = {
            "projections": "the three 1×1 projection shortcuts (16→16k, 16k→32k, 32k→64k, no bias, no BN)",
            "block BatchNorms": "the two BatchNorms (γ and β) inside every block",
            "first BatchNorms": "the first BatchNorm of the first block of each stage, which sees the stage's input "
                                "width (16, 16k, 32k), not its output width",
            "final BatchNorm": "the final BatchNorm before pooling (2 · 64k parameters)",
            "classifier": "the classifier (64k · 10 weights + 10 biases)",
            "stem": "the stem (a 3×3 convolution from 3 to 16 channels, 432 weights)",
        }
        for part, hint in hints.items():
            if abs(diff) == parts[part]:
                _fail(check, f"{message} That is exactly {hint}: you {'counted that twice' if diff > 0 else 'left that out'}.")
        n = (depth - 4) // 6
        _fail(check, f"{message} Check n = (depth - 4) / 6 = {n} blocks per stage, widths 16k, 32k, 64k = "
                     f"{16 * k}, {32 * k}, {64 * k}, and that only the first block of a stage changes the width "
                     f"(compare stage by stage with summary(wide_resnet({depth}, {k}), (1, 3, 32, 32))).")
    _passed(check, f"{_name(formula)}(depth, k) equals the parameter count of WRN-10-2, -16-4, -16-8, -22-2, -28-10 "
            f"and -40-4 (e.g. {reference_wrn_params(28, 10):,} for WRN-28-10, the paper's 36.5M).")


class ReferenceResNeXtBlock(nn.Module):
    """A ResNeXt bottleneck (Xie et al. 2017, Fig. 3(c)): 1×1 → grouped 3×3 → 1×1, plus the shortcut.

    ``in_channels → C·d`` (1×1, BN, ReLU), ``C·d → C·d`` in ``C`` groups (3×3, stride, BN,
    ReLU), ``C·d → out_channels`` (1×1, BN); the input is added back (through a 1×1
    projection with BN where the shape changes) and a ReLU follows the addition.
    """

    def __init__(self, in_channels: int, out_channels: int, cardinality: int, bottleneck_width: int,
                 stride: int = 1) -> None:
        super().__init__()
        width = cardinality * bottleneck_width
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


@_small_and_fast
def check_resnext_block(block_cls: Callable[..., nn.Module]) -> None:
    """Check ``block_cls(in_channels, out_channels, cardinality, bottleneck_width, stride=1)``, a ResNeXt bottleneck.

    Three configurations (a widening block with projection, an identity block, a strided
    block): output shape, the grouped 3×3 convolution, the parameter count against
    :class:`ReferenceResNeXtBlock`, the outputs with the same weights, and the backward pass.
    """
    check = "check_resnext_block"
    if not callable(block_cls):
        _fail(check, f"pass your class itself, e.g. check_resnext_block(MyResNeXtBlock), not {type(block_cls).__name__}")
    for in_c, out_c, groups, d, stride in ((32, 64, 4, 4, 1), (64, 64, 8, 2, 1), (64, 128, 4, 8, 2)):
        call = f"{_name(block_cls)}({in_c}, {out_c}, cardinality={groups}, bottleneck_width={d}, stride={stride})"
        block = _call(check, call, block_cls, in_c, out_c, groups, d, stride=stride)
        if not isinstance(block, nn.Module):
            _fail(check, f"{call} returned {type(block).__name__}, not an nn.Module")
        reference = ReferenceResNeXtBlock(in_c, out_c, groups, d, stride)
        width = groups * d
        # 1. the grouped convolution
        threes = [m for m in block.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
        if len(threes) != 1:
            _fail(check, f"{call} has {len(threes)} 3×3 convolutions; a ResNeXt bottleneck has exactly one, the grouped "
                         f"one in the middle (1×1 → 3×3 → 1×1)")
        conv = threes[0]
        if conv.groups != groups:
            extra = ""
            if conv.groups == 1:
                extra = (f" With groups=1 it is an ordinary dense 3×3 convolution with {9 * width * width:,} weights; "
                         f"{groups} groups keep only {9 * width * width // groups:,} (1/C): "
                         f"nn.Conv2d({width}, {width}, 3, padding=1, groups={groups}, bias=False)")
            _fail(check, f"the 3×3 convolution of {call} has groups={conv.groups}, expected the cardinality "
                         f"{groups}.{extra}")
        if conv.in_channels != width or conv.out_channels != width:
            _fail(check, f"the grouped 3×3 convolution of {call} maps {conv.in_channels} → {conv.out_channels} "
                         f"channels; it should work on cardinality × bottleneck_width = {groups} × {d} = {width} "
                         f"channels ({d} per group)")
        if conv.stride != (stride, stride):
            _fail(check, f"the 3×3 convolution of {call} has stride {conv.stride}; put the block's stride "
                         f"({stride}) on it, as ResNeXt (and torchvision) do")
        # 2. shape
        x = torch.randn(2, in_c, 8, 8)
        block.eval()
        with torch.no_grad():
            out = _call(check, f"the forward pass of {call}", block, x)
        expected_shape = (2, out_c, 8 // stride, 8 // stride)
        if tuple(out.shape) != expected_shape:
            _fail(check, f"{call} maps an input of shape {_shape(x)} to {_shape(out)}, expected "
                         f"{_shape(expected_shape)}")
        # 3. parameters
        got, want = count_parameters(block), count_parameters(reference)
        if got != want:
            diff = got - want
            projection = count_parameters(reference.shortcut)
            if _conv_bias_count(block) == diff:
                hint = "the convolutions have biases: use bias=False (a BatchNorm follows each one)"
            elif projection and diff == -projection:
                hint = (f"the shortcut: the shape changes ({in_c}→{out_c} channels, stride {stride}), so it needs a "
                        f"1×1 projection with stride and a BatchNorm ({projection:,} parameters)")
            elif not projection and diff > 0:
                hint = f"the shape does not change here ({in_c}→{out_c}, stride 1): the shortcut is the identity"
            else:
                hint = f"compare layer by layer with ReferenceResNeXtBlock: {_layer_listing(reference)}"
            _fail(check, f"{call} has {got:,} parameters, expected {want:,} ({diff:+,}). Hint: {hint}.")
        # 4. the same function as the reference, with the same weights
        how = _transplant(reference, block)
        if how is not None:
            _randomise_bn(reference, 1)
            _transplant(reference, block)
            reference.eval()
            with torch.no_grad():
                gap = (block(x) - reference(x)).abs().max().item()
            if gap > 1e-4:
                _fail(check, f"with the reference's weights (copied {how}) {call} computes something else (largest "
                             f"difference {gap:.3g}). Order: conv1 1×1 → BN → ReLU → grouped 3×3 → BN → ReLU → "
                             f"conv 1×1 → BN, add the shortcut, then ReLU.")
        # 5. backward
        block.train()
        raw = torch.randn(2, in_c, 8, 8, requires_grad=True)
        _check_input_and_backward(check, call, block, F.relu(raw), raw)
    _passed(check, "your ResNeXt block has the grouped 3×3 convolution (C groups of d channels), the right shapes, "
            "parameters and shortcut, and computes the reference's function.")


@_small_and_fast
def check_dense_layer(layer_cls: Callable[[int, int], nn.Module]) -> None:
    """Check ``layer_cls(in_channels, growth_rate)``: BN → ReLU → conv 3×3, its output concatenated to its input.

    Checks the output channels (in + growth rate), that the input comes through unchanged
    as the first channels, the parameters (2·in + 9·in·k), and a stack of three layers
    (in + 3k channels, Huang et al. 2017, Eq. 2) with its backward pass.
    """
    check = "check_dense_layer"
    if not callable(layer_cls):
        _fail(check, f"pass your class itself, e.g. check_dense_layer(MyDenseLayer), not {type(layer_cls).__name__}")
    in_c, k = 16, 12
    call = f"{_name(layer_cls)}({in_c}, {k})"
    layer = _call(check, call, layer_cls, in_c, k)
    if not isinstance(layer, nn.Module):
        _fail(check, f"{call} returned {type(layer).__name__}, not an nn.Module")
    x = torch.randn(2, in_c, 8, 8)
    layer.eval()
    with torch.no_grad():
        out = _call(check, f"the forward pass of {call}", layer, x)
    if tuple(out.shape[2:]) != (8, 8) or out.shape[0] != 2:
        _fail(check, f"{call} maps {_shape(x)} to {_shape(out)}: a dense layer keeps the map size (3×3, padding 1)")
    channels = out.shape[1]
    if channels == k:
        _fail(check, f"{call} returns only the {k} new channels; a dense layer returns its input *and* them: "
                     f"torch.cat([x, new], dim=1), {in_c} + {k} = {in_c + k} channels")
    if channels == in_c:
        _fail(check, f"{call} returns {in_c} channels, as many as it gets: did you add the new features (a residual "
                     f"block) instead of concatenating them? Expected {in_c} + {k} = {in_c + k}")
    if channels != in_c + k:
        _fail(check, f"{call} returns {channels} channels, expected in_channels + growth_rate = {in_c + k}")
    if not torch.equal(out[:, :in_c], x):
        if torch.equal(out[:, k:], x):
            _fail(check, f"{call} puts the new features first; the convention (and this check) is "
                         f"torch.cat([x, new], dim=1), the input first")
        _fail(check, f"the first {in_c} output channels of {call} are not the input itself: a dense layer passes its "
                     f"input on unchanged (no BN or ReLU on that copy) and appends {k} new channels")
    got, want = count_parameters(layer), 2 * in_c + 9 * in_c * k
    if got != want:
        diff = got - want
        if _conv_bias_count(layer) == diff:
            hint = "the convolution has a bias: use bias=False (nothing needs it after a BN-ReLU-conv)"
        elif diff == -2 * in_c:
            hint = f"the BatchNorm before the convolution (2 · {in_c} parameters) is missing"
        else:
            hint = f"BN({in_c}) has {2 * in_c} parameters and a 3×3 convolution {in_c} → {k} has {9 * in_c * k:,}"
        _fail(check, f"{call} has {got:,} parameters, expected {want:,} ({diff:+,}). Hint: {hint}.")
    stack = nn.Sequential(*[_call(check, f"{_name(layer_cls)}({in_c + i * k}, {k})", layer_cls, in_c + i * k, k)
                            for i in range(3)])
    stack.train()
    raw = torch.randn(2, in_c, 8, 8, requires_grad=True)
    out = _check_input_and_backward(check, f"three stacked {_name(layer_cls)} layers", stack, F.relu(raw), raw)
    if out.shape[1] != in_c + 3 * k:
        _fail(check, f"three stacked layers return {out.shape[1]} channels, expected {in_c} + 3 · {k} = {in_c + 3 * k}")
    _passed(check, f"{call} returns its input and {k} new channels ({in_c + k} in all) with {want:,} parameters; three "
            f"of them stacked grow {in_c} channels to {in_c + 3 * k}, and gradients flow.")


def reference_ddp_settings(processes: int, per_process_batch: int, base_lr: float = 0.1,
                           base_batch: int = 128) -> tuple[int, float]:
    """Global batch and learning rate for DDP by the linear scaling rule (Goyal et al. 2017, §2.1).

    The global batch is ``processes · per_process_batch``; the learning rate grows in
    proportion to it from ``base_lr`` at ``base_batch`` (0.1 at 128: He et al. 2015, §4.2).
    """
    global_batch = processes * per_process_batch
    return global_batch, base_lr * global_batch / base_batch


@_small_and_fast
def check_ddp_settings(fn: Callable[[int, int], Any]) -> None:
    """Check ``fn(processes, per_process_batch) -> (global_batch, lr)`` (the paper's lr 0.1 at batch 128)."""
    check = "check_ddp_settings"
    if not callable(fn):
        _fail(check, f"pass your function itself, e.g. check_ddp_settings(ddp_settings), not {type(fn).__name__}")
    for processes, per_process in ((1, 128), (2, 128), (8, 64), (4, 32), (8, 256)):
        call = f"{_name(fn)}({processes}, {per_process})"
        got = _call(check, call, fn, processes, per_process)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            _fail(check, f"{call} returned {got!r}; return a pair (global_batch, lr)")
        batch, lr = got
        want_batch, want_lr = reference_ddp_settings(processes, per_process)
        if batch != want_batch:
            hint = (" — that is the per-process batch: every process takes its own batch of that size, so one "
                    "optimizer step sees processes × per_process_batch images" if batch == per_process else "")
            _fail(check, f"{call}: global batch {batch!r}, expected {want_batch}{hint}")
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            _fail(check, f"{call}: the learning rate {lr!r} is not a number")
        if abs(lr - want_lr) > 1e-9 * max(1.0, want_lr):
            if abs(lr - 0.1) < 1e-12:
                hint = ("the learning rate is unchanged: fit keeps the lr it is given, and with a larger global batch "
                        "the linear scaling rule multiplies it by global_batch / 128")
            elif abs(lr - 0.1 * processes) < 1e-9:
                hint = ("you scaled by the number of processes; scale by the global batch relative to the paper's 128 "
                        f"(here {want_batch} / 128)")
            else:
                hint = "lr = 0.1 · global_batch / 128 (0.1 at the paper's batch of 128)"
            _fail(check, f"{call}: learning rate {lr:g}, expected {want_lr:g}: {hint}")
    _passed(check, f"{_name(fn)} gives the global batch (processes × per-process) and the linearly scaled learning "
            "rate (0.1 per 128 images), e.g. 8 processes × 64 images: batch 512, lr 0.4.")
