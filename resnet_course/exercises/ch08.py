"""Chapter 8 (*Beyond ResNet*): the self-checks of its four graded exercises.

- ``ex-ch8-wrn-params`` — a closed formula for the parameters of WRN-depth-k (Zagoruyko &
  Komodakis 2016, Table 1): :func:`check_wrn_param_formula`, solution :func:`reference_wrn_params`;
- ``ex-ch8-resnext-block`` — the grouped bottleneck of ResNeXt (Xie et al. 2017, Fig. 3(c)):
  :func:`check_resnext_block`, solution :class:`ReferenceResNeXtBlock`;
- ``ex-ch8-dense-layer`` — a DenseNet layer that concatenates (Huang et al. 2017, Eq. (2)):
  :func:`check_dense_layer`;
- ``ex-ch8-ddp-settings`` — global batch and linearly scaled learning rate on N GPUs (Goyal et
  al. 2017, §2.1): :func:`check_ddp_settings`, solution :func:`reference_ddp_settings`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.exercises.checking import (
    check_forward_backward,
    count_conv_biases,
    display_name,
    fail,
    format_shape,
    parameter_listing,
    randomise_batchnorm,
    require_callable,
    run_student_code,
    self_check,
    succeed,
    transplant_weights,
)
from resnet_course.nn.inspection import find_blocks
from resnet_course.nn.summary import count_parameters
from resnet_course.nn.variants import wide_resnet

__all__ = [
    "ReferenceResNeXtBlock",
    "check_ddp_settings",
    "check_dense_layer",
    "check_resnext_block",
    "check_wrn_param_formula",
    "reference_ddp_settings",
    "reference_wrn_params",
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
    with torch.device("meta"):
        model = wide_resnet(depth, k)
    blocks = [block for _, block in find_blocks(model)]  # the WideBasicBlocks
    return {
        "total": count_parameters(model),
        "projections": sum(count_parameters(b.downsample) for b in blocks if b.downsample is not None),
        "block BatchNorms": sum(count_parameters(b.bn1) + count_parameters(b.bn2) for b in blocks),
        "final BatchNorm": count_parameters(model.final_bn),
        "classifier": count_parameters(model.fc),
        "stem": count_parameters(model.conv1),
        "first BatchNorms": sum(count_parameters(s[0].bn1) for s in (model.layer1, model.layer2, model.layer3)),
    }


@self_check
def check_wrn_param_formula(formula: Callable[[int, int], int]) -> None:
    """Check ``formula(depth, k)`` against the parameter count of WRN-depth-k (10 classes, k ≥ 2).

    Compared with the networks themselves (built on the meta device) for WRN-10-2, 16-4,
    16-8, 22-2, 28-10 and 40-4 (Zagoruyko & Komodakis 2016: 2.7M for WRN-16-4, 36.5M for
    WRN-28-10).
    """
    check = "check_wrn_param_formula"
    require_callable(check, formula, "wrn_params")
    for depth, k in _WRN_CASES:
        got = run_student_code(check, f"{display_name(formula)}({depth}, {k})", formula, depth, k)
        if isinstance(got, float) and float(got).is_integer():
            got = int(got)
        if not isinstance(got, int) or isinstance(got, bool):
            fail(check, f"{display_name(formula)}({depth}, {k}) returned {got!r}; "
                        "return the number of parameters as an int")
        parts = _wrn_parts(depth, k)
        expected = parts["total"]
        if got == expected:
            continue
        diff = got - expected
        message = (f"for WRN-{depth}-{k} your formula gives {got:,} parameters, "
                   f"the network has {expected:,} ({diff:+,}).")
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
                fail(check, f"{message} That is exactly {hint}: "
                            f"you {'counted that twice' if diff > 0 else 'left that out'}.")
        n = (depth - 4) // 6
        fail(check, f"{message} Check n = (depth - 4) / 6 = {n} blocks per stage, widths 16k, 32k, 64k = "
                     f"{16 * k}, {32 * k}, {64 * k}, and that only the first block of a stage changes the width "
                     f"(compare stage by stage with summary(wide_resnet({depth}, {k}), (1, 3, 32, 32))).")
    succeed(check, f"{display_name(formula)}(depth, k) equals the parameter count of WRN-10-2, -16-4, -16-8, -22-2, "
            f"-28-10 and -40-4 (e.g. {reference_wrn_params(28, 10):,} for WRN-28-10, the paper's 36.5M).")


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


def _check_grouped_conv(check: str, block: nn.Module, call: str, groups: int, d: int, stride: int) -> None:
    """Exactly one 3×3 convolution, with ``groups`` groups of ``d`` channels and the block's stride."""
    width = groups * d
    threes = [m for m in block.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    if len(threes) != 1:
        fail(check, f"{call} has {len(threes)} 3×3 convolutions; a ResNeXt bottleneck has exactly one, the grouped "
                     f"one in the middle (1×1 → 3×3 → 1×1)")
    conv = threes[0]
    if conv.groups != groups:
        extra = ""
        if conv.groups == 1:
            extra = (f" With groups=1 it is an ordinary dense 3×3 convolution with {9 * width * width:,} weights; "
                     f"{groups} groups keep only {9 * width * width // groups:,} (1/C): "
                     f"nn.Conv2d({width}, {width}, 3, padding=1, groups={groups}, bias=False)")
        fail(check, f"the 3×3 convolution of {call} has groups={conv.groups}, expected the cardinality "
                     f"{groups}.{extra}")
    if conv.in_channels != width or conv.out_channels != width:
        fail(check, f"the grouped 3×3 convolution of {call} maps {conv.in_channels} → {conv.out_channels} "
                     f"channels; it should work on cardinality × bottleneck_width = {groups} × {d} = {width} "
                     f"channels ({d} per group)")
    if conv.stride != (stride, stride):
        fail(check, f"the 3×3 convolution of {call} has stride {conv.stride}; put the block's stride "
                     f"({stride}) on it, as ResNeXt (and torchvision) do")


def _check_resnext_parameters(check: str, block: nn.Module, reference: nn.Module, call: str, in_c: int,
                              out_c: int, stride: int) -> None:
    """The parameter count of :class:`ReferenceResNeXtBlock`; the hint names biases or the shortcut."""
    got, want = count_parameters(block), count_parameters(reference)
    if got == want:
        return
    diff = got - want
    projection = count_parameters(reference.shortcut)
    if count_conv_biases(block) == diff:
        hint = "the convolutions have biases: use bias=False (a BatchNorm follows each one)"
    elif projection and diff == -projection:
        hint = (f"the shortcut: the shape changes ({in_c}→{out_c} channels, stride {stride}), so it needs a "
                f"1×1 projection with stride and a BatchNorm ({projection:,} parameters)")
    elif not projection and diff > 0:
        hint = f"the shape does not change here ({in_c}→{out_c}, stride 1): the shortcut is the identity"
    else:
        hint = f"compare layer by layer with ReferenceResNeXtBlock: {parameter_listing(reference)}"
    fail(check, f"{call} has {got:,} parameters, expected {want:,} ({diff:+,}). Hint: {hint}.")


def _check_same_function(check: str, block: nn.Module, reference: nn.Module, call: str, x: Tensor) -> None:
    """With the reference's weights copied in (when the layers line up), the block computes the same outputs."""
    how = transplant_weights(reference, block)
    if how is None:
        return
    randomise_batchnorm(reference, 1)
    transplant_weights(reference, block)
    reference.eval()
    with torch.no_grad():
        gap = (block(x) - reference(x)).abs().max().item()
    if gap > 1e-4:
        fail(check, f"with the reference's weights (copied {how}) {call} computes something else (largest "
                     f"difference {gap:.3g}). Order: conv1 1×1 → BN → ReLU → grouped 3×3 → BN → ReLU → "
                     f"conv 1×1 → BN, add the shortcut, then ReLU.")


@self_check
def check_resnext_block(block_cls: Callable[..., nn.Module]) -> None:
    """Check ``block_cls(in_channels, out_channels, cardinality, bottleneck_width, stride=1)``, a ResNeXt bottleneck.

    Three configurations (a widening block with projection, an identity block, a strided
    block): the grouped 3×3 convolution, the output shape, the parameter count against
    :class:`ReferenceResNeXtBlock`, the outputs with the same weights, and the backward pass.
    """
    check = "check_resnext_block"
    require_callable(check, block_cls, "MyResNeXtBlock", "class")
    for in_c, out_c, groups, d, stride in ((32, 64, 4, 4, 1), (64, 64, 8, 2, 1), (64, 128, 4, 8, 2)):
        call = (f"{display_name(block_cls)}({in_c}, {out_c}, cardinality={groups}, bottleneck_width={d}, "
                f"stride={stride})")
        block = run_student_code(check, call, block_cls, in_c, out_c, groups, d, stride=stride)
        if not isinstance(block, nn.Module):
            fail(check, f"{call} returned {type(block).__name__}, not an nn.Module")
        reference = ReferenceResNeXtBlock(in_c, out_c, groups, d, stride)
        _check_grouped_conv(check, block, call, groups, d, stride)
        x = torch.randn(2, in_c, 8, 8)
        block.eval()
        with torch.no_grad():
            out = run_student_code(check, f"the forward pass of {call}", block, x)
        expected_shape = (2, out_c, 8 // stride, 8 // stride)
        if tuple(out.shape) != expected_shape:
            fail(check, f"{call} maps an input of shape {format_shape(x)} to {format_shape(out)}, expected "
                         f"{format_shape(expected_shape)}")
        _check_resnext_parameters(check, block, reference, call, in_c, out_c, stride)
        _check_same_function(check, block, reference, call, x)
        block.train()
        raw = torch.randn(2, in_c, 8, 8, requires_grad=True)
        check_forward_backward(check, call, block, F.relu(raw), raw)
    succeed(check, "your ResNeXt block has the grouped 3×3 convolution (C groups of d channels), the right shapes, "
                   "parameters and shortcut, and computes the reference's function.")


def _check_concatenation(check: str, call: str, x: Tensor, out: Tensor, k: int) -> None:
    """``out`` must be ``x`` followed by ``k`` new channels on the same map size."""
    in_c = x.shape[1]
    if tuple(out.shape[2:]) != tuple(x.shape[2:]) or out.shape[0] != x.shape[0]:
        fail(check, f"{call} maps {format_shape(x)} to {format_shape(out)}: a dense layer keeps the map size "
                     "(3×3, padding 1)")
    channels = out.shape[1]
    if channels == k:
        fail(check, f"{call} returns only the {k} new channels; a dense layer returns its input *and* them: "
                     f"torch.cat([x, new], dim=1), {in_c} + {k} = {in_c + k} channels")
    if channels == in_c:
        fail(check, f"{call} returns {in_c} channels, as many as it gets: did you add the new features (a residual "
                     f"block) instead of concatenating them? Expected {in_c} + {k} = {in_c + k}")
    if channels != in_c + k:
        fail(check, f"{call} returns {channels} channels, expected in_channels + growth_rate = {in_c + k}")
    if not torch.equal(out[:, :in_c], x):
        if torch.equal(out[:, k:], x):
            fail(check, f"{call} puts the new features first; the convention (and this check) is "
                         f"torch.cat([x, new], dim=1), the input first")
        fail(check, f"the first {in_c} output channels of {call} are not the input itself: a dense layer passes its "
                     f"input on unchanged (no BN or ReLU on that copy) and appends {k} new channels")


def _check_dense_parameters(check: str, layer: nn.Module, call: str, in_c: int, k: int) -> int:
    """BN(in) and a 3×3 convolution in → k without bias: ``2·in + 9·in·k`` parameters; return that count."""
    got, want = count_parameters(layer), 2 * in_c + 9 * in_c * k
    if got != want:
        diff = got - want
        if count_conv_biases(layer) == diff:
            hint = "the convolution has a bias: use bias=False (nothing needs it after a BN-ReLU-conv)"
        elif diff == -2 * in_c:
            hint = f"the BatchNorm before the convolution (2 · {in_c} parameters) is missing"
        else:
            hint = f"BN({in_c}) has {2 * in_c} parameters and a 3×3 convolution {in_c} → {k} has {9 * in_c * k:,}"
        fail(check, f"{call} has {got:,} parameters, expected {want:,} ({diff:+,}). Hint: {hint}.")
    return want


@self_check
def check_dense_layer(layer_cls: Callable[[int, int], nn.Module]) -> None:
    """Check ``layer_cls(in_channels, growth_rate)``: BN → ReLU → conv 3×3, its output concatenated to its input.

    Checks the output channels (in + growth rate), that the input comes through unchanged
    as the first channels, the parameters (2·in + 9·in·k), and a stack of three layers
    (in + 3k channels, Huang et al. 2017, Eq. 2) with its backward pass.
    """
    check = "check_dense_layer"
    require_callable(check, layer_cls, "MyDenseLayer", "class")
    in_c, k = 16, 12
    call = f"{display_name(layer_cls)}({in_c}, {k})"
    layer = run_student_code(check, call, layer_cls, in_c, k)
    if not isinstance(layer, nn.Module):
        fail(check, f"{call} returned {type(layer).__name__}, not an nn.Module")
    x = torch.randn(2, in_c, 8, 8)
    layer.eval()
    with torch.no_grad():
        out = run_student_code(check, f"the forward pass of {call}", layer, x)
    _check_concatenation(check, call, x, out, k)
    params = _check_dense_parameters(check, layer, call, in_c, k)
    stack = nn.Sequential(*[run_student_code(check, f"{display_name(layer_cls)}({in_c + i * k}, {k})", layer_cls,
                                             in_c + i * k, k) for i in range(3)])
    stack.train()
    raw = torch.randn(2, in_c, 8, 8, requires_grad=True)
    out = check_forward_backward(check, f"three stacked {display_name(layer_cls)} layers", stack, F.relu(raw), raw)
    if out.shape[1] != in_c + 3 * k:
        fail(check, f"three stacked layers return {out.shape[1]} channels, expected {in_c} + 3 · {k} = {in_c + 3 * k}")
    succeed(check, f"{call} returns its input and {k} new channels ({in_c + k} in all) with {params:,} parameters; "
                   f"three of them stacked grow {in_c} channels to {in_c + 3 * k}, and gradients flow.")


def reference_ddp_settings(processes: int, per_process_batch: int, base_lr: float = 0.1,
                           base_batch: int = 128) -> tuple[int, float]:
    """Global batch and learning rate for DDP by the linear scaling rule (Goyal et al. 2017, §2.1).

    The global batch is ``processes · per_process_batch``; the learning rate grows in
    proportion to it from ``base_lr`` at ``base_batch`` (0.1 at 128: He et al. 2015, §4.2).
    """
    global_batch = processes * per_process_batch
    return global_batch, base_lr * global_batch / base_batch


@self_check
def check_ddp_settings(fn: Callable[[int, int], Any]) -> None:
    """Check ``fn(processes, per_process_batch) -> (global_batch, lr)`` (the paper's lr 0.1 at batch 128)."""
    check = "check_ddp_settings"
    require_callable(check, fn, "ddp_settings")
    for processes, per_process in ((1, 128), (2, 128), (8, 64), (4, 32), (8, 256)):
        call = f"{display_name(fn)}({processes}, {per_process})"
        got = run_student_code(check, call, fn, processes, per_process)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            fail(check, f"{call} returned {got!r}; return a pair (global_batch, lr)")
        batch, lr = got
        want_batch, want_lr = reference_ddp_settings(processes, per_process)
        if batch != want_batch:
            hint = (" — that is the per-process batch: every process takes its own batch of that size, so one "
                    "optimizer step sees processes × per_process_batch images" if batch == per_process else "")
            fail(check, f"{call}: global batch {batch!r}, expected {want_batch}{hint}")
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            fail(check, f"{call}: the learning rate {lr!r} is not a number")
        if abs(lr - want_lr) > 1e-9 * max(1.0, want_lr):
            if abs(lr - 0.1) < 1e-12:
                hint = ("the learning rate is unchanged: fit keeps the lr it is given, and with a larger global batch "
                        "the linear scaling rule multiplies it by global_batch / 128")
            elif abs(lr - 0.1 * processes) < 1e-9:
                hint = ("you scaled by the number of processes; scale by the global batch relative to the paper's 128 "
                        f"(here {want_batch} / 128)")
            else:
                hint = "lr = 0.1 · global_batch / 128 (0.1 at the paper's batch of 128)"
            fail(check, f"{call}: learning rate {lr:g}, expected {want_lr:g}: {hint}")
    succeed(check, f"{display_name(fn)} gives the global batch (processes × per-process) and the linearly scaled "
            "learning rate (0.1 per 128 images), e.g. 8 processes × 64 images: batch 512, lr 0.4.")
