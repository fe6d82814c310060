"""Block schematics drawn from the modules themselves (chapters 2, 3 and 8).

:func:`trace_block` reads a block's data flow from its ``forward`` with ``torch.fx``
(symbolic tracing: the graph of calls, with every addition as a node of its own) and the
shape of every intermediate tensor from one forward pass on an input of the given shape
(``ShapeProp``, on a copy in evaluation mode: the block itself is not touched). Nothing in
it is written per block: the same code draws the basic block and the bottleneck of He et
al. 2015 (Fig. 2, Fig. 5), their plain twins, the shortcut options A, B and C (§3.3), the
pre-activation block of He et al. 2016 (Fig. 1(b)) — and a Transformer layer, whose two
sublayers are wrapped in the same ``x + Sublayer(x)`` (Vaswani et al. 2017, §3.1).

Every addition of two tensors is a residual connection: its shortcut starts where the
two inputs of the addition part (the latest layer both depend on) and is the shorter of
the two ways from there to the addition — nothing for an identity shortcut, the zero-padding
of option A, or the 1×1 convolution (and BatchNorm) of a projection. Everything else is the
main path, drawn top to bottom; a BatchNorm (or LayerNorm) followed directly by its ReLU is
drawn as one box, and dropout with ``p = 0`` and ``nn.Identity`` are left out (they compute
nothing). ``print(trace_block(...))`` shows the same as text; :func:`draw_blocks` draws one
or more blocks side by side, each layer labelled with the shape of its output (channels ×
height × width, or tokens × features).
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from resnet_course.nn.blocks import ZeroPadShortcut

__all__ = ["BlockGraph", "Layer", "Shortcut", "draw_blocks", "trace_block"]

#: Modules drawn as one box even though they hold sub-modules.
_OPAQUE = (ZeroPadShortcut, nn.MultiheadAttention)
_ADDS = {operator.add, torch.add}
_ACTIVATIONS = {F.relu: "ReLU", torch.relu: "ReLU", F.gelu: "GELU"}


@dataclass(frozen=True)
class Layer:
    """One box of a schematic: a label, a kind (for its colour) and the shape of its output (no batch dimension)."""

    name: str
    label: str
    kind: str  # "input", "conv", "norm", "act", "norm-act", "linear", "attention", "dropout", "add", "pad", "other"
    shape: tuple[int, ...]
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shortcut:
    """A residual connection: from the output of ``source`` to the addition ``target``, through ``layers``."""

    source: str
    target: str
    layers: tuple[Layer, ...] = ()

    @property
    def kind(self) -> str:
        """``identity``, ``zero-pad`` (option A) or ``projection`` (a convolution or linear layer on the way)."""
        if not self.layers:
            return "identity"
        if any(layer.kind in ("conv", "linear") for layer in self.layers):
            return "projection"
        return "zero-pad" if any(layer.kind == "pad" for layer in self.layers) else "other"


def _shape(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape))


@dataclass
class BlockGraph:
    """What :func:`trace_block` finds: the main path (input first) and the shortcuts around it."""

    title: str
    path: list[Layer]
    shortcuts: list[Shortcut] = field(default_factory=list)

    def shortcut_into(self, name: str) -> Shortcut | None:
        """The shortcut that ends in the addition ``name``, if any."""
        return next((s for s in self.shortcuts if s.target == name), None)

    def __str__(self) -> str:
        width = max(len(layer.label) for layer in self.path) + 2
        lines = [self.title] if self.title else []
        rows = {layer.name: i for i, layer in enumerate(self.path)}
        for i, layer in enumerate(self.path):
            shortcut = self.shortcut_into(layer.name)
            if shortcut is not None:
                via = " · ".join(s.label.replace("\n", ", ") for s in shortcut.layers) or "identity"
                lines.append(f"     shortcut from {rows[shortcut.source]}: {via}")
            lines.append(f"{i:>2}.  {layer.label.ljust(width)}{_shape(layer.shape)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- tracing


class _Tracer(fx.Tracer):
    """Stops at the layers a schematic shows: modules without children, and the opaque ones."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, _OPAQUE) or not any(True for _ in m.children())


