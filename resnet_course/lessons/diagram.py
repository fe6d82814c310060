"""An architecture diagram drawn from the model itself (chapter 4).

Nothing here is written per network: :func:`describe_architecture` finds the residual blocks
(:func:`~resnet_course.nn.inspection.find_blocks`) and the containers that group them into
stages, runs one forward pass on the meta device (shapes only, no arithmetic, so ResNet-152
takes a fraction of a second) traced by :func:`~resnet_course.nn.inspection.trace_forward`,
which records each part's output shape and the order in which the parts are called, and
reads each block's shortcut from its modules:

- ``identity``: no shortcut module (``downsample is None``), the input is added as is;
- ``zero-pad``: a parameter-free shortcut such as option A's zero-padding identity
  (He et al. 2015, §3.3);
- ``projection``: a shortcut holding a convolution — the 1×1 projection of options B/C;
- ``none``: a plain block without shortcut (``has_shortcut = False``).

:func:`draw_architecture` turns that description into a matplotlib figure: the stem,
each stage as a box with one small square per block (a long stage shows its first and
last blocks around an ellipsis) and one arc per shortcut above it, then pooling and the
classifier. Any network built from blocks that have a ``downsample`` or ``shortcut``
attribute (the package's, torchvision's, most tutorials') can be drawn, whether its
stages are ``nn.Sequential`` containers or its blocks sit in one flat ``nn.Sequential``.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import torch
from torch import nn

from resnet_course.lessons.labels import network_label
from resnet_course.nn.blocks import ZeroPadShortcut
from resnet_course.nn.inspection import TracedCall, find_blocks, has_shortcut, trace_forward
from resnet_course.nn.summary import count_parameters

__all__ = [
    "SHORTCUT_KINDS",
    "Architecture",
    "BlockInfo",
    "Part",
    "Stage",
    "default_input_size",
    "describe_architecture",
    "draw_architecture",
]


SHORTCUT_KINDS = ("identity", "zero-pad", "projection", "none")


# --------------------------------------------------------------------------- the description


@dataclass
class Part:
    """A layer outside the blocks (stem or head): its path in the model, a short label, its output shape."""

    name: str
    label: str
    output_shape: tuple[int, ...]  # without the batch dimension


@dataclass
class BlockInfo:
    """One residual (or plain) block: its path, class, shortcut kind, and input/output shapes."""

    name: str
    kind: str
    shortcut: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @property
    def downsamples(self) -> bool:
        """Whether the block halves the feature map (its output is smaller than its input)."""
        return len(self.output_shape) == 3 and self.output_shape[1] < self.input_shape[1]


@dataclass
class Stage:
    """Consecutive blocks grouped by their container (``layer1`` …) or, in a flat model, by output width."""

    name: str
    blocks: list[BlockInfo]

    @property
    def block_type(self) -> str:
        """The class name most of the stage's blocks have."""
        return Counter(b.kind for b in self.blocks).most_common(1)[0][0]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The stage's output shape: its last block's (without the batch dimension)."""
        return self.blocks[-1].output_shape

    @property
    def shortcuts(self) -> list[str]:
        """Each block's shortcut kind (one of :data:`SHORTCUT_KINDS`), in order."""
        return [b.shortcut for b in self.blocks]


def _shape(shape: Sequence[int]) -> str:
    """``32×16×16``."""
    return "×".join(map(str, shape))


@dataclass
class Architecture:
    """What :func:`describe_architecture` finds; ``print`` it for a text version of the diagram."""

    title: str
    input_shape: tuple[int, ...]
    params: int
    stem: list[Part] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    head: list[Part] = field(default_factory=list)

    def __str__(self) -> str:
        rows = []
        if self.stem:
            rows.append(("stem", " · ".join(p.label for p in self.stem), _shape(self.stem[-1].output_shape)))
        for stage in self.stages:
            shortcuts = ", ".join(kind + (f" ×{n}" if n > 1 else "")
                                  for kind, n in ((k, len(list(g))) for k, g in groupby(stage.shortcuts)))
            rows.append((stage.name, f"{len(stage.blocks)} × {stage.block_type}, shortcuts: {shortcuts}",
                         _shape(stage.output_shape)))
        if self.head:
            rows.append(("head", " · ".join(p.label for p in self.head), _shape(self.head[-1].output_shape)))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        lines = [f"{self.title}: input {_shape(self.input_shape)}, {self.params:,} parameters"]
        lines += [f"{a.ljust(w0)}  {b.ljust(w1)}  -> {c}" for a, b, c in rows]
        return "\n".join(lines)


