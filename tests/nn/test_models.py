"""Networks: the paper's numbers (Table 1, Table 6), torchvision compatibility, the registry's errors."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from resnet_course import create_model, list_models, summary
from resnet_course.nn.blocks import (
    BasicBlock,
    Bottleneck,
    PlainBasicBlock,
    ZeroPadShortcut,
)
from resnet_course.nn.models import CifarResNet, ResNet

IMAGENET = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
# He et al. 2015, Table 1: multiply-adds ("FLOPs") at 224×224, ×10⁹.
TABLE1_GMACS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6, "resnet152": 11.3}
# He et al. 2015, Table 6: parameters in millions, as the paper rounds them.
TABLE6_PARAMS = {"resnet20": "0.27", "resnet32": "0.46", "resnet44": "0.66", "resnet56": "0.85",
                 "resnet110": "1.7", "resnet1202": "19.4"}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_parameter_counts_equal_torchvision(name):
    ours = create_model(name)
    theirs = getattr(torchvision.models, name)()
    assert n_params(ours) == n_params(theirs)


@pytest.mark.parametrize("name, paper", TABLE6_PARAMS.items())
def test_cifar_parameter_counts_match_table6(name, paper):
    millions = n_params(create_model(name)) / 1e6
    decimals = len(paper.split(".")[1])
    assert f"{millions:.{decimals}f}" == paper


def test_plain_and_residual_cifar_nets_have_equal_parameters():
    # Option A adds no parameters: the comparison of Fig. 6 is at equal size.
    for depth in (20, 56, 110):
        assert n_params(create_model(f"plain{depth}")) == n_params(create_model(f"resnet{depth}"))


@pytest.mark.parametrize("name", IMAGENET)
def test_multiply_adds_match_table1_when_built_the_papers_way(name):
    paper_way = summary(create_model(name, stride_in_1x1=True))
    assert paper_way.total_macs / 1e9 == pytest.approx(TABLE1_GMACS[name], rel=0.05)


@pytest.mark.parametrize("name", ["resnet50", "resnet101", "resnet152"])
def test_torchvision_stride_placement_costs_more_and_summary_says_by_how_much(name):
    torchvision_way = summary(create_model(name))
    paper_way = summary(create_model(name, stride_in_1x1=True))
    assert torchvision_way.total_macs > paper_way.total_macs
    extra = 100 * (torchvision_way.total_macs - paper_way.total_macs) / paper_way.total_macs
    assert any(f"{extra:+.1f}%" in note for note in torchvision_way.notes), torchvision_way.notes
    assert any(f"{-extra * paper_way.total_macs / torchvision_way.total_macs:+.1f}%" in note
               for note in paper_way.notes), paper_way.notes


def _randomise(model: nn.Module, seed: int) -> None:
    """Non-trivial BN statistics so that equal outputs mean equal networks."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("name", IMAGENET)
def test_torchvision_state_dict_loads_strictly_and_gives_equal_outputs(name):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)().eval()
    _randomise(theirs, seed=1)
    ours = create_model(name).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict()) or set(ours.state_dict()) == set(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())
    # And the other way round: our weights drive torchvision's network.
    theirs.load_state_dict(create_model(name).state_dict(), strict=True)


def test_summary_rows_have_shapes_params_and_macs():
    s = summary(create_model("resnet18"), (1, 3, 224, 224))
    assert s.row("layer1").output_shape == (1, 64, 56, 56)
    assert s.row("layer4").output_shape == (1, 512, 7, 7)
    assert s.row("fc").output_shape == (1, 1000)
    assert sum(r.params for r in s.rows) == s.total_params == 11_689_512
    assert sum(r.macs for r in s.rows) == s.total_macs
    text = str(s)
    assert "layer3" in text and "11,689,512" in text


def test_summary_of_cifar_resnet20():
    s = summary(create_model("resnet20"), (1, 3, 32, 32))
    assert [s.row(n).output_shape for n in ("layer1", "layer2", "layer3")] == [
        (1, 16, 32, 32), (1, 32, 16, 16), (1, 64, 8, 8)]
    assert 40e6 < s.total_macs < 42e6  # ≈ 41M multiply-adds per 32×32 image
    assert s.notes == []  # no bottlenecks, no stride-placement note


