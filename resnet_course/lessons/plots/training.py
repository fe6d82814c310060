"""The figures of chapters 5 and 6: augmentation, schedules, confusion, time to accuracy, transfer.

- chapter 5 (training on CIFAR-10, He et al. 2015, §4.2): :func:`plot_augmentation`,
  :func:`plot_lr_schedules`, :func:`plot_confusion_matrix`, :func:`plot_confident_mistakes`,
  :func:`plot_time_to_accuracy`;
- chapter 6 (transfer learning on hand gestures): :func:`plot_transfer_curves`,
  :func:`plot_per_class_accuracy`, :func:`plot_hand_crops`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from resnet_course.lessons.labels import network_label
from resnet_course.lessons.plots.foundations import error_curves
from resnet_course.nn.registry import family_and_depth

__all__ = [
    "STRATEGY_COLORS",
    "STRATEGY_LABELS",
    "confident_mistakes",
    "plot_augmentation",
    "plot_confident_mistakes",
    "plot_confusion_matrix",
    "plot_hand_crops",
    "plot_lr_schedules",
    "plot_per_class_accuracy",
    "plot_time_to_accuracy",
    "plot_transfer_curves"
]


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
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.7 * ncols, 2.2 * nrows), squeeze=False)
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


def _family_and_depth(name: str) -> tuple[str, int | None]:
    """``("resnet", 56)`` for ``resnet56``, ``("plain", 20)`` for ``plain20``, ``(name, None)`` otherwise."""
    found = family_and_depth(name)
    return found if found is not None and found[0] in ("resnet", "plain") else (name, None)


# colours for curves that are not zoo networks (neither the ResNets' blues nor the plain nets' reds)
OTHER_RUN_COLORS = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "0.3")


def plot_time_to_accuracy(curves: Mapping[str, Sequence[float]], *, targets: Mapping[str, float] | None = None,
                          title: str = "", labels: Mapping[str, str] | None = None) -> Figure:
    """Test accuracy (%) after every epoch, one line per network; all epochs (left) and the last stretch (right).

    ``curves`` maps a network's name (``resnet20``, ``plain56`` …) to its test accuracy after
    each epoch, as fractions: ResNets are drawn in blues and solid, plain nets in reds and
    dashed, darker for deeper; any other key (another run) in a colour of its own, solid.
    ``targets`` maps a label to an accuracy (a fraction) drawn as a dotted horizontal line;
    ``labels`` replaces the legend's label of some curves (by default the book's name of the
    network). The x axis counts epochs, not seconds: an epoch that shared the machine with other
    work took longer without the network learning any less.
    """
    labels = dict(labels or {})
    targets = dict(targets or {})
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.5), gridspec_kw={"width_ratios": [1.25, 1]})
    depths = sorted({d for name in curves if (d := _family_and_depth(name)[1]) is not None})
    shade = {d: 0.5 + 0.45 * i / (len(depths) - 1) if len(depths) > 1 else 0.75 for i, d in enumerate(depths)}
    others = iter(OTHER_RUN_COLORS * (1 + len(curves) // len(OTHER_RUN_COLORS)))
    for name, accuracy in curves.items():
        family, depth = _family_and_depth(name)
        if family in ("resnet", "plain"):
            color = (plt.cm.Blues if family == "resnet" else plt.cm.Reds)(shade.get(depth, 0.75))
        else:  # a run that is not a zoo network: a colour of its own
            color = next(others)
        epochs = np.arange(1, len(accuracy) + 1)
        for ax in axes:
            ax.plot(epochs, [100 * a for a in accuracy], "-" if family != "plain" else "--", marker="o", ms=2.5,
                    lw=1.6, color=color, label=labels.get(name, network_label(name)))
    for ax in axes:
        for label, value in targets.items():
            ax.axhline(100 * value, color="0.35", ls=":", lw=1.1)
            if ax is axes[1]:
                ax.annotate(label, (0.0, 100 * value), xycoords=("axes fraction", "data"), xytext=(3, 2),
                            textcoords="offset points", ha="left", va="bottom", fontsize=8, color="0.25")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    everything = [100 * a for accuracy in curves.values() for a in accuracy] + [100 * v for v in targets.values()]
    if everything:
        low = min([100 * v for v in targets.values()] or [max(everything)]) - 8
        axes[1].set_ylim(max(low, min(everything)), max(everything) + 1.5)
        last = max(len(a) for a in curves.values()) if curves else 1
        axes[1].set_xlim(max(0.5, last * 0.4), last + 0.5)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_title("every epoch", fontsize=9)
    axes[1].set_title("the last stretch, enlarged", fontsize=9)
    axes[0].legend(fontsize=8, ncol=2 if len(curves) > 5 else 1, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
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
        train_acc, test_acc = error_curves(history)
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

    from resnet_course.data.hands import hand_crop_box, read_hands_csv
    from resnet_course.data.paths import data_root

    folder = data_root(root) / "hands"  # type: ignore[arg-type]
    by_photo: dict[str, list[dict]] = {}
    for row in read_hands_csv(folder / "data" / f"{split}_labels.csv"):
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
