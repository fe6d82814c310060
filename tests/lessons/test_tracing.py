"""The forward-pass tracer (resnet_course.lessons.tracing) behind the diagram, the widgets and the analyses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet_course.lessons.tracing import ModuleCall, forward_hooks, trace_calls


def _net() -> nn.Sequential:
    relu = nn.ReLU()
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), relu, nn.Conv2d(4, 8, 3, stride=2, padding=1), relu,
                         nn.Flatten())


def test_trace_calls_records_every_call_in_order_with_shapes() -> None:
    net = _net()
    out, calls = trace_calls(net, torch.zeros(2, 3, 8, 8), [net[0], net[1], net[2]])
    assert out.shape == (2, 8 * 4 * 4) and not out.requires_grad  # run without gradients
    assert [c.module for c in calls] == [net[0], net[1], net[2], net[1]]  # the shared ReLU twice
    assert calls[0] == ModuleCall(net[0], (2, 3, 8, 8), (2, 4, 8, 8))
    assert calls[2].output_shape == (2, 8, 4, 4) and calls[3].input_shape == (2, 8, 4, 4)
    assert not net[0]._forward_hooks  # the hooks are gone


def test_trace_calls_on_the_meta_device_and_hooks_removed_after_an_error() -> None:
    with torch.device("meta"):
        net = _net()
    _, calls = trace_calls(net, torch.empty(1, 3, 32, 32, device="meta"), list(net))
    assert [c.output_shape for c in calls][-1] == (1, 8 * 16 * 16)
    with pytest.raises(RuntimeError), forward_hooks([(net[0], lambda *args: None)]):
        net(torch.empty(1, 5, 8, 8, device="meta"))  # wrong channel count
    assert not net[0]._forward_hooks


def test_forward_pre_hooks() -> None:
    net = _net()
    seen: list[tuple[int, ...]] = []
    with forward_hooks([(net[2], lambda module, args: seen.append(tuple(args[0].shape)))], pre=True):
        net(torch.zeros(1, 3, 8, 8))
    net(torch.zeros(1, 3, 8, 8))
    assert seen == [(1, 4, 8, 8)] and not net[2]._forward_pre_hooks
