"""Chapter 4's self-checks (resnet_course.exercises.ch04): the CIFAR parameter formula and the CIFAR ResNet."""

from __future__ import annotations

import pytest
from torch import nn

from resnet_course import create_model
from resnet_course.exercises.ch04 import check_cifar_param_formula, check_cifar_resnet
from resnet_course.exercises.checking import ExerciseError
from resnet_course.nn.blocks import (
    BasicBlock,
)

# --- the CIFAR parameter formula and the CIFAR ResNet


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
        (lambda d: create_model("resnet32"), 20, (r"n = 3 blocks per stage, so 6n\+1 = 19 3×3 convolutions.*"
                                                 r"Your network's 3×3 convolutions output: 11 × 16×32×32")),
        (lambda d: create_model(f"resnet{d}", num_classes=100), 20, r"returns 2×100; expected 2×10"),
        (lambda d: create_model(f"resnet{d}"), 21, r"depth 21 is not a CIFAR ResNet depth: it must be 6n\+2"),
        (lambda d: create_model("resnet20").state_dict(), 20, r"returned OrderedDict, not an nn.Module"),
    ],
)
def test_check_cifar_resnet_rejects_with_a_specific_message(build_fn, depth, message):
    with pytest.raises(ExerciseError, match=message):
        check_cifar_resnet(build_fn, depth)
