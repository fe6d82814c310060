"""A per-stage table of output shapes, parameters and multiply-adds (He et al. 2015, Table 1).

Multiply-adds come from PyTorch's own :class:`torch.utils.flop_counter.FlopCounterMode`
(convolutions and matrix products; it reports FLOPs = 2 × multiply-adds, and, like the
paper, it does not count BatchNorm, ReLU, pooling or the additions). No extra dependency.

For bottleneck networks the table ends with the cost of the other stride placement
(torchvision's stride on the 3×3 vs the paper's stride on the first 1×1), because the
paper's Table 1 numbers are for the latter.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from resnet_course.nn.blocks import Bottleneck, PreActBottleneck
from resnet_course.nn.inspection import trace_forward

__all__ = [
    "ModelSummary",
    "SummaryRow",
    "count_macs",
    "count_parameters",
    "human_count",
    "summary",
    "swap_bottleneck_stride",
]



@dataclass
class SummaryRow:
    """One top-level part of a network (stem layer, stage, pooling, classifier)."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class ModelSummary:
    """What :func:`summary` returns; ``print`` it for the table."""

    input_size: tuple[int, ...]
    rows: list[SummaryRow]
    total_params: int
    trainable_params: int
    total_macs: int
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> SummaryRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no part named {name!r}; parts: {', '.join(r.name for r in self.rows)}")

    def table(self) -> str:
        header = ("part", "type", "output shape", "params", "mult-adds")
        body = [
            (r.name, r.kind, "×".join(map(str, r.output_shape)), f"{r.params:,}", human_count(r.macs))
            for r in self.rows
        ]
        footer = ("total", "", "", f"{self.total_params:,}", human_count(self.total_macs))
        widths = [max(len(line[i]) for line in [header, *body, footer]) for i in range(len(header))]

        def fmt(line: Sequence[str]) -> str:
            cells = [line[0].ljust(widths[0]), line[1].ljust(widths[1]), line[2].rjust(widths[2]),
                     line[3].rjust(widths[3]), line[4].rjust(widths[4])]
            return "  ".join(cells).rstrip()

        rule = "-" * len(fmt(header))
        lines = [f"input {'×'.join(map(str, self.input_size))}", fmt(header), rule, *map(fmt, body), rule, fmt(footer)]
        return "\n".join(lines + self.notes)

    def __str__(self) -> str:
        return self.table()


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """How many weights ``model`` has (with ``trainable_only``: those with ``requires_grad``, what training changes)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def human_count(macs: int) -> str:
    """``1234567`` → ``'1.23M'``: how the tables print multiply-adds (G, M, K suffixes)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if macs >= scale:
            return f"{macs / scale:.2f}{unit}"
    return str(macs)


def _on_meta(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the meta device: shapes without data, so counting is instant."""
    return copy.deepcopy(model).to("meta").eval()


def count_macs(model: nn.Module, input_size: Sequence[int]) -> tuple[int, dict[str, int]]:
    """Total multiply-adds of one forward pass, and per module path (``"layer1"``, ``"layer1.0"`` …).

    The forward pass runs on a meta-device copy: nothing is computed, only shapes, so
    even ResNet-152 at 224×224 is counted in a fraction of a second.
    """
    meta = model if next(model.parameters(), torch.empty(0)).is_meta else _on_meta(model)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        meta(torch.empty(*input_size, device="meta"))
    root = type(model).__name__
    per_module: dict[str, int] = {}
    for key, ops in counter.get_flop_counts().items():
        if key == root or key == "Global":
            continue
        path = key[len(root) + 1:] if key.startswith(root + ".") else key
        per_module[path] = sum(ops.values()) // 2
    return counter.get_total_flops() // 2, per_module


def swap_bottleneck_stride(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with each downsampling bottleneck's stride moved between 1×1 and 3×3.

    Parameters are unchanged; only where the spatial subsampling happens moves, which is
    exactly the difference between the 2015 paper (stride on the first 1×1) and
    torchvision ("v1.5", stride on the 3×3).
    """
    swapped = copy.deepcopy(model)
    for block in swapped.modules():
        if isinstance(block, (Bottleneck, PreActBottleneck)) and block.stride != 1:
            block.conv1.stride, block.conv2.stride = block.conv2.stride, block.conv1.stride
    return swapped


def _stride_placement(model: nn.Module) -> str | None:
    for block in model.modules():
        if isinstance(block, (Bottleneck, PreActBottleneck)) and block.stride != 1:
            return "1x1" if block.conv1.stride != (1, 1) else "3x3"
    return None


def summary(model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224)) -> ModelSummary:
    """Output shape, parameters and multiply-adds of each top-level part of ``model``.

    ``input_size`` is the full input shape, batch included (multiply-adds scale with
    the batch; the paper's Table 1 counts one 224×224 image).
    """
    input_size = tuple(int(s) for s in input_size)
    meta = _on_meta(model)
    with trace_forward(meta, "children") as trace:
        total_macs, per_module = count_macs(meta, input_size)
    shapes = trace.output_shapes()

    rows = [
        SummaryRow(name, type(child).__name__, shapes[name], count_parameters(child),
                   per_module.get(name, 0))
        for name, child in model.named_children()
        if name in shapes
    ]
    notes = []
    placement = _stride_placement(model)
    if placement is not None:
        other_macs, _ = count_macs(swap_bottleneck_stride(meta), input_size)
        other = "stride on the first 1×1 (He et al. 2015)" if placement == "3x3" else "stride on the 3×3 (torchvision)"
        here = "stride on the 3×3 (torchvision)" if placement == "3x3" else "stride on the first 1×1 (He et al. 2015)"
        change = 100.0 * (total_macs - other_macs) / other_macs
        notes.append(f"bottlenecks: {here}; with {other}: {human_count(other_macs)} mult-adds "
                     f"(this placement costs {change:+.1f}%)")
    return ModelSummary(
        input_size=input_size,
        rows=rows,
        total_params=count_parameters(model),
        trainable_params=count_parameters(model, trainable_only=True),
        total_macs=total_macs,
        notes=notes,
    )
