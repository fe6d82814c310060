"""Chapter 3's self-checks (resnet_course.exercises.ch03): the three blocks and zero-initialisation.

Each check must accept the reference solution (and other correct ones) and reject typical
wrong ones with the message that names the mistake.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_course.exercises.ch03 import (
    check_basic_block,
    check_bottleneck,
    check_preact_block,
    check_zero_init,
)
from resnet_course.exercises.checking import ExerciseError
from resnet_course.nn.blocks import (
    BasicBlock,
    Bottleneck,
    PreActBasicBlock,
    zero_init_last_bn,
)

# --- blocks — accepted


def test_reference_blocks_pass(capsys):
    assert check_basic_block(BasicBlock) is None  # success prints one line and returns nothing
    check_bottleneck(Bottleneck)
    check_preact_block(PreActBasicBlock)
    out = capsys.readouterr().out
    assert out.count("✓") == 3 and "check_bottleneck" in out


def test_bottleneck_with_the_papers_stride_placement_passes(capsys):
    class PaperBottleneck(Bottleneck):
        def __init__(self, in_planes, planes, stride=1):
            super().__init__(in_planes, planes, stride, stride_in_1x1=True)

    check_bottleneck(PaperBottleneck)
    assert "the paper's stride placement" in capsys.readouterr().out


def test_a_block_written_from_scratch_with_other_names_passes(capsys):
    class Mine(nn.Module):
        expansion = 1

        def __init__(self, in_planes, planes, stride=1):
            super().__init__()
            self.a = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
            self.na = nn.BatchNorm2d(planes)
            self.b = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.nb = nn.BatchNorm2d(planes)
            self.proj = None
            if stride != 1 or in_planes != planes:
                self.proj = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.nb(self.b(F.relu(self.na(self.a(x)))))
            return F.relu(out + (x if self.proj is None else self.proj(x)))

    check_basic_block(Mine)
    assert "copied by position" in capsys.readouterr().out


# --- blocks — rejected, with the message that names the mistake


class NoFinalRelu(BasicBlock):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.residual(x) + identity


class ShortcutOnlyWhenProjecting(BasicBlock):
    def forward(self, x):
        out = self.residual(x)
        if self.downsample is not None:
            out = out + self.downsample(x)
        return self.relu(out)


class AddsIntoInput(BasicBlock):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        identity += self.residual(x)
        return self.relu(identity)


class AddsIntoReluOutput(BasicBlock):
    """ReLU before the addition, then the blog posts' `out += identity`."""

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.residual(x))
        out += identity
        return self.relu(out)


class ForgetsStride(BasicBlock):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__(in_planes, planes, 1)


class OptionA(BasicBlock):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__(in_planes, planes, stride, shortcut="A")


class OptionC(BasicBlock):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__(in_planes, planes, stride, shortcut="C")


class WithConvBias(BasicBlock):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__(in_planes, planes, stride)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=True)


class BnAfterRelu(BasicBlock):
    def residual(self, x):
        out = self.bn1(self.relu(self.conv1(x)))
        return self.bn2(self.conv2(out))


class NoExpansion(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()


class WrongSignature(BasicBlock):
    expansion = 1

    def __init__(self, channels):
        super().__init__(channels, channels)


@pytest.mark.parametrize(
    "block_cls, message",
    [
        (NoFinalRelu, r"returns x: the last ReLU must come after the addition"),
        (ShortcutOnlyWhenProjecting, r"returns zeros: the shortcut is missing"),
        (AddsIntoInput, r"changed its input x in place"),
        (AddsIntoReluOutput, (r"backward pass .* fails: .*`out \+= identity`.*output of ReluBackward0|"
                             r"backward pass .* fails: .*`out \+= identity`")),
        (ForgetsStride, r"maps a 2×16×8×8 input to 2×32×8×8; expected 2×32×4×4\. Hint: .*stride 2"),
        (OptionA, r"\(-576\)\. Hint: the shortcut has no projection"),
        (OptionC, r"projection on a block whose shape does not change.*option C"),
        (WithConvBias, r"\+32\)\. Hint: your convolutions have biases"),
        (BnAfterRelu, r"outputs in eval mode differ by up to .*conv3×3 \(stride\) → BN → ReLU"),
        (NoExpansion, r"no class attribute `expansion`"),
        (WrongSignature, r"WrongSignature\(16, 16, stride=1\) raised TypeError"),
    ],
)
def test_check_basic_block_rejects_with_a_specific_message(block_cls, message):
    with pytest.raises(ExerciseError, match=message):
        check_basic_block(block_cls)


def test_check_basic_block_reports_the_autograd_error_of_out_plus_equals():
    with pytest.raises(ExerciseError) as info:
        check_basic_block(AddsIntoReluOutput)
    text = str(info.value)
    assert "modified by an inplace operation" in text and "out = out + identity" in text


class NotExpanding(Bottleneck):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__(in_planes, planes, stride)
        self.conv3 = nn.Conv2d(planes, planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)


class ExpansionOne(Bottleneck):
    expansion = 1


@pytest.mark.parametrize(
    "block_cls, message",
    [
        (BasicBlock, r"BasicBlock.expansion is 1, but a bottleneck block .* has expansion = 4"),
        (ExpansionOne, r"expansion is 1"),
        (NotExpanding, (r"NotExpanding\(64, 16, stride=1\) raised RuntimeError: .*Hint: the residual branch and the "
                       r"shortcut have different shapes")),
    ],
)
def test_check_bottleneck_rejects_with_a_specific_message(block_cls, message):
    with pytest.raises(ExerciseError, match=message):
        check_bottleneck(block_cls)


class PreActWithFinalRelu(PreActBasicBlock):
    def forward(self, x):
        return self.relu(super().forward(x))


class PreActProjectionWithBn(PreActBasicBlock):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__(in_planes, planes, stride)
        if self.downsample is not None:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))


