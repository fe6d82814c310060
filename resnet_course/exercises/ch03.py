"""Chapter 3 (*Building blocks*): the self-checks of its block exercises.

- ``ex-ch3-basic-block`` — the basic block with option B shortcuts (He et al. 2015, Fig. 2):
  :func:`check_basic_block`;
- ``ex-ch3-bottleneck`` — the bottleneck block (He et al. 2015, Fig. 5 right, §4.1):
  :func:`check_bottleneck`;
- ``ex-ch3-preact`` — the pre-activation block (He et al. 2016, Fig. 4(e)):
  :func:`check_preact_block`;
- ``ex-ch3-zero-init`` — zero-initialising the last BatchNorm of every residual branch
  (Goyal et al. 2017, §5.1): :func:`check_zero_init`.

The three block checks share one procedure (:func:`_check_block`) driven by a
:class:`_BlockSpec` per kind of block: shapes, parameter counts with a hint for the usual
slips, the block with its branch switched off, and — weights copied from the package's
reference (:mod:`resnet_course.nn.blocks`) — equal outputs in train and eval mode.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.exercises.checking import (
    check_forward_backward,
    count_batchnorm_parameters,
    count_conv_biases,
    display_name,
    fail,
    format_shape,
    parameter_listing,
    randomise_batchnorm,
    require_callable,
    run_student_code,
    seeded,
    self_check,
    succeed,
    transplant_weights,
)
from resnet_course.nn.blocks import BasicBlock, Bottleneck, PreActBasicBlock
from resnet_course.nn.inspection import find_blocks
from resnet_course.nn.registry import create_model
from resnet_course.nn.summary import count_parameters

__all__ = ["check_basic_block", "check_bottleneck", "check_preact_block", "check_zero_init"]


# --------------------------------------------------------------------------- one procedure for three blocks


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
    """The class attribute ``expansion`` the network builder reads (1 for basic blocks, 4 for bottlenecks)."""
    expansion = getattr(block_cls, "expansion", None)
    if expansion is None:
        fail(spec.check, f"{display_name(block_cls)} has no class attribute `expansion`: "
                          f"add `expansion = {spec.expansion}` "
                          "(the network builder reads it to know that a block with `planes` planes outputs "
                          f"planes × {spec.expansion} channels)")
    if expansion != spec.expansion:
        fail(spec.check, f"{display_name(block_cls)}.expansion is {expansion!r}, but a {spec.kind} has expansion = "
                          f"{spec.expansion} (it outputs planes × {spec.expansion} channels)")


def _check_shape(spec: _BlockSpec, block: nn.Module, call: str, x: Tensor, out: Tensor, expected: tuple) -> None:
    """The output shape; the hint names the channels (planes × expansion) or the stride and padding."""
    if not isinstance(out, Tensor):
        fail(spec.check, f"{call} returned {type(out).__name__}, not a tensor: forward() must return the "
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
    fail(spec.check, f"{call} maps a {format_shape(x)} input to {format_shape(out)}; "
                      f"expected {format_shape(expected)}.{hint}")


def _check_parameters(spec: _BlockSpec, block: nn.Module, reference: nn.Module, call: str,
                      in_planes: int, planes: int, stride: int) -> None:
    """The parameter count of the reference; the hint names biases, a missing or extra projection, missing BN."""
    got, expected = count_parameters(block), count_parameters(reference)
    if got == expected:
        return
    diff = got - expected
    out_planes = planes * spec.expansion
    shape_changes = stride != 1 or in_planes != out_planes
    projection = count_parameters(reference.downsample) if getattr(reference, "downsample", None) is not None else 0
    with_bn = spec.post_activation
    identity_projection = in_planes * out_planes + (2 * out_planes if with_bn else 0)
    conv_bias = count_conv_biases(block)
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
    elif count_batchnorm_parameters(block) == 0 and -diff == count_batchnorm_parameters(reference):
        hint = "there are no BatchNorm layers: every convolution of the branch is followed (or preceded) by one"
    else:
        hint = f"compare layer by layer — the reference has {parameter_listing(reference)}"
    fail(spec.check, f"{call} has {got:,} parameters, the reference has {expected:,} ({diff:+,}). Hint: {hint}.")


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
        out = run_student_code(spec.check, f"the forward pass of {call}", block, x.clone())
    expected = F.relu(x) if spec.post_activation else x
    if torch.allclose(out, expected, atol=1e-6):
        return
    prefix = f"with the residual branch switched off (every convolution weight zero), {call} should return "
    prefix += "ReLU(x)" if spec.post_activation else "x itself"
    if torch.allclose(out, torch.zeros_like(out), atol=1e-6):
        fail(spec.check, prefix + " but it returns zeros: the shortcut is missing. A residual block adds its input "
                                   "back: out = F(x) + x (He et al. 2015, Eq. (1)).")
    if spec.post_activation and torch.allclose(out, x, atol=1e-6):
        fail(spec.check, prefix + " but it returns x: the last ReLU must come after the addition, "
                                   "y = ReLU(F(x) + x) (He et al. 2015, Fig. 2).")
    if not spec.post_activation and torch.allclose(out, F.relu(x), atol=1e-6):
        fail(spec.check, prefix + " but it returns ReLU(x): a pre-activation block applies nothing after the "
                                   "addition, x_{l+1} = x_l + F(x_l) (He et al. 2016, Eq. (3)).")
    fail(spec.check, prefix + f", but the largest difference is {(out - expected).abs().max().item():.3g}: "
                               f"the shortcut must carry x unchanged to the addition ({spec.layout}).")


def _check_against_reference(spec: _BlockSpec, block_cls: type) -> str:
    """Copy the reference's weights into the student's block and compare the outputs (train and eval mode)."""
    hows, variants = set(), set()
    for in_planes, planes, stride in spec.configs:
        call = f"{display_name(block_cls)}({in_planes}, {planes}, stride={stride})"
        with seeded(1):
            reference = spec.reference(in_planes, planes, stride)
            randomise_batchnorm(reference, seed=2)
            block = run_student_code(spec.check, call, block_cls, in_planes, planes, stride)
        how = transplant_weights(reference, block)
        if how is None:
            return ("(outputs not compared with the reference: register the layers in the reference's order, "
                    f"{', '.join(n for n, _ in reference.named_children())}, to enable that check)")
        hows.add(how)
        candidates = [("the reference", reference)]
        for label, build in spec.alternatives:
            alternative = build(in_planes, planes, stride)
            alternative.load_state_dict(reference.state_dict())
            candidates.append((label, alternative))
        with seeded(3):
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
                fail(spec.check, f"with the reference's weights copied into {call} ({how}), the outputs in "
                                  f"{mode} mode differ by up to {diff:.3g}. The layers must run in this order: "
                                  f"{spec.layout}.{hint}")
            if "the reference" not in close:
                variants.update(close)
    matching = f"; it matches {', '.join(sorted(variants))}" if variants else ""
    return f"(and with the reference's weights, copied {' and '.join(sorted(hows))}, equal outputs{matching})"


def _check_block(spec: _BlockSpec, block_cls: type) -> None:
    """The procedure of the three block checks: for every configuration of ``spec`` the forward and backward
    pass, the shape and the parameter count; then the zero branch, then the comparison with the reference."""
    require_callable(spec.check, block_cls, "MyBlock", "block class")
    _check_expansion(spec, block_cls)
    for in_planes, planes, stride in spec.configs:
        call = f"{display_name(block_cls)}({in_planes}, {planes}, stride={stride})"
        with seeded(0):
            block = run_student_code(spec.check, call, block_cls, in_planes, planes, stride)
            if not isinstance(block, nn.Module):
                fail(spec.check, f"{call} is a {type(block).__name__}, not an nn.Module: subclass torch.nn.Module")
            reference = spec.reference(in_planes, planes, stride)
            raw = torch.randn(2, in_planes, _SPATIAL, _SPATIAL, requires_grad=True)
        x = F.relu(raw * 1.0)
        out = check_forward_backward(spec.check, call, block.train(), x, raw)
        expected = (2, planes * spec.expansion, _SPATIAL // stride, _SPATIAL // stride)
        _check_shape(spec, block, call, x, out, expected)
        _check_parameters(spec, block, reference, call, in_planes, planes, stride)
    in_planes, planes, stride = spec.configs[0]
    with seeded(0):
        block = block_cls(in_planes, planes, stride)
    _check_zero_branch(spec, block, f"{display_name(block_cls)}({in_planes}, {planes}, stride={stride})")
    compared = _check_against_reference(spec, block_cls)
    shapes = ", ".join(f"({a}, {b}, stride={s})" for a, b, s in spec.configs)
    succeed(spec.check, f"{display_name(block_cls)} is a correct {spec.kind} — output shapes and parameter counts for "
            f"{shapes}, the shortcut, the backward pass without in-place trouble {compared}.")


def _reference(cls: type[nn.Module], **options: Any) -> Callable[..., nn.Module]:
    """A builder ``(in_planes, planes, stride) -> cls(…, "B", **options)``: the package's block, option B."""
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


