"""An architecture diagram drawn from the model itself (chapter 4).

Nothing here is written per network: :func:`describe_architecture` walks the module tree
to find the residual blocks and the containers that group them into stages, runs one
forward pass on the meta device (shapes only, no arithmetic, so ResNet-152 takes a
fraction of a second) with hooks that record each part's output shape and the order
in which the parts are called, and reads each block's shortcut from its modules:

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
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from resnet_course.nn.blocks import (
    BasicBlock,
    Bottleneck,
    PreActBasicBlock,
    PreActBottleneck,
    ZeroPadShortcut,
)
from resnet_course.nn.summary import count_parameters

__all__ = [
    "Architecture", "BlockInfo", "default_input_size", "describe_architecture", "draw_architecture", "Part",
    "SHORTCUT_KINDS", "Stage"
]


_BLOCK_CLASSES = (BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck)
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
        return len(self.output_shape) == 3 and self.output_shape[1] < self.input_shape[1]


@dataclass
class Stage:
    """Consecutive blocks grouped by their container (``layer1`` …) or, in a flat model, by output width."""

    name: str
    blocks: list[BlockInfo]

    @property
    def block_type(self) -> str:
        return Counter(b.kind for b in self.blocks).most_common(1)[0][0]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.blocks[-1].output_shape

    @property
    def shortcuts(self) -> list[str]:
        return [b.shortcut for b in self.blocks]


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
        def runs(items: Sequence[str]) -> str:
            out: list[list[Any]] = []
            for item in items:
                if out and out[-1][0] == item:
                    out[-1][1] += 1
                else:
                    out.append([item, 1])
            return ", ".join(f"{k}" + (f" ×{n}" if n > 1 else "") for k, n in out)

        shape = "×".join
        rows = [("stem", " · ".join(p.label for p in self.stem), shape(map(str, self.stem[-1].output_shape)))
                if self.stem else None]
        for stage in self.stages:
            rows.append((stage.name, f"{len(stage.blocks)} × {stage.block_type}, shortcuts: {runs(stage.shortcuts)}",
                         shape(map(str, stage.output_shape))))
        if self.head:
            rows.append(("head", " · ".join(p.label for p in self.head), shape(map(str, self.head[-1].output_shape))))
        body = [r for r in rows if r is not None]
        w0 = max(len(r[0]) for r in body)
        w1 = max(len(r[1]) for r in body)
        lines = [f"{self.title}: input {shape(map(str, self.input_shape))}, {self.params:,} parameters"]
        lines += [f"{a.ljust(w0)}  {b.ljust(w1)}  -> {c}" for a, b, c in body]
        return "\n".join(lines)


def _is_block(module: nn.Module) -> bool:
    if isinstance(module, _BLOCK_CLASSES):
        return True
    has_shortcut_attr = hasattr(module, "downsample") or hasattr(module, "shortcut")
    return has_shortcut_attr and any(isinstance(m, nn.Conv2d) for m in module.modules())


def _shortcut_kind(block: nn.Module) -> str:
    if getattr(block, "has_shortcut", True) is False:
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


def _pretty_title(model: nn.Module) -> str:
    arch = str(getattr(model, "arch", "") or "")
    patterns = ((r"^resnet(\d+)$", "ResNet-{}"), (r"^resnet(\d+)_cifar$", "ResNet-{} (CIFAR stem)"),
                (r"^plain(\d+)$", "plain-{}"), (r"^preact_resnet(\d+)$", "pre-activation ResNet-{}"))
    for pattern, template in patterns:
        match = re.match(pattern, arch)
        if match:
            return template.format(match.group(1))
    return arch or type(model).__name__


def default_input_size(model: nn.Module) -> tuple[int, int, int, int]:
    """1×C×224×224 for an ImageNet-style stem (a first convolution that downsamples), else 1×C×32×32."""
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise ValueError("the model has no nn.Conv2d: pass input_size explicitly")
    size = 224 if first.stride[0] > 1 else 32
    return (1, first.in_channels, size, size)


def _units(module: nn.Module, prefix: str = "") -> list[tuple[str, str, nn.Module, str | None]]:
    """(kind, path, module, container) for the parts and blocks of ``module``, in registration order."""
    units: list[tuple[str, str, nn.Module, str | None]] = []
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if _is_block(child):
            units.append(("block", path, child, prefix.rstrip(".") or None))
        elif any(_is_block(m) for m in child.modules()):
            units.extend(_units(child, path + "."))
        else:
            units.append(("part", path, child, None))
    return units


def describe_architecture(model: nn.Module, input_size: Sequence[int] | None = None) -> Architecture:
    """Stem, stages (blocks, shortcut kinds, output shapes) and head of ``model``, from its modules and one pass.

    ``input_size`` includes the batch dimension (default: :func:`default_input_size`).
    The forward pass runs on a meta-device copy, so the model itself is not touched.
    """
    input_size = tuple(int(s) for s in (input_size or default_input_size(model)))
    params = count_parameters(model)
    meta = copy.deepcopy(model).to("meta").eval()
    units = _units(meta)
    calls: list[tuple[str, str, nn.Module, str | None, tuple[int, ...], tuple[int, ...]]] = []
    hooks = []
    for kind, path, module, container in units:
        def record(mod: nn.Module, inputs: tuple[Any, ...], output: Any, kind: str = kind, path: str = path,
                   container: str | None = container) -> None:
            first = inputs[0] if inputs and isinstance(inputs[0], Tensor) else None
            in_shape = tuple(first.shape[1:]) if first is not None else ()
            out_shape = tuple(output.shape[1:]) if isinstance(output, Tensor) else ()
            calls.append((kind, path, mod, container, in_shape, out_shape))
        hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            meta(torch.empty(*input_size, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()

    block_positions = [i for i, call in enumerate(calls) if call[0] == "block"]
    if not block_positions:
        raise ValueError(f"no residual blocks found in {type(model).__name__}: blocks are recognised by a "
                         "'downsample' or 'shortcut' attribute")
    first_block, last_block = block_positions[0], block_positions[-1]
    arch = Architecture(title=_pretty_title(model), input_shape=input_size[1:], params=params)
    for kind, path, module, container, _in, out in calls[:first_block]:
        if not isinstance(module, nn.Identity):
            arch.stem.append(Part(path, _label(module, out), out))
    for kind, path, module, container, _in, out in calls[last_block + 1:]:
        if not isinstance(module, nn.Identity):
            arch.head.append(Part(path, _label(module, out), out))
    loose: set[int] = set()  # stages formed from blocks that sit in no container of their own
    for kind, path, module, container, in_shape, out in calls[first_block:last_block + 1]:
        if kind != "block":
            continue
        info = BlockInfo(path, type(module).__name__, _shortcut_kind(module), in_shape, out)
        # A new stage starts with a new container or, for loose blocks, where the width or the map size changes.
        last = arch.stages[-1] if arch.stages else None
        if container is not None:
            if last is not None and last.name == container:
                last.blocks.append(info)
            else:
                arch.stages.append(Stage(container, [info]))
        elif last is not None and id(last) in loose and last.output_shape[0] == out[0] and not info.downsamples:
            last.blocks.append(info)
        else:
            arch.stages.append(Stage(f"stage {len(arch.stages) + 1}", [info]))
            loose.add(id(arch.stages[-1]))
    return arch


# --------------------------------------------------------------------------- the drawing

_STYLE = {
    "identity": {"color": "0.35", "linestyle": "-", "label": "identity shortcut"},
    "zero-pad": {"color": "tab:blue", "linestyle": "--", "label": "identity + zero-padding (option A)"},
    "projection": {"color": "tab:red", "linestyle": "-", "label": "projection shortcut (1×1 conv)"},
    "none": {"color": "0.6", "linestyle": ":", "label": "no shortcut (plain)"},
}
_UNIT = 0.5  # inches per data unit
_CHAR = 0.068 / _UNIT  # average width of a character of the 7.5-point labels, in data units
_SLOT = 0.46  # width of one block square plus its gap
_MAX_SLOTS = 6


def _text_width(lines: Sequence[str]) -> float:
    return _CHAR * max(len(line) for line in lines) + 0.35


def _slots(n: int) -> list[int | None]:
    """Which blocks to show: all if few, else the first ones, an ellipsis (None) and the last."""
    if n <= _MAX_SLOTS:
        return list(range(n))
    return [0, 1, 2, 3, None, n - 1]


def draw_architecture(model: nn.Module, input_size: Sequence[int] | None = None, *, ax: Any = None,
                      title: str | None = None) -> Any:
    """Draw ``model``'s architecture (see :func:`describe_architecture`); returns the matplotlib Figure.

    Boxes from left to right: the stem (its layers and output shape), one box per stage
    (block squares with one shortcut arc each, coloured by kind; "/2" marks a block that
    halves the map), then the head (pooling, classifier). A text version: ``print(describe_architecture(model))``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

    arch = describe_architecture(model, input_size)
    shape = lambda s: "×".join(map(str, s))  # noqa: E731

    # Boxes: (kind, width, payload)
    boxes: list[tuple[str, float, Any]] = []
    if arch.stem:
        stem_lines = _group_labels([p.label for p in arch.stem]) + [f"→ {shape(arch.stem[-1].output_shape)}"]
        boxes.append(("stem", _text_width(stem_lines), stem_lines))
    for stage in arch.stages:
        lines = [f"{len(stage.blocks)} × {stage.block_type}",
                 f"{stage.output_shape[0]} ch, {shape(stage.output_shape[1:])}"]
        width = max(len(_slots(len(stage.blocks))) * _SLOT + 0.4, _text_width(lines))
        boxes.append(("stage", width, (stage, lines)))
    for group in _head_groups(arch.head):
        lines = _group_labels([p.label for p in group]) + [f"→ {shape(group[-1].output_shape)}"]
        boxes.append(("head", _text_width(lines), lines))

    gap = 0.45
    total = sum(w for _, w, _ in boxes) + gap * (len(boxes) - 1)
    own_figure = ax is None
    if own_figure:
        fig, ax = plt.subplots(figsize=(max(5.0, (total + 0.3) * _UNIT), 3.15 * _UNIT + 0.5))
    else:
        fig = ax.figure
    kinds_seen: list[str] = []
    x = 0.0
    for index, (kind, width, payload) in enumerate(boxes):
        if index:
            ax.add_patch(FancyArrowPatch((x - gap, 0.0), (x, 0.0), arrowstyle="-|>", mutation_scale=9,
                                         color="0.2", lw=1.0))
        if kind == "stage":
            stage, lines = payload
            ax.add_patch(FancyBboxPatch((x, -1.0), width, 2.05, boxstyle="round,pad=0,rounding_size=0.12",
                                        facecolor="#eef3fb", edgecolor="0.3", lw=1.0))
            ax.text(x + width / 2, 1.18, stage.name, ha="center", va="bottom", fontsize=8, fontweight="bold")
            slots = _slots(len(stage.blocks))
            left = x + (width - len(slots) * _SLOT) / 2
            ax.plot([x, x + width], [0.0, 0.0], color="0.55", lw=0.8, zorder=1)
            for k, slot in enumerate(slots):
                cx = left + (k + 0.5) * _SLOT
                if slot is None:
                    ax.text(cx, 0.0, "⋯", ha="center", va="center", fontsize=9,
                            bbox={"facecolor": "#eef3fb", "edgecolor": "none", "pad": 0.5})
                    continue
                block = stage.blocks[slot]
                ax.add_patch(Rectangle((cx - 0.12, -0.2), 0.24, 0.4, facecolor="white", edgecolor="0.2", lw=0.9,
                                       zorder=2))
                if block.downsamples:
                    ax.text(cx, 0.0, "/2", ha="center", va="center", fontsize=6, zorder=3)
                style = _STYLE.get(block.shortcut, _STYLE["projection"])
                if block.shortcut not in kinds_seen:
                    kinds_seen.append(block.shortcut)
                if block.shortcut != "none":
                    # From the path before the block to the path after it, over the block: the shortcut.
                    ax.add_patch(FancyArrowPatch((cx - 0.21, 0.0), (cx + 0.21, 0.0), connectionstyle="arc3,rad=-1.9",
                                                 arrowstyle="-", color=style["color"], linestyle=style["linestyle"],
                                                 lw=1.3 if block.shortcut == "projection" else 1.0, zorder=3))
            ax.text(x + width / 2, -0.5, lines[0], ha="center", va="center", fontsize=7.5)
            ax.text(x + width / 2, -0.78, lines[1], ha="center", va="center", fontsize=7.5, color="0.25")
        else:
            lines = payload
            height = 0.3 * len(lines) + 0.3
            face = "#f4f4f4" if kind == "stem" else "#fbf3e8"
            ax.add_patch(FancyBboxPatch((x, -height / 2), width, height, boxstyle="round,pad=0,rounding_size=0.12",
                                        facecolor=face, edgecolor="0.3", lw=1.0, zorder=2))
            ax.text(x + width / 2, 0.0, "\n".join(lines), ha="center", va="center", fontsize=7.5, linespacing=1.35,
                    zorder=3)
            if kind == "stem":
                ax.text(x + width / 2, 1.18, "stem", ha="center", va="bottom", fontsize=8, fontweight="bold")
        x += width + gap

    handles = [Line2D([0], [0], color=_STYLE.get(k, _STYLE["projection"])["color"],
                      linestyle=_STYLE.get(k, _STYLE["projection"])["linestyle"], lw=1.3,
                      label=_STYLE.get(k, {"label": k})["label"]) for k in kinds_seen]
    if handles:
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.02), ncol=len(handles), fontsize=7.5,
                  frameon=False, handlelength=2.2)
    ax.set_xlim(-0.15, total + 0.15)
    ax.set_ylim(-1.55, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{arch.title}: input {shape(arch.input_shape)}, {arch.params / 1e6:.2f}M parameters",
                 fontsize=9.5)
    if own_figure:
        fig.tight_layout()
    return fig


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
