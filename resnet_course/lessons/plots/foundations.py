"""The figures of chapters 1 and 2: the data, learning the identity, function classes, gradients, shattering.

- :func:`show_samples` — a grid of images of a data set;
- :func:`plot_identity_curves` and :func:`plot_nested_function_classes` — why a residual block
  finds the identity easily and why nested function classes matter (He et al. 2015, §1, §3.1);
- :func:`plot_gradient_norms` and :func:`plot_gradient_profile` — gradient norms per layer at
  initialisation (He et al. 2015, §4.1; He et al. 2016, Eq. (5));
- :func:`plot_shattering` — shattered gradients (Balduzzi et al. 2017, Fig. 1 and 2);
- :func:`plot_error_curves` — the degradation problem,
  training and test error per epoch (He et al. 2015, Fig. 1 and Fig. 6).

The data come from :mod:`resnet_course.lessons.analysis`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from matplotlib.ticker import MaxNLocator

from resnet_course.data.imageset import ImageSet
from resnet_course.lessons.analysis.shattering import Shattering
from resnet_course.lessons.labels import network_label

__all__ = [
    "IDENTITY_LABELS",
    "KIND_COLORS",
    "KIND_LABELS",
    "error_curves",
    "plot_error_curves",
    "plot_gradient_norms",
    "plot_gradient_profile",
    "plot_identity_curves",
    "plot_nested_function_classes",
    "plot_shattering",
    "plot_zoo_degradation",
    "plot_zoo_shortcuts",
    "show_samples",
]


# --------------------------------------------------------------------------- a look at the data


def show_samples(data: ImageSet, n: int = 16, seed: int = 0, ax: Any = None, *, ncols: int = 8) -> Figure:
    """A grid of ``n`` random images (seeded) titled with their class names.

    Draws into ``ax`` -- a sequence (or array) of at least ``n`` matplotlib Axes -- when
    given, otherwise into a new ``matplotlib.figure.Figure`` that is not registered with
    pyplot (no global state, safe with the Agg backend, no duplicate display in Jupyter).
    Returns the figure.
    """
    n = min(n, len(data))
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(data), generator=generator)[:n].tolist()
    if ax is None:
        ncols = min(ncols, n)
        nrows = math.ceil(n / ncols)
        fig = Figure(figsize=(1.5 * ncols, 1.7 * nrows + 0.3), layout="constrained")
        axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
        fig.suptitle(f"{data.variant}, {data.split} split")
    else:
        axes = list(np.ravel(ax))
        if len(axes) < n:
            raise ValueError(f"need at least {n} axes, got {len(axes)}")
        fig = axes[0].figure
    for k, axis in enumerate(axes):
        axis.set_axis_off()
        if k < n:
            i = chosen[k]
            axis.imshow(data.images[i].permute(1, 2, 0).numpy(), interpolation="nearest")
            axis.set_title(data.classes[int(data.labels[i])], fontsize=9)
    return fig


# --------------------------------------------------------------------------- names and colours

KIND_LABELS: dict[str, str] = {"plain": "plain", "residual": "residual (ResNet)",
                               "preact": "pre-activation ResNet"}
KIND_COLORS: dict[str, str] = {"plain": "tab:red", "residual": "tab:blue", "preact": "tab:green",
                               "residual_zero": "tab:purple"}
IDENTITY_LABELS: dict[str, str] = {"plain": "plain stack (must fit the identity)",
                                   "residual": "residual blocks (drive F to 0)",
                                   "residual_zero": "residual blocks, F zeroed at the start"}


def _depth_colors(depths: Sequence[int]) -> dict[int, tuple[float, float, float, float]]:
    """One viridis colour per depth, shallow (dark) to deep (light)."""
    cmap = plt.get_cmap("viridis")
    n = max(len(depths) - 1, 1)
    return {d: cmap(0.85 * i / n) for i, d in enumerate(sorted(depths))}


# --------------------------------------------------------------------------- learning the identity


def plot_identity_curves(curves: Mapping[str, Sequence[float]], *, title: str | None = None) -> Figure:
    """Training loss per step of stacks trained to be the identity (:func:`analysis.identity_learning_curves`).

    Log scale. A curve that is zero at every step (the zero-initialised residual stack is
    the identity from the start) cannot be drawn on a log axis and is named in a note.
    """
    fig, ax = plt.subplots(figsize=(7, 3.5))
    notes = []
    for kind, losses in curves.items():
        values = np.asarray(losses, dtype=float)
        label = IDENTITY_LABELS.get(kind, kind)
        if np.all(values == 0):
            notes.append(f"{label}: loss exactly 0 at every step")
            continue
        ax.plot(np.arange(1, len(values) + 1), values, label=label, color=KIND_COLORS.get(kind), lw=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("mean squared error ‖stack(x) − x‖²")
    ax.set_title(title or "Learning the identity mapping")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    if notes:
        ax.text(0.99, 0.97, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=8,
                color=KIND_COLORS["residual_zero"])
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- nested function classes


def plot_nested_function_classes() -> Figure:
    """Schematic: growing a non-nested function class can move away from the target f*; a nested one cannot.

    Left, each larger architecture's class F_1, F_2, F_3 is a different set, and the best
    function in F_3 can be farther from f* than the best in F_1. Right, the classes are
    nested (F_1 ⊆ F_2 ⊆ F_3), as they are when an added block can be the identity: a larger
    class contains everything the smaller one could do, so its best member is at least as
    close to f*. (He et al. 2015, §1 and §3.1: a deeper model built from a shallower one by
    adding identity layers should have no higher training error.)
    """
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
    target = np.array([2.45, 1.75])
    colors = ["tab:orange", "tab:green", "tab:blue"]

    def draw(ax: plt.Axes, ellipses: Sequence[tuple[tuple[float, float], float, float, float]],
             labels: Sequence[tuple[float, float]]) -> None:
        for i, ((cx, cy), w, h, angle) in enumerate(ellipses):
            ax.add_patch(Ellipse((cx, cy), w, h, angle=angle, fill=False, lw=2, color=colors[i]))
            ax.text(*labels[i], f"$\\mathcal{{F}}_{i + 1}$", color=colors[i], fontsize=12, ha="center", va="center")
            # the member of the class closest to f* (sampled on the boundary), joined to f* by a dotted line
            theta = np.linspace(0, 2 * np.pi, 721)
            a = np.deg2rad(angle)
            px = cx + w / 2 * np.cos(theta) * np.cos(a) - h / 2 * np.sin(theta) * np.sin(a)
            py = cy + w / 2 * np.cos(theta) * np.sin(a) + h / 2 * np.sin(theta) * np.cos(a)
            k = int(np.argmin(np.hypot(px - target[0], py - target[1])))
            ax.plot([px[k], target[0]], [py[k], target[1]], ls=":", color=colors[i], lw=1.2)
            ax.plot(px[k], py[k], "o", color=colors[i], markersize=4)
        ax.plot(*target, marker="*", markersize=15, color="black", zorder=5)
        ax.annotate("$f^*$", target, xytext=(7, 2), textcoords="offset points", fontsize=12)

    # non-nested: three classes of growing size in different places; the biggest is farthest from f*
    draw(axes[0], [((0.9, 0.9), 1.2, 0.9, 10), ((1.2, 1.8), 1.8, 1.0, -25), ((0.6, 0.0), 2.6, 1.4, 20)],
         [(0.9, 0.9), (1.2, 1.8), (0.3, -0.2)])
    axes[0].set_title("non-nested classes", fontsize=10)
    # nested: each class contains the previous one; each is at least as close to f* as the last
    draw(axes[1], [((0.8, 0.6), 1.0, 0.8, 0), ((1.05, 0.8), 1.8, 1.45, 0), ((1.3, 1.0), 2.6, 2.1, 0)],
         [(0.8, 0.6), (1.05, 1.2), (0.55, 1.75)])
    axes[1].set_title("nested classes $\\mathcal{F}_1 \\subseteq \\mathcal{F}_2 \\subseteq \\mathcal{F}_3$",
                      fontsize=10)

    for ax in axes:
        ax.set_xlim(-0.9, 3.1)
        ax.set_ylim(-0.9, 2.5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Bigger function classes help only if they contain the smaller ones", fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- gradient norms


def plot_gradient_norms(
    profiles: Mapping[tuple[str, int], Sequence[tuple[str, float]]],
    *,
    kinds: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Per-layer ‖∂L/∂W‖ at initialisation, one panel per network kind, one line per depth.

    ``profiles`` maps ``(kind, depth)`` to :func:`analysis.gradient_norms` output. The x
    axis counts convolutions from the input (layer 1) to the output; the y axes are
    logarithmic and shared, so the panels can be compared directly.
    """
    kinds = list(kinds or dict.fromkeys(kind for kind, _ in profiles))
    depths = sorted({depth for _, depth in profiles})
    colors = _depth_colors(depths)
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.6 * len(kinds), 3.5), sharey=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for depth in depths:
            if (kind, depth) not in profiles:
                continue
            norms = [norm for _, norm in profiles[(kind, depth)]]
            ax.plot(np.arange(1, len(norms) + 1), norms, color=colors[depth], lw=1.4, label=f"{depth} layers")
        ax.set_yscale("log")
        ax.set_title(KIND_LABELS.get(kind, kind), fontsize=10)
        ax.set_xlabel("conv layer (input → output)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("‖∂L/∂W‖ at initialisation")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_gradient_profile(norms: Sequence[tuple[str, float]], *, title: str = "", color: str = "tab:blue") -> Figure:
    """One network's per-layer gradient norms (the gradient explorer's figure), stages shaded."""
    values = [norm for _, norm in norms]
    names = [name for name, _ in norms]
    x = np.arange(1, len(values) + 1)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(x, values, marker="o", markersize=2.5, lw=1.2, color=color)
    stages = list(dict.fromkeys(name.split(".")[0] for name in names if name.startswith("layer")))
    if len(stages) >= 3:  # shade the middle stage so the stage transitions are visible
        middle = stages[len(stages) // 2]
        inside = [i for i, name in enumerate(names, start=1) if name.split(".")[0] == middle]
        ax.axvspan(min(inside) - 0.5, max(inside) + 0.5, color="0.92", zorder=0)
    ax.set_yscale("log")
    ax.set_xlabel("conv layer (input → output); shaded: the middle stage")
    ax.set_ylabel("‖∂L/∂W‖")
    ax.set_title(title or "Gradient norm per layer at initialisation")
    ax.grid(True, which="major", alpha=0.3)
    ratio = values[0] / values[-1] if values[-1] > 0 else float("inf")
    ax.text(0.99, 0.96, f"first / last layer: {ratio:.3g}", transform=ax.transAxes, ha="right", va="top", fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- gradient shattering


def plot_shattering(results: Mapping[tuple[str, int], Shattering], *, show_depth: int | None = None) -> Figure:
    """Balduzzi et al. 2017 in two panels.

    Left: the directional input gradient d f(x(t))/dt along the line for the deepest plain
    and residual networks (each scaled to unit standard deviation and offset): noise-like
    for a shattered network, smoother for a residual one. Right: the mean correlation
    (cosine similarity) of the full input gradients at neighbouring points, against depth.
    """
    kinds = list(dict.fromkeys(kind for kind, _ in results))
    depths = sorted({depth for _, depth in results})
    show_depth = show_depth or depths[-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.5), gridspec_kw={"width_ratios": [1.4, 1]})
    for offset, kind in enumerate(kinds):
        if (kind, show_depth) not in results:
            continue
        r = results[(kind, show_depth)]
        g = r.directional.double().numpy()
        g = (g - g.mean()) / (g.std() or 1.0)
        left.plot(r.t.numpy(), g - 5.0 * offset, lw=0.9, color=KIND_COLORS.get(kind),
                  label=f"{KIND_LABELS.get(kind, kind)}-{show_depth}")
    left.set_xlabel("position t on the line x(t) = (1−t)·a + t·b")
    left.set_ylabel("d f(x(t)) / dt (scaled, offset)")
    left.set_yticks([])
    left.set_title(f"input gradient along a line, {show_depth} layers", fontsize=10)
    left.legend(fontsize=8, loc="upper right")
    for kind in kinds:
        ds = [d for d in depths if (kind, d) in results]
        right.plot(ds, [results[(kind, d)].neighbour_correlation for d in ds], marker="o",
                   color=KIND_COLORS.get(kind), label=KIND_LABELS.get(kind, kind))
    right.axhline(0.0, color="0.5", lw=0.8)
    right.set_ylim(-0.1, 1.05)
    right.set_xticks(depths)
    right.set_xlabel("depth (layers)")
    right.set_ylabel("correlation of neighbours' gradients")
    right.set_title("gradient shattering", fontsize=10)
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- chapter 1: degradation


def error_curves(history: object) -> tuple[list[float], list[float]]:
    """Training and test accuracy per epoch from a History or its dict."""
    data = history if isinstance(history, Mapping) else history.to_dict()  # type: ignore[attr-defined]
    return list(data["train_acc"]), list(data["val_acc"])


def plot_error_curves(histories: Mapping[str, object], *, title: str = "") -> Figure:
    """Training error (left) and test error (right) per epoch, one line per network (He et al. 2015, Fig. 1)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, max(len(histories), 2)))
    for color, (name, history) in zip(colors, histories.items()):
        train_acc, test_acc = error_curves(history)
        epochs = np.arange(1, len(train_acc) + 1)
        left.plot(epochs, [100 * (1 - a) for a in train_acc], "-o", color=color, label=name, ms=3)
        right.plot(epochs, [100 * (1 - a) for a in test_acc], "--o", color=color, label=name, ms=3)
    for ax, what in ((left, "training error (%)"), (right, "test error (%)")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs, even for a 2-epoch run
        ax.set_title(what)
        ax.grid(alpha=0.3)
    left.set_ylabel("error (%)")
    left.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_zoo_degradation(zoo: Mapping[str, Mapping[str, Any]], *, depths: Sequence[int] | None = None) -> Figure:
    """He et al. 2015, Fig. 6 from the zoo's results: plain nets (left), ResNets (right).

    ``zoo`` maps a network's name (``plain20`` …) to its result file (:func:`~resnet_course.
    experiments.zoo.load_zoo`). As in the paper, thin dashed lines are the training error (the
    running error on the augmented batches of each epoch) and bold lines the test error; the
    marker at the end is the final error on the un-augmented training images in eval mode.
    ``depths`` limits the networks shown (default: all in ``zoo``).
    """
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4), sharey=True)
    for ax, family in zip(axes, ("plain", "resnet")):
        names = sorted((n for n in zoo if n.startswith(family) and n[len(family):].isdigit()
                        and (depths is None or int(n[len(family):]) in depths)), key=lambda n: int(n[len(family):]))
        colors = _depth_colors([int(n[len(family):]) for n in names])
        for name in names:
            color = colors[int(name[len(family):])]
            history, final = zoo[name]["history"], zoo[name].get("final", {})
            epochs = np.arange(1, len(history["train_acc"]) + 1)
            ax.plot(epochs, [100 * (1 - a) for a in history["train_acc"]], "--", lw=1, color=color)
            ax.plot(epochs, [100 * (1 - a) for a in history["val_acc"]], "-", lw=2, color=color,
                    label=network_label(name))
            if "train_error_eval" in final:
                ax.plot(epochs[-1], 100 * final["train_error_eval"], "o", ms=4, color=color)
        ax.set_title("plain networks" if family == "plain" else "residual networks (ResNets)")
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 30)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if names:
            ax.legend(fontsize=8, title="bold: test, dashed: training", title_fontsize=7)
    axes[0].set_ylabel("error (%)")
    fig.tight_layout()
    return fig


#: The two families in one axes: plain networks red, ResNets blue (as chapter 7's lesion and landscape figures).
_FAMILY_COLORS = {"plain": "tab:red", "resnet": "tab:blue"}


def plot_zoo_shortcuts(zoo: Mapping[str, Mapping[str, Any]], depth: int = 20) -> Figure:
    """Plain-``depth`` against ResNet-``depth`` from the zoo in one axes: the same layers, with and without shortcuts.

    The lines and the marker mean what they mean in :func:`plot_zoo_degradation` (bold: test
    error, dashed: running training error, dot: final training error in eval mode); the
    colour is the family, as in He et al. 2015, Fig. 4 (plain red, ResNet blue).
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for family in ("plain", "resnet"):
        name = f"{family}{depth}"
        if name not in zoo:
            continue
        color = _FAMILY_COLORS[family]
        history, final = zoo[name]["history"], zoo[name].get("final", {})
        epochs = np.arange(1, len(history["train_acc"]) + 1)
        ax.plot(epochs, [100 * (1 - a) for a in history["train_acc"]], "--", lw=1, color=color,
                label=f"{network_label(name)}, training")
        ax.plot(epochs, [100 * (1 - a) for a in history["val_acc"]], "-", lw=2, color=color,
                label=f"{network_label(name)}, test")
        if "train_error_eval" in final:
            ax.plot(epochs[-1], 100 * final["train_error_eval"], "o", ms=5, color=color)
    ax.set_title(f"{depth} layers, without and with shortcuts")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.set_ylim(0, 30)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig
