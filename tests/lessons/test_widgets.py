"""The block explorer and the gradient explorer (resnet_course.lessons.widgets), chapters 2 and 3."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from resnet_course.lessons import widgets
from resnet_course.nn.blocks import BasicBlock, Bottleneck, PreActBasicBlock
from resnet_course.nn.summary import count_macs

# Tiny tensors: every test here runs on one CPU thread (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def test_describe_block_counts_parameters_and_multiply_adds() -> None:
    text = widgets.describe_block("basic", 16, 32, 2, "A")
    assert text.splitlines()[0] == "BasicBlock: 16 -> 32 channels, stride 2, shortcut A; input 1×16×32×32"
    # conv1 3·3·16·32 + bn 64 + conv2 3·3·32·32 + bn 64; convs on 16×16 outputs
    assert "total: 13,952 parameters, 3,538,944 multiply-adds" in text
    assert "zero-pad identity (A)" in text
    assert text == widgets.describe_block("basic", 16, 32, 2, "A")  # deterministic


@pytest.mark.parametrize(
    "block_type, cls, in_planes, planes, stride, shortcut",
    [("bottleneck", Bottleneck, 64, 64, 2, "B"), ("preact_basic", PreActBasicBlock, 16, 16, 1, "C"),
     ("basic", BasicBlock, 32, 32, 1, "A")],
)
def test_describe_block_totals_match_the_block(block_type, cls, in_planes, planes, stride, shortcut) -> None:
    block = cls(in_planes, planes, stride, shortcut)
    params = sum(p.numel() for p in block.parameters())
    macs, _ = count_macs(block, (1, in_planes, 32, 32))
    text = widgets.describe_block(block_type, in_planes, planes, stride, shortcut)
    assert f"total: {params:,} parameters, {macs:,} multiply-adds" in text
    if shortcut == "A" and stride == 1 and in_planes == planes * cls.expansion:
        assert "(identity)" in text
    else:
        assert "downsample.0" in text


def test_describe_block_plain_has_no_shortcut_and_bad_choices_say_why() -> None:
    text = widgets.describe_block("plain_basic", 16, 32, 2, "A")
    assert "no shortcut" in text and "addition" not in text and "downsample" not in text
    with pytest.raises(ValueError, match="use B or C"):
        widgets.describe_block("basic", 64, 16, 1, "A")
    with pytest.raises(ValueError, match="unknown block type"):
        widgets.describe_block("dense", 16, 16, 1, "A")
    with pytest.raises(ValueError, match="stride"):
        widgets.describe_block("basic", 16, 16, 3, "A")


def test_block_explorer_updates_its_table() -> None:
    box = widgets.block_explorer()
    assert "BasicBlock: 16 -&gt; 32" in box.table.value
    box.controls["block_type"].value = "bottleneck"
    assert "Bottleneck: 16 -&gt; 128" in box.table.value and "conv3" in box.table.value
    box.controls["block_type"].value = "basic"
    box.controls["in_planes"].value = 128
    box.controls["planes"].value = 16
    assert "cannot build this block" in box.table.value and "use B or C" in box.table.value
    box.controls["shortcut"].value = "B"
    assert "downsample.0" in box.table.value


def test_gradient_explorer_draws_and_caches() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 8, 8, generator=g), torch.randint(0, 10, (2,), generator=g)
    box = widgets.gradient_explorer(x, y, kind="residual", depth=8, depths=(8, 14))
    first = box.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    box.controls["kind"].value = "plain"
    assert box.image.value != first
    box.controls["depth"].value = 14
    assert set(box.cache) == {("residual", 8), ("plain", 8), ("plain", 14)}
    assert len(box.cache[("plain", 14)]) == 13  # convolutions of a 14-layer network


