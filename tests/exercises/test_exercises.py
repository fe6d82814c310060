"""Self-checks (resnet_course.exercises) and the architecture diagram (resnet_course.diagram).

Each self-check must accept the reference solution and reject typical wrong ones with the
message that names the mistake; the solutions printed in the chapters' dropdowns must pass
their checks. The diagram must be derived from the model (any depth, torchvision's
networks, flat ``nn.Sequential`` models), not written per network.
"""

from __future__ import annotations

import copy
import json
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402
from torch import nn  # noqa: E402

from conftest import REPO_ROOT  # noqa: E402
from resnet_course import create_model  # noqa: E402
from resnet_course.nn.blocks import BasicBlock, Bottleneck, PreActBasicBlock, zero_init_last_bn  # noqa: E402
from resnet_course.lessons.diagram import describe_architecture, draw_architecture  # noqa: E402
from resnet_course.exercises.checking import ExerciseError
from resnet_course.exercises.ch03 import check_basic_block, check_bottleneck, check_preact_block, check_zero_init
from resnet_course.exercises.ch04 import check_cifar_param_formula, check_cifar_resnet
from resnet_course.exercises.ch01 import check_identity_layer, reference_make_identity  # noqa: E402

# ======================================================================================
# Chapter 1: a conv → BN → ReLU layer that computes the identity


def _layer(channels=8, *, bias=False, padding=1, out_channels=None, relu=True, seen=True):
    """A plain network's layer whose BatchNorm has seen a few batches (running statistics not 0 and 1)."""
    torch.manual_seed(0)
    out_channels = out_channels or channels
    parts = [nn.Conv2d(channels, out_channels, 3, padding=padding, bias=bias), nn.BatchNorm2d(out_channels)]
    layer = nn.Sequential(*parts, *([nn.ReLU()] if relu else []))
    if seen:
        with torch.no_grad():
            for _ in range(3):
                layer(torch.rand(4, channels, 6, 6))
    return layer


def _identity(layer):
    reference_make_identity(layer[0], layer[1])
    return layer.eval()


def test_check_identity_layer_accepts_the_reference_and_leaves_the_layer_alone(capsys):
    layer = _identity(_layer())
    before = copy.deepcopy(layer.state_dict())
    assert check_identity_layer(layer) is None
    assert capsys.readouterr().out.startswith("✓ check_identity_layer:")
    assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items()) and not layer.training
    x = torch.rand(2, 8, 5, 5)
    assert torch.allclose(layer(x), x, atol=1e-6)  # the reference really is the identity on x ≥ 0


def test_check_identity_layer_accepts_other_correct_constructions(capsys):
    scaled = _layer()  # a Dirac kernel scaled by 2, and a BatchNorm that divides by 2 more
    with torch.no_grad():
        conv, bn = scaled[0], scaled[1]
        nn.init.dirac_(conv.weight)
        conv.weight.mul_(2)
        bn.weight.copy_(torch.sqrt(bn.running_var + bn.eps) / 2)
        bn.bias.copy_(bn.running_mean / 2)
    check_identity_layer(scaled.eval())
    with_bias = _identity(_layer(bias=True))  # the reference zeroes a convolution's bias
    check_identity_layer(with_bias)
    assert capsys.readouterr().out.count("✓") == 2


def _no_eps(layer):
    with torch.no_grad():
        nn.init.dirac_(layer[0].weight)
        layer[1].weight.copy_(layer[1].running_var.sqrt())
        layer[1].bias.copy_(layer[1].running_mean)
    return layer.eval()


def _dirac_only(layer):
    nn.init.dirac_(layer[0].weight)
    return layer.eval()


def _bias_left(layer):
    with torch.no_grad():
        nn.init.dirac_(layer[0].weight)
        layer[1].weight.copy_(torch.sqrt(layer[1].running_var + layer[1].eps))
        layer[1].bias.copy_(layer[1].running_mean)
    return layer.eval()