@self_check
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


@self_check
def check_bottleneck(block_cls: type) -> None:
    """Check a student's bottleneck block (He et al. 2015, Fig. 5 right, §4.1) with option B shortcuts.

    ``block_cls(in_planes, planes, stride)``: 1×1 (``planes``) → 3×3 (``planes``) → 1×1
    (``4·planes``), each followed by BN, ReLUs in between, ``expansion = 4``. Either stride
    placement is accepted (3×3 as torchvision, or first 1×1 as the paper).
    """
    return _check_block(_BOTTLENECK, block_cls)


@self_check
def check_preact_block(block_cls: type) -> None:
    """Check a student's pre-activation basic block (He et al. 2016, Fig. 1(b), Fig. 4(e)).

    ``x + F(x)`` with ``F`` = BN → ReLU → conv3×3 → BN → ReLU → conv3×3 and nothing after
    the addition; where the shape changes the shortcut is a 1×1 convolution (no BN) of the
    pre-activated input ``ReLU(BN(x))``.
    """
    return _check_block(_PREACT, block_cls)


def _zero_init_subject(options: dict[str, Any]) -> tuple[nn.Module, dict[str, str]]:
    """A ResNet-20 with non-trivial BatchNorms, and the name of each block's last BatchNorm.

    The blocks are its residual blocks (:func:`~resnet_course.nn.inspection.find_blocks` with
    ``residual_only=True``): basic blocks or bottlenecks, all with a shortcut. Every β of a
    last BatchNorm is 0, as in a freshly built network, so zeroing γ suffices.
    """
    with seeded(0):
        model = create_model("resnet20", **options)
    randomise_batchnorm(model, seed=1)
    last_bn = {}
    with torch.no_grad():
        for name, block in find_blocks(model, residual_only=True):
            last_bn[name] = next(n for n, m in block.named_children() if m is block.last_bn)
            block.last_bn.bias.zero_()
    return model, last_bn


