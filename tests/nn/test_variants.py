"""Tests of resnet_course.variants: Wide ResNets, ResNeXt and the DenseNet block (chapter 8).

Parameter counts are compared with the papers' tables (Zagoruyko & Komodakis 2016, Tables 4-5;
Xie et al. 2017, Table 7); the big networks are built on the meta device, where only shapes exist.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet_course.nn.blocks import Bottleneck, PreActBasicBlock
from resnet_course.nn.summary import count_macs, count_parameters, summary
from resnet_course.nn.variants import (
    PAPER_COUNTS,
    DenseBlock,
    DenseLayer,
    WideBasicBlock,
    resnext_cifar,
    wide_resnet,
)


def on_meta(build, *args, **kwargs):
    with torch.device("meta"):
        return build(*args, **kwargs)


@pytest.mark.parametrize("depth, k, paper", [(16, 4, "WRN-16-4"), (28, 10, "WRN-28-10")])
def test_wide_resnet_parameters_match_the_paper(depth, k, paper):
    params = count_parameters(on_meta(wide_resnet, depth, k))
    assert round(params / 1e6, 1) == PAPER_COUNTS[paper]["params_m"]


def test_wide_resnet_exact_counts():
    # The authors' PyTorch code gives these exact numbers (WRN-28-10: 36,479,194).
    assert count_parameters(on_meta(wide_resnet, 28, 10)) == 36_479_194
    assert count_parameters(on_meta(wide_resnet, 16, 4)) == 2_748_890


@pytest.mark.parametrize("cardinality, paper", [(8, "ResNeXt-29 8x64d"), (16, "ResNeXt-29 16x64d")])
def test_resnext29_parameters_match_the_paper(cardinality, paper):
    params = count_parameters(on_meta(resnext_cifar, 29, cardinality, 64))
    # 34,426,698 and 68,155,210: the paper's 34.4M and 68.1M (the latter cut, not rounded, to one decimal)
    assert abs(params / 1e6 - PAPER_COUNTS[paper]["params_m"]) < 0.1
    assert params == {8: 34_426_698, 16: 68_155_210}[cardinality]


def test_wide_resnet_layout_and_forward():
    torch.manual_seed(0)
    model = wide_resnet(10, 2, num_classes=7)
    assert model.arch == "wrn10_2" and model.num_classes == 7
    assert [len(model.layer1), len(model.layer2), len(model.layer3)] == [1, 1, 1]  # n = (10 - 4) / 6
    assert all(isinstance(b, PreActBasicBlock) for b in model.modules() if isinstance(b, WideBasicBlock))
    assert model.conv1.out_channels == 16  # the stem stays at 16 channels whatever k is
    shapes = [summary(model, (1, 3, 32, 32)).row(n).output_shape for n in ("layer1", "layer2", "layer3")]
    assert shapes == [(1, 32, 32, 32), (1, 64, 16, 16), (1, 128, 8, 8)]  # 16k, 32k, 64k
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 10  # WRN's depth 6n+4 counts the stem, 2 per block and the 3 projections
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)


def test_wide_resnet_rejects_impossible_depths():
    with pytest.raises(ValueError, match=r"6n\+4"):
        wide_resnet(20, 2)
    with pytest.raises(ValueError, match="widening factor"):
        wide_resnet(16, 0)


def test_wide_block_dropout_sits_between_the_convolutions():
    torch.manual_seed(0)
    block = WideBasicBlock(16, 16, dropout=0.5)
    plain = PreActBasicBlock(16, 16)
    plain.load_state_dict(block.state_dict())  # same parameters, same names
    x = torch.randn(4, 16, 8, 8)
    block.eval(), plain.eval()
    assert torch.equal(block(x), plain(x))  # dropout is off in eval mode
    block.train()
    seen = []
    hook = block.conv2.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    block(x)
    hook.remove()
    assert (seen[0] == 0).float().mean() > 0.3  # about half the inputs of conv2 dropped


def test_resnext_uses_grouped_convolutions():
    model = resnext_cifar(11, 8, 8, base_planes=8)
    grouped = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(grouped) == 3  # one per bottleneck, one bottleneck per stage
    assert all(m.groups == 8 and m.kernel_size == (3, 3) for m in grouped)
    assert [m.in_channels for m in grouped] == [64, 128, 256]  # C·d·2^stage with d = 8
    assert all(isinstance(b.downsample, nn.Sequential) for b in model.modules() if isinstance(b, Bottleneck))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_resnext29_widths_follow_table_7():
    model = on_meta(resnext_cifar, 29, 8, 64)
    grouped = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert sorted({m.in_channels for m in grouped}) == [512, 1024, 2048]
    assert model.fc.in_features == 1024
    assert model.arch == "resnext29_8x64d"


def test_grouping_divides_the_3x3_parameters_by_the_cardinality():
    dense = resnext_cifar(11, 1, 64, base_planes=8)
    grouped = resnext_cifar(11, 8, 8, base_planes=8)  # the same widths, 8 groups
    for a, b in zip(dense.modules(), grouped.modules()):
        if isinstance(a, nn.Conv2d) and a.kernel_size == (3, 3) and a.in_channels > 3:
            assert a.weight.numel() == 8 * b.weight.numel()
    assert count_macs(grouped, (1, 3, 32, 32))[0] < count_macs(dense, (1, 3, 32, 32))[0]


def test_resnext_rejects_impossible_depths():
    with pytest.raises(ValueError, match=r"9n\+2"):
        resnext_cifar(28, 8, 64)


@pytest.mark.parametrize("bottleneck", [False, True])
def test_dense_block_concatenates(bottleneck):
    torch.manual_seed(0)
    block = DenseBlock(4, 16, growth_rate=12, bottleneck=bottleneck)
    assert block.out_channels == 16 + 4 * 12
    assert [layer.in_channels for layer in block] == [16, 28, 40, 52]
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    out = block(x)
    assert out.shape == (2, 16 + 4 * 12, 8, 8)
    assert torch.equal(out[:, :16], x)  # the input reaches the output unchanged: concatenation, not addition
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in block.parameters())


def test_dense_layer_parameters():
    layer = DenseLayer(20, 8)
    assert count_parameters(layer) == 2 * 20 + 9 * 20 * 8  # BN(γ, β) and a bias-free 3×3 conv
    assert layer.out_channels == 28


@pytest.mark.parametrize("build", [lambda: wide_resnet(10, 2), lambda: resnext_cifar(11, 4, 4, base_planes=8)])
def test_gradients_reach_every_parameter(build):
    torch.manual_seed(0)
    model = build()
    model(torch.randn(4, 3, 32, 32)).logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
