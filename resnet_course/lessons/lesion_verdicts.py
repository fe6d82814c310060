"""What chapter 7's lesion study shows, in sentences that state their numbers (Veit et al. 2016).

The lesion study (:mod:`resnet_course.lessons.lesion`, stored by
:mod:`resnet_course.experiments.lesion`) measures test accuracy with residual blocks deleted.
These functions read its numbers and say what they show — and the opposite when they show
the opposite:

- :func:`lesion_outcome` — one network, one deletion: how much of its above-chance accuracy
  survived;
- :func:`single_deletion_report` — one block deleted from each network (the chapter's live
  lesion): the drops, and for each ResNet and its plain twin which lost more;
- :func:`every_block_report` — every deletable block deleted in turn (§4, Fig. 3): the mean
  drop and the most harmful block of each network, and whether the plain network loses more
  on average than its ResNet twin;
- :func:`several_blocks_report` — several blocks deleted at random (§4.3, Fig. 5(a)): the mean
  accuracy per number deleted, and after how many deletions half of the above-chance accuracy
  is gone;
- :func:`typical_gain` and :func:`effective_depth_report` — the unraveled view (§5, Fig. 6):
  under the model "each branch scales the gradient by g", which path lengths carry it.

Accuracies are fractions (0.91 is 91 %); drops are in percentage points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from resnet_course.lessons.labels import network_label
from resnet_course.lessons.lesion import central_lengths, path_counts, path_length_distribution

__all__ = [
    "CHANCE", "NEAR_CHANCE", "effective_depth_report", "every_block_report", "lesion_outcome",
    "several_blocks_report", "single_deletion_report", "typical_gain",
]

CHANCE = 0.1  # CIFAR-10: ten balanced classes
NEAR_CHANCE = 0.05  # an intact network less than 5 points above chance has nothing to lose
MARKED = 2.0  # points: a difference between two drops smaller than this is within the noise of one run
SHORT_PATHS_GAIN = 0.95  # a typical branch gain below this: the gradient fades along a path (§5)


def lesion_outcome(intact: float, deleted: float) -> str:
    """What a deletion did to one network, from the share of its above-chance accuracy that survived."""
    if intact < CHANCE + NEAR_CHANCE:
        return "was already near chance intact: nothing to read here"
    kept = (deleted - CHANCE) / (intact - CHANCE)
    if kept > 0.8:
        return "kept most of its accuracy"
    if kept > 0.3:
        return "lost a good part of its accuracy"
    if kept > 0.1:
        return "lost most of its accuracy"
    return "fell to chance level"


def single_deletion_report(accuracy: Mapping[str, tuple[float, float]], pairs: Sequence[tuple[str, str]],
                           block: str) -> list[str]:
    """``accuracy[name] = (intact, with block deleted)``: a line per network, then per (ResNet, plain) pair
    how many points more the plain network lost (Veit et al. 2016, §4: a ResNet degrades gracefully)."""
    drops = {name: 100 * (intact - deleted) for name, (intact, deleted) in accuracy.items()}
    lines = [f"{network_label(name)}: -{drops[name]:.1f} points, it {lesion_outcome(intact, deleted)}."
             for name, (intact, deleted) in accuracy.items()]
    for resnet, plain in pairs:
        difference = drops[plain] - drops[resnet]
        lines.append(f"Deleting {block} cost {network_label(plain)} {difference:+.1f} points more than "
                     f"{network_label(resnet)}: "
                     + ("the residual network degrades more gracefully." if difference > MARKED else
                        "the residual network suffered more here." if difference < -MARKED else
                        "on this block and subset the two are about equally hurt."))
    return lines


def _mean_single_deletion(run: Mapping[str, Any]) -> float:
    singles = run["single"]
    return sum(singles.values()) / len(singles)


def every_block_report(runs: Mapping[str, Mapping[str, Any]], pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Each block deleted in turn (Veit et al. 2016, §4, Fig. 3). ``runs[name]`` holds ``baseline`` (intact
    accuracy) and ``single`` (block → accuracy without it). A line per network — the mean accuracy
    and drop, the most harmful block — then a verdict per (ResNet, plain) pair: the plain network
    loses more than twice as much on average, or the two are hurt about equally."""
    mean_drop, lines = {}, []
    for name, run in runs.items():
        singles, baseline = run["single"], run["baseline"]
        mean = _mean_single_deletion(run)
        mean_drop[name] = 100 * (baseline - mean)
        worst = min(singles, key=singles.get)
        lines.append(f"{network_label(name)}: intact {baseline:.1%}; one block deleted: mean {mean:.1%} "
                     f"(mean drop {mean_drop[name]:.1f} points), worst {worst} {singles[worst]:.1%} — it "
                     f"{lesion_outcome(baseline, singles[worst])}")
    for resnet, plain in pairs:
        res, pl = network_label(resnet), network_label(plain)
        if min(runs[resnet]["baseline"], runs[plain]["baseline"]) < CHANCE + NEAR_CHANCE:
            lines.append(f"\nVerdict: an intact network is near chance — {res} and {pl} cannot show the effect.")
        elif mean_drop[plain] > 2 * max(mean_drop[resnet], 1.0):
            lines.append(f"\nVerdict: a deleted block costs {pl} {mean_drop[plain] / max(mean_drop[resnet], 0.1):.1f}× "
                         f"as much as {res} on average — the residual network degrades gracefully, "
                         "as in Veit et al.'s Fig. 3.")
        else:
            lines.append(f"\nVerdict: {res} and {pl} are hurt about equally by a single deletion, "
                         "unlike Veit et al.'s Fig. 3.")
    return lines


