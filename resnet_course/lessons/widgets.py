"""ipywidgets explorers for the book, each backed by a pure function that the static book shows.

Widgets only run in a live notebook; the built book shows a static figure or table for one
default choice (the chapters draw it with the pure function in the cell before the widget).

- :func:`describe_block` / :func:`block_explorer` (chapter 3): the layers of one residual,
  pre-activation or plain block — output shapes, parameters and multiply-adds — for a
  1×C×32×32 input (He et al. 2015, Fig. 2, Fig. 5 and §3.3; He et al. 2016, Fig. 4(e)).
- :func:`gradient_explorer` (chapter 2): the per-layer gradient-norm profile of a plain,
  residual or pre-activation CIFAR network at initialisation (computed by
  :func:`resnet_course.lessons.analysis.gradient_norms`).
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from resnet_course.nn.blocks import BLOCK_TYPES, BasicBlock, Bottleneck, ZeroPadShortcut
from resnet_course.nn.inspection import has_shortcut, trace_forward
from resnet_course.nn.summary import count_macs, count_parameters, human_count

__all__ = [
    "BLOCK_TYPE_LABELS",
    "EXPLORER_BLOCK_TYPES",
    "GRADIENT_DEPTHS",
    "GRADIENT_KINDS",
    "GRADIENT_KIND_LABELS",
    "SPATIAL_SIZE",
    "block_explorer",
    "build_block",
    "describe_block",
    "gradient_explorer",
    "gradient_profile_figure"
]


# The choices the block explorer offers (any key of ``blocks.BLOCK_TYPES`` works in describe_block).
EXPLORER_BLOCK_TYPES: tuple[str, ...] = ("basic", "bottleneck", "preact_basic", "plain_basic")
BLOCK_TYPE_LABELS: dict[str, str] = {
    "basic": "basic (He et al. 2015, Fig. 2)",
    "bottleneck": "bottleneck (Fig. 5 right)",
    "preact_basic": "pre-activation basic (He et al. 2016)",
    "plain_basic": "plain basic (no shortcut)",
    "plain_bottleneck": "plain bottleneck (no shortcut)",
    "preact_bottleneck": "pre-activation bottleneck",
    "plain_preact_basic": "plain pre-activation basic",
}
SPATIAL_SIZE = 32


# --------------------------------------------------------------------------- describe_block


def _shape(shape: Sequence[int]) -> str:
    """``1×16×32×32``."""
    return "×".join(map(str, shape))


def _layer_kind(module: nn.Module) -> str:
    """A short description of a leaf layer: ``conv 3×3, stride 2`` or ``BatchNorm2d``."""
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0]
        kind = f"conv {k}×{k}"
        if module.stride[0] != 1:
            kind += f", stride {module.stride[0]}"
        return kind
    if isinstance(module, ZeroPadShortcut):
        return "zero-pad identity (A)"
    return type(module).__name__


def build_block(block_type: str, in_planes: int, planes: int, stride: int = 1, shortcut: str = "A") -> nn.Module:
    """One block of ``blocks.BLOCK_TYPES`` with a checked configuration (a ValueError says what is wrong)."""
    if block_type not in BLOCK_TYPES:
        raise ValueError(f"unknown block type {block_type!r}: choose one of {', '.join(BLOCK_TYPES)}")
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, not {stride!r}")
    if int(in_planes) < 1 or int(planes) < 1:
        raise ValueError(f"in_planes and planes must be positive, got {in_planes} and {planes}")
    shortcut = str(shortcut).upper()
    cls = BLOCK_TYPES[block_type]
    out_planes = planes * cls.expansion  # type: ignore[attr-defined]
    if shortcut == "A" and cls.has_shortcut and out_planes < in_planes:  # type: ignore[attr-defined]
        raise ValueError(
            f"shortcut A pads the identity with zero channels, so it cannot go from {in_planes} to {out_planes} "
            "channels; use B or C (a 1×1 projection)"
        )
    torch.manual_seed(0)  # parameter values do not enter the table, but keep the block reproducible
    return cls(int(in_planes), int(planes), int(stride), shortcut)  # type: ignore[call-arg]


_Row = tuple[str, str, str, str, str]  # layer, type, output shape, parameters, multiply-adds


def _layer_rows(block: nn.Module, input_size: tuple[int, ...]) -> tuple[list[_Row], list[_Row], Tensor]:
    """The rows of the residual branch and of the shortcut, in call order, and the block's output.

    A module called twice (a ReLU reused) gets a row each time; its parameters and
    multiply-adds are counted on its first row only.
    """
    with trace_forward(block, "leaves") as trace, torch.no_grad():
        output = block(torch.zeros(input_size))
    _, per_module = count_macs(block, input_size)
    seen: set[str] = set()
    branch: list[_Row] = []
    short: list[_Row] = []
    for call in trace:
        name = call.name
        first = name not in seen
        seen.add(name)
        params = sum(p.numel() for p in call.module.parameters()) if first else 0
        macs = per_module.get(name, 0) if first else 0
        row = ("  " + name, _layer_kind(call.module), _shape(call.output_shape), f"{params:,}", human_count(macs))
        (short if name.startswith("downsample") else branch).append(row)
    return branch, short, output


def _format_table(title: str, rows: list[_Row], footer: _Row, total: str) -> str:
    """The table: title, header, rule, rows, rule, footer, the totals in words."""
    header = ("layer", "type", "output shape", "params", "mult-adds")
    widths = [max(len(r[i]) for r in [header, *rows, footer]) for i in range(5)]

    def fmt(r: Sequence[str]) -> str:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3].rjust(widths[3]),
                 r[4].rjust(widths[4])]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(header))
    return "\n".join([title, fmt(header), rule, *map(fmt, rows), rule, fmt(footer), total])


def describe_block(block_type: str, in_planes: int, planes: int, stride: int = 1, shortcut: str = "A") -> str:
    """The layers of one block as a text table: name, type, output shape, parameters, multiply-adds.

    The input is one ``1×in_planes×32×32`` feature map. Layers are listed in the order the
    forward pass calls them (a ReLU module used twice appears twice, its parameters and
    multiply-adds counted once — a ReLU has none), then the shortcut, the addition and
    the block's output. Multiply-adds count convolutions only, as He et al. 2015 do in
    Table 1 (BatchNorm, ReLU and the addition are not counted). Deterministic: the same
    arguments always give the same string.

    >>> print(describe_block("basic", 16, 16, 1, "A").splitlines()[0])
    BasicBlock: 16 -> 16 channels, stride 1, shortcut A; input 1×16×32×32
    """
    block = build_block(block_type, in_planes, planes, stride, shortcut).eval()
    shortcut = str(shortcut).upper()
    input_size = (1, int(in_planes), SPATIAL_SIZE, SPATIAL_SIZE)
    branch, short, output = _layer_rows(block, input_size)
    out_shape = _shape(output.shape)
    residual = has_shortcut(block)
    rows: list[_Row] = [("residual branch F(x)" if residual else "layers", "", "", "", "")]
    if residual:
        post_activation = isinstance(block, (BasicBlock, Bottleneck))
        final_relu = [branch.pop()] if post_activation and branch and branch[-1][1] == "ReLU" else []
        rows += [*branch, ("shortcut", "", "", "", ""),
                 *(short or [("  (identity)", "identity", _shape(input_size), "0", "0")]),
                 ("merge", "", "", "", ""), ("  F(x) + shortcut(x)", "addition", out_shape, "0", "0"), *final_relu]
    else:
        rows += branch
    total_params, (total_macs, _) = count_parameters(block), count_macs(block, input_size)
    title = (f"{type(block).__name__}: {in_planes} -> {output.shape[1]} channels, stride {stride}, "
             + (f"shortcut {shortcut}" if residual else "no shortcut") + f"; input {_shape(input_size)}")
    footer = ("total", "", out_shape, f"{total_params:,}", human_count(total_macs))
    return _format_table(title, rows, footer, f"total: {total_params:,} parameters, {total_macs:,} multiply-adds")


# --------------------------------------------------------------------------- block_explorer


def block_explorer(
    block_type: str = "basic",
    in_planes: int = 16,
    planes: int = 32,
    stride: int = 2,
    shortcut: str = "A",
) -> Any:
    """Dropdowns for block type, input channels, planes, stride and shortcut option → :func:`describe_block`'s table.

    Returns an ``ipywidgets.VBox``; its ``table`` attribute is the ``HTML`` widget that shows
    the table (a configuration that cannot be built, such as option A removing channels,
    shows the reason instead). Run the notebook to use it; the static book shows one table.
    """
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    kind = widgets.Dropdown(
        options=[(BLOCK_TYPE_LABELS[k], k) for k in EXPLORER_BLOCK_TYPES], value=block_type,
        description="block", style=style, layout=widgets.Layout(width="330px"),
    )
    c_in = widgets.Dropdown(options=_with(in_planes, [16, 32, 64, 128, 256]), value=in_planes,
                            description="in-channels", style=style)
    c_planes = widgets.Dropdown(options=_with(planes, [16, 32, 64, 128]), value=planes, description="planes",
                                style=style)
    c_stride = widgets.Dropdown(options=[1, 2], value=stride, description="stride", style=style)
    c_short = widgets.Dropdown(options=["A", "B", "C"], value=str(shortcut).upper(), description="shortcut",
                               style=style)
    table = widgets.HTML()

    def update(_change: object = None) -> None:
        try:
            text = describe_block(kind.value, c_in.value, c_planes.value, c_stride.value, c_short.value)
        except ValueError as error:
            text = f"cannot build this block: {error}"
        table.value = f"<pre style='font-size: 12px; line-height: 1.3'>{html.escape(text)}</pre>"

    for control in (kind, c_in, c_planes, c_stride, c_short):
        control.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([kind, c_in, c_planes]), widgets.HBox([c_stride, c_short]), table])
    box.table = table  # type: ignore[attr-defined]
    box.controls = {"block_type": kind, "in_planes": c_in, "planes": c_planes, "stride": c_stride,  # type: ignore[attr-defined]
                    "shortcut": c_short}
    return box


def _with(value: int, options: list[int]) -> list[int]:
    """The dropdown's options with ``value`` among them, sorted."""
    return sorted(set(options) | {int(value)})


