"""Matplotlib figures of the book. Every function draws one figure and returns it.

The notebooks call ``plt.show()`` after each; the widgets render the same figures to PNG.
Chapter 2 (residual learning) uses all of those below; data come from
:mod:`resnet_course.analysis`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from matplotlib.ticker import MaxNLocator

from resnet_course.analysis import Shattering

KIND_LABELS: dict[str, str] = {"plain": "plain", "residual": "residual (ResNet)",
                               "preact": "pre-activation ResNet"}
KIND_COLORS: dict[str, str] = {"plain": "tab:red", "residual": "tab:blue", "preact": "tab:green",
                               "residual_zero": "tab:purple"}
IDENTITY_LABELS: dict[str, str] = {"plain": "plain stack (must fit the identity)",
                                   "residual": "residual blocks (drive F to 0)",
                                   "residual_zero": "residual blocks, F zeroed at the start"}


def _depth_colors(depths: Sequence[int]) -> dict[int, tuple[float, float, float, float]]:
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


def _curves(history: object) -> tuple[list[float], list[float]]:
    """Training and test accuracy per epoch from a History or its dict."""
    data = history if isinstance(history, Mapping) else history.to_dict()  # type: ignore[attr-defined]
    return list(data["train_acc"]), list(data["val_acc"])


def plot_error_curves(histories: Mapping[str, object], *, title: str = "") -> Figure:
    """Training error (left) and test error (right) per epoch, one line per network (He et al. 2015, Fig. 1)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, max(len(histories), 2)))
    for color, (name, history) in zip(colors, histories.items()):
        train_acc, test_acc = _curves(history)
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