def _shortcut_kind(block: nn.Module) -> str:
    """One of :data:`SHORTCUT_KINDS` for a block, read from its modules (else the shortcut's class name)."""
    if not has_shortcut(block):
        return "none"
    shortcut = None
    for attr in ("downsample", "shortcut"):
        if getattr(block, attr, None) is not None:
            shortcut = getattr(block, attr)
    if shortcut is None or isinstance(shortcut, nn.Identity):
        return "identity"
    if isinstance(shortcut, nn.Sequential) and len(shortcut) == 0:
        return "identity"
    if any(isinstance(m, nn.Conv2d) for m in shortcut.modules()):
        return "projection"
    if isinstance(shortcut, ZeroPadShortcut) or not any(True for _ in shortcut.parameters()):
        return "zero-pad"
    return type(shortcut).__name__


def _label(module: nn.Module, output_shape: tuple[int, ...]) -> str:
    """A layer outside the blocks as the diagram labels it: ``conv 7×7/2, 64``, ``max-pool 3×3/2``, ``fc 64→10``."""
    if isinstance(module, nn.Conv2d):
        k, s = module.kernel_size[0], module.stride[0]
        return f"conv {k}×{k}" + (f"/{s}" if s > 1 else "") + f", {module.out_channels}"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "BN"
    if isinstance(module, nn.ReLU):
        return "ReLU"
    if isinstance(module, nn.MaxPool2d):
        k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        s = module.stride if isinstance(module.stride, int) else module.stride[0]
        return f"max-pool {k}×{k}/{s}"
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AvgPool2d)):
        return "global avg-pool" if output_shape[-2:] == (1, 1) else "avg-pool"
    if isinstance(module, nn.Linear):
        return f"fc {module.in_features}→{module.out_features}"
    if isinstance(module, nn.Flatten):
        return "flatten"
    return type(module).__name__


def default_input_size(model: nn.Module) -> tuple[int, int, int, int]:
    """1×C×224×224 for an ImageNet-style stem (a first convolution that downsamples), else 1×C×32×32."""
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise ValueError("the model has no nn.Conv2d: pass input_size explicitly")
    size = 224 if first.stride[0] > 1 else 32
    return (1, first.in_channels, size, size)


def _units(model: nn.Module) -> list[tuple[str, str, nn.Module, str | None]]:
    """(kind, path, module, container) for the blocks of ``model`` and its parts around them, in registration order.

    The blocks are :func:`~resnet_course.nn.inspection.find_blocks`'s, each with the container
    that holds it (``"layer2"``, or None for a block that is a child of ``model``); the parts are
    the modules beside them that hold no block (the stem's and the head's layers).
    """
    blocks = dict(find_blocks(model))
    units: list[tuple[str, str, nn.Module, str | None]] = []

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            path = f"{prefix}{name}"
            if path in blocks:
                units.append(("block", path, child, prefix.rstrip(".") or None))
            elif any(block.startswith(path + ".") for block in blocks):  # a container of blocks
                visit(child, path + ".")
            else:
                units.append(("part", path, child, None))

    visit(model, "")
    return units


def _stages(blocks: list[tuple[BlockInfo, str | None]]) -> list[Stage]:
    """Group blocks into stages: by their container, or — for loose blocks — where width or map size changes."""
    stages: list[Stage] = []
    loose: set[int] = set()  # stages formed from blocks that sit in no container of their own
    for info, container in blocks:
        last = stages[-1] if stages else None
        if container is not None:
            if last is not None and last.name == container:
                last.blocks.append(info)
            else:
                stages.append(Stage(container, [info]))
        elif (last is not None and id(last) in loose and last.output_shape[0] == info.output_shape[0]
              and not info.downsamples):
            last.blocks.append(info)
        else:
            stages.append(Stage(f"stage {len(stages) + 1}", [info]))
            loose.add(id(stages[-1]))
    return stages


def _parts(calls: Sequence[TracedCall], units: dict[int, tuple[str, str, str | None]]) -> list[Part]:
    """The stem's or the head's layers, in call order (``nn.Identity`` placeholders skipped)."""
    return [Part(units[id(c.module)][1], _label(c.module, c.output_shape[1:]), c.output_shape[1:])
            for c in calls if not isinstance(c.module, nn.Identity)]


