"""The lesion study and the unraveled view (resnet_course.lessons.lesion, chapter 7).

Veit et al. 2016 delete blocks of a trained network. What can be deleted, that a deletion
is undone exactly, that a deleted residual block leaves exactly its shortcut, and the
bookkeeping of :func:`lesion_study` are checked on small random networks and random
tensors (no data set, well under a second each).
"""

from __future__ import annotations

import copy
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from resnet_course.lessons import plots
from resnet_course.lessons.lesion import (
    blocks_deleted,
    branch_gains,
    central_lengths,
    deletable_blocks,
    lesion_study,
    path_counts,
    path_length_distribution,
)
from resnet_course.nn.registry import create_model
from resnet_course.training.evaluation import evaluate

pytestmark = pytest.mark.usefixtures("one_thread")


def _random_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so every part of a block matters; eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return model.eval()


def _model(name: str = "resnet14", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return _random_bn(create_model(name), seed)


def _meta(name: str) -> nn.Module:
    with torch.device("meta"):
        return create_model(name)


# --------------------------------------------------------------------------- deletable blocks


@pytest.mark.parametrize("name, n", [("resnet20", 3), ("plain20", 3), ("resnet56", 9), ("resnet110", 18)])
def test_deletable_blocks_are_all_but_the_two_downsampling_blocks(name, n):
    # A CIFAR network has 3 stages of n blocks. The first block of stages 2 and 3 halves the map and
    # doubles the channels (stride 2; option A zero-pad shortcut in the ResNet, no shortcut in the plain
    # twin), so its output cannot replace its input: 3n - 2 blocks can go — 7 in ResNet-20/plain-20.
    model = _meta(name)
    names = [block_name for block_name, _ in deletable_blocks(model)]
    assert len(names) == 3 * n - 2
    assert "layer2.0" not in names and "layer3.0" not in names
    assert names[:3] == ["layer1.0", "layer1.1", "layer1.2"]
    for block_name, block in deletable_blocks(model):
        assert block.stride == 1 and block.downsample is None, block_name


def test_resnet20_and_plain20_have_the_same_seven_deletable_blocks():
    expected = ["layer1.0", "layer1.1", "layer1.2", "layer2.1", "layer2.2", "layer3.1", "layer3.2"]
    assert [n for n, _ in deletable_blocks(_meta("resnet20"))] == expected
    assert [n for n, _ in deletable_blocks(_meta("plain20"))] == expected


def test_a_block_with_a_projection_on_every_block_cannot_be_deleted():
    # Option C puts a 1x1 projection on every block: deleting one would not leave its shortcut.
    with torch.device("meta"):
        model = create_model("resnet20", shortcut="C")
    assert deletable_blocks(model) == []


class _TutorialBlock(nn.Module):
    """A reader's block, not one of the package's classes: a ``shortcut`` attribute instead of ``downsample``."""

    def __init__(self, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=stride, padding=1)
        self.shortcut = nn.Identity() if stride == 1 else nn.Sequential(nn.Conv2d(channels, channels, 1, stride=stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x) + self.shortcut(x))


def test_a_readers_blocks_are_found_and_a_projection_keeps_one_from_being_deleted():
    # The blocks come from resnet_course.nn.inspection.find_blocks, which knows blocks by their shape.
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), _TutorialBlock(8), _TutorialBlock(8, stride=2),
                          _TutorialBlock(8))
    assert [name for name, _ in deletable_blocks(model)] == ["1", "3"]


# --------------------------------------------------------------------------- blocks_deleted


def test_blocks_deleted_replaces_and_restores_the_very_same_module():
    model = _model()
    x = torch.rand(2, 3, 16, 16)
    original = model.layer1[1]
    with torch.no_grad():
        before = model(x)
        with blocks_deleted(model, ["layer1.1", "layer3.1"]):
            assert isinstance(model.layer1[1], nn.Identity) and isinstance(model.layer3[1], nn.Identity)
            inside = model(x)
        after = model(x)
    assert model.layer1[1] is original
    assert torch.equal(after, before)
    assert not torch.allclose(inside, before)