def _unexpected_changes(before: dict[str, Tensor], after: dict[str, Tensor], last_bn: dict[str, str],
                        call: str, label: str) -> str:
    """What ``call`` changed besides the last BatchNorm of each branch, and why it should not ("" if nothing)."""
    allowed = {f"{name}.{bn}.{p}" for name, bn in last_bn.items() for p in ("weight", "bias")}
    extra = [k for k in before if not torch.equal(before[k], after[k]) and k not in allowed]
    if not extra:
        return ""
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
    return f"{call} changed {listing} in {label}: {why}."


def _check_blocks_start_as_shortcut(check: str, model: nn.Module, last_bn: dict[str, str], call: str,
                                    label: str, changed: str) -> None:
    """In eval mode every block must compute ``ReLU(shortcut(x))``; else say which block and its last BatchNorm."""
    model.eval()
    for name, block in find_blocks(model, residual_only=True):
        x = torch.randn(2, block.conv1.in_channels, _SPATIAL, _SPATIAL, generator=torch.Generator().manual_seed(4))
        with torch.no_grad():
            shortcut = x if block.downsample is None else block.downsample(x)
            expected, got = F.relu(shortcut), block(x)
        if not torch.allclose(got, expected, atol=1e-6):
            gap = (got - expected).abs().max().item()
            fail(check, f"after {call}, block {name} ({type(block).__name__}) of {label} does not compute "
                         f"ReLU(shortcut(x)) (largest difference {gap:.3g}). Zero the weight γ (and the bias β) of "
                         f"the last BatchNorm of its residual branch, {name}.{last_bn[name]}; find the blocks with "
                         "model.modules() and isinstance." + (f" Besides, {changed}" if changed else ""))


@self_check
def check_zero_init(init_fn: Callable[[nn.Module], Any]) -> None:
    """Check a function that zero-initialises the residual branches of a network in place.

    ``init_fn(model)`` must set the weight γ (and bias β) of the *last* BatchNorm of every
    residual branch to zero — ``bn2`` in a basic block, ``bn3`` in a bottleneck — and change
    nothing else (Goyal et al. 2017, §5.1; torchvision's ``zero_init_residual``). Then every
    block computes ``ReLU(shortcut(x))``. It is tried on ResNet-20 (basic blocks, option A)
    and on a 20-layer CIFAR network of bottlenecks (option B, so shortcuts with BatchNorm).
    """
    check = "check_zero_init"
    require_callable(check, init_fn, "my_zero_init")
    tried = []
    for label, options in (("ResNet-20", {}), ("ResNet-20 with bottlenecks", {"block": "bottleneck"})):
        model, last_bn = _zero_init_subject(options)
        before = copy.deepcopy(model.state_dict())
        call = f"{display_name(init_fn)}(model)"
        run_student_code(check, f"{call} on {label}", init_fn, model)
        changed = _unexpected_changes(before, model.state_dict(), last_bn, call, label)
        _check_blocks_start_as_shortcut(check, model, last_bn, call, label, changed)
        if changed:
            fail(check, changed)
        tried.append(f"{label} ({len(last_bn)} blocks)")
    succeed(check, f"{display_name(init_fn)} zeroes exactly the last BatchNorm of every residual branch, so each block "
            f"starts as ReLU(shortcut(x)) — checked on {' and '.join(tried)}.")
