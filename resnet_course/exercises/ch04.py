"""Chapter 4 (the ResNet family): self-checks.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import Tensor, nn

from resnet_course.exercises.checking import (
    bn_param_count,
    call_checked,
    check_input_and_backward,
    conv_bias_count,
    fail,
    layer_listing,
    name_of,
    passed,
    seeded,
    shape_text,
    small_and_fast,
)
from resnet_course.nn.registry import create_model
from resnet_course.nn.summary import count_parameters

__all__ = ["check_cifar_param_formula", "check_cifar_resnet"]


# ======================================================================================
# Chapter 4: the ResNet family
# ======================================================================================

_CIFAR_WIDTHS = (16, 32, 64)
_CIFAR_SIZES = (32, 16, 8)


def _cifar_params(depth: int, **options: Any) -> int:
    return count_parameters(create_model(f"resnet{depth}", **options))


@small_and_fast
def check_cifar_param_formula(formula: Callable[[int], int]) -> None:
    """Check a closed formula ``formula(n)`` for the parameters of the CIFAR ResNet-(6n+2) of §4.2.

    Compared with the networks themselves (option A shortcuts, 10 classes) for n = 1, 3,
    5, 7, 9 and 18 (ResNet-8 … ResNet-110; Table 6 of He et al. 2015 lists 0.27M for
    ResNet-20 and 1.7M for ResNet-110).
    """
    check = "check_cifar_param_formula"
    if not callable(formula):
        fail(check, f"pass your function itself, e.g. check_cifar_param_formula(my_formula), not "
                     f"{type(formula).__name__}")
    right: list[int] = []
    for n in (1, 3, 5, 7, 9, 18):
        depth = 6 * n + 2
        got = call_checked(check, f"{name_of(formula)}({n})", formula, n)
        if isinstance(got, float) and float(got).is_integer():
            got = int(got)
        if not isinstance(got, int) or isinstance(got, bool):
            fail(check, f"{name_of(formula)}({n}) returned {got!r}; it should return the number of parameters as an int")
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
        elif diff == -bn_param_count(model):
            hint = "the BatchNorm parameters are missing: γ and β, 2 per channel, after every convolution"
        elif diff == -(bn_param_count(model) // 2):
            hint = "count both BatchNorm parameters, γ and β (2 per channel); the running statistics are buffers"
        elif right:
            hint = (f"the formula is right for n = {', '.join(map(str, right))} but not here: the count must grow "
                    "linearly in n — count one block of each stage, the first block of a stage separately")
        else:
            hint = ("count per stage: the first block of stages 2 and 3 goes from 16→32 and 32→64 channels, the "
                    "others keep 32 and 64; each block has two 3×3 convolutions and two BatchNorms")
        fail(check, f"{message} Hint: {hint}.")
    passed(check, f"{name_of(formula)}(n) equals the parameter count of ResNet-8, -20, -32, -44, -56 and -110 "
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


@small_and_fast
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
        fail(check, f"pass your builder itself, e.g. check_cifar_resnet(my_resnet, 20), not {type(build_fn).__name__}")
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        fail(check, f"depth {depth!r} is not a CIFAR ResNet depth: it must be 6n+2 (8, 14, 20, 32, 44, 56, 110 …)")
    n = (depth - 2) // 6
    with seeded(0):
        model = call_checked(check, f"{name_of(build_fn)}({depth})", build_fn, depth)
    if not isinstance(model, nn.Module):
        fail(check, f"{name_of(build_fn)}({depth}) returned {type(model).__name__}, not an nn.Module")
    with seeded(1):
        x = torch.randn(2, 3, 32, 32)

    # 1. output shape
    model.eval()
    out, calls = _conv_calls(model, x)
    if not isinstance(out, Tensor) or tuple(out.shape) != (2, 10):
        got = shape_text(out) if isinstance(out, Tensor) else type(out).__name__
        fail(check, f"for a batch of two 3×32×32 images the network returns {got}; expected 2×10 (one score per "
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
            return ", ".join(f"{k} × {shape_text(s)}" for s, k in found) or "none"
        fail(check, f"ResNet-{depth} has n = {n} blocks per stage, so 6n+1 = {6 * n + 1} 3×3 convolutions in "
                     f"this order: {runs(expected_maps)} (the first convolution, then 2n per stage at "
                     f"16, 32, 64 channels on 32×32, 16×16, 8×8 maps). Your network's 3×3 convolutions output: "
                     f"{runs(got_maps)}.")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    others = [m for m, _ in calls if m.kernel_size != (3, 3)]
    if len(linears) != 1:
        fail(check, f"found {len(linears)} nn.Linear layers; the network has exactly one, the classifier "
                     f"(6n+2 = {depth} weighted layers = {6 * n + 1} convolutions + 1 fully connected)")

    # 3. parameters (option A adds none)
    got, expected = count_parameters(model), _cifar_params(depth)
    if got != expected:
        diff = got - expected
        if others or got == _cifar_params(depth, shortcut="B"):
            hint = ("the paper's CIFAR networks use option A shortcuts (identity with zero-padded channels, "
                    "resnet_course.blocks.ZeroPadShortcut), which add no parameters; you have "
                    f"{len(others)} 1×1 projection(s)")
        elif conv_bias_count(model) == diff:
            hint = "the convolutions have biases: use bias=False (BatchNorm follows each one)"
        elif diff == -bn_param_count(create_model(f"resnet{depth}")):
            hint = "the BatchNorm layers are missing: one after every convolution"
        else:
            listing = layer_listing(create_model(f"resnet{depth}"))[:300]
            hint = f"compare with create_model('resnet{depth}'): {listing} …"
        fail(check, f"your ResNet-{depth} has {got:,} parameters, the paper's has {expected:,} ({diff:+,}). "
                     f"Hint: {hint}.")

    # 4. the shortcuts: with every block's convolutions zero, the signal must still reach the classifier
    probe = copy.deepcopy(model).eval()
    first = convs3[0][0]
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

    # 5. gradients, without in-place trouble
    model.train()
    with seeded(3):
        raw = torch.randn(2, 3, 32, 32, requires_grad=True)
    check_input_and_backward(check, f"your ResNet-{depth}", model, raw * 1.0, raw)
    passed(check, f"your ResNet-{depth} has {depth} weighted layers ({6 * n + 1} convolutions + 1 fully "
            f"connected), {got:,} parameters like the paper's, 16/32/64 channels on 32×32/16×16/8×8 maps "
            "and working shortcuts.")
