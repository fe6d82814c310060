"""The architecture diagram (resnet_course.lessons.diagram), chapter 4.

The diagram must be derived from the model (any depth, torchvision's networks, flat
``nn.Sequential`` models), not written per network.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torchvision
from matplotlib.patches import FancyArrowPatch, Rectangle
from torch import nn

from resnet_course import create_model
from resnet_course.lessons.diagram import describe_architecture, draw_architecture


def _flat_resnet20() -> nn.Sequential:
    """ResNet-20's layers in one flat nn.Sequential: blocks without stage containers."""
    m = create_model("resnet20")
    return nn.Sequential(m.conv1, m.bn1, m.relu, *m.layer1, *m.layer2, *m.layer3, m.avgpool, nn.Flatten(), m.fc)


# --- architecture diagram


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
    flat = describe_architecture(_flat_resnet20())  # blocks in one flat nn.Sequential
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


# --- readable at the book's width


@pytest.mark.parametrize("name", ["resnet50", "resnet152", "resnet20", "resnet110", "preact_resnet164"])
def test_draw_architecture_text_is_readable_in_the_column(name):
    """Its labels are at least 10 px on the page: the figure fits the 688-px column, so it is not scaled down.

    (The one-row drawing of ResNet-50 was 967 px wide with 6- to 8-point labels: about 6 px on the page.)
    """
    from page_scale import COLUMN_PX, rendered_width_px, smallest_text_px

    fig = draw_architecture(_on_meta(name))
    try:
        assert rendered_width_px(fig) <= COLUMN_PX
        assert smallest_text_px(fig) >= 10
    finally:
        plt.close(fig)


def test_draw_architecture_wraps_rows_and_the_check_can_fail():
    """A wide network continues on a second row; drawn on one row it would be scaled down below 10 px."""
    from page_scale import smallest_text_px

    one_row = draw_architecture(_on_meta("resnet50"), max_width=20)
    wrapped = draw_architecture(_on_meta("resnet50"))
    try:
        assert one_row.get_figheight() < wrapped.get_figheight()
        assert smallest_text_px(one_row) < 10 <= smallest_text_px(wrapped)
    finally:
        plt.close(one_row)
        plt.close(wrapped)
