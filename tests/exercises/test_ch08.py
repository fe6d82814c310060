"""Chapter 8's self-checks (resnet_course.exercises.ch08): a WRN parameter formula, a ResNeXt
block, a dense layer, DDP settings.

Each check must accept the reference solution, reject the typical wrong answers with a
message that names the mistake, and the solutions printed in the chapter must pass.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_course.exercises.ch08 import (
    ReferenceResNeXtBlock,
    check_ddp_settings,
    check_dense_layer,
    check_resnext_block,
    check_wrn_param_formula,
    reference_ddp_settings,
    reference_wrn_params,
)
from resnet_course.exercises.checking import ExerciseError
from resnet_course.nn.summary import count_parameters
from resnet_course.nn.variants import DenseLayer, wide_resnet

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- WRN parameter formula


def test_wrn_formula_accepts_the_reference(capsys):
    check_wrn_param_formula(reference_wrn_params)
    assert capsys.readouterr().out.startswith("✓ check_wrn_param_formula")


def test_reference_wrn_formula_is_the_network():
    for depth, k in ((10, 2), (16, 4), (28, 10)):
        with torch.device("meta"):
            assert reference_wrn_params(depth, k) == count_parameters(wide_resnet(depth, k))


def _projections(k):
    return 16 * 16 * k + 16 * k * 32 * k + 32 * k * 64 * k


@pytest.mark.parametrize("wrong, message", [
    (lambda d, k: reference_wrn_params(d, k) - _projections(k), "projection shortcuts.*left that out"),
    (lambda d, k: reference_wrn_params(d, k) - 2 * 64 * k, "final BatchNorm"),
    (lambda d, k: reference_wrn_params(d, k) + 64 * k * 10 + 10, "classifier.*counted that twice"),
    (lambda d, k: reference_wrn_params(d + 6, k), "blocks per stage"),
    (lambda d, k: str(reference_wrn_params(d, k)), "as an int"),
    (lambda d: 0, "raised TypeError"),
    (42, "pass your function itself"),
])
def test_wrn_formula_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_wrn_param_formula(wrong)


# --------------------------------------------------------------------------- ResNeXt block


def test_resnext_block_accepts_the_reference(capsys):
    check_resnext_block(ReferenceResNeXtBlock)
    assert capsys.readouterr().out.startswith("✓ check_resnext_block")


class DenseMiddle(ReferenceResNeXtBlock):
    def __init__(self, i, o, c, d, stride=1):
        super().__init__(i, o, c, d, stride)
        self.conv2 = nn.Conv2d(c * d, c * d, 3, stride=stride, padding=1, bias=False)


class WrongWidth(ReferenceResNeXtBlock):
    def __init__(self, i, o, c, d, stride=1):
        super().__init__(i, o, c, d, stride)
        self.conv1 = nn.Conv2d(i, d, 1, bias=False)  # d instead of C·d
        self.bn1 = nn.BatchNorm2d(d)
        self.conv2 = nn.Conv2d(d, d, 3, stride=stride, padding=1, groups=c if d % c == 0 else 1, bias=False)


class NoProjection(ReferenceResNeXtBlock):
    def __init__(self, i, o, c, d, stride=1):
        super().__init__(i, o, c, d, stride)
        self.shortcut = nn.Identity()

    def forward(self, x):
        out = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))))
        pad = out.shape[1] - x.shape[1]
        x = x[:, :, ::self.conv2.stride[0], ::self.conv2.stride[0]]
        return F.relu(out + F.pad(x, (0, 0, 0, 0, 0, pad)))


class StrideOn1x1(ReferenceResNeXtBlock):
    def __init__(self, i, o, c, d, stride=1):
        super().__init__(i, o, c, d, stride)
        self.conv1.stride, self.conv2.stride = (stride, stride), (1, 1)


class NoFinalRelu(ReferenceResNeXtBlock):
    def forward(self, x):
        out = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return self.bn3(self.conv3(out)) + self.shortcut(x)


class Biased(ReferenceResNeXtBlock):
    def __init__(self, i, o, c, d, stride=1):
        super().__init__(i, o, c, d, stride)
        self.conv1 = nn.Conv2d(i, c * d, 1, bias=True)


@pytest.mark.parametrize("wrong, message", [
    (DenseMiddle, "groups=1.*ordinary dense"),
    (WrongWidth, "cardinality × bottleneck_width"),
    (NoProjection, "projection"),
    (StrideOn1x1, "stride"),
    (NoFinalRelu, "computes something else"),
    (Biased, "bias=False"),
    (lambda i, o, c, d, stride=1: nn.Identity(), "3×3 convolutions"),
])
def test_resnext_block_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_resnext_block(wrong)


# --------------------------------------------------------------------------- dense layer


def test_dense_layer_accepts_the_reference(capsys):
    check_dense_layer(DenseLayer)
    assert capsys.readouterr().out.startswith("✓ check_dense_layer")


class _Layer(nn.Module):
    def __init__(self, i, k, order="xh", bias=False, bn=True):
        super().__init__()
        self.h = nn.Sequential(*(([nn.BatchNorm2d(i)] if bn else []) + [nn.ReLU(),
                                 nn.Conv2d(i, k, 3, padding=1, bias=bias)]))
        self.order = order

    def forward(self, x):
        new = self.h(x)
        if self.order == "h":
            return new
        return torch.cat([x, new] if self.order == "xh" else [new, x], 1)


class Residual(nn.Module):
    def __init__(self, i, k):
        super().__init__()
        self.h = nn.Sequential(nn.BatchNorm2d(i), nn.ReLU(), nn.Conv2d(i, i, 3, padding=1, bias=False))

    def forward(self, x):
        return x + self.h(x)


class ActivatedCopy(_Layer):
    def forward(self, x):
        return torch.cat([F.relu(x), self.h(x)], 1)


@pytest.mark.parametrize("wrong, message", [
    (lambda i, k: _Layer(i, k, order="h"), "only the 12 new channels"),
    (Residual, "add the new features"),
    (lambda i, k: _Layer(i, k, order="hx"), "new features first"),
    (ActivatedCopy, "not the input itself"),
    (lambda i, k: _Layer(i, k, bias=True), "bias=False"),
    (lambda i, k: _Layer(i, k, bn=False), "BatchNorm.*missing"),
])
def test_dense_layer_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_dense_layer(wrong)


# --------------------------------------------------------------------------- DDP settings


def test_ddp_settings_accepts_the_reference(capsys):
    check_ddp_settings(reference_ddp_settings)
    assert capsys.readouterr().out.startswith("✓ check_ddp_settings")
    assert reference_ddp_settings(8, 64) == (512, 0.4)


@pytest.mark.parametrize("wrong, message", [
    (lambda p, b: (b, 0.1 * b / 128), "per-process batch"),
    (lambda p, b: (p * b, 0.1), "unchanged"),
    (lambda p, b: (p * b, 0.1 * p), "number of processes"),
    (lambda p, b: (p * b, 0.1 * p * b / 256), "0.1 · global_batch / 128"),
    (lambda p, b: p * b, "pair"),
])
def test_ddp_settings_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_ddp_settings(wrong)