def _module_label(module: nn.Module) -> tuple[str, str]:
    """(label, kind) of a leaf module: ``conv 3×3/2, 128``, ``BN``, ``ReLU``, ``linear 64→256`` …"""
    if isinstance(module, nn.Conv2d):
        k, s = module.kernel_size[0], module.stride[0]
        label = f"conv {k}×{k}" + (f"/{s}" if s > 1 else "") + f", {module.out_channels}"
        return label + (f", {module.groups} groups" if module.groups > 1 else ""), "conv"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "BN", "norm"
    if isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
        return type(module).__name__, "norm"
    if isinstance(module, (nn.ReLU, nn.GELU)):
        return type(module).__name__, "act"
    if isinstance(module, nn.Linear):
        return f"linear {module.in_features}→{module.out_features}", "linear"
    if isinstance(module, nn.MultiheadAttention):
        return f"self-attention, {module.num_heads} heads", "attention"
    if isinstance(module, nn.Dropout):
        return f"dropout {module.p:g}", "dropout"
    if isinstance(module, ZeroPadShortcut):
        label = f"subsample /{module.stride}\n" if module.stride > 1 else ""
        return label + f"zero-pad {module.in_planes}→{module.out_planes}", "pad"
    return type(module).__name__, "other"


def _invisible(module: Any) -> bool:
    """Layers that compute nothing: ``nn.Identity`` and dropout with ``p = 0``."""
    return isinstance(module, nn.Identity) or (isinstance(module, nn.Dropout) and module.p == 0)


def _raw_layers(block: nn.Module, input_shape: Sequence[int]) -> list[Layer]:
    """The traced layers in call order; transparent nodes (``getitem``, invisible layers) are bypassed."""
    module = copy.deepcopy(block).eval()
    graph = _Tracer().trace(module)
    traced = fx.GraphModule(module, graph)
    with torch.no_grad():
        ShapeProp(traced).propagate(torch.randn(*input_shape, generator=torch.Generator().manual_seed(0)))
    alias: dict[str, str] = {}
    layers: list[Layer] = []
    for node in traced.graph.nodes:
        inputs = tuple(dict.fromkeys(alias.get(a.name, a.name) for a in node.all_input_nodes))
        meta = node.meta.get("tensor_meta")
        shape = tuple(meta.shape[1:]) if hasattr(meta, "shape") else ()
        if node.op == "output":
            continue
        if node.op == "placeholder":
            layers.append(Layer(node.name, "input", "input", shape))
            continue
        if node.op == "call_module":
            target = traced.get_submodule(node.target)
            if _invisible(target):
                alias[node.name] = inputs[0]
                continue
            label, kind = _module_label(target)
        elif node.op == "call_function" and node.target is operator.getitem:
            alias[node.name] = inputs[0]  # the first output of a layer that returns several (attention)
            owner = next((i for i, layer in enumerate(layers) if layer.name == inputs[0]), None)
            if owner is not None and not layers[owner].shape:
                layers[owner] = replace(layers[owner], shape=shape)
            continue
        elif node.op == "call_function" and node.target in _ADDS:
            label, kind = "+", "add"
        elif node.op == "call_function" and node.target in _ACTIVATIONS:
            label, kind = _ACTIVATIONS[node.target], "act"
        else:
            label, kind = str(getattr(node.target, "__name__", node.target)), "other"
        layers.append(Layer(node.name, label, kind, shape, inputs))
    return layers


def _merge_norm_activation(layers: list[Layer]) -> list[Layer]:
    """A norm layer whose only reader is the activation right after it becomes one box "BN, ReLU"."""
    readers: dict[str, int] = {}
    for layer in layers:
        for name in layer.inputs:
            readers[name] = readers.get(name, 0) + 1
    merged: list[Layer] = []
    renamed: dict[str, str] = {}
    for layer in layers:
        layer = Layer(layer.name, layer.label, layer.kind, layer.shape,
                      tuple(renamed.get(n, n) for n in layer.inputs))
        previous = merged[-1] if merged else None
        if (previous is not None and previous.kind == "norm" and layer.kind == "act"
                and layer.inputs == (previous.name,) and readers.get(previous.name) == 1):
            merged[-1] = Layer(layer.name, f"{previous.label}, {layer.label}", "norm-act", layer.shape,
                               previous.inputs)
            renamed[previous.name] = layer.name
            continue
        merged.append(layer)
    return merged


def _ancestors(name: str, by_name: dict[str, Layer]) -> set[str]:
    """``name`` and every layer it depends on."""
    seen, stack = set(), [name]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(by_name[current].inputs)
    return seen


