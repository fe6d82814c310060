"""Chapter 7's figures: the lesion study, path lengths, loss landscapes.

- :func:`plot_lesion` and :func:`plot_lesion_multiple` — test accuracy with one block, or k
  blocks, deleted (Veit et al. 2016, Fig. 3 and Fig. 5);
- :func:`plot_path_lengths` — the distribution of path lengths in the unraveled view (Veit et
  al. 2016, Fig. 6);
- :func:`plot_landscape_1d` and :func:`plot_landscape_2d` — filter-normalised loss slices (Li et
  al. 2018, Fig. 5 and 6).

Each draws what :mod:`resnet_course.lessons.lesion` or :mod:`resnet_course.lessons.landscape`
computed (or the stored results the experiments wrote).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from resnet_course.lessons.labels import network_label

__all__ = [
    "NETWORK_COLORS",
    "lesion_curve",
    "plot_landscape_1d",
    "plot_landscape_2d",
    "plot_lesion",
    "plot_lesion_multiple",
    "plot_path_lengths"
]


# --------------------------------------------------------------------------- chapter 7: why ResNets work

NETWORK_COLORS: dict[str, str] = {"resnet20": "tab:blue", "plain20": "tab:red"}


def _runs(result: Mapping[str, object]) -> Mapping[str, Mapping[str, object]]:
    """The per-network entries of a result file, or the mapping itself if it already is one."""
    return result.get("runs", result)  # type: ignore[return-value]


def plot_lesion(result: Mapping[str, object], *, chance: float = 0.1) -> Figure:
    """Test accuracy with one block deleted, per block, for each network (Veit et al. 2016, Fig. 3).

    ``result`` is ``results/lesion.json`` (or its ``runs``): per network a ``baseline``
    accuracy, the deletable ``blocks`` and the accuracy with each one deleted (``single``).
    Dashed lines: each network intact; dotted grey: chance.
    """
    runs = _runs(result)
    archs = list(runs)
    blocks = list(runs[archs[0]]["blocks"])  # type: ignore[index]
    many = len(blocks) > 10  # a 56-layer network has 25 deletable blocks: wider, labels upright
    fig, ax = plt.subplots(figsize=(10, 3.8) if many else (8, 3.4))
    width = 0.8 / max(len(archs), 1)
    x = np.arange(len(blocks))
    for i, arch in enumerate(archs):
        run = runs[arch]
        color = NETWORK_COLORS.get(arch, f"C{i}")
        accs = [100 * run["single"][b] for b in blocks]  # type: ignore[index]
        ax.bar(x + (i - (len(archs) - 1) / 2) * width, accs, width, color=color, alpha=0.8,
               label=f"{network_label(arch)}, block deleted")
        ax.axhline(100 * run["baseline"], color=color, ls="--", lw=1.2,  # type: ignore[index]
                   label=f"{network_label(arch)} intact")
    ax.axhline(100 * chance, color="grey", ls=":", lw=1.2, label="chance")
    ax.set_xticks(x, blocks, rotation=90 if many else 0, fontsize=8 if many else None)
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
        ax.plot(ks, [100 * a for a in mean], "-o", color=color, ms=4, label=f"{network_label(arch)} (mean)")
        ax.fill_between(ks, [100 * a for a in low], [100 * a for a in high], color=color, alpha=0.2,
                        label=f"{network_label(arch)} (lowest–highest)")
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
    """Share of paths (or of a gradient model) per path length, one line per network, shortest ``share``
    range shaded."""
    from resnet_course.lessons.lesion import central_lengths

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
    """Each network's ``key`` slice ("1d" or "2d") of a landscape result, or the run itself if it is one."""
    runs = _runs(result)
    return {arch: run.get(key, run) for arch, run in runs.items()}  # type: ignore[index,operator]


def plot_landscape_1d(result: Mapping[str, object], *, title: str = "") -> Figure:
    """Loss (log scale, left) and accuracy (right) along a filter-normalised direction (Li et al. 2018, §3-4).

    ``result`` is ``results/landscape.json`` (its ``"1d"`` slices are used), or a mapping
    ``{network: {"alpha", "loss", "accuracy"}}`` such as the live slices of the chapter.
    """
    slices = _slices(result, "1d")
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    for i, (arch, s) in enumerate(slices.items()):
        color = NETWORK_COLORS.get(arch, f"C{i}")
        left.plot(s["alpha"], s["loss"], "-o", color=color, ms=3, label=network_label(arch))
        right.plot(s["alpha"], [100 * a for a in s["accuracy"]], "-o", color=color, ms=3,  # type: ignore[union-attr]
                   label=network_label(arch))
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
    """Contour plots of the loss on the plane of two filter-normalised directions, side by side
    (Li et al. 2018, Fig. 5); more than two networks go two to a row, in the result's order.

    The contour levels are spaced logarithmically from the smallest to the largest loss over
    all panels, and shared between them: a plain network's loss can grow by orders of
    magnitude away from the minimum, and linear levels would crowd into one corner.
    """
    slices = _slices(result, "2d")
    losses = {arch: np.asarray(s["loss"], dtype=float) for arch, s in slices.items()}
    finite = np.concatenate([v[np.isfinite(v)].ravel() for v in losses.values()])
    low, high = max(float(finite.min()), 1e-6), float(finite.max())
    bounds = np.geomspace(low, high * (1 + 1e-9) if high > low else low * 10, levels)
    count = len(slices)
    columns = 2 if count > 2 else count  # more than one pair: a pair per row (ResNet left, its plain twin right)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns + 1.0, 3.8 * rows), squeeze=False,
                             layout="constrained")
    panels = axes.ravel()
    for ax in panels[count:]:
        ax.set_visible(False)
    for ax, (arch, s) in zip(panels, slices.items()):
        alpha, beta = np.asarray(s["alpha"]), np.asarray(s["beta"])
        z = np.clip(losses[arch], low, high)
        ax.contourf(alpha, beta, z, levels=bounds, norm=LogNorm(low, high), cmap="viridis_r")
        ax.contour(alpha, beta, z, levels=bounds, colors="k", linewidths=0.3, norm=LogNorm(low, high))
        ax.plot([0], [0], "w*", ms=10, mec="k")
        ax.set_title(network_label(arch))
        ax.set_xlabel("α (direction δ)")
        ax.set_aspect("equal")
    for row in axes:
        row[0].set_ylabel("β (direction η)")
    mappable = plt.cm.ScalarMappable(norm=LogNorm(low, high), cmap="viridis_r")
    bar = fig.colorbar(mappable, ax=panels[:count].tolist(), shrink=0.9)
    bar.set_label("training loss (log scale)")
    return fig