def _off_centre(layer):
    reference_make_identity(layer[0], layer[1])
    with torch.no_grad():
        layer[0].weight[2, 5, 0, 1] = 0.25
    return layer.eval()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: _layer(), r"in training mode.*layer\.eval\(\)"),  # not even set up, and left in train mode
        (lambda: _identity(_layer()).train(), r"in training mode"),  # right weights, but left in train mode
        (lambda: _layer().eval(), r"not the identity on non-negative inputs: the largest error is .* at sample \d+, "
                                  r"channel \d+, pixel \(\d+, \d+\).*not a Dirac \(copying\) kernel"),
        (lambda: _off_centre(_layer()), r"not a Dirac .*weight\[2, 5, 0, 1\] = 0\.25"),
        (lambda: _dirac_only(_layer()), r"BatchNorm does not undo itself.*γ = √\(running_var \+ eps\).*"
                                        r"β = running_mean.*still BatchNorm's defaults"),
        (lambda: _no_eps(_layer()), r"BatchNorm does not undo itself.*forgets eps"),
        (lambda: _dirac_only(_layer(seen=False)), r"BatchNorm does not undo itself.*still BatchNorm's defaults"),
        (lambda: _bias_left(_layer(bias=True)), r"centre taps are 1 \(bias .*\).*no bias"),
        (lambda: _identity(_layer(padding=0)), r"wrong output shape: a 2×8×8×8 input gives 2×8×6×6.*padding=1"),
        (lambda: _layer(out_channels=4).eval(), r"wrong channel count: the convolution maps 8 to 4 channels"),
        (lambda: _identity(_layer(relu=False)), r"no ReLU"),
        (lambda: nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()), r"no nn\.BatchNorm2d"),
        (lambda: nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8, track_running_stats=False),
                               nn.ReLU()).eval(), r"track_running_stats=False"),
        (lambda: nn.Sequential, r"pass your layer itself"),
    ],
    ids=["untouched", "train-mode", "random-kernel", "off-centre-tap", "bn-defaults", "no-eps", "fresh-bn",
         "conv-bias", "no-padding", "channels", "no-relu", "no-bn", "no-running-stats", "a-class"],
)
def test_check_identity_layer_rejects_with_a_specific_message(make, message):
    with pytest.raises(ExerciseError, match=message):
        check_identity_layer(make())


# ======================================================================================
# Chapter 3: blocks — accepted


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


# ======================================================================================
# Chapter 3: blocks — rejected, with the message that names the mistake


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
        (AddsIntoReluOutput, r"backward pass .* fails: .*`out \+= identity`.*output of ReluBackward0|"
                             r"backward pass .* fails: .*`out \+= identity`"),
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
        (NotExpanding, r"NotExpanding\(64, 16, stride=1\) raised RuntimeError: .*Hint: the residual branch and the "
                       r"shortcut have different shapes"),
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