# --------------------------------------------------------------------------- gradient_explorer

GRADIENT_KINDS: tuple[str, ...] = ("plain", "residual", "preact")
GRADIENT_KIND_LABELS: dict[str, str] = {"plain": "plain (no shortcuts)", "residual": "residual (He et al. 2015)",
                                        "preact": "pre-activation (He et al. 2016)"}
GRADIENT_DEPTHS: tuple[int, ...] = (20, 32, 44, 56, 110)


def gradient_profile_figure(
    kind: str,
    depth: int,
    inputs: Tensor,
    targets: Tensor | None = None,
    *,
    seed: int = 0,
    cache: dict | None = None,
) -> Any:
    """The gradient explorer's figure for one choice: per-layer ‖∂L/∂W‖ of a fresh network (cached by (kind, depth))."""
    from resnet_course.lessons.analysis.gradients import (
        gradient_norms,
        model_name,
        seeded_model,
    )
    from resnet_course.lessons.plots.foundations import (
        KIND_COLORS,
        plot_gradient_profile,
    )

    cache = {} if cache is None else cache
    key = (kind, int(depth))
    if key not in cache:
        model = seeded_model(kind, int(depth), seed).to(inputs.device)
        cache[key] = gradient_norms(model, inputs, None if targets is None else targets.to(inputs.device))
    title = f"{model_name(kind, depth)} at initialisation: gradient norm per layer"
    return plot_gradient_profile(cache[key], title=title, color=KIND_COLORS.get(kind, "tab:blue"))