def test_blocks_deleted_restores_after_an_exception():
    model = _model()
    original = model.layer2[1]
    with pytest.raises(RuntimeError, match="boom"), blocks_deleted(model, ["layer2.1"]):
        raise RuntimeError("boom")
    assert model.layer2[1] is original


@pytest.mark.parametrize("name", ["layer2.0", "layer3.0", "fc", "layer9.9"])
def test_blocks_deleted_refuses_what_does_not_keep_the_shape(name):
    model = _model()
    state = copy.deepcopy(model.state_dict())
    modules = dict(model.named_modules())
    refused = rf"cannot delete {name}: only blocks that keep the shape"
    with pytest.raises(ValueError, match=refused) as error, blocks_deleted(model, ["layer1.0", name]):
        pass
    assert "layer1.0" in str(error.value)  # the message lists what can be deleted
    assert dict(model.named_modules()) == modules  # nothing was deleted on the way
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_deleting_a_residual_block_leaves_exactly_its_identity_shortcut():
    # y = ReLU(F(x) + x). With F's last BatchNorm zeroed, F ≡ 0 and y = ReLU(x) = x, because x is the
    # output of a ReLU. Deleting the block must give the same network: only the shortcut is left.
    model = _model()
    shortcut_only = copy.deepcopy(model)
    with torch.no_grad():
        shortcut_only.layer2[1].bn2.weight.zero_()
        shortcut_only.layer2[1].bn2.bias.zero_()
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad(), blocks_deleted(model, ["layer2.1"]):
        deleted = model(x)
    with torch.no_grad():
        reference = shortcut_only(x)
        intact = model(x)
    torch.testing.assert_close(deleted, reference, rtol=0, atol=1e-6)
    assert (deleted - intact).abs().max() > 1e-3


def test_deleting_a_plain_block_passes_its_input_to_the_next_block():
    model = _model("plain14")
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        h = model.relu(model.bn1(model.conv1(x)))
        h = model.layer1(h)
        h = model.layer2[0](h)  # layer2.1 skipped
        h = model.layer3(h)
        expected = model.fc(torch.flatten(model.avgpool(h), 1))
        with blocks_deleted(model, ["layer2.1"]):
            got = model(x)
    torch.testing.assert_close(got, expected)


# --------------------------------------------------------------------------- lesion_study


def _tiny_data(n_batches: int = 2, batch: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.rand(batch, 3, 16, 16, generator=g), torch.randint(0, 10, (batch,), generator=g))
            for _ in range(n_batches)]


def test_lesion_study_structure_and_values():
    model, data = _model(), _tiny_data()
    modules_before = dict(model.named_modules())
    result = lesion_study(model, data, samples=2, seed=3)
    names = ["layer1.0", "layer1.1", "layer2.1", "layer3.1"]  # resnet14: 2 blocks per stage, 2 downsampling
    assert set(result) == {"baseline", "blocks", "single", "multiple"}
    assert result["blocks"] == names
    assert list(result["single"]) == names
    assert list(result["multiple"]) == ["2", "3", "4"]
    assert [len(result["multiple"][k]) for k in ("2", "3", "4")] == [2, 2, 1]  # all 4 deleted: one way only
    values = [result["baseline"], *result["single"].values(),
              *(v for draws in result["multiple"].values() for v in draws)]
    assert all(0.0 <= v <= 1.0 and v * 16 == round(v * 16) for v in values)  # fractions of 16 images
    assert result["baseline"] == evaluate(model, data)["accuracy"]
    with blocks_deleted(model, ["layer2.1"]):
        assert result["single"]["layer2.1"] == evaluate(model, data)["accuracy"]
    with blocks_deleted(model, names):
        assert result["multiple"]["4"] == [evaluate(model, data)["accuracy"]]
    assert dict(model.named_modules()) == modules_before  # every block back in place
    assert lesion_study(model, data, samples=2, seed=3) == result  # seeded draws


# --------------------------------------------------------------------------- the unraveled view