# ======================================================================================
# Chapter 3: zero-initialised residual branches


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
        (_does_nothing, r"block layer1\.0 \(BasicBlock\) of ResNet-20 does not compute ReLU\(shortcut\(x\)\)"
                        r".*layer1\.0\.bn2"),
        (_zeroes_bn2_everywhere, r"\(Bottleneck\) of ResNet-20 with bottlenecks .*layer1\.0\.bn3"),
        (_zeroes_bn2_everywhere, r"Besides, _zeroes_bn2_everywhere\(model\) changed layer1\.0\.bn2\.weight"),
        (_zeroes_every_bn, r"^check_zero_init: _zeroes_every_bn\(model\) changed bn1\.weight.*only the last "
                           r"BatchNorm of each residual branch"),
        (_zeroes_last_conv, r"changed layer1\.0\.conv2\.weight.*instead of convolution weights"),
        (_also_zeroes_shortcut_bn, r"changed layer1\.0\.downsample\.1\.weight.*shortcut's BatchNorm"),
        (_raises, r"_raises\(model\) on ResNet-20 raised KeyError"),
        (42, r"pass your function itself"),
    ],
)
def test_check_zero_init_rejects_with_a_specific_message(init_fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_zero_init(init_fn)


# ======================================================================================
# Chapter 4: the CIFAR parameter formula and the CIFAR ResNet


def test_check_cifar_param_formula_accepts_the_closed_form(capsys):
    check_cifar_param_formula(lambda n: 97_216 * n - 21_926)
    assert "269,722 for ResNet-20" in capsys.readouterr().out


def _params(depth, **options):
    return sum(p.numel() for p in create_model(f"resnet{depth}", **options).parameters())


@pytest.mark.parametrize(
    "formula, message",
    [
        (lambda n: 97_216 * n - 21_926 - 650, r"for n = 1 \(ResNet-8\) .*\(-650\)\. Hint: the classifier is missing"),
        (lambda n: _params(6 * n + 2, shortcut="B"), r"projection shortcuts \(option B\).*option A"),
        (lambda n: 97_216 * n - 21_926 if n <= 3 else 0, r"n = 5 .*right for n = 1, 3 but not here"),
        (lambda n: "269722", r"returned '269722'; it should return the number of parameters as an int"),
        (lambda n: 97_216 * n, r"\(\+21,926\)"),
    ],
)
def test_check_cifar_param_formula_rejects_with_a_specific_message(formula, message):
    with pytest.raises(ExerciseError, match=message):
        check_cifar_param_formula(formula)


def _flat_cifar_resnet(depth, num_classes=10):
    """The chapter's reference solution: blocks from the package in one flat nn.Sequential."""
    n = (depth - 2) // 6
    layers = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    in_planes = 16
    for planes, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(n):
            layers.append(BasicBlock(in_planes, planes, stride if i == 0 else 1, shortcut="A"))
            in_planes = planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("depth", [20, 32])
def test_check_cifar_resnet_accepts_the_package_and_a_flat_model(depth, capsys):
    check_cifar_resnet(lambda d: create_model(f"resnet{d}"), depth)
    check_cifar_resnet(_flat_cifar_resnet, depth)
    assert capsys.readouterr().out.count(f"your ResNet-{depth} has {depth} weighted layers") == 2


@pytest.mark.parametrize(
    "build_fn, depth, message",
    [
        (lambda d: create_model(f"resnet{d}", shortcut="B"), 20, r"\(\+2,752\)\. Hint: .*option A .*2 1×1 projection"),
        (lambda d: create_model(f"plain{d}"), 20, r"no longer depends on the input: there are no shortcuts"),
        (lambda d: create_model("resnet32"), 20, r"n = 3 blocks per stage, so 6n\+1 = 19 3×3 convolutions.*"
                                                 r"Your network's 3×3 convolutions output: 11 × 16×32×32"),
        (lambda d: create_model(f"resnet{d}", num_classes=100), 20, r"returns 2×100; expected 2×10"),
        (lambda d: create_model(f"resnet{d}"), 21, r"depth 21 is not a CIFAR ResNet depth: it must be 6n\+2"),
        (lambda d: create_model("resnet20").state_dict(), 20, r"returned OrderedDict, not an nn.Module"),
    ],
)
def test_check_cifar_resnet_rejects_with_a_specific_message(build_fn, depth, message):
    with pytest.raises(ExerciseError, match=message):
        check_cifar_resnet(build_fn, depth)


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


# ======================================================================================
# The solutions printed in the chapters pass their checks


SOLUTION = re.compile(r"^(`{3,})\{solution\}[^\n]*\n(?P<body>.*?)^\1\s*$", re.S | re.M)
CODE = re.compile(r"^```python\n(?P<code>.*?)^```\s*$", re.S | re.M)


def _solution_code(notebook: str) -> list[str]:
    nb = json.loads((REPO_ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))
    markdown = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    blocks = []
    for solution in SOLUTION.finditer(markdown):
        blocks += [m.group("code") for m in CODE.finditer(solution.group("body")) if "check_" in m.group("code")]
    return blocks


@pytest.mark.parametrize("notebook, at_least", [("01_degradation.ipynb", 1), ("03_building_blocks.ipynb", 3),
                                               ("04_resnet_family.ipynb", 2), ("05_training_cifar10.ipynb", 4),
                                               ("06_transfer_learning.ipynb", 3), ("07_why_resnets_work.ipynb", 3),
                                               ("08_beyond_resnet.ipynb", 4)])
def test_the_chapters_solutions_pass_their_self_checks(notebook, at_least, capsys):
    blocks = _solution_code(notebook)
    assert len(blocks) >= at_least, f"{notebook}: expected {at_least}+ solutions that call a self-check"
    for code in blocks:
        exec(compile(code, f"<{notebook} solution>", "exec"), {"__name__": "solution"})
    assert capsys.readouterr().out.count("✓") >= len(blocks)


# ======================================================================================
# The architecture diagram


def _on_meta(name: str) -> nn.Module:
    """Build a network without allocating or initialising its weights (the diagram needs only shapes)."""
    with torch.device("meta"):
        return create_model(name)


def test_describe_resnet20_from_its_modules():
    arch = describe_architecture(create_model("resnet20"))
    assert arch.input_shape == (3, 32, 32) and arch.params == 269_722
    assert [s.name for s in arch.stages] == ["layer1", "layer2", "layer3"]
    assert [len(s.blocks) for s in arch.stages] == [3, 3, 3]
    assert [s.output_shape for s in arch.stages] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert arch.stages[0].shortcuts == ["identity"] * 3
    assert arch.stages[1].shortcuts == ["zero-pad", "identity", "identity"]
    assert [b.downsamples for b in arch.stages[2].blocks] == [True, False, False]
    assert [p.label for p in arch.stem] == ["conv 3×3, 16", "BN", "ReLU"]
    assert [p.label for p in arch.head] == ["global avg-pool", "fc 64→10"]


def test_describe_resnet50_and_deeper_networks():
    arch = describe_architecture(_on_meta("resnet50"))
    assert arch.params == 25_557_032
    assert [len(s.blocks) for s in arch.stages] == [3, 4, 6, 3]
    assert [s.output_shape for s in arch.stages] == [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]
    assert all(s.shortcuts[0] == "projection" and set(s.shortcuts[1:]) == {"identity"} for s in arch.stages)
    assert {s.block_type for s in arch.stages} == {"Bottleneck"}
    assert [p.label for p in arch.stem] == ["conv 7×7/2, 64", "BN", "ReLU", "max-pool 3×3/2"]
    assert arch.head[-1].label == "fc 2048→1000"
    # Nothing is per network: a depth the book never shows, and another input size.
    deep = describe_architecture(_on_meta("resnet74"), (1, 3, 64, 64))
    assert [len(s.blocks) for s in deep.stages] == [12, 12, 12]
    assert deep.stages[-1].output_shape == (64, 16, 16)


def test_describe_other_variants_and_foreign_models():
    preact = describe_architecture(create_model("preact_resnet20"))
    assert [p.label for p in preact.head] == ["BN", "ReLU", "global avg-pool", "fc 64→10"]
    assert [p.label for p in preact.stem] == ["conv 3×3, 16"]  # the Identity placeholders are skipped
    assert set(describe_architecture(create_model("plain20")).stages[1].shortcuts) == {"none"}
    with torch.device("meta"):  # shapes are all the description needs
        option_c, torchvision_net = create_model("resnet18", shortcut="C"), torchvision.models.resnet18()
    assert all(set(s.shortcuts) == {"projection"} for s in describe_architecture(option_c).stages)
    tv = describe_architecture(torchvision_net)  # torchvision's own classes: found by their `downsample`
    assert tv.params == 11_689_512
    assert [s.shortcuts for s in tv.stages] == [["identity"] * 2] + [["projection", "identity"]] * 3
    flat = describe_architecture(_flat_cifar_resnet(20))  # blocks in one flat nn.Sequential
    assert [s.name for s in flat.stages] == ["stage 1", "stage 2", "stage 3"]
    assert [len(s.blocks) for s in flat.stages] == [3, 3, 3]
    assert [p.label for p in flat.head] == ["global avg-pool", "flatten", "fc 64→10"]
    with pytest.raises(ValueError, match="no residual blocks"):
        describe_architecture(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))


