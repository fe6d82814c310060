"""Blocks: shapes, shortcut options A/B/C, zero-initialised branches, gradients against a reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_course.nn.blocks import (
    BasicBlock,
    Bottleneck,
    PlainBasicBlock,
    PlainBottleneck,
    PreActBasicBlock,
    PreActBottleneck,
    ZeroPadShortcut,
    make_shortcut,
    zero_init_last_bn,
)


def _randomise_bn(module: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize(
    "block, in_planes, planes, stride, out_shape",
    [
        (BasicBlock, 16, 16, 1, (2, 16, 8, 8)),
        (BasicBlock, 16, 32, 2, (2, 32, 4, 4)),
        (Bottleneck, 64, 64, 1, (2, 256, 8, 8)),
        (Bottleneck, 256, 128, 2, (2, 512, 4, 4)),
        (PreActBasicBlock, 16, 32, 2, (2, 32, 4, 4)),
        (PreActBottleneck, 64, 16, 2, (2, 64, 4, 4)),
        (PlainBasicBlock, 16, 32, 2, (2, 32, 4, 4)),
        (PlainBottleneck, 64, 32, 2, (2, 128, 4, 4)),
    ],
)
def test_block_output_shapes(block, in_planes, planes, stride, out_shape):
    out = block(in_planes, planes, stride)(torch.randn(2, in_planes, 8, 8))
    assert tuple(out.shape) == out_shape


def test_option_a_subsamples_and_zero_pads():
    shortcut = ZeroPadShortcut(4, 8, stride=2)
    x = torch.randn(2, 4, 6, 6)
    y = shortcut(x)
    assert y.shape == (2, 8, 3, 3)
    assert torch.equal(y[:, :4], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 4:]) == 0
    assert sum(p.numel() for p in shortcut.parameters()) == 0


def test_shortcut_options_build_what_the_paper_says():
    # A: parameter-free; identity when the shape is kept.
    assert make_shortcut("A", 16, 16, 1) is None
    assert isinstance(make_shortcut("A", 16, 32, 2), ZeroPadShortcut)
    # B: projection only where the shape changes.
    assert make_shortcut("B", 16, 16, 1) is None
    b = make_shortcut("B", 16, 32, 2)
    assert isinstance(b, nn.Sequential) and isinstance(b[0], nn.Conv2d) and b[0].stride == (2, 2)
    # C: projection everywhere.
    c = make_shortcut("C", 16, 16, 1)
    assert isinstance(c, nn.Sequential) and c[0].kernel_size == (1, 1)
    with pytest.raises(ValueError, match="'A'.*'B'.*'C'"):
        make_shortcut("D", 16, 16, 1)


def test_plain_blocks_have_no_shortcut_and_same_parameters():
    residual = BasicBlock(16, 16, 1, shortcut="A")
    plain = PlainBasicBlock(16, 16, 1)
    plain.load_state_dict(residual.state_dict(), strict=True)
    assert plain.downsample is None
    x = torch.randn(2, 16, 8, 8)
    residual.eval(), plain.eval()
    # The only difference is the addition of x before the final ReLU.
    assert torch.allclose(residual(x), torch.relu(plain.residual(x) + x))
    assert torch.allclose(plain(x), torch.relu(plain.residual(x)))


@pytest.mark.parametrize("block_type, planes", [(BasicBlock, 16), (Bottleneck, 4)])
def test_zero_init_makes_identity_plus_relu(block_type, planes):
    block = block_type(16, planes, 1)  # shape kept: identity shortcut
    _randomise_bn(block)
    assert zero_init_last_bn(block) == 1
    block.eval()
    x = torch.randn(3, 16, 8, 8)
    assert torch.equal(block(x), torch.relu(x))


def test_zero_init_downsampling_block_is_shortcut_plus_relu():
    block = BasicBlock(16, 32, 2, shortcut="A")
    zero_init_last_bn(block)
    block.eval()
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(block(x), torch.relu(block.downsample(x)))


@pytest.mark.parametrize("block_type, planes", [(PreActBasicBlock, 16), (PreActBottleneck, 4)])
def test_zero_init_preact_block_is_exact_identity(block_type, planes):
    block = block_type(16, planes, 1)
    _randomise_bn(block)
    zero_init_last_bn(block)
    block.eval()
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(block(x), x)


def test_zero_init_leaves_plain_blocks_alone():
    plain = PlainBasicBlock(16, 16, 1)
    assert zero_init_last_bn(plain) == 0
    assert torch.all(plain.bn2.weight == 1)


def _reference_basic_block(block: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    """BasicBlock written out with functional ops (training-mode BN), shortcut option B."""
    def bn(t: torch.Tensor, m: nn.BatchNorm2d) -> torch.Tensor:
        return F.batch_norm(t, None, None, m.weight, m.bias, training=True, eps=m.eps)

    out = F.relu(bn(F.conv2d(x, block.conv1.weight, stride=block.stride, padding=1), block.bn1))
    out = bn(F.conv2d(out, block.conv2.weight, padding=1), block.bn2)
    if block.downsample is None:
        identity = x
    else:
        identity = bn(F.conv2d(x, block.downsample[0].weight, stride=block.stride), block.downsample[1])
    return F.relu(out + identity)


@pytest.mark.parametrize("in_planes, planes, stride", [(8, 8, 1), (8, 16, 2)])
def test_block_gradients_match_functional_reference(in_planes, planes, stride):
    """The block's input and weight gradients equal those of a hand-written reference.

    The input is the output of an in-place ReLU, the situation where ``out += identity``
    corrupts or breaks the backward pass.
    """
    torch.manual_seed(0)
    block = BasicBlock(in_planes, planes, stride, shortcut="B").train()
    _randomise_bn(block)
    raw = torch.randn(4, in_planes, 8, 8, requires_grad=True)
    x = F.relu(raw * 1.0, inplace=True)
    block(x).square().sum().backward()
    grads = {name: p.grad.clone() for name, p in block.named_parameters()}
    grad_input = raw.grad.clone()

    block.zero_grad()
    raw.grad = None
    x_ref = F.relu(raw * 1.0)
    _reference_basic_block(block, x_ref).square().sum().backward()
    assert torch.allclose(raw.grad, grad_input, rtol=1e-4, atol=1e-5)
    for name, p in block.named_parameters():
        assert torch.allclose(p.grad, grads[name], rtol=1e-4, atol=1e-5), name


def test_in_place_addition_pitfall_is_real():
    """What the blocks avoid: adding in place into a ReLU output autograd still needs fails."""
    conv = nn.Conv2d(4, 4, 3, padding=1)
    x = torch.randn(1, 4, 5, 5, requires_grad=True)
    identity = x * 1.0
    out = torch.relu(conv(identity))  # relu saves its output for backward
    out += identity
    with pytest.raises(RuntimeError, match="inplace operation"):
        out.sum().backward()


def test_stride_placement_keeps_parameters():
    torchvision_style = Bottleneck(64, 32, 2)
    paper_style = Bottleneck(64, 32, 2, stride_in_1x1=True)
    assert paper_style.conv1.stride == (2, 2) and paper_style.conv2.stride == (1, 1)
    assert torchvision_style.conv1.stride == (1, 1) and torchvision_style.conv2.stride == (2, 2)
    paper_style.load_state_dict(torchvision_style.state_dict(), strict=True)
    x = torch.randn(1, 64, 8, 8)
    assert paper_style(x).shape == torchvision_style(x).shape
