"""The block finder and the forward-hook tracer (resnet_course.nn.inspection)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet_course.lessons.analysis.gradients import residual_blocks
from resnet_course.nn import (
    BasicBlock,
    Bottleneck,
    PlainBasicBlock,
    WideBasicBlock,
    create_model,
    find_blocks,
    has_shortcut,
    is_block,
    summary,
    trace_forward,
    wide_resnet,
)


class StudentBlock(nn.Module):
    """A reader's own block: not one of the package's classes, but shaped like one."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x) + x)


def test_find_blocks_lists_the_papers_blocks_in_order():
    names = [name for name, _ in find_blocks(create_model("resnet20"))]
    assert names == [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3)]  # 3 stages × 3 blocks (§4.2)
    blocks = find_blocks(create_model("resnet50"))
    assert len(blocks) == 16 and all(isinstance(b, Bottleneck) for _, b in blocks)  # 3+4+6+3 (Table 1)


def test_plain_twins_are_blocks_without_shortcut():
    plain = create_model("plain20")
    assert len(find_blocks(plain)) == 9 and all(isinstance(b, PlainBasicBlock) for _, b in find_blocks(plain))
    assert find_blocks(plain, residual_only=True) == []
    assert not has_shortcut(plain.layer1[0]) and has_shortcut(create_model("resnet20").layer1[0])


def test_subclasses_and_look_alikes_are_blocks_and_nothing_inside_them_is():
    wrn = wide_resnet(16, 2)
    assert len(find_blocks(wrn)) == 6 and all(isinstance(b, WideBasicBlock) for _, b in find_blocks(wrn))
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), StudentBlock(8), nn.Sequential(StudentBlock(8)))
    assert [name for name, _ in find_blocks(net)] == ["1", "2.0"]
    assert is_block(StudentBlock(8)) and not is_block(nn.Conv2d(3, 8, 3))
    block = BasicBlock(16, 32, stride=2, shortcut="B")  # its projection is a Sequential with a conv inside
    assert find_blocks(block) == []  # never the network itself, never inside a block


@pytest.mark.parametrize("name", ["resnet20", "plain20", "preact_resnet20", "resnet18", "preact_resnet164"])
def test_find_blocks_agrees_with_the_gradient_analysis_finder(name):
    model = create_model(name)
    assert [(n, id(b)) for n, b in find_blocks(model)] == [(n, id(b)) for n, b in residual_blocks(model)]


def test_trace_children_gives_the_summary_shapes():
    model = create_model("resnet20").eval()
    with trace_forward(model) as trace, torch.no_grad():
        model(torch.zeros(2, 3, 32, 32))
    shapes = trace.output_shapes()
    table = summary(model, (2, 3, 32, 32))
    assert shapes == {row.name: row.output_shape for row in table.rows}
    # final_bn is an Identity that only pre-activation networks call
    assert trace.names() == ["conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"]


def test_trace_selections():
    model = create_model("resnet20").eval()
    x = torch.zeros(1, 3, 32, 32)
    with trace_forward(model, lambda name, m: isinstance(m, nn.Conv2d)) as convs, torch.no_grad():
        model(x)
    assert len(convs) == 19 and convs.calls[0].name == "conv1" and convs.calls[-1].output_shape == (1, 64, 8, 8)
    with trace_forward(model, "blocks") as blocks, torch.no_grad():
        model(x)
    assert blocks.calls[3].name == "layer2.0"
    assert blocks.calls[3].input_shape == (1, 16, 32, 32) and blocks.calls[3].output_shape == (1, 32, 16, 16)
    with trace_forward(model, "leaves") as leaves, torch.no_grad():
        model(x)
    assert all(next(c.module.children(), None) is None for c in leaves)
    assert leaves.calls[0].name == "conv1" and leaves.calls[-1].name == "fc"
    with trace_forward(model, [("the head", model.fc)]) as head, torch.no_grad():
        model(x)
    assert head.output_shapes() == {"the head": (1, 10)}
    with pytest.raises(ValueError, match="children, leaves, all, blocks"):
        trace_forward(model, "stages").__enter__()


def test_repeated_module_is_recorded_at_every_call():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Linear(4, 6), relu, nn.Linear(6, 3), relu)
    with trace_forward(net, "children") as trace:
        net(torch.zeros(5, 4))
    assert [c.name for c in trace] == ["0", "1", "2", "1"]  # a shared module keeps its first name
    with trace_forward(net, [("relu", relu)]) as trace:
        net(torch.zeros(5, 4))
    assert [c.output_shape for c in trace] == [(5, 6), (5, 3)] and trace.output_shapes() == {"relu": (5, 3)}


def test_kept_tensors_allow_gradients_at_block_outputs():
    model = create_model("resnet20").eval()
    with trace_forward(model, "blocks", keep_tensors=True) as trace:
        out = model(torch.randn(2, 3, 32, 32))
    for call in trace:
        call.output.retain_grad()
    out.sum().backward()
    assert all(call.output.grad is not None for call in trace)
    assert trace.calls[0].inputs[0].shape == (2, 16, 32, 32)
    with trace_forward(model, "blocks") as light, torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert all(call.output is None and call.inputs is None for call in light)


def _small_net() -> nn.Sequential:
    relu = nn.ReLU()  # used twice
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), relu, nn.Conv2d(4, 8, 3, stride=2, padding=1), relu,
                         nn.Flatten())


def test_trace_records_every_call_in_order_with_input_and_output_shapes():
    net = _small_net()
    with trace_forward(net, [("conv a", net[0]), ("relu", net[1]), ("conv b", net[2])]) as trace, torch.no_grad():
        out = net(torch.zeros(2, 3, 8, 8))
    assert out.shape == (2, 8 * 4 * 4) and not out.requires_grad  # the caller chose no_grad
    assert [c.module for c in trace] == [net[0], net[1], net[2], net[1]]  # the shared ReLU twice
    first = trace.calls[0]
    assert (first.name, first.module, first.input_shapes, first.output_shape) == \
        ("conv a", net[0], ((2, 3, 8, 8),), (2, 4, 8, 8))
    assert trace.calls[2].output_shape == (2, 8, 4, 4) and trace.calls[3].input_shape == (2, 8, 4, 4)
    assert not any(m._forward_hooks for m in net.modules())  # the hooks are gone


def test_trace_on_the_meta_device_gives_the_shapes_and_leaves_no_hook_after_an_error():
    # The diagram and the summary trace a meta-device copy: shapes only, no arithmetic.
    with torch.device("meta"):
        net = _small_net()
    with trace_forward(net, "children") as trace:
        net(torch.empty(1, 3, 32, 32, device="meta"))
    assert [c.output_shape for c in trace][-1] == (1, 8 * 16 * 16)
    with pytest.raises(RuntimeError), trace_forward(net, "children"):
        net(torch.empty(1, 5, 8, 8, device="meta"))  # wrong channel count
    assert not any(m._forward_hooks for m in net.modules())


def test_hooks_are_removed_even_when_the_forward_pass_fails():
    model = create_model("resnet20")
    with pytest.raises(RuntimeError), trace_forward(model, "all"):
        model(torch.zeros(1, 5, 32, 32))  # wrong number of channels
    assert all(not m._forward_hooks for m in model.modules())
