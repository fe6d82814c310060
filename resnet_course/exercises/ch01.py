"""Chapter 1 (*The degradation problem*): the self-check of its one graded exercise.

``ex-ch1-identity-layer`` — set the weights of a plain network's conv → BatchNorm → ReLU
layer so that it returns its input: :func:`check_identity_layer` grades it, and
:func:`reference_make_identity` is the solution the chapter prints. This is the
"construction" of He et al. 2015, §1: a deeper plain network can copy a shallower one and
make its extra layers identities, so it should never train worse — and yet it does.
"""

from __future__ import annotations

import copy
from typing import NoReturn

import torch
from torch import Tensor, nn

from resnet_course.exercises.checking import (
    ExerciseError,
    fail,
    format_shape,
    run_student_code,
    self_check,
    succeed,
)

__all__ = ["check_identity_layer", "reference_make_identity"]


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
    out_c, _, kh, kw = weight.shape
    ch, cw = kh // 2, kw // 2
    centre = torch.zeros_like(weight)
    index = torch.arange(out_c)
    centre[index, index, ch, cw] = 1.0
    off = weight * (1 - centre)
    if off.abs().max() > 1e-6:
        o, i, h, w = (int(v) for v in torch.nonzero(off.abs() == off.abs().max())[0])
        fail(check, f"the convolution is not a Dirac (copying) kernel: weight[{o}, {i}, {h}, {w}] = "
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
        fail(check, f"the BatchNorm does not undo itself: in eval mode it computes γ·(z − running_mean)/√(running_var "
                     f"+ eps) + β, so with a copying convolution it must have γ = √(running_var + eps) and "
                     f"β = running_mean. In channel {c}: γ = {float(gamma[c]):.6g} but √(running_var + eps) = "
                     f"{float(sigma[c]):.6g}; β = {float(beta[c]):.6g} but running_mean = "
                     f"{float(bn.running_mean[c]):.6g}{hint}")
    fail(check, f"the convolution's centre taps are {float(scale[c]):.4g} (bias {float(bias[c]):.4g}) in channel {c}, "
                 f"and the BatchNorm does not compensate: together they compute {float(a[c]):.4g}·x "
                 f"{'−' if float(d[c]) < 0 else '+'} {abs(float(d[c])):.4g} in that channel, not x. "
                 "Use a centre tap of 1 with no bias, γ = √(running_var + eps) and "
                 "β = running_mean")


def _layer_parts(check: str, layer: object) -> tuple[list[nn.Conv2d], list[nn.modules.batchnorm._BatchNorm]]:
    """The layer's convolutions and BatchNorms, once it is shown to be a C → C conv-BN layer in eval mode."""
    if isinstance(layer, type) or not isinstance(layer, nn.Module):
        what = layer.__name__ if isinstance(layer, type) else type(layer).__name__
        fail(check, f"pass your layer itself, an nn.Module object such as nn.Sequential(conv, bn, relu) whose "
                     f"weights you have set, not {what}")
    convs = [m for m in layer.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in layer.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not convs or not bns:
        missing = " and ".join(n for n, found in (("nn.Conv2d", convs), ("nn.BatchNorm2d", bns)) if not found)
        fail(check, f"your layer has no {missing}: the exercise asks for a plain network's layer, "
                     "nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU())")
    conv = convs[0]
    if conv.out_channels != conv.in_channels:
        channels = conv.in_channels
        fail(check, f"wrong channel count: the convolution maps {conv.in_channels} to {conv.out_channels} channels; "
                     f"a layer that returns its input must keep them (nn.Conv2d({channels}, {channels}, 3, padding=1))")
    if any(not m.track_running_stats for m in bns):
        fail(check, "your BatchNorm has track_running_stats=False: it normalises every batch with that batch's own "
                     "mean and variance, even in eval mode, so no fixed γ and β can undo it. Build it with the "
                     "default nn.BatchNorm2d(C)")
    if any(m.training for m in bns):
        fail(check, "the layer is in training mode, where BatchNorm normalises each batch with that batch's own mean "
                     "and variance: the output depends on the batch, and no fixed γ and β undo it for every batch. "
                     "Call layer.eval() — the construction is about the function the network computes at test time, "
                     "with the running statistics")
    return convs, bns


def _check_shape_kept(check: str, x: Tensor, y: object) -> Tensor:
    """The layer's output on ``x`` must be a tensor of ``x``'s shape; the hint names channels or padding."""
    if not isinstance(y, Tensor):
        fail(check, f"your layer returned {type(y).__name__}, not a tensor")
    if y.shape != x.shape:
        channels, hint = x.shape[1], ""
        if y.dim() == 4 and y.shape[1] != channels:
            hint = f" Hint: the output has {y.shape[1]} channels; it must keep all {channels}."
        elif y.dim() == 4 and y.shape[2:] != x.shape[2:]:
            hint = " Hint: a 3×3 convolution needs padding=1 (and stride 1) to keep height and width."
        fail(check, f"wrong output shape: a {format_shape(x)} input gives {format_shape(y)}; the identity keeps "
                     f"the shape.{hint}")
    return y


def _explain_largest_error(check: str, x: Tensor, y: Tensor, convs: list[nn.Conv2d],
                           bns: list[nn.modules.batchnorm._BatchNorm]) -> NoReturn:
    """Fail with where ``y`` is furthest from ``x`` and, for a lone convolution and BatchNorm, why."""
    error = (y - x).abs()
    n, c, h, w = (int(v) for v in torch.nonzero(error == error.max())[0])
    where = (f"not the identity on non-negative inputs: the largest error is {float(error.max()):.3g}, at sample "
             f"{n}, channel {c}, pixel ({h}, {w}) (input {float(x[n, c, h, w]):.4g}, output "
             f"{float(y[n, c, h, w]):.4g})")
    if len(convs) == 1 and len(bns) == 1 and convs[0].groups == 1:
        try:
            _diagnose_identity(check, convs[0], bns[0], c)
        except ExerciseError as diagnosis:
            fail(check, f"{where}. The cause: {str(diagnosis).removeprefix(check + ': ')}")
    fail(check, f"{where}. Check the order conv → BatchNorm → ReLU and that nothing else is in the layer")


@self_check
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
    convs, bns = _layer_parts(check, layer)
    channels = convs[0].in_channels
    raw = torch.randn(2, channels, 8, 8, generator=torch.Generator().manual_seed(0))
    x = raw.clamp(min=0)  # non-negative, with exact zeros, like the output of the previous layer's ReLU
    model = copy.deepcopy(layer)
    with torch.no_grad():
        y = run_student_code(check, f"your layer on a 2×{channels}×8×8 input", model, x.clone())
    y = _check_shape_kept(check, x, y)
    if not torch.allclose(y, x, rtol=1e-6, atol=1e-6):
        _explain_largest_error(check, x, y, convs, bns)
    negative = -x - 0.5
    with torch.no_grad():
        y_neg = run_student_code(check, "your layer on a negative input", model, negative.clone())
    if torch.allclose(y_neg, negative, atol=1e-5):
        fail(check, "your layer returns negative inputs unchanged: it has no ReLU. Every layer of a plain network "
                     "ends with one (conv → BatchNorm → ReLU); add nn.ReLU() at the end")
    succeed(check, f"your {channels}-channel conv → BatchNorm → ReLU layer returns its input exactly on non-negative "
                   "inputs (eval mode); negative inputs become 0 through the ReLU")
