"""Block schematics traced from the modules (resnet_course.lessons.schematics), chapters 2, 3 and 8.

The schematic must come from the block's forward pass — its additions, its shortcut's layers,
the shapes — not from a description written per block: the same code has to tell a plain
block from a residual one, option A from B and C, and find where a pre-activation block's
projection starts.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.patches import Circle
from torch import nn

from resnet_course.lessons.schematics import draw_blocks, trace_block
from resnet_course.nn import BasicBlock, Bottleneck, PlainBasicBlock, PreActBasicBlock, PreActBottleneck

pytestmark = pytest.mark.usefixtures("one_thread")
X56 = (1, 64, 56, 56)


def _labels(graph):
    return [(layer.label, layer.shape) for layer in graph.path]


def test_basic_block_with_each_shortcut_option():
    a = trace_block(BasicBlock(64, 128, 2, shortcut="A"), X56)
    assert _labels(a) == [("input", (64, 56, 56)), ("conv 3×3/2, 128", (128, 28, 28)), ("BN, ReLU", (128, 28, 28)),
                          ("conv 3×3, 128", (128, 28, 28)), ("BN", (128, 28, 28)), ("+", (128, 28, 28)),
                          ("ReLU", (128, 28, 28))]
    [shortcut] = a.shortcuts
    assert (shortcut.source, shortcut.kind) == ("x", "zero-pad")
    assert [s.label for s in shortcut.layers] == ["subsample /2\nzero-pad 64→128"]
    b = trace_block(BasicBlock(64, 128, 2, shortcut="B"), X56).shortcuts[0]
    assert b.kind == "projection" and [s.label for s in b.layers] == ["conv 1×1/2, 128", "BN"]
    assert b.layers[0].shape == (128, 28, 28)
    # Where the shape is kept, A and B add the input as it is; C projects it anyway.
    assert [trace_block(BasicBlock(64, 64, 1, shortcut=o), X56).shortcuts[0].kind for o in "ABC"] == \
        ["identity", "identity", "projection"]


def test_plain_bottleneck_and_pre_activation_blocks():
    plain = trace_block(PlainBasicBlock(64, 64), X56)
    assert plain.shortcuts == [] and "+" not in [layer.label for layer in plain.path]
    bottleneck = trace_block(Bottleneck(256, 64), (1, 256, 56, 56))
    assert [layer.label for layer in bottleneck.path][1:6] == ["conv 1×1, 64", "BN, ReLU", "conv 3×3, 64", "BN, ReLU",
                                                               "conv 1×1, 256"]
    assert bottleneck.path[-1].shape == (256, 56, 56) and bottleneck.shortcuts[0].kind == "identity"
    # The pre-activation projection reads the normalised input (the authors' code), not x.
    pre = trace_block(PreActBasicBlock(64, 128, 2), X56)
    source = next(layer for layer in pre.path if layer.name == pre.shortcuts[0].source)
    assert source.label == "BN, ReLU" and pre.path.index(source) == 1
    assert pre.path[-1].label == "+"  # nothing after the addition
    deep = trace_block(PreActBottleneck(64, 32), (1, 64, 8, 8))
    assert deep.shortcuts[0].kind == "projection" and deep.path[-1].shape == (128, 8, 8)


def test_text_version_and_the_block_is_left_alone():
    block = BasicBlock(16, 32, 2, shortcut="A").train()
    before = {k: v.clone() for k, v in block.state_dict().items()}
    text = str(trace_block(block, (2, 16, 8, 8), title="first block of stage 2"))
    assert block.training and all(torch.equal(before[k], v) for k, v in block.state_dict().items())
    assert text.splitlines() == [
        "first block of stage 2",
        " 0.  input           16×8×8",
        " 1.  conv 3×3/2, 32  32×4×4",
        " 2.  BN, ReLU        32×4×4",
        " 3.  conv 3×3, 32    32×4×4",
        " 4.  BN              32×4×4",
        "     shortcut from 0: subsample /2, zero-pad 16→32",
        " 5.  +               32×4×4",
        " 6.  ReLU            32×4×4",
    ]


def test_any_module_with_an_addition_is_traced():
    class TwoResiduals(nn.Module):
        def __init__(self):
            super().__init__()
            self.f, self.g, self.drop = nn.Linear(8, 8), nn.Linear(8, 8), nn.Dropout(0.0)

        def forward(self, x):
            x = x + self.drop(self.f(x))  # dropout with p = 0 computes nothing: not drawn
            return torch.relu(x + self.g(x))

    graph = trace_block(TwoResiduals(), (1, 8))
    assert [layer.label for layer in graph.path] == ["input", "linear 8→8", "+", "linear 8→8", "+", "ReLU"]
    assert [(s.source, s.target, s.kind) for s in graph.shortcuts] == [("x", "add", "identity"),
                                                                        ("add", "add_1", "identity")]


def test_drawing_fits_the_column_with_readable_text():
    from page_scale import COLUMN_PX, rendered_width_px, smallest_text_px

    graphs = [trace_block(BasicBlock(64, 128, 2, shortcut=o), X56, title=f"option {o}") for o in "AB"]
    fig = draw_blocks(graphs)
    try:
        assert len(fig.axes) == 2
        assert sum(isinstance(p, Circle) for p in fig.axes[0].patches) == 1  # one addition
        texts = [t.get_text() for t in fig.axes[1].texts]
        assert "conv 1×1/2, 128\nBN" in texts and "128×28×28" in texts and "option B" in texts
        assert rendered_width_px(fig) <= COLUMN_PX and smallest_text_px(fig) >= 11
    finally:
        plt.close(fig)