def _png(fig: Any) -> bytes:
    """The figure as PNG bytes (for an ``ipywidgets.Image``); the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def gradient_explorer(
    inputs: Tensor | None = None,
    targets: Tensor | None = None,
    *,
    kind: str = "residual",
    depth: int = 56,
    depths: Sequence[int] = GRADIENT_DEPTHS,
    kinds: Sequence[str] = GRADIENT_KINDS,
    seed: int = 0,
    cache: dict | None = None,
) -> Any:
    """Pick a depth and a block type (plain / residual / pre-activation) → per-layer gradient norms at initialisation.

    ``inputs``/``targets`` is the batch the loss is computed on (default: 32 real CIFAR-10
    test images from :func:`~resnet_course.lessons.analysis.cifar_batch`). ``cache`` maps ``(kind, depth)``
    to :func:`~resnet_course.lessons.analysis.gradient_norms` results already computed (a notebook passes the
    profiles it has; new choices are added to it). Returns an ``ipywidgets.VBox`` whose
    ``image`` attribute is the ``Image`` widget showing the figure (PNG).
    """
    import ipywidgets as widgets

    from resnet_course.lessons.analysis.gradients import cifar_batch

    if inputs is None:
        inputs, targets = cifar_batch(32)
    cache = {} if cache is None else cache
    style = {"description_width": "initial"}
    c_depth = widgets.Dropdown(options=sorted(set(depths) | {int(depth)}), value=int(depth), description="depth",
                               style=style)
    c_kind = widgets.Dropdown(options=[(GRADIENT_KIND_LABELS.get(k, k), k) for k in kinds], value=kind,
                              description="block type", style=style, layout=widgets.Layout(width="330px"))
    image = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
    status = widgets.HTML()

    def update(_change: object = None) -> None:
        status.value = "<i>computing…</i>"
        fig = gradient_profile_figure(c_kind.value, c_depth.value, inputs, targets, seed=seed, cache=cache)
        image.value = _png(fig)
        status.value = ""

    c_depth.observe(update, names="value")
    c_kind.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([c_kind, c_depth, status]), image])
    box.image = image  # type: ignore[attr-defined]
    box.controls = {"kind": c_kind, "depth": c_depth}  # type: ignore[attr-defined]
    box.cache = cache  # type: ignore[attr-defined]
    return box