class PreActShortcutOfRawInput(PreActBasicBlock):
    def forward(self, x):
        pre = self.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))
        return out + (x if self.downsample is None else self.downsample(x))


@pytest.mark.parametrize(
    "block_cls, message",
    [
        (PreActWithFinalRelu, r"returns ReLU\(x\): a pre-activation block applies nothing after the addition"),
        (PreActProjectionWithBn, r"projection shortcut of a pre-activation block needs no BatchNorm"),
        (PreActShortcutOfRawInput, r"16, 32, stride=2\) .* differ .*This block changes the shape: check the shortcut"),
    ],
)
def test_check_preact_block_rejects_with_a_specific_message(block_cls, message):
    with pytest.raises(ExerciseError, match=message):
        check_preact_block(block_cls)


# --- zero-initialised residual branches


def test_check_zero_init_accepts_the_reference_and_gamma_only(capsys):
    check_zero_init(zero_init_last_bn)

    def gamma_only(model):  # torchvision's zero_init_residual zeroes the weight only
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    check_zero_init(gamma_only)
    assert capsys.readouterr().out.count("✓ check_zero_init") == 2


def _does_nothing(model):
    return None


def _zeroes_bn2_everywhere(model):  # wrong BN in a bottleneck (bn3 is the last)
    for m in model.modules():
        if isinstance(m, (BasicBlock, Bottleneck)):
            nn.init.zeros_(m.bn2.weight)


def _zeroes_every_bn(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.zeros_(m.weight)


def _zeroes_last_conv(model):
    for m in model.modules():
        if isinstance(m, BasicBlock):
            nn.init.zeros_(m.conv2.weight)
        elif isinstance(m, Bottleneck):
            nn.init.zeros_(m.conv3.weight)


def _also_zeroes_shortcut_bn(model):
    zero_init_last_bn(model)
    for m in model.modules():
        if isinstance(m, Bottleneck) and m.downsample is not None:
            nn.init.zeros_(m.downsample[1].weight)


def _raises(model):
    raise KeyError("bn2")


@pytest.mark.parametrize(
    "init_fn, message",
    [
        (_does_nothing, (r"block layer1\.0 \(BasicBlock\) of ResNet-20 does not compute ReLU\(shortcut\(x\)\)"
                        r".*layer1\.0\.bn2")),
        (_zeroes_bn2_everywhere, r"\(Bottleneck\) of ResNet-20 with bottlenecks .*layer1\.0\.bn3"),
        (_zeroes_bn2_everywhere, r"Besides, _zeroes_bn2_everywhere\(model\) changed layer1\.0\.bn2\.weight"),
        (_zeroes_every_bn, (r"^check_zero_init: _zeroes_every_bn\(model\) changed bn1\.weight.*only the last "
                           r"BatchNorm of each residual branch")),
        (_zeroes_last_conv, r"changed layer1\.0\.conv2\.weight.*instead of convolution weights"),
        (_also_zeroes_shortcut_bn, r"changed layer1\.0\.downsample\.1\.weight.*shortcut's BatchNorm"),
        (_raises, r"_raises\(model\) on ResNet-20 raised KeyError"),
        (42, r"pass your function itself"),
    ],
)
def test_check_zero_init_rejects_with_a_specific_message(init_fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_zero_init(init_fn)



def test_checks_leave_the_callers_random_state_and_threads_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_basic_block(BasicBlock)
    with pytest.raises(ExerciseError):
        check_basic_block(NoFinalRelu)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