def test_describe_leaves_the_model_alone_and_prints_a_table():
    model = create_model("resnet20")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    text = str(describe_architecture(model))
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert text.splitlines()[0] == "ResNet-20: input 3×32×32, 269,722 parameters"
    assert "layer2  3 × BasicBlock, shortcuts: zero-pad, identity ×2  -> 32×16×16" in text


# boxes: the stem, one per stage, pooling and fc. A stage of more than six blocks shows the
# first four, an ellipsis and the last one (ResNet-110: 18 blocks per stage).
@pytest.mark.parametrize("name, squares, arcs, boxes, legend", [
    ("resnet50", 3 + 4 + 6 + 3, 16, 7, ["projection shortcut (1×1 conv)", "identity shortcut"]),
    ("resnet20", 9, 9, 6, ["identity shortcut", "identity + zero-padding (option A)"]),
    ("plain20", 9, 0, 6, ["no shortcut (plain)"]),
    ("resnet110", 3 * 5, 3 * 5, 6, ["identity shortcut", "identity + zero-padding (option A)"]),
])
def test_draw_architecture_draws_one_square_and_one_arc_per_block(name, squares, arcs, boxes, legend):
    fig = draw_architecture(_on_meta(name))
    try:
        ax = fig.axes[0]
        assert sum(isinstance(p, Rectangle) and not isinstance(p, FancyArrowPatch) and p.get_width() < 0.3
                   for p in ax.patches) == squares
        arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
        assert len(arrows) == arcs + boxes - 1  # shortcut arcs + arrows between boxes
        texts = " ".join(t.get_text() for t in ax.texts)
        assert "layer1" in texts and "stem" in texts and "fc" in texts
        assert "parameters" in ax.get_title()
        assert [t.get_text() for t in ax.get_legend().get_texts()] == legend
    finally:
        plt.close(fig)