def several_blocks_report(curves: Mapping[str, tuple[Sequence[int], Sequence[float], Any, Any]]) -> list[str]:
    """Several blocks deleted (Veit et al. 2016, Fig. 5(a)). ``curves[name]`` is ``(k, mean accuracy, …)``
    per number of blocks deleted (:func:`~resnet_course.lessons.plots.lesion_curve`): a table of the
    means, then per network after how many deletions half of its above-chance accuracy is gone."""
    ks = sorted({k for kk, _, _, _ in curves.values() for k in kk})
    lines = [f"{'blocks deleted':>15s}" + "".join(f"{network_label(name):>12s}" for name in curves)]
    for k in ks:
        row = [dict(zip(kk, mean)).get(k) for kk, mean, _, _ in curves.values()]
        lines.append(f"{k:>15d}" + "".join(f"{a:>12.1%}" if a is not None else f"{'':>12s}" for a in row))
    for name, (kk, mean, _, _) in curves.items():
        above = mean[0] - CHANCE
        if above < NEAR_CHANCE:
            lines.append(f"{network_label(name)}: near chance intact — nothing to lose.")
            continue
        half = next((k for k, m in zip(kk, mean) if m - CHANCE < above / 2), None)
        lines.append(f"{network_label(name)}: half of the above-chance accuracy is gone after "
                     + (f"{half} deleted block(s) (on average over the draws)." if half is not None
                        else "no number of deletions tried here."))
    return lines


def typical_gain(gains: Sequence[tuple[str, float]]) -> float:
    """The geometric mean of the blocks' branch gains (:func:`~resnet_course.lessons.lesion.branch_gains`):
    the one factor g of the model in which every branch scales the gradient alike."""
    return math.exp(sum(math.log(max(gain, 1e-12)) for _, gain in gains) / len(gains))


def effective_depth_report(gain: float, blocks: int, share: float = 0.95) -> list[str]:
    """Under the model "a path of length k carries g^k of the gradient" (Veit et al. 2016, §5, Fig. 6(b)):
    which path lengths hold ``share`` of the gradient, beside those that hold ``share`` of the paths,
    and whether short paths carry it (g clearly below 1) or this crude model cannot say so."""
    lo, hi = central_lengths(path_length_distribution(blocks, gain), share=share)
    all_lo, all_hi = central_lengths(path_counts(blocks), share=share)
    percent = f"{100 * share:.0f} %"
    return [f"\ntypical gain g = {gain:.2f}: under the model, {percent} of the gradient comes through paths of "
            f"length {lo}-{hi} ({percent} of the paths have length {all_lo}-{all_hi}).",
            "Verdict: " + ("g < 1, so the short paths carry the gradient — the effective depth is smaller than "
                           "the network's." if gain < SHORT_PATHS_GAIN else
                           "g is not below 1 here, so under this crude model the gradient is not concentrated "
                           "on short paths; Veit et al.'s sampling measurement on a long-trained ResNet-110 is "
                           "the stronger evidence.")]
