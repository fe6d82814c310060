"""Chapter 7's lesion verdicts say what the numbers show: the effect where it holds, the opposite where not."""

from __future__ import annotations

import math

import pytest

from resnet_course.lessons.lesion_verdicts import (
    effective_depth_report,
    every_block_report,
    lesion_outcome,
    several_blocks_report,
    single_deletion_report,
    typical_gain,
)

PAIR = [("resnet20", "plain20")]


@pytest.mark.parametrize("intact, deleted, outcome", [
    (0.90, 0.85, "kept most of its accuracy"),          # 94 % of the 80 points above chance kept
    (0.90, 0.50, "lost a good part of its accuracy"),   # 50 %
    (0.90, 0.20, "lost most of its accuracy"),          # 12.5 %
    (0.90, 0.11, "fell to chance level"),
    (0.12, 0.10, "was already near chance intact: nothing to read here"),
])
def test_lesion_outcome_reads_the_share_above_chance(intact, deleted, outcome) -> None:
    assert lesion_outcome(intact, deleted) == outcome


@pytest.mark.parametrize("resnet, plain, ending", [
    ((0.90, 0.88), (0.85, 0.30), "+53.0 points more than ResNet-20: the residual network degrades more gracefully."),
    ((0.90, 0.40), (0.85, 0.84), "-49.0 points more than ResNet-20: the residual network suffered more here."),
    ((0.90, 0.89), (0.85, 0.84), "+0.0 points more than ResNet-20: on this block and subset the two are about "
                                 "equally hurt."),
])
def test_single_deletion_report_says_which_twin_lost_more(resnet, plain, ending) -> None:
    lines = single_deletion_report({"resnet20": resnet, "plain20": plain}, PAIR, "layer2.1")
    assert lines[0].startswith(f"ResNet-20: -{100 * (resnet[0] - resnet[1]):.1f} points, it ")
    assert lines[-1] == "Deleting layer2.1 cost plain-20 " + ending


def _run(baseline: float, singles: list[float]) -> dict:
    return {"baseline": baseline, "single": {f"layer1.{i}": a for i, a in enumerate(singles)}}


def test_every_block_report_finds_graceful_degradation_where_the_plain_net_loses_more() -> None:
    runs = {"resnet20": _run(0.90, [0.88, 0.86, 0.70]), "plain20": _run(0.85, [0.20, 0.15, 0.10])}
    lines = every_block_report(runs, PAIR)
    assert lines[0] == ("ResNet-20: intact 90.0%; one block deleted: mean 81.3% (mean drop 8.7 points), worst "
                        "layer1.2 70.0% — it lost a good part of its accuracy")
    assert lines[-1] == ("\nVerdict: a deleted block costs plain-20 8.1× as much as ResNet-20 on average — the "
                         "residual network degrades gracefully, as in Veit et al.'s Fig. 3.")


def test_every_block_report_says_so_when_both_are_hurt_alike_or_near_chance() -> None:
    alike = every_block_report({"resnet20": _run(0.90, [0.60, 0.50]), "plain20": _run(0.85, [0.55, 0.50])}, PAIR)
    assert alike[-1] == ("\nVerdict: ResNet-20 and plain-20 are hurt about equally by a single deletion, unlike "
                         "Veit et al.'s Fig. 3.")
    near = every_block_report({"resnet20": _run(0.90, [0.80]), "plain20": _run(0.12, [0.10])}, PAIR)
    assert near[-1] == "\nVerdict: an intact network is near chance — ResNet-20 and plain-20 cannot show the effect."


def test_several_blocks_report_tabulates_the_means_and_finds_the_half_way_point() -> None:
    curves = {"resnet20": ([0, 1, 2, 3], [0.90, 0.80, 0.55, 0.40], None, None),
              "plain20": ([0, 1, 2], [0.85, 0.80, 0.70], None, None),
              "resnet8": ([0, 1], [0.12, 0.10], None, None)}
    lines = several_blocks_report(curves)
    assert lines[0] == f"{'blocks deleted':>15s}{'ResNet-20':>12s}{'plain-20':>12s}{'ResNet-8':>12s}"
    assert lines[4] == f"{3:>15d}{'40.0%':>12s}{'':>12s}{'':>12s}"  # only ResNet-20 has k = 3
    # ResNet-20: 80 points above chance, 45 left after 2 deletions (more than 40), 30 after 3
    assert lines[5] == "ResNet-20: half of the above-chance accuracy is gone after 3 deleted block(s) (on average " \
                       "over the draws)."
    assert lines[6] == "plain-20: half of the above-chance accuracy is gone after no number of deletions tried here."
    assert lines[7] == "ResNet-8: near chance intact — nothing to lose."


def test_typical_gain_is_the_geometric_mean() -> None:
    assert typical_gain([("a", 0.25), ("b", 1.0), ("c", 4.0)]) == pytest.approx(1.0)
    assert typical_gain([("a", 0.5), ("b", 0.5)]) == pytest.approx(0.5)
    assert math.isfinite(typical_gain([("a", 0.0), ("b", 1.0)]))  # a dead branch does not break the mean


def test_effective_depth_report_short_paths_only_when_the_gain_is_below_one() -> None:
    short = effective_depth_report(0.5, 54)
    assert short[0].startswith("\ntypical gain g = 0.50: under the model, 95 % of the gradient comes through "
                               "paths of length ")
    assert short[0].endswith("(95 % of the paths have length 20-34).")
    assert short[1].startswith("Verdict: g < 1, so the short paths carry the gradient")
    assert effective_depth_report(1.2, 9)[1].startswith("Verdict: g is not below 1 here")
