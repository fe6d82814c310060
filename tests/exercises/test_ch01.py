"""Chapter 1's self-check (resnet_course.exercises.ch01): a conv → BN → ReLU layer that is the identity.

The check must accept the reference construction and other correct ones, and reject the
usual slips with the message that names them.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from resnet_course.exercises.ch01 import check_identity_layer, reference_make_identity
from resnet_course.exercises.checking import ExerciseError

# --- a conv → BN → ReLU layer that computes the identity


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
        (lambda: _layer().eval(), (r"not the identity on non-negative inputs: the largest error is .* at sample \d+, "
                                  r"channel \d+, pixel \(\d+, \d+\).*not a Dirac \(copying\) kernel")),
        (lambda: _off_centre(_layer()), r"not a Dirac .*weight\[2, 5, 0, 1\] = 0\.25"),
        (lambda: _dirac_only(_layer()), (r"BatchNorm does not undo itself.*γ = √\(running_var \+ eps\).*"
                                        r"β = running_mean.*still BatchNorm's defaults")),
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