@pytest.mark.parametrize("n", [0, 1, 3, 9, 27, 54])
def test_path_counts_are_binomial_and_add_up_to_two_to_the_n(n):
    counts = path_counts(n)
    assert len(counts) == n + 1
    assert all(isinstance(c, int) for c in counts)
    assert sum(counts) == 2**n  # exact, also past 2^53
    assert counts == counts[::-1]
    assert counts == [math.comb(n, k) for k in range(n + 1)]
    assert max(counts) == counts[n // 2]  # most paths have medium length


def test_path_counts_small_case_by_enumeration():
    import itertools

    n = 5
    lengths = [sum(bits) for bits in itertools.product((0, 1), repeat=n)]  # branch (1) or skip (0) per block
    assert path_counts(n) == [lengths.count(k) for k in range(n + 1)]
    with pytest.raises(ValueError):
        path_counts(-1)


def test_path_length_distribution_with_and_without_a_gain():
    n = 27
    uniform = path_length_distribution(n)
    assert sum(uniform) == pytest.approx(1.0)
    assert uniform == pytest.approx([c / 2**n for c in path_counts(n)])
    g = 0.3
    weighted = path_length_distribution(n, g)
    assert sum(weighted) == pytest.approx(1.0)
    mean = sum(k * w for k, w in enumerate(weighted))
    assert mean == pytest.approx(n * g / (1 + g))  # binomial with p = g / (1 + g): shorter paths
    raw = [math.comb(n, k) * g**k for k in range(n + 1)]
    assert weighted == pytest.approx([r / sum(raw) for r in raw])
    with pytest.raises(ValueError):
        path_length_distribution(n, -1.0)


def test_central_lengths():
    assert central_lengths([0, 0, 1, 0, 0], share=0.9) == (2, 2)
    assert central_lengths([1, 1, 1, 1], share=0.5) == (0, 1)
    assert central_lengths([0.05, 0.45, 0.45, 0.05], share=0.9) == (1, 2)
    lo, hi = central_lengths(path_length_distribution(54), share=0.95)
    assert lo < 27 < hi and 27 - lo == pytest.approx(hi - 27, abs=1)  # symmetric around n/2
    with pytest.raises(ValueError):
        central_lengths([1, 2], share=0)


def test_branch_gains_measure_each_residual_branch():
    model = _model()
    with torch.no_grad():
        model.layer2[1].bn2.weight.zero_()  # this branch outputs a constant: no gradient goes through it
    x, y = torch.rand(8, 3, 16, 16), torch.randint(0, 10, (8,))
    model.train()
    state = copy.deepcopy(model.state_dict())
    gains = dict(branch_gains(model, x, y))
    assert list(gains) == ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1"]
    assert gains["layer2.1"] == 0.0
    assert all(g > 0 for name, g in gains.items() if name != "layer2.1")
    assert model.training  # mode, statistics and gradients left as they were
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert all(p.grad is None for p in model.parameters())
    assert branch_gains(_model("plain14"), x, y) == []  # no shortcut, no branch to compare with


# --------------------------------------------------------------------------- figures


def _fake_lesion_result() -> dict:
    blocks = ["layer1.0", "layer1.1", "layer2.1"]
    return {"meta": {}, "runs": {
        "resnet20": {"baseline": 0.9, "blocks": blocks, "single": dict(zip(blocks, (0.8, 0.85, 0.88))),
                     "multiple": {"2": [0.7, 0.6], "3": [0.5]}},
        "plain20": {"baseline": 0.88, "blocks": blocks, "single": dict(zip(blocks, (0.1, 0.12, 0.2))),
                    "multiple": {"2": [0.1, 0.1], "3": [0.1]}}}}


def test_lesion_figures():
    result = _fake_lesion_result()
    fig = plots.plot_lesion(result)
    assert len(fig.axes[0].patches) == 2 * 3  # one bar per network and block
    plt.close(fig)
    ks, mean, low, high = plots.lesion_curve(result["runs"]["resnet20"])
    assert ks == [0, 1, 2, 3]
    assert mean == pytest.approx([0.9, (0.8 + 0.85 + 0.88) / 3, 0.65, 0.5])
    assert low[2] == 0.6 and high[2] == 0.7
    plt.close(plots.plot_lesion_multiple(result))
    plt.close(plots.plot_path_lengths({"ResNet-20": path_counts(9)}))