def test_registry_lists_the_course_networks():
    names = list_models()
    for expected in IMAGENET + ["plain18", "plain34", "resnet18_cifar", "resnet20", "resnet1202", "plain56",
                                "plain110", "preact_resnet110", "preact_resnet164", "preact_resnet1001"]:
        assert expected in names
    assert names.index("resnet152") < names.index("resnet20")  # ImageNet family first


def test_cifar_layout_follows_section_4_2():
    model = create_model("resnet56")
    assert isinstance(model, CifarResNet) and model.num_classes == 10 and model.arch == "resnet56"
    assert [len(model.layer1), len(model.layer2), len(model.layer3)] == [9, 9, 9]  # 6·9+2 = 56
    assert isinstance(model.layer2[0].downsample, ZeroPadShortcut)  # option A
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == 56  # weighted layers: convolutions + the classifier
    assert all(isinstance(b, PlainBasicBlock) for b in create_model("plain56").layer1)


def test_preact_depth_rule_uses_bottlenecks_from_164():
    assert isinstance(create_model("preact_resnet164").layer1[0].conv3, nn.Conv2d)
    assert not hasattr(create_model("preact_resnet110").layer1[0], "conv3")
    assert n_params(create_model("preact_resnet164")) / 1e6 == pytest.approx(1.7, abs=0.05)  # 2016 paper: 1.7M


def test_resnet18_cifar_stem():
    model = create_model("resnet18_cifar")
    assert isinstance(model, ResNet) and model.conv1.kernel_size == (3, 3) and model.num_classes == 10
    assert summary(model, (1, 3, 32, 32)).row("layer4").output_shape == (1, 512, 4, 4)


@pytest.mark.parametrize("option, projections", [("A", 0), ("B", 3), ("C", 8)])
def test_shortcut_options_in_a_whole_network(option, projections):
    model = create_model("resnet18", shortcut=option)
    found = sum(isinstance(b.downsample, nn.Sequential) for b in model.modules() if isinstance(b, BasicBlock))
    assert found == projections
    model(torch.randn(1, 3, 64, 64))


def test_zero_init_residual_makes_every_block_identity_plus_relu():
    model = create_model("resnet34", zero_init_residual=True).eval()
    blocks = [b for b in model.modules() if isinstance(b, (BasicBlock, Bottleneck))]
    assert len(blocks) == 16
    for block in blocks:
        x = torch.randn(1, block.conv1.in_channels, 8, 8)
        shortcut = x if block.downsample is None else block.downsample(x)
        assert torch.equal(block(x), torch.relu(shortcut))


ALL_MODELS = list_models()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_runs_forward_and_backward(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7)
    x = torch.randn(2, 3, 32, 32)  # ImageNet networks reach 1×1 at layer4: still a full pass
    out = model(x)
    assert out.shape == (2, 7)
    out.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(ValueError, match="resnet50") as info:
        create_model("resnet5O")
    assert "list_models()" in str(info.value)
    with pytest.raises(ValueError, match="unknown model 'densenet121'"):
        create_model("densenet121")


def test_cifar_depth_rule_is_explained():
    with pytest.raises(ValueError, match=r"6n\+2.*21.*20, 26"):
        create_model("resnet21")
    with pytest.raises(ValueError, match=r"9n\+2"):
        create_model("preact_resnet165")
    assert create_model("resnet26").layer1.__len__() == 4  # any 6n+2 depth works


def test_bad_options_are_refused_clearly():
    with pytest.raises(TypeError, match="shortcut"):
        create_model("resnet20", shortcutt="A")
    with pytest.raises(ValueError, match="'A'.*'B'.*'C'"):
        create_model("resnet20", shortcut="D")
    with pytest.raises(ValueError, match="num_classes"):
        create_model("resnet20", num_classes=0)
    with pytest.raises(ValueError, match="stem"):
        ResNet(BasicBlock, [2, 2, 2, 2], stem="tiny")
