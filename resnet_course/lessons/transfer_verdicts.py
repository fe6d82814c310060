"""What chapter 6's transfer experiment shows, read from its points in sentences that state their numbers.

The experiment (:mod:`resnet_course.experiments.gestures`) trains three strategies — from
scratch, fine-tuned, frozen features — at several training-set sizes and seeds; its points are
:func:`~resnet_course.lessons.transfer.run_point` records. These functions read them:

- :func:`split_comparison_report` and :func:`inflated_by_own_split` — the dataset's own split
  against the session split, per strategy: does the own split score higher by more than two
  standard errors (frames of the same session on both sides: leakage)?
- :func:`strategy_reading` — one :class:`~resnet_course.lessons.verdicts.TransferVerdict` in
  words: the sizes where a strategy is clearly ahead or behind, how the difference changes from
  the smallest size to the largest, and where it is largest (Yosinski et al. 2014; He et al.
  2019 on training from scratch);
- :func:`training_fit_report` — training against test accuracy: which runs did not fit their
  own training images within the step budget;
- :func:`neighbour_confusions`, :func:`binomial_tail` and :func:`neighbour_confusion_report` —
  are neighbouring finger counts confused more often than chance (an exact binomial test per
  seed)?

Accuracies are fractions; differences are printed in percentage points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from resnet_course.lessons.verdicts import SeedSummary, TransferVerdict

__all__ = [
    "FITTED", "SIGNIFICANT", "binomial_tail", "inflated_by_own_split", "neighbour_confusion_report",
    "neighbour_confusions",
    "size_label", "split_comparison_report", "strategy_reading", "training_fit_report",
]

FITTED = 0.9  # a run whose mean training accuracy is below this did not fit its training images
SIGNIFICANT = 0.01  # the p-value every seed must beat for "more often than chance"


def size_label(point: Mapping[str, Any]) -> str:
    """A point's training-set size as the chapter labels it: images per class, or ``"all"``."""
    return "all" if point["per_class"] is None else str(point["per_class"])


def _split_gaps(own: Mapping[str, Sequence[float]], session: Mapping[str, Sequence[float]]
                ) -> dict[str, tuple[SeedSummary, SeedSummary, float, float]]:
    """Per strategy: both splits over the seeds, the difference of the means and two standard errors of it."""
    gaps = {}
    for strategy in own:
        a, b = SeedSummary.of(own[strategy]), SeedSummary.of(session[strategy])
        gaps[strategy] = (a, b, a.mean - b.mean, 2 * (a.standard_error ** 2 + b.standard_error ** 2) ** 0.5)
    return gaps


def inflated_by_own_split(own: Mapping[str, Sequence[float]], session: Mapping[str, Sequence[float]],
                          names: Mapping[str, str]) -> list[str]:
    """The strategies (by ``names``) whose test accuracy per seed on the dataset's own split is higher than on
    the session split by more than two standard errors of the difference."""
    return _inflated(_split_gaps(own, session), names)


def _inflated(gaps: Mapping[str, tuple[SeedSummary, SeedSummary, float, float]], names: Mapping[str, str]) -> list[str]:
    return [names[strategy] for strategy, (_, _, difference, two_se) in gaps.items() if difference > two_se]


def split_comparison_report(own: Mapping[str, Sequence[float]], session: Mapping[str, Sequence[float]],
                            names: Mapping[str, str]) -> list[str]:
    """Test accuracy per seed on the dataset's own split and on the session split, per strategy: a table
    (mean ± std, the difference, two standard errors of it, beyond?) and the strategies for which the own
    split scores higher by more than two standard errors (:func:`inflated_by_own_split`)."""
    lines = [f"{'strategy':15s} {'own split':>12s} {'session split':>13s} {'diff.':>6s} {'2 s.e.':>6s} beyond?"]
    gaps = _split_gaps(own, session)
    for strategy, (a, b, difference, two_se) in gaps.items():
        lines.append(f"{names[strategy]:15s} {100 * a.mean:5.1f} ± {100 * a.std:4.1f} "
                     f"{100 * b.mean:6.1f} ± {100 * b.std:4.1f} {100 * difference:+6.1f} {100 * two_se:6.1f} "
                     f"{'yes' if abs(difference) > two_se else 'no':>7s}")
    inflated = _inflated(gaps, names)
    lines.append("(test accuracy in %, mean ± std over seeds; differences in percentage points)")
    lines.append("\nThe dataset's own split scores higher, beyond two standard errors, for: "
                 + (", ".join(inflated) if inflated else "no strategy") + ".")
    return lines