def describe_architecture(model: nn.Module, input_size: Sequence[int] | None = None) -> Architecture:
    """Stem, stages (blocks, shortcut kinds, output shapes) and head of ``model``, from its modules and one pass.

    ``input_size`` includes the batch dimension (default: :func:`default_input_size`).
    The forward pass runs on a meta-device copy, so the model itself is not touched.
    """
    input_size = tuple(int(s) for s in (input_size or default_input_size(model)))
    meta = copy.deepcopy(model).to("meta").eval()
    found = _units(meta)
    units = {id(module): (kind, path, container) for kind, path, module, container in found}
    with trace_forward(meta, [(path, module) for _, path, module, _ in found]) as trace, torch.no_grad():
        meta(torch.empty(*input_size, device="meta"))
    calls = trace.calls
    positions = [i for i, call in enumerate(calls) if units[id(call.module)][0] == "block"]
    if not positions:
        raise ValueError(f"no residual blocks found in {type(model).__name__}: blocks are recognised by a "
                         "'downsample' or 'shortcut' attribute")
    blocks = [(BlockInfo(units[id(c.module)][1], type(c.module).__name__, _shortcut_kind(c.module),
                         c.input_shape[1:], c.output_shape[1:]), units[id(c.module)][2])
              for c in calls[positions[0]:positions[-1] + 1] if units[id(c.module)][0] == "block"]
    arch = Architecture(title=network_label(str(getattr(model, "arch", "") or "")) or type(model).__name__,
                        input_shape=input_size[1:], params=count_parameters(model))
    arch.stem = _parts(calls[:positions[0]], units)
    arch.head = _parts(calls[positions[-1] + 1:], units)
    arch.stages = _stages(blocks)
    return arch


# --------------------------------------------------------------------------- the drawing

_STYLE = {
    "identity": {"color": "0.35", "linestyle": "-", "label": "identity shortcut"},
    "zero-pad": {"color": "tab:blue", "linestyle": "--", "label": "identity + zero-padding (option A)"},
    "projection": {"color": "tab:red", "linestyle": "-", "label": "projection shortcut (1×1 conv)"},
    "none": {"color": "0.6", "linestyle": ":", "label": "no shortcut (plain)"},
}
_UNIT = 0.5  # inches per data unit
#: Point size of the labels. The book's column shows a figure up to about 6.9 inches wide at full
#: size (100 dpi), so 9-point text is 12.5 px on the page; wider figures would be scaled down.
FONT = 9.0
#: Widest figure :func:`draw_architecture` draws by default (inches): the book's column.
COLUMN_WIDTH = 6.9
_CHAR = 0.068 / 7.5 * FONT / _UNIT  # average width of a character of the labels, in data units
_SLOT = 0.5  # width of one block square plus its gap
_MAX_SLOTS = 6
_GAP = 0.45  # between two boxes of a row
_ROW = 3.7  # from one row of boxes to the next (data units)


def _text_width(lines: Sequence[str]) -> float:
    """The width of a box holding ``lines`` of label text, in data units."""
    return _CHAR * max(len(line) for line in lines) + 0.4


def _slots(n: int) -> list[int | None]:
    """Which blocks to show: all if few, else the first ones, an ellipsis (None) and the last."""
    if n <= _MAX_SLOTS:
        return list(range(n))
    return [0, 1, 2, 3, None, n - 1]


_Box = tuple[str, float, Any]  # (kind: "stem" | "stage" | "head", width, what the box shows)


def _boxes(arch: Architecture) -> list[_Box]:
    """The diagram's boxes from left to right: the stem, one per stage, the head's groups; each with its width."""
    boxes: list[_Box] = []
    if arch.stem:
        stem_lines = _group_labels([p.label for p in arch.stem]) + [f"→ {_shape(arch.stem[-1].output_shape)}"]
        boxes.append(("stem", _text_width(stem_lines), stem_lines))
    for stage in arch.stages:
        lines = [f"{len(stage.blocks)} × {stage.block_type}",
                 f"{stage.output_shape[0]} ch, {_shape(stage.output_shape[1:])}"]
        width = max(len(_slots(len(stage.blocks))) * _SLOT + 0.4, _text_width(lines))
        boxes.append(("stage", width, (stage, lines)))
    for group in _head_groups(arch.head):
        lines = _group_labels([p.label for p in group]) + [f"→ {_shape(group[-1].output_shape)}"]
        boxes.append(("head", _text_width(lines), lines))
    return boxes


