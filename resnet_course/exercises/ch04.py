"""Chapter 4 (*The ResNet family*): the self-checks of its two graded exercises.

- ``ex-ch4-param-formula`` — a closed formula for the parameters of the CIFAR
  ResNet-(6n+2) (He et al. 2015, §4.2, Table 6): :func:`check_cifar_param_formula`;
- ``ex-ch4-cifar-resnet`` — a builder of that network, stem, three stages of basic blocks
  with option A shortcuts, pooling and classifier: :func:`check_cifar_resnet`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from itertools import groupby
from typing import Any

import torch
from torch import Tensor, nn

from resnet_course.exercises.checking import (
    check_forward_backward,
    count_batchnorm_parameters,
    count_conv_biases,
    display_name,
    fail,
    format_shape,
    parameter_listing,
    require_callable,
    run_student_code,
    seeded,
    self_check,
    succeed,
)
from resnet_course.nn.inspection import trace_forward
from resnet_course.nn.registry import create_model
from resnet_course.nn.summary import count_parameters

__all__ = ["check_cifar_param_formula", "check_cifar_resnet"]


def _cifar_params(depth: int, **options: Any) -> int:
    """Parameters of the package's ResNet-``depth`` (option A unless ``shortcut`` says otherwise)."""
    return count_parameters(create_model(f"resnet{depth}", **options))


@self_check
def check_cifar_param_formula(formula: Callable[[int], int]) -> None:
    """Check a closed formula ``formula(n)`` for the parameters of the CIFAR ResNet-(6n+2) of §4.2.

    Compared with the networks themselves (option A shortcuts, 10 classes) for n = 1, 3,
    5, 7, 9 and 18 (ResNet-8 … ResNet-110; Table 6 of He et al. 2015 lists 0.27M for
    ResNet-20 and 1.7M for ResNet-110).
    """
    check = "check_cifar_param_formula"
    require_callable(check, formula, "my_formula")
    right: list[int] = []
    for n in (1, 3, 5, 7, 9, 18):
        depth = 6 * n + 2
        got = run_student_code(check, f"{display_name(formula)}({n})", formula, n)
        if isinstance(got, float) and float(got).is_integer():
            got = int(got)
        if not isinstance(got, int) or isinstance(got, bool):
            fail(check, f"{display_name(formula)}({n}) returned {got!r}; "
                        "it should return the number of parameters as an int")
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
        elif diff == -count_batchnorm_parameters(model):
            hint = "the BatchNorm parameters are missing: γ and β, 2 per channel, after every convolution"
        elif diff == -(count_batchnorm_parameters(model) // 2):
            hint = "count both BatchNorm parameters, γ and β (2 per channel); the running statistics are buffers"
        elif right:
            hint = (f"the formula is right for n = {', '.join(map(str, right))} but not here: the count must grow "
                    "linearly in n — count one block of each stage, the first block of a stage separately")
        else:
            hint = ("count per stage: the first block of stages 2 and 3 goes from 16→32 and 32→64 channels, the "
                    "others keep 32 and 64; each block has two 3×3 convolutions and two BatchNorms")
        fail(check, f"{message} Hint: {hint}.")
    succeed(check, f"{display_name(formula)}(n) equals the parameter count of ResNet-8, -20, -32, -44, -56 and -110 "
            f"(e.g. {_cifar_params(20):,} for ResNet-20, Table 6: 0.27M).")


def _conv_calls(model: nn.Module, x: Tensor) -> tuple[Tensor, list[tuple[nn.Conv2d, tuple[int, ...]]]]:
    """The model's output on ``x`` and every convolution it called, in order, with its output shape (no batch)."""
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    with trace_forward(model, convs) as trace, torch.no_grad():
        output = model(x)
    return output, [(call.module, call.output_shape[1:]) for call in trace]


def _runs(maps: list[tuple[int, ...]]) -> str:
    """``"5 × 16×32×32, 4 × 32×16×16"``: consecutive equal shapes counted."""
    return ", ".join(f"{len(list(group))} × {format_shape(shape)}" for shape, group in groupby(maps)) or "none"


def _check_logits(check: str, out: object) -> None:
    """A batch of two images must give 2×10 class scores."""
    if not isinstance(out, Tensor) or tuple(out.shape) != (2, 10):
        got = format_shape(out) if isinstance(out, Tensor) else type(out).__name__
        fail(check, f"for a batch of two 3×32×32 images the network returns {got}; expected 2×10 (one score per "
                     "CIFAR-10 class): end with global average pooling, flatten, and nn.Linear(64, 10)")


def _check_conv_maps(check: str, calls: list[tuple[nn.Conv2d, tuple[int, ...]]], depth: int) -> None:
    """The 3×3 convolutions: 6n+1 of them, on 16×32×32, then 32×16×16, then 64×8×8 maps (§4.2)."""
    n = (depth - 2) // 6
    expected = [(16, 32, 32)] * (2 * n + 1) + [(32, 16, 16)] * (2 * n) + [(64, 8, 8)] * (2 * n)
    got = [shape for m, shape in calls if m.kernel_size == (3, 3)]
    if got != expected:
        fail(check, f"ResNet-{depth} has n = {n} blocks per stage, so 6n+1 = {6 * n + 1} 3×3 convolutions in "
                     f"this order: {_runs(expected)} (the first convolution, then 2n per stage at "
                     f"16, 32, 64 channels on 32×32, 16×16, 8×8 maps). Your network's 3×3 convolutions output: "
                     f"{_runs(got)}.")


def _check_parameter_count(check: str, model: nn.Module, depth: int, projections: int) -> int:
    """The parameter count must equal the paper's network's (option A shortcuts add none); return it."""
    got, expected = count_parameters(model), _cifar_params(depth)
    if got == expected:
        return got
    diff = got - expected
    if projections or got == _cifar_params(depth, shortcut="B"):
        hint = ("the paper's CIFAR networks use option A shortcuts (identity with zero-padded channels, "
                "resnet_course.nn.ZeroPadShortcut), which add no parameters; you have "
                f"{projections} 1×1 projection(s)")
    elif count_conv_biases(model) == diff:
        hint = "the convolutions have biases: use bias=False (BatchNorm follows each one)"
    elif diff == -count_batchnorm_parameters(create_model(f"resnet{depth}")):
        hint = "the BatchNorm layers are missing: one after every convolution"
    else:
        listing = parameter_listing(create_model(f"resnet{depth}"))[:300]
        hint = f"compare with create_model('resnet{depth}'): {listing} …"
    fail(check, f"your ResNet-{depth} has {got:,} parameters, the paper's has {expected:,} ({diff:+,}). "
                 f"Hint: {hint}.")


def _check_shortcuts_carry_signal(check: str, model: nn.Module, first: nn.Conv2d) -> None:
    """With every convolution after the first set to zero, the output must still depend on the input."""
    probe = copy.deepcopy(model).eval()
    first_probe = dict(zip(model.modules(), probe.modules()))[first]
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, nn.Conv2d) and m is not first_probe:
                m.weight.zero_()
        with seeded(2):
            a, b = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
        difference = (probe(a) - probe(b)).abs().max().item()
    if difference < 1e-6:
        fail(check, "with every convolution after the first set to zero the network's output no longer depends on "
                     "the input: there are no shortcuts (a plain network). Each block must add its input back, "
                     "out = F(x) + shortcut(x).")


