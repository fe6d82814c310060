"""The figures of chapter 6's learning curves: accuracy against training images, the leak, the nearest crops.

- :func:`plot_learning_curves` -- test accuracy against training images per class, mean ±
  standard deviation over seeds, log-scaled x axis, one line per strategy;
- :func:`plot_split_comparison` -- the same networks tested on the dataset's own split and
  on the session split, every seed shown;
- :func:`plot_crop_rows` -- rows of crops with a caption under each (a test crop and its
  nearest training crops).

The results are :func:`resnet_course.lessons.transfer.run_point` records, as
``results/gestures.json`` stores them under ``"points"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from resnet_course.lessons.plots.training import STRATEGY_COLORS, STRATEGY_LABELS

__all__ = ["curve_points", "plot_crop_rows", "plot_learning_curves", "plot_split_comparison"]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def curve_points(points: Sequence[Mapping[str, Any]], strategy: str, arch: str | None = None,
                 num_classes: int = 6) -> list[tuple[float, str, float, float, int]]:
    """``(x, label, mean, std, seeds)`` per size of one strategy, ordered by x.

    ``x`` is the images per class (for "all", the training images divided by the number of
    classes: the classes are not balanced there); ``label`` the size as written (``"5"``,
    ``"all"``); mean and sample standard deviation of the test accuracy over seeds.
    """
    by_size: dict[Any, list[Mapping[str, Any]]] = {}
    for p in points:
        if p["strategy"] == strategy and (arch is None or p["arch"] == arch):
            by_size.setdefault(p["per_class"], []).append(p)
    rows = []
    for per_class, group in by_size.items():
        x = float(per_class) if per_class is not None else group[0]["train_images"] / num_classes
        mean, std = _mean_std([float(p["test_accuracy"]) for p in group])
        rows.append((x, "all" if per_class is None else str(per_class), mean, std, len(group)))
    return sorted(rows)


def plot_learning_curves(points: Sequence[Mapping[str, Any]], *, strategies: Sequence[str] | None = None,
                         arch: str | None = None, num_classes: int = 6, baseline: float | None = None,
                         title: str = "", ax: plt.Axes | None = None) -> Figure:
    """Test accuracy (%) against training images per class: mean over seeds (line) ± one std (band and bars).

    The x axis is logarithmic, ticked at the sizes measured; "all" sits at the mean number
    of images per class of the whole training set. ``baseline`` (a fraction) draws a dotted
    line, e.g. the share of the most frequent class in the test set.
    """
    strategies = strategies or list(dict.fromkeys(p["strategy"] for p in points))
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.4, 4.0))
    ticks: dict[float, str] = {}
    for strategy in strategies:
        rows = curve_points(points, strategy, arch, num_classes)
        if not rows:
            continue
        x = np.array([r[0] for r in rows])
        mean, std = np.array([100 * r[2] for r in rows]), np.array([100 * r[3] for r in rows])
        color = STRATEGY_COLORS.get(strategy)
        seeds = sorted({r[4] for r in rows})
        label = f"{STRATEGY_LABELS.get(strategy, strategy)} ({'/'.join(map(str, seeds))} seeds)"
        ax.errorbar(x, mean, yerr=std, fmt="-o", ms=4, capsize=3, color=color, label=label)
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, lw=0)
        ticks.update({r[0]: (f"all\n(≈{r[0]:.0f})" if r[1] == "all" else r[1]) for r in rows})
    if baseline is not None:
        ax.axhline(100 * baseline, ls=":", color="black", lw=1, label=f"most frequent class ({100 * baseline:.1f} %)")
    ax.set_xscale("log")
    ax.set_xticks(list(ticks), list(ticks.values()))
    ax.minorticks_off()
    ax.set_xlabel("training images per class (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_split_comparison(runs: Mapping[str, Mapping[str, Sequence[float]]], *, title: str = "") -> Figure:
    """Bars of mean test accuracy (%) per strategy, one bar per split, every seed as a dot.

    ``runs`` maps a split's name (``"dataset's own split"``, ``"session split"``) to
    ``{strategy: [test accuracy per seed]}``.
    """
    splits = list(runs)
    strategies = list(dict.fromkeys(s for by in runs.values() for s in by))
    width = 0.8 / max(1, len(splits))
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    hatches = ["", "//", "xx", ".."]
    for i, split in enumerate(splits):
        for k, strategy in enumerate(strategies):
            values = [100 * v for v in runs[split].get(strategy, [])]
            if not values:
                continue
            x = k + (i - (len(splits) - 1) / 2) * width
            ax.bar(x, float(np.mean(values)), width, color=STRATEGY_COLORS.get(strategy), alpha=0.55 + 0.4 * (i == 0),
                   hatch=hatches[i % len(hatches)], edgecolor="black", lw=0.5, label=split if k == 0 else None)
            ax.plot([x] * len(values), values, "o", ms=3.5, color="black")
    ax.set_xticks(range(len(strategies)), [STRATEGY_LABELS.get(s, s) for s in strategies])
    ax.set_ylim(0, 115)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper center", ncol=len(splits), frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_crop_rows(rows: Mapping[str, tuple[Any, Sequence[str]]], *, title: str = "") -> Figure:
    """One row of crops per entry of ``rows``: ``{row title: (images B×3×H×W uint8, a caption per image)}``."""
    n = max(len(images) for images, _ in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.15 * n + 1.6, 1.45 * len(rows) + 0.3), squeeze=False)
    for r, (name, (images, captions)) in enumerate(rows.items()):
        for b in range(n):
            ax = axes[r, b]
            ax.set_xticks([])
            ax.set_yticks([])
            if b >= len(images):
                ax.set_axis_off()
                continue
            ax.imshow(np.transpose(np.asarray(images[b]), (1, 2, 0)), interpolation="nearest")
            ax.set_xlabel(captions[b], fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