def _draw_block(ax: Any, cx: float, block: BlockInfo) -> None:
    """One block: a small square ("/2" if it halves the map) and its shortcut arc above it, coloured by kind."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    ax.add_patch(Rectangle((cx - 0.14, -0.22), 0.28, 0.44, facecolor="white", edgecolor="0.2", lw=0.9, zorder=2))
    if block.downsamples:
        ax.text(cx, 0.0, "/2", ha="center", va="center", fontsize=FONT - 1.5, zorder=3)
    if block.shortcut != "none":
        # From the path before the block to the path after it, over the block: the shortcut.
        style = _STYLE.get(block.shortcut, _STYLE["projection"])
        ax.add_patch(FancyArrowPatch((cx - 0.23, 0.0), (cx + 0.23, 0.0), connectionstyle="arc3,rad=-1.9",
                                     arrowstyle="-", color=style["color"], linestyle=style["linestyle"],
                                     lw=1.3 if block.shortcut == "projection" else 1.0, zorder=3))


def _draw_stage(ax: Any, x: float, width: float, stage: Stage, lines: list[str]) -> None:
    """A stage's box: its name, the signal path, one square per shown block (⋯ for the hidden ones), two lines."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, -1.2), width, 2.25, boxstyle="round,pad=0,rounding_size=0.12",
                                facecolor="#eef3fb", edgecolor="0.3", lw=1.0))
    ax.text(x + width / 2, 1.18, stage.name, ha="center", va="bottom", fontsize=FONT + 0.5, fontweight="bold")
    slots = _slots(len(stage.blocks))
    left = x + (width - len(slots) * _SLOT) / 2
    ax.plot([x, x + width], [0.0, 0.0], color="0.55", lw=0.8, zorder=1)
    for k, slot in enumerate(slots):
        cx = left + (k + 0.5) * _SLOT
        if slot is None:
            ax.text(cx, 0.0, "⋯", ha="center", va="center", fontsize=FONT + 1,
                    bbox={"facecolor": "#eef3fb", "edgecolor": "none", "pad": 0.5})
        else:
            _draw_block(ax, cx, stage.blocks[slot])
    ax.text(x + width / 2, -0.55, lines[0], ha="center", va="center", fontsize=FONT)
    ax.text(x + width / 2, -0.92, lines[1], ha="center", va="center", fontsize=FONT, color="0.25")


def _draw_text_box(ax: Any, x: float, width: float, kind: str, lines: list[str]) -> None:
    """A stem or head box: its layers as lines of text (the stem titled "stem")."""
    from matplotlib.patches import FancyBboxPatch

    height = 0.37 * len(lines) + 0.3
    face = "#f4f4f4" if kind == "stem" else "#fbf3e8"
    ax.add_patch(FancyBboxPatch((x, -height / 2), width, height, boxstyle="round,pad=0,rounding_size=0.12",
                                facecolor=face, edgecolor="0.3", lw=1.0, zorder=2))
    ax.text(x + width / 2, 0.0, "\n".join(lines), ha="center", va="center", fontsize=FONT, linespacing=1.35,
            zorder=3)
    if kind == "stem":
        ax.text(x + width / 2, 1.18, "stem", ha="center", va="bottom", fontsize=FONT + 0.5, fontweight="bold")


def _draw_legend(ax: Any, arch: Architecture) -> None:
    """One legend entry per shortcut kind shown, in the order they first appear."""
    from matplotlib.lines import Line2D

    kinds = list(dict.fromkeys(b.shortcut for stage in arch.stages
                               for b in (stage.blocks[s] for s in _slots(len(stage.blocks)) if s is not None)))
    handles = [Line2D([0], [0], color=_STYLE.get(k, _STYLE["projection"])["color"],
                      linestyle=_STYLE.get(k, _STYLE["projection"])["linestyle"], lw=1.3,
                      label=_STYLE.get(k, {"label": k})["label"]) for k in kinds]
    if handles:
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), fontsize=FONT,
                  frameon=False, handlelength=2.2)