def strategy_reading(verdict: TransferVerdict, name: str, size_labels: Mapping[int, str]) -> str:
    """``verdict`` (a strategy against training from scratch) in words: where it is ahead or behind beyond
    two standard errors, its difference at the smallest and the largest size — smaller at the largest, or
    changing sign — and the size where the difference is largest. ``size_labels`` maps training
    images to the chapter's labels (``"5"``, ``"all"``)."""
    def sizes_where(ahead: bool) -> list[str]:
        return [size_labels[c.size] for c in verdict.comparisons if c.clear and (c.difference > 0) == ahead]

    ahead, behind = sizes_where(True), sizes_where(False)
    first, last = verdict.comparisons[0], verdict.comparisons[-1]
    widest = max(verdict.comparisons, key=lambda c: c.difference)
    if first.difference * last.difference < 0:
        trend = "it changes sign in between"
    else:
        trend = (("smaller" if abs(last.difference) < abs(first.difference) else "not smaller")
                 + " with all the data than with the least")
    return (f"{name} is ahead of training from scratch beyond two standard errors at "
            f"{', '.join(ahead) or 'no size'} images per class"
            + (f", behind at {', '.join(behind)}" if behind else "")
            + f". The difference is {100 * first.difference:+.1f} points at {size_labels[first.size]} images per "
            f"class and {100 * last.difference:+.1f} at {size_labels[last.size]}: {trend}. Its largest value, "
            f"{100 * widest.difference:+.1f} points, is at {size_labels[widest.size]} images per class.")


def training_fit_report(points: Sequence[Mapping[str, Any]], strategies: Sequence[str], sizes: Sequence[str],
                        names: Mapping[str, str], arch: str) -> list[str]:
    """Per strategy and size (mean over seeds): accuracy on the run's own training images, on the test
    sessions, and the gap; then the runs whose training accuracy stayed below :data:`FITTED`."""
    lines = [f"{'strategy':15s} {'per class':>9s} {'training acc.':>13s} {'test acc.':>9s} {'gap':>8s}"]
    short = []
    for strategy in strategies:
        for label in sizes:
            group = [p for p in points if p["strategy"] == strategy and p["arch"] == arch and size_label(p) == label]
            train_acc = sum(p["train_accuracy"] for p in group) / len(group)
            test_acc = sum(p["test_accuracy"] for p in group) / len(group)
            lines.append(f"{names[strategy]:15s} {label:>9s} {train_acc:13.1%} {test_acc:9.1%} "
                         f"{100 * (train_acc - test_acc):+6.1f} pt")
            if train_acc < FITTED:
                short.append(f"{names[strategy]} at {label}")
    lines.append(f"\nMean training accuracy below {100 * FITTED:.0f} % (the budget did not fit the training images): "
                 + ("; ".join(short) if short else "none") + ".")
    return lines


def neighbour_confusions(matrix: torch.Tensor) -> tuple[int, int]:
    """``(off by one, wrong)``: the mistakes of a confusion matrix (row = true class) between neighbouring
    classes (|i − j| = 1, one finger off), and all its mistakes."""
    wrong = matrix.clone().fill_diagonal_(0)
    near = sum(int(wrong[i, j]) for i in range(len(matrix)) for j in range(len(matrix)) if abs(i - j) == 1)
    return near, int(wrong.sum())


def binomial_tail(k: int, n: int, p: float) -> float:
    """``P(X ≥ k)`` for ``X ~ Binomial(n, p)``, exactly: the one-sided p-value of k successes in n."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))


def neighbour_confusion_report(runs: Sequence[Mapping[str, Any]], classes: Sequence[str]) -> list[str]:
    """Per seed (``runs``, each with its ``confusion_matrix``): how many mistakes are off by one class, against
    the share if mistakes fell on every wrong class alike, and the binomial p-value; then whether every seed
    shows neighbours confused more often than chance (p < :data:`SIGNIFICANT`)."""
    k = len(classes)
    chance = 2 * (k - 1) / (k * (k - 1))  # neighbouring pairs among the ordered wrong pairs
    lines, p_values = [], []
    for run in runs:
        near, wrong = neighbour_confusions(torch.tensor(run["confusion_matrix"]))
        p_values.append(binomial_tail(near, wrong, chance) if wrong else 1.0)
        lines.append(f"seed {run['seed']}: {wrong} of {sum(map(sum, run['confusion_matrix']))} test crops wrong, "
                     f"{near} of them off by one finger ({near / max(wrong, 1):.0%}; chance {chance:.0%}), "
                     f"p = {p_values[-1]:.2g}")
    lines.append("Neighbouring counts are confused more often than chance: "
                 + (f"yes, in every seed (p < {SIGNIFICANT:g} each)." if all(v < SIGNIFICANT for v in p_values)
                    else f"not shown: at least one seed's mistakes are compatible with chance at p < {SIGNIFICANT:g}."))
    return lines