def _chain(start: str, end: str, by_name: dict[str, Layer]) -> list[str]:
    """The layers from ``start`` (excluded) to ``end`` (included), following first inputs back from ``end``."""
    chain, current = [], end
    while current != start:
        chain.append(current)
        current = by_name[current].inputs[0]
    return chain[::-1]


def trace_block(block: nn.Module, input_shape: Sequence[int], *, title: str = "") -> BlockGraph:
    """The main path and the shortcuts of ``block`` for an input of ``input_shape`` (batch dimension included)."""
    layers = _merge_norm_activation(_raw_layers(block, input_shape))
    by_name = {layer.name: layer for layer in layers}
    order = {layer.name: i for i, layer in enumerate(layers)}
    shortcuts: list[Shortcut] = []
    off_path: set[str] = set()
    for layer in layers:
        if layer.kind != "add" or len(layer.inputs) != 2:
            continue
        a, b = layer.inputs
        source = max(_ancestors(a, by_name) & _ancestors(b, by_name), key=order.__getitem__)
        chains = sorted((_chain(source, a, by_name), _chain(source, b, by_name)), key=len)
        shortcuts.append(Shortcut(source, layer.name, tuple(by_name[n] for n in chains[0])))
        off_path.update(chains[0])
    path = [layer for layer in layers if layer.name not in off_path]
    return BlockGraph(title, path, shortcuts)


# --------------------------------------------------------------------------- drawing

_FACE = {"input": "white", "conv": "#dbe8f6", "linear": "#dbe8f6", "norm": "#fbeecd", "norm-act": "#fbeecd",
         "act": "#e2f0dc", "attention": "#eadff5", "dropout": "#eeeeee", "pad": "#dbe8f6", "other": "#eeeeee"}
_SHORTCUT_STYLE = {"identity": ("0.35", "-"), "zero-pad": ("tab:blue", "--"), "projection": ("tab:red", "-"),
                   "other": ("0.35", "-")}
FONT = 8.5  # points: a figure up to 6.9 inches wide shows at full size in the book's column (11.8 px)
_SMALL = 8.0  # the shapes and the shortcuts' labels (11.1 px)
_PITCH = 0.52  # inches between rows
_HEIGHT = 0.3  # box height
_SHAPE_GAP = 0.07


def _text_width(text: str, font: float = FONT) -> float:
    """The width of ``text`` (its widest line) set in ``font`` points, in inches."""
    from matplotlib.textpath import TextPath

    return max(TextPath((0, 0), line, size=font).get_extents().width for line in text.split("\n")) / 72


@dataclass
class _Layout:
    box: float  # main-path box width
    shape: float  # room for the shape labels left of the boxes
    skip: float  # room right of the boxes for the shortcuts
    rows: int

    @property
    def width(self) -> float:
        return self.shape + self.box + self.skip

    @property
    def height(self) -> float:
        return (self.rows - 1) * _PITCH + _HEIGHT + 0.55  # room for the title


def _layout(graph: BlockGraph) -> _Layout:
    labels = [layer.label for layer in graph.path if layer.kind != "add"]
    box = max(1.05, max(_text_width(label) for label in labels) + 0.24)
    shape = max(_text_width(_shape(layer.shape), _SMALL) for layer in graph.path) + _SHAPE_GAP + 0.02
    skip = 0.45
    for shortcut in graph.shortcuts:
        if shortcut.layers:
            skip = max(skip, 0.1 + _text_width("\n".join(s.label for s in shortcut.layers), _SMALL) + 0.22)
    return _Layout(box, shape, skip, len(graph.path))