def plot_reference_degradation(result: Mapping[str, object]) -> Figure:
    """The degradation experiment of ``results/degradation.json``: plain nets (left), residual nets (right).

    Solid lines are training error, dashed lines test error, as in He et al. 2015, Fig. 1 and Fig. 6.
    """
    runs: Mapping[str, Mapping[str, Sequence[float]]] = result["runs"]  # type: ignore[assignment]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    for ax, family in zip(axes, ("plain", "resnet")):
        names = sorted((n for n in runs if n.startswith(family)), key=lambda n: int(n[len(family):]))
        colors = plt.get_cmap("viridis")(np.linspace(0, 0.7, max(len(names), 2)))
        for color, name in zip(colors, names):
            train_acc, test_acc = _curves(runs[name])
            epochs = np.arange(1, len(train_acc) + 1)
            label = f"{family}-{name[len(family):]}"
            ax.plot(epochs, [100 * (1 - a) for a in train_acc], "-", color=color, label=f"{label} train")
            ax.plot(epochs, [100 * (1 - a) for a in test_acc], "--", color=color, label=f"{label} test")
        ax.set_title("plain networks" if family == "plain" else "residual networks")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("error (%)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- chapter 7: why ResNets work

NETWORK_COLORS: dict[str, str] = {"resnet20": "tab:blue", "plain20": "tab:red"}


def _network_label(arch: str) -> str:
    """``resnet20`` → ``ResNet-20``, ``plain20`` → ``plain-20``."""
    for prefix, label in (("resnet", "ResNet-"), ("plain", "plain-")):
        if arch.startswith(prefix) and arch[len(prefix):].isdigit():
            return label + arch[len(prefix):]
    return arch


def _runs(result: Mapping[str, object]) -> Mapping[str, Mapping[str, object]]:
    """The per-network entries of a result file, or the mapping itself if it already is one."""
    return result["runs"] if "runs" in result else result  # type: ignore[return-value]


def plot_lesion(result: Mapping[str, object], *, chance: float = 0.1) -> Figure:
    """Test accuracy with one block deleted, per block, for each network (Veit et al. 2016, Fig. 3).

    ``result`` is ``results/lesion.json`` (or its ``runs``): per network a ``baseline``
    accuracy, the deletable ``blocks`` and the accuracy with each one deleted (``single``).
    Dashed lines: each network intact; dotted grey: chance.
    """
    runs = _runs(result)
    archs = list(runs)
    blocks = list(runs[archs[0]]["blocks"])  # type: ignore[index]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / max(len(archs), 1)
    x = np.arange(len(blocks))
    for i, arch in enumerate(archs):
        run = runs[arch]
        color = NETWORK_COLORS.get(arch, f"C{i}")
        accs = [100 * run["single"][b] for b in blocks]  # type: ignore[index]
        ax.bar(x + (i - (len(archs) - 1) / 2) * width, accs, width, color=color, alpha=0.8,
               label=f"{_network_label(arch)}, block deleted")
        ax.axhline(100 * run["baseline"], color=color, ls="--", lw=1.2,  # type: ignore[index]
                   label=f"{_network_label(arch)} intact")
    ax.axhline(100 * chance, color="grey", ls=":", lw=1.2, label="chance")
    ax.set_xticks(x, blocks)
    ax.set_xlabel("deleted block")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Deleting one block at a time")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def lesion_curve(run: Mapping[str, object]) -> tuple[list[int], list[float], list[float], list[float]]:
    """Number of deleted blocks k, and the mean, lowest and highest accuracy over the deletions of k blocks.

    k = 0 is the intact network, k = 1 every single deletion, k ≥ 2 the random draws of
    ``multiple`` (Veit et al. 2016, Fig. 5(a)).
    """
    by_k: dict[int, list[float]] = {0: [float(run["baseline"])],  # type: ignore[arg-type]
                                    1: [float(a) for a in run["single"].values()]}  # type: ignore[union-attr]
    by_k.update({int(k): [float(a) for a in accs] for k, accs in run["multiple"].items()})  # type: ignore[union-attr]
    ks = sorted(by_k)
    return ks, [float(np.mean(by_k[k])) for k in ks], [min(by_k[k]) for k in ks], [max(by_k[k]) for k in ks]


def plot_lesion_multiple(result: Mapping[str, object], *, chance: float = 0.1) -> Figure:
    """Test accuracy against the number of deleted blocks: mean and range of the draws (Veit et al. 2016, Fig. 5)."""
    runs = _runs(result)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for i, (arch, run) in enumerate(runs.items()):
        color = NETWORK_COLORS.get(arch, f"C{i}")
        ks, mean, low, high = lesion_curve(run)
        ax.plot(ks, [100 * a for a in mean], "-o", color=color, ms=4, label=f"{_network_label(arch)} (mean)")
        ax.fill_between(ks, [100 * a for a in low], [100 * a for a in high], color=color, alpha=0.2,
                        label=f"{_network_label(arch)} (lowest–highest)")
    ax.axhline(100 * chance, color="grey", ls=":", lw=1.2, label="chance")
    ax.set_xlabel("number of blocks deleted")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Deleting several blocks")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_path_lengths(distributions: Mapping[str, Sequence[float]], *, share: float = 0.95,
                      xlabel: str = "path length k (residual branches on the path)") -> Figure:
    """Share of paths (or of a gradient model) per path length, one line per network, shortest ``share`` range shaded."""
    from resnet_course.lesion import central_lengths

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i, (name, dist) in enumerate(distributions.items()):
        total = float(sum(dist))
        shares = [100 * d / total for d in dist]
        lo, hi = central_lengths(dist, share)
        line, = ax.plot(range(len(dist)), shares, "-o", ms=2.5, color=f"C{i}",
                        label=f"{name}: {share:.0%} within {lo}–{hi}")
        ax.fill_between(range(lo, hi + 1), shares[lo:hi + 1], color=line.get_color(), alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _slices(result: Mapping[str, object], key: str) -> dict[str, Mapping[str, object]]:
    runs = _runs(result)
    return {arch: (run[key] if key in run else run) for arch, run in runs.items()}  # type: ignore[index,operator]


def plot_landscape_1d(result: Mapping[str, object], *, title: str = "") -> Figure:
    """Loss (log scale, left) and accuracy (right) along a filter-normalised direction (Li et al. 2018, §3-4).

    ``result`` is ``results/landscape.json`` (its ``"1d"`` slices are used), or a mapping
    ``{network: {"alpha", "loss", "accuracy"}}`` such as the live slices of the chapter.
    """
    slices = _slices(result, "1d")
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    for i, (arch, s) in enumerate(slices.items()):
        color = NETWORK_COLORS.get(arch, f"C{i}")
        left.plot(s["alpha"], s["loss"], "-o", color=color, ms=3, label=_network_label(arch))
        right.plot(s["alpha"], [100 * a for a in s["accuracy"]], "-o", color=color, ms=3,  # type: ignore[union-attr]
                   label=_network_label(arch))
    left.set_yscale("log")
    left.set_ylabel("training loss (log scale)")
    right.set_ylabel("training accuracy (%)")
    right.set_ylim(0, 100)
    for ax in (left, right):
        ax.axvline(0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("α (step along the direction δ)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_landscape_2d(result: Mapping[str, object], *, levels: int = 20) -> Figure:
    """Contour plots of the loss on the plane of two filter-normalised directions, side by side (Li et al. 2018, Fig. 5).

    The contour levels are spaced logarithmically from the smallest to the largest loss over
    all panels, and shared between them: a plain network's loss can grow by orders of
    magnitude away from the minimum, and linear levels would crowd into one corner.
    """
    slices = _slices(result, "2d")
    losses = {arch: np.asarray(s["loss"], dtype=float) for arch, s in slices.items()}
    finite = np.concatenate([v[np.isfinite(v)].ravel() for v in losses.values()])
    low, high = max(float(finite.min()), 1e-6), float(finite.max())
    bounds = np.geomspace(low, high * (1 + 1e-9) if high > low else low * 10, levels)
    fig, axes = plt.subplots(1, len(slices), figsize=(4.2 * len(slices) + 1.0, 3.8), squeeze=False,
                             layout="constrained")
    for ax, (arch, s) in zip(axes[0], slices.items()):
        alpha, beta = np.asarray(s["alpha"]), np.asarray(s["beta"])
        z = np.clip(losses[arch], low, high)
        ax.contourf(alpha, beta, z, levels=bounds, norm=LogNorm(low, high), cmap="viridis_r")
        ax.contour(alpha, beta, z, levels=bounds, colors="k", linewidths=0.3, norm=LogNorm(low, high))
        ax.plot([0], [0], "w*", ms=10, mec="k")
        ax.set_title(_network_label(arch))
        ax.set_xlabel("α (direction δ)")
        ax.set_aspect("equal")
    axes[0][0].set_ylabel("β (direction η)")
    mappable = plt.cm.ScalarMappable(norm=LogNorm(low, high), cmap="viridis_r")
    bar = fig.colorbar(mappable, ax=axes[0].tolist(), shrink=0.9)
    bar.set_label("training loss (log scale)")
    return fig


# --------------------------------------------------------------------------- chapter 5: training on CIFAR-10


def _as_hwc(image: object) -> np.ndarray:
    """One image (3×H×W, uint8 or float in [0, 1]) as an H×W×3 array imshow can draw."""
    array = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)  # type: ignore[union-attr]
    array = np.transpose(array, (1, 2, 0))
    return array if array.dtype == np.uint8 else np.clip(array, 0.0, 1.0)


def plot_augmentation(rows: Mapping[str, object], labels: Sequence[int], classes: Sequence[str]) -> Figure:
    """The same images in several versions, one row per version (He et al. 2015 §4.2's augmentation).

    ``rows`` maps a row title ("original", "epoch 1" …) to a batch of images, ``uint8``
    or float in [0, 1], shaped B×3×H×W; image ``b`` of every row is the same picture,
    titled with ``classes[labels[b]]`` in the first row.
    """
    batches = list(rows.items())
    n = len(labels)
    fig, axes = plt.subplots(len(batches), n, figsize=(1.25 * n, 1.35 * len(batches) + 0.2), squeeze=False)
    for r, (title, images) in enumerate(batches):
        for b in range(n):
            ax = axes[r, b]
            ax.imshow(_as_hwc(images[b]), interpolation="nearest")  # type: ignore[index]
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(classes[int(labels[b])], fontsize=8)
        axes[r, 0].set_ylabel(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_lr_schedules(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                      xlabel: str = "epoch") -> Figure:
    """Learning rate against training progress, one line per recipe; linear (left) and log (right) scale.

    ``curves`` maps a label to ``(x, lr)``; the log scale shows the paper's second division
    (He et al. 2015 §4.2: 0.1 → 0.01 → 0.001), which the linear one hides.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, scale in zip(axes, ("linear", "log")):
        for label, (x, lr) in curves.items():
            ax.plot(x, lr, label=label, lw=1.6)
        ax.set_yscale(scale)
        ax.set_xlabel(xlabel)
        ax.set_title(f"learning rate ({scale} scale)")
        ax.grid(alpha=0.3, which="both" if scale == "log" else "major")
    axes[0].set_ylabel("learning rate")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: object, classes: Sequence[str], *, title: str = "") -> Figure:
    """A confusion matrix (row = true class, column = predicted class) as a heat map.

    Colours show each row as fractions of that class's images (so every class is on the
    same scale however many images it has); the numbers in the cells are the counts.
    """
    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(0.55 * k + 2.2, 0.5 * k + 1.2))
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    fig.tight_layout()
    return fig


def confident_mistakes(labels: object, preds: object, probs: object, n: int = 12) -> list[int]:
    """Indices of the (at most ``n``) wrong predictions made with the highest confidence, most confident first.

    ``probs`` is either N×K class probabilities (the confidence is that of the predicted
    class) or the N confidences themselves.
    """
    labels_a, preds_a = np.asarray(labels).ravel(), np.asarray(preds).ravel()
    probs_a = np.asarray(probs, dtype=float)
    confidence = probs_a[np.arange(len(preds_a)), preds_a] if probs_a.ndim == 2 else probs_a.ravel()
    wrong = np.flatnonzero(labels_a != preds_a)
    order = np.argsort(-confidence[wrong], kind="stable")
    return [int(i) for i in wrong[order][:n]]


def plot_confident_mistakes(images: object, labels: object, preds: object, probs: object,
                            classes: Sequence[str], *, n: int = 12, ncols: int = 6) -> Figure:
    """The ``n`` test images the network got wrong with the highest confidence.

    ``images`` are the N×3×H×W test images (``uint8`` or floats in [0, 1]), ``labels`` the
    true classes, ``preds`` the predicted ones and ``probs`` N×K probabilities (or the N
    confidences). Each image is titled "true → predicted" and the confidence.
    """
    chosen = confident_mistakes(labels, preds, probs, n)
    probs_a = np.asarray(probs, dtype=float)
    labels_a, preds_a = np.asarray(labels).ravel(), np.asarray(preds).ravel()
    nrows = max(1, -(-len(chosen) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.7 * ncols, 1.95 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, i in zip(axes.ravel(), chosen):
        confidence = probs_a[i, preds_a[i]] if probs_a.ndim == 2 else probs_a.ravel()[i]
        ax.imshow(_as_hwc(images[i]), interpolation="nearest")  # type: ignore[index]
        ax.set_title(f"{classes[labels_a[i]]} → {classes[preds_a[i]]}\n{confidence:.0%}", fontsize=8)
    if not chosen:
        axes[0, 0].text(0.5, 0.5, "no mistakes", ha="center", va="center", transform=axes[0, 0].transAxes)
    fig.tight_layout()
    return fig


def plot_time_to_accuracy(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
                          target: float | None = None, target_label: str = "") -> Figure:
    """Test accuracy (%) against cumulative training time (s), one line per run.

    ``curves`` maps a label to ``(seconds, accuracy)`` with accuracies as fractions, one
    point per epoch; ``target`` (a fraction) draws a dashed horizontal line.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for label, (seconds, accuracy) in curves.items():
        ax.plot(seconds, [100 * a for a in accuracy], "-o", ms=3, label=label)
    if target is not None:
        ax.axhline(100 * target, color="gray", ls="--", lw=1, label=target_label or f"{target:.2%}")
    ax.set_xlabel("cumulative training time (s, evaluation included)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- chapter 6: transfer learning

STRATEGY_LABELS: dict[str, str] = {"scratch": "from scratch", "finetune": "fine-tuned",
                                   "features": "frozen features + new head"}
STRATEGY_COLORS: dict[str, str] = {"scratch": "tab:gray", "finetune": "tab:blue", "features": "tab:orange"}


def plot_transfer_curves(runs: Mapping[str, object], *, title: str = "") -> Figure:
    """Training (solid) and test (dashed) accuracy per epoch, one panel per strategy, shared y axis.

    ``runs`` maps a strategy (``scratch``, ``finetune``, ``features``) to a History or its
    dict; the shaded band between the two curves is the generalisation gap.
    """
    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs) + 0.4, 3.2), sharey=True, squeeze=False)
    for ax, (strategy, history) in zip(axes[0], runs.items()):
        train_acc, test_acc = _curves(history)
        epochs = np.arange(1, len(train_acc) + 1)
        color = STRATEGY_COLORS.get(strategy, "tab:green")
        train_pct, test_pct = [100 * a for a in train_acc], [100 * a for a in test_acc]
        ax.plot(epochs, train_pct, "-o", ms=2.5, color=color, label="training")
        ax.plot(epochs, test_pct, "--o", ms=2.5, color=color, mfc="white", label="test")
        ax.fill_between(epochs, train_pct, test_pct, color=color, alpha=0.12)
        ax.set_title(STRATEGY_LABELS.get(strategy, strategy), fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0, 0].set_ylabel("accuracy (%)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_per_class_accuracy(per_class: Mapping[str, Sequence[float]], classes: Sequence[str], *,
                            title: str = "") -> Figure:
    """Grouped bars: the accuracy (recall) of every class, one bar per strategy."""
    k, n = len(classes), len(per_class)
    width = 0.8 / max(n, 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * k + 1.5), 3.2))
    for i, (strategy, values) in enumerate(per_class.items()):
        x = np.arange(k) + (i - (n - 1) / 2) * width
        ax.bar(x, [100 * v for v in values], width, color=STRATEGY_COLORS.get(strategy, None),
               label=STRATEGY_LABELS.get(strategy, strategy))
    ax.set_xticks(range(k), classes)
    ax.set_ylim(0, 100)
    ax.set_ylabel("test accuracy of the class (%)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_hand_crops(split: str = "train", photo: int = 0, *, root: object = None, margin: float = 0.15) -> Figure:
    """One HandsDataset photo with its labelled boxes (dashed) and the square crops made from them (solid).

    ``photo`` counts the photos of ``split`` that show two hands; the crops are those of
    :func:`resnet_course.data.hand_crop_box`, the box's longer side grown by ``margin`` on
    each side and made square.
    """
    from matplotlib.patches import Rectangle
    from PIL import Image

    from resnet_course.data import _read_hands_csv, data_root, hand_crop_box

    folder = data_root(root) / "hands"  # type: ignore[arg-type]
    by_photo: dict[str, list[dict]] = {}
    for row in _read_hands_csv(folder / "data" / f"{split}_labels.csv"):
        by_photo.setdefault(row["filename"], []).append(row)
    name, rows = [(n, r) for n, r in by_photo.items() if len(r) == 2][photo]
    with Image.open(folder / "images" / name) as image:
        image = image.convert("RGB")
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.imshow(image)
    for row, color in zip(rows, ("tab:orange", "tab:cyan")):
        sx, sy = image.width / row["width"], image.height / row["height"]
        x0, y0 = row["xmin"] * sx, row["ymin"] * sy
        ax.add_patch(Rectangle((x0, y0), (row["xmax"] - row["xmin"]) * sx, (row["ymax"] - row["ymin"]) * sy,
                               fill=False, ls="--", lw=1.5, color=color))
        left, top, right, bottom = hand_crop_box(row, image.size, margin)
        ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, lw=2, color=color))
        ax.text(left, top - 4, row["class"], color=color, fontsize=9, va="bottom", fontweight="bold")
    ax.set_title(f"{name}: labelled boxes (dashed), square crops (solid)", fontsize=9)
    ax.set_axis_off()
    fig.tight_layout()
    return fig