@self_check
def check_cifar_resnet(build_fn: Callable[[int], nn.Module], depth: int = 20) -> None:
    """Check a student's CIFAR-10 ResNet builder against §4.2 of He et al. 2015.

    ``build_fn(depth)`` must return a network for 3×32×32 images and 10 classes: a 3×3
    convolution with 16 filters, three stages of ``n = (depth − 2) / 6`` basic blocks on
    32×32, 16×16 and 8×8 maps with 16, 32 and 64 filters, global average pooling and a
    fully connected layer — 6n+2 weighted layers — with option A (zero-padding) shortcuts,
    so that the parameter count equals Table 6's. Checked in that order: the output shape,
    the 3×3 convolutions and their maps, one classifier, the parameter count, that the
    shortcuts carry the signal, and the backward pass.
    """
    check = "check_cifar_resnet"
    require_callable(check, build_fn, "my_resnet, 20", "builder")
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        fail(check, f"depth {depth!r} is not a CIFAR ResNet depth: it must be 6n+2 (8, 14, 20, 32, 44, 56, 110 …)")
    n = (depth - 2) // 6
    with seeded(0):
        model = run_student_code(check, f"{display_name(build_fn)}({depth})", build_fn, depth)
    if not isinstance(model, nn.Module):
        fail(check, f"{display_name(build_fn)}({depth}) returned {type(model).__name__}, not an nn.Module")
    with seeded(1):
        x = torch.randn(2, 3, 32, 32)
    out, calls = _conv_calls(model.eval(), x)
    _check_logits(check, out)
    _check_conv_maps(check, calls, depth)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 1:
        fail(check, f"found {len(linears)} nn.Linear layers; the network has exactly one, the classifier "
                     f"(6n+2 = {depth} weighted layers = {6 * n + 1} convolutions + 1 fully connected)")
    got = _check_parameter_count(check, model, depth, projections=sum(m.kernel_size != (3, 3) for m, _ in calls))
    _check_shortcuts_carry_signal(check, model, next(m for m, _ in calls if m.kernel_size == (3, 3)))
    model.train()
    with seeded(3):
        raw = torch.randn(2, 3, 32, 32, requires_grad=True)
    check_forward_backward(check, f"your ResNet-{depth}", model, raw * 1.0, raw)
    succeed(check, f"your ResNet-{depth} has {depth} weighted layers ({6 * n + 1} convolutions + 1 fully "
            f"connected), {got:,} parameters like the paper's, 16/32/64 channels on 32×32/16×16/8×8 maps "
            "and working shortcuts.")