def _rows(boxes: list[_Box], max_units: float) -> list[list[_Box]]:
    """Split the boxes into rows no wider than ``max_units`` (a box wider than that gets a row of its own)."""
    rows: list[list[_Box]] = [[]]
    width = 0.0
    for box in boxes:
        needed = box[1] + (_GAP if rows[-1] else 0.0)
        if rows[-1] and width + needed > max_units:
            rows.append([])
            width, needed = 0.0, box[1]
        rows[-1].append(box)
        width += needed
    return rows


def draw_architecture(model: nn.Module, input_size: Sequence[int] | None = None, *, ax: Any = None,
                      title: str | None = None, max_width: float = COLUMN_WIDTH) -> Any:
    """Draw ``model``'s architecture (see :func:`describe_architecture`); returns the matplotlib Figure.

    Boxes in reading order: the stem (its layers and output shape), one box per stage
    (block squares with one shortcut arc each, coloured by kind; "/2" marks a block that
    halves the map), then the head (pooling, classifier). Boxes that do not fit in
    ``max_width`` inches (default: the book's column, so that the 9-point labels are shown
    at full size) continue on the next row. A text version: ``print(describe_architecture(model))``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    arch = describe_architecture(model, input_size)
    rows = _rows(_boxes(arch), max_width / _UNIT - 0.3)
    widths = [sum(box[1] for box in row) + _GAP * (len(row) - 1) for row in rows]
    total = max(widths)
    height = _ROW * (len(rows) - 1) + 3.4
    own_figure = ax is None
    if own_figure:
        fig, ax = plt.subplots(figsize=((total + 0.3) * _UNIT, height * _UNIT + 0.45))
    else:
        fig = ax.figure
    arrow = {"arrowstyle": "-|>", "mutation_scale": 9, "color": "0.2", "lw": 1.0}
    for r, row in enumerate(rows):
        y0, x = -_ROW * r, 0.0
        for index, (kind, width, payload) in enumerate(row):
            if index:
                ax.add_patch(FancyArrowPatch((x - _GAP, y0), (x, y0), **arrow))
            elif r:  # continued from the end of the row above: down, back to the left, into this box
                end, mid = widths[r - 1], y0 + _ROW / 2 + 0.05
                ax.plot([end, end + _GAP / 2, end + _GAP / 2, -_GAP / 2, -_GAP / 2],
                        [y0 + _ROW, y0 + _ROW, mid, mid, y0], color="0.2", lw=1.0)
                ax.add_patch(FancyArrowPatch((-_GAP / 2, y0), (0.0, y0), **arrow))
            _draw_row_box(ax, kind, x, y0, width, payload)
            x += width + _GAP
    _draw_legend(ax, arch)
    ax.set_xlim(-0.6, total + 0.4)
    ax.set_ylim(-_ROW * (len(rows) - 1) - 1.9, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{arch.title}: input {_shape(arch.input_shape)}, {arch.params / 1e6:.2f}M parameters",
                 fontsize=FONT + 1)
    if own_figure:
        fig.tight_layout()
    return fig


def _draw_row_box(ax: Any, kind: str, x: float, y0: float, width: float, payload: Any) -> None:
    """One box of a row, drawn around the row's centre line ``y0``."""
    from matplotlib.transforms import Affine2D

    shift = Affine2D().translate(0, y0) + ax.transData
    before = len(ax.patches), len(ax.texts), len(ax.lines)
    if kind == "stage":
        _draw_stage(ax, x, width, *payload)
    else:
        _draw_text_box(ax, x, width, kind, payload)
    if y0:
        for artist in ax.patches[before[0]:] + ax.texts[before[1]:] + ax.lines[before[2]:]:
            artist.set_transform(shift)


def _group_labels(labels: list[str]) -> list[str]:
    """Join a BN and the ReLU after it ("BN, ReLU") so the boxes stay short."""
    lines: list[str] = []
    for label in labels:
        if label == "ReLU" and lines and lines[-1] == "BN":
            lines[-1] = "BN, ReLU"
        else:
            lines.append(label)
    return lines


def _head_groups(head: list[Part]) -> list[list[Part]]:
    """Head boxes: normalisation/activation layers join the pooling box that follows them; fc gets its own box."""
    groups: list[list[Part]] = []
    pending: list[Part] = []
    for part in head:
        pending.append(part)
        if part.label.startswith(("global avg-pool", "avg-pool", "fc")):
            groups.append(pending)
            pending = []
    if pending:
        if groups:
            groups[-1].extend(pending)
        else:
            groups.append(pending)
    return groups