def _draw_graph(ax: Any, graph: BlockGraph, layout: _Layout) -> None:
    """One block: the main path top to bottom, the shortcuts on the right, shapes on the left."""
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    y = {layer.name: -i * _PITCH for i, layer in enumerate(graph.path)}
    half = layout.box / 2
    arrow = {"arrowstyle": "-|>", "mutation_scale": 8, "color": "0.25", "lw": 0.9, "shrinkA": 0, "shrinkB": 0}
    for i, layer in enumerate(graph.path):
        top = y[layer.name]
        if layer.kind == "add":
            ax.add_patch(Circle((0, top), 0.13, facecolor="white", edgecolor="0.2", lw=1.0, zorder=3))
            ax.text(0, top - 0.01, "+", ha="center", va="center", fontsize=FONT + 2, zorder=4)
            bottom = top - 0.13
        else:
            ax.add_patch(FancyBboxPatch((-half, top - _HEIGHT / 2), layout.box, _HEIGHT,
                                        boxstyle="round,pad=0,rounding_size=0.06", facecolor=_FACE[layer.kind],
                                        edgecolor="0.3" if layer.kind != "input" else "0.6", lw=0.9, zorder=2))
            ax.text(0, top, layer.label, ha="center", va="center", fontsize=FONT, zorder=3)
            bottom = top - _HEIGHT / 2
        if layer.kind != "add":  # an addition keeps the shape written on the box above it
            ax.text(-half - _SHAPE_GAP, top, _shape(layer.shape), ha="right", va="center", fontsize=_SMALL,
                    color="0.35")
        if i + 1 < len(graph.path):
            below = graph.path[i + 1]
            target = y[below.name] + (0.13 if below.kind == "add" else _HEIGHT / 2)
            ax.add_patch(FancyArrowPatch((0, bottom), (0, target), **arrow))
    for shortcut in graph.shortcuts:
        _draw_shortcut(ax, shortcut, y, layout)
    ax.text(-half - layout.shape + layout.width / 2, _HEIGHT / 2 + 0.15, graph.title, ha="center", va="bottom",
            fontsize=FONT + 1, fontweight="bold")


def _draw_shortcut(ax: Any, shortcut: Shortcut, y: dict[str, float], layout: _Layout) -> None:
    """From just below ``source`` out to the right, down, and into the addition; its layers as one box on the way."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    color, style = _SHORTCUT_STYLE[shortcut.kind]
    start = y[shortcut.source] - _HEIGHT / 2 - (_PITCH - _HEIGHT) / 2
    end = y[shortcut.target]
    x = layout.box / 2 + layout.skip / 2
    line = {"color": color, "linestyle": style, "lw": 1.3, "zorder": 1}
    ax.plot([0, x, x], [start, start, end], **line)
    ax.add_patch(FancyArrowPatch((x, end), (0.13, end), arrowstyle="-|>", mutation_scale=9, color=color,
                                 lw=1.3, linestyle=style, shrinkA=0, shrinkB=0, zorder=2))
    if shortcut.layers:
        text = "\n".join(layer.label for layer in shortcut.layers)
        width = _text_width(text, _SMALL) + 0.2
        height = 0.2 + 0.17 * len(shortcut.layers)
        middle = (start + end) / 2
        ax.add_patch(FancyBboxPatch((x - width / 2, middle - height / 2), width, height,
                                    boxstyle="round,pad=0,rounding_size=0.06", facecolor="white",
                                    edgecolor=color, lw=1.1, zorder=3))
        ax.text(x, middle, text, ha="center", va="center", fontsize=_SMALL, zorder=4, linespacing=1.3)
    else:
        ax.text(x + 0.06, (start + end) / 2, "identity", rotation=90, ha="left", va="center",
                fontsize=_SMALL, color=color)


def draw_blocks(graphs: Sequence[BlockGraph] | BlockGraph, *, title: str | None = None) -> Any:
    """Draw one or more traced blocks side by side, at one scale; returns the matplotlib Figure.

    Each layer's output shape is written left of its box; the arrows on the right are the
    shortcuts (grey: identity, dashed blue: zero-padding, option A; red: projection).
    """
    import matplotlib.pyplot as plt

    graphs = [graphs] if isinstance(graphs, BlockGraph) else list(graphs)
    layouts = [_layout(graph) for graph in graphs]
    height = max(layout.height for layout in layouts)
    widths = [layout.width for layout in layouts]
    fig = plt.figure(figsize=(sum(widths) + 0.15 * (len(graphs) - 1), height + (0.35 if title else 0)))
    x0 = 0.0
    total = fig.get_figwidth()
    for graph, layout in zip(graphs, layouts):
        ax = fig.add_axes((x0 / total, 0, layout.width / total, height / fig.get_figheight()))
        _draw_graph(ax, graph, layout)
        left = -layout.box / 2 - layout.shape
        ax.set_xlim(left, left + layout.width)
        top = _HEIGHT / 2 + 0.5
        ax.set_ylim(top - height, top)
        ax.set_aspect("equal")
        ax.axis("off")
        x0 += layout.width + 0.15
    if title:
        fig.suptitle(title, fontsize=FONT + 1.5, y=1 - 0.12 / fig.get_figheight(), va="top")
    return fig
