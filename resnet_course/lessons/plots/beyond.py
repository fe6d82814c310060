"""The figures of chapter 8: the families side by side, and residual connections beyond vision.

- :func:`plot_published_cifar10` — CIFAR-10 test error against parameters for ResNet,
  pre-activation ResNet, Wide ResNet, ResNeXt and DenseNet-BC, as their papers published
  them (:data:`resnet_course.lessons.published.CIFAR10`, each number with its table);
- :class:`TransformerLayer` and :func:`draw_transformer_layers` — the encoder layer of
  Vaswani et al. 2017 (§3.1, §5.4): each of its two sublayers is wrapped in
  ``x + Sublayer(x)``, with LayerNorm after the addition ("post-LN", the paper) or at the
  start of the branch ("pre-LN", Xiong et al. 2020 — the pre-activation idea of He et al.
  2016 in a Transformer). The schematic is traced from the module by
  :mod:`resnet_course.lessons.schematics`, like the convolutional blocks of chapters 2 and 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from torch import Tensor, nn

from resnet_course.lessons.published import CIFAR10, FAMILIES, PublishedResult
from resnet_course.lessons.schematics import draw_blocks, trace_block

__all__ = ["FAMILY_STYLE", "TransformerLayer", "draw_transformer_layers", "plot_published_cifar10"]

#: Colour and marker of each family in :func:`plot_published_cifar10`.
FAMILY_STYLE: dict[str, tuple[str, str]] = {
    "ResNet": ("tab:blue", "o"),
    "pre-activation ResNet": ("tab:orange", "s"),
    "Wide ResNet": ("tab:green", "^"),
    "ResNeXt": ("tab:red", "D"),
    "DenseNet-BC": ("tab:purple", "v"),
}


#: Where each family writes its points' labels (offset in points, horizontal alignment).
_LABEL_OFFSET = {"DenseNet-BC": ((-4, -12), "right"), "ResNeXt": ((4, -12), "left")}


def _short(result: PublishedResult) -> str:
    """A point's label: the network's name without its family's prefix (depth, k, cardinality × width)."""
    name = result.network
    for prefix in ("pre-act ResNet-", "ResNeXt-29 ", "DenseNet-BC ", "ResNet-", "WRN-"):
        name = name.replace(prefix, "")
    return name.replace("(L=", "L=").replace(")", "")


def plot_published_cifar10(results: Sequence[PublishedResult] = CIFAR10) -> Figure:
    """Published CIFAR-10 test error (lower is better) against parameters (log scale), one line per family.

    Every point is a number from a paper (the table is :data:`~resnet_course.lessons.published.CIFAR10`),
    labelled with the network's depth or configuration; the title says so.
    """
    fig, ax = plt.subplots(figsize=(6.9, 4.6))
    for family in FAMILIES:
        members = sorted((r for r in results if r.family == family), key=lambda r: (r.params_m, r.error))
        if not members:
            continue
        color, marker = FAMILY_STYLE[family]
        x = np.array([r.params_m for r in members])
        y = np.array([r.error for r in members])
        ax.plot(x, y, color=color, marker=marker, markersize=6, lw=1.2, label=family)
        offset, align = _LABEL_OFFSET.get(family, ((5, 4), "left"))
        for r in members:
            ax.annotate(_short(r), (r.params_m, r.error), textcoords="offset points", xytext=offset, ha=align,
                        fontsize=8, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (millions, log scale)", fontsize=9)
    ax.set_ylabel("CIFAR-10 test error (%), lower is better", fontsize=9)
    ax.tick_params(labelsize=8.5)
    ax.set_xticks([0.3, 1, 3, 10, 30, 70])
    ax.set_xticklabels(["0.3", "1", "3", "10", "30", "70"])
    ax.grid(True, which="major", alpha=0.3)
    ax.set_ylim(min(r.error for r in results) - 0.45, max(r.error for r in results) + 0.35)
    ax.set_xlim(None, max(r.params_m for r in results if r.params_m) * 1.7)
    ax.legend(fontsize=8.5, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)
    ax.set_title("Published results (the papers' numbers, not runs of this course)", fontsize=9.5)
    fig.tight_layout()
    return fig


class TransformerLayer(nn.Module):
    """A Transformer encoder layer (Vaswani et al. 2017, §3.1), small and written to be read and drawn.

    Two sublayers, multi-head self-attention and a two-layer feed-forward network (ReLU),
    each wrapped in a residual connection. ``norm_first=False`` is the paper's
    ``LayerNorm(x + Sublayer(x))``; ``norm_first=True`` is ``x + Sublayer(LayerNorm(x))``,
    which keeps the path from input to output a sum, as the pre-activation ResNet does.
    The names of the layers are those of :class:`torch.nn.TransformerEncoderLayer`
    (``batch_first=True``), so its state dict loads into this layer and back.
    """

    def __init__(self, d_model: int = 64, nhead: int = 4, dim_feedforward: int = 256, dropout: float = 0.0,
                 *, norm_first: bool = False) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.activation = nn.ReLU()

    def attention(self, x: Tensor) -> Tensor:
        """The first sublayer: self-attention over the tokens."""
        return self.dropout1(self.self_attn(x, x, x, need_weights=False)[0])

    def feed_forward(self, x: Tensor) -> Tensor:
        """The second sublayer: the same two-layer network applied to every token."""
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, x: Tensor) -> Tensor:
        if self.norm_first:
            x = x + self.attention(self.norm1(x))
            return x + self.feed_forward(self.norm2(x))
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.feed_forward(x))


def draw_transformer_layers(tokens: int = 10, d_model: int = 64, **kwargs: Any) -> Figure:
    """The post-LN layer of the paper beside the pre-LN variant, traced from :class:`TransformerLayer`."""
    graphs = [trace_block(TransformerLayer(d_model, norm_first=first, **kwargs), (1, tokens, d_model), title=title)
              for first, title in ((False, "post-LN (Vaswani et al. 2017)"), (True, "pre-LN (Xiong et al. 2020)"))]
    return draw_blocks(graphs)
