"""The chapters' verdicts (resnet_course.lessons.verdicts): the decision and its sentence follow the numbers.

Every verdict is tested where the effect holds and where it does not, and its sentence must
state the numbers it rests on and agree with them in both cases.
"""

from __future__ import annotations

import math
import random
import re

import pytest

from resnet_course.lessons.verdicts import (
    TABLE6_DEPTHS,
    SeedSummary,
    construction_verdict,
    degradation_verdict,
    depth_trend_verdict,
    fig6_findings,
    final_errors,
    plain_depth_verdict,
    residual_verdict,
    shortcut_verdict,
    transfer_verdict,
)


def _run(train_error: float, test_error: float) -> dict:
    """A run as the zoo stores it: final scores and a history whose last epoch says something else."""
    return {"final": {"train_error_eval": train_error, "test_error": test_error},
            "history": {"train_loss": [1.0, 0.5], "train_acc": [0.5, 0.6], "val_loss": [1.0, 0.9],
                        "val_acc": [0.5, 0.55]}}


def _history(train_error: float, test_error: float) -> dict:
    """A bare history, as results/degradation.json stores its runs."""
    return {"train_acc": [0.3, 1 - train_error], "val_acc": [0.3, 1 - test_error]}


def _percent_numbers(sentence: str) -> list[float]:
    return [float(x) / 100 for x in re.findall(r"(\d+\.\d+) %", sentence)]


# --------------------------------------------------------------------------- reading the runs


def test_final_errors_prefer_final_scores_and_never_mix_measures() -> None:
    runs = {"a": _run(0.01, 0.08), "b": _run(0.02, 0.09), "c": {"history": _history(0.2, 0.3)}}
    assert final_errors(runs, ["a", "b"]) == {"a": (0.01, 0.08), "b": (0.02, 0.09)}
    # c has no final scores: then every run is read from its last epoch
    mixed = final_errors(runs, ["a", "c"])
    assert mixed["a"] == pytest.approx((0.4, 0.45)) and mixed["c"] == pytest.approx((0.2, 0.3))
    assert final_errors({"d": _history(0.1, 0.2)}, ["d"])["d"] == pytest.approx((0.1, 0.2))
    with pytest.raises(KeyError, match="no run for e"):
        final_errors(runs, ["a", "e"])
    with pytest.raises(ValueError, match="neither final scores nor a history"):
        final_errors({"f": {"meta": {}}}, ["f"])


# --------------------------------------------------------------------------- (a) degradation


def test_degradation_holds_when_the_deeper_plain_net_trains_worse() -> None:
    runs = {"plain20": _run(0.041, 0.09), "plain32": _run(0.05, 0.1), "plain56": _run(0.079, 0.11),
            "resnet56": _run(0.01, 0.07)}
    verdict = degradation_verdict(runs)  # the shallowest and the deepest plain net
    assert (verdict.shallow, verdict.deep) == ("plain20", "plain56")
    assert verdict.holds and (verdict.shallow_train_error, verdict.deep_train_error) == (0.041, 0.079)
    assert str(verdict) == verdict.sentence == (
        "plain-56 ends with 7.9 % training error, above plain-20's 4.1 %: the deeper plain net trains worse.")


def test_degradation_does_not_hold_when_the_deeper_plain_net_trains_as_well() -> None:
    runs = {"plain20": _history(0.041, 0.09), "plain56": _history(0.03, 0.1)}
    verdict = degradation_verdict(runs)
    assert not verdict.holds
    assert verdict.sentence == ("plain-56 ends with 3.0 % training error, below plain-20's 4.1 %: no degradation "
                                "here, the deeper plain net trains at least as well.")
    same = degradation_verdict({"plain20": _run(0.05, 0.1), "plain32": _run(0.05, 0.1)})
    assert not same.holds and "5.0 % training error, the same as plain-20's 5.0 %" in same.sentence


def test_degradation_with_named_networks_and_close_numbers() -> None:
    runs = {"plain20": _run(0.0791, 0.1), "plain32": _run(0.0794, 0.1), "plain56": _run(0.5, 0.6)}
    verdict = degradation_verdict(runs, shallow="plain20", deep="plain32")
    assert verdict.holds
    assert "7.94 % training error, above plain-20's 7.91 %" in verdict.sentence  # one decimal would read equal
    with pytest.raises(ValueError, match="need two plain networks"):
        degradation_verdict({"plain20": _run(0.1, 0.1), "resnet56": _run(0.1, 0.1)})


# --------------------------------------------------------------------------- (b) the residual fix


@pytest.mark.parametrize("deep_errors, holds, relations, conclusion", [
    ((0.02, 0.069), True, ("below", "below"), "trains better and generalises better."),
    ((0.02, 0.090), False, ("below", "above"), "trains better but does not generalise better."),
    ((0.05, 0.070), False, ("above", "below"), "generalises better but does not train better."),
    ((0.04, 0.084), False, ("the same as", "the same as"), "does no better on either."),
])
def test_residual_verdict_in_every_case(deep_errors, holds, relations, conclusion) -> None:
    runs = {"resnet20": _run(0.04, 0.084), "resnet56": _run(*deep_errors), "plain56": _run(0.3, 0.3)}
    verdict = residual_verdict(runs)
    assert (verdict.shallow, verdict.deep, verdict.holds) == ("resnet20", "resnet56", holds)
    assert verdict.sentence.startswith(f"ResNet-56 ends with {100 * deep_errors[0]:.1f} % training error, "
                                       f"{relations[0]} ResNet-20's 4.0 %, and {100 * deep_errors[1]:.1f} % test "
                                       f"error, {relations[1]} its 8.4 %: the deeper ResNet ")
    assert verdict.sentence.endswith(conclusion)


def _agree(shown: list[float], values: list[float]) -> bool:
    """The sentence's numbers are the values as rounded, and each compared pair (0-1, 2-3 …) reads in its order."""
    close = all(abs(s - v) <= 5e-4 + 1e-12 for s, v in zip(shown, values))
    pairs = range(0, len(values), 2)
    ordered = all((shown[i] < shown[i + 1]) == (values[i] < values[i + 1])
                  and (shown[i] == shown[i + 1]) == (values[i] == values[i + 1]) for i in pairs)
    return len(shown) == len(values) and close and ordered


def test_the_sentences_agree_with_the_numbers_whatever_they_are() -> None:
    rng = random.Random(0)
    for _ in range(300):
        a, b, c, d = (round(rng.uniform(0.0, 0.2), rng.choice([2, 3, 4])) for _ in range(4))
        if rng.random() < 0.1:
            b = a  # ties too
        degradation = degradation_verdict({"plain20": _run(a, c), "plain56": _run(b, d)})
        assert degradation.holds == (b > a)
        assert _agree(_percent_numbers(degradation.sentence), [b, a])
        assert (" above " in degradation.sentence) == (b > a) and ("trains worse" in degradation.sentence) == (b > a)
        residual = residual_verdict({"resnet20": _run(a, c), "resnet110": _run(b, d)})
        assert residual.holds == (b < a and d < c)
        assert _agree(_percent_numbers(residual.sentence), [b, a, d, c])
        assert ("trains better and generalises better" in residual.sentence) == residual.holds


# --------------------------------------------------------------------------- (c) the depth trend of Table 6


def test_depth_trend_holds_when_test_error_falls_at_every_depth() -> None:
    runs = {f"resnet{d}": _run(0.01, e) for d, e in zip(TABLE6_DEPTHS, (0.0875, 0.0751, 0.0717, 0.0697, 0.0643))}
    runs["resnet18"] = _run(0.0, 0.01)  # an ImageNet network: not one of Table 6's depths
    verdict = depth_trend_verdict(runs)
    assert verdict.holds and verdict.depths == TABLE6_DEPTHS and verdict.rises == ()
    assert verdict.sentence == ("ResNet test error falls at every step in depth: 8.8 % (20), 7.5 % (32), 7.2 % (44), "
                                "7.0 % (56), 6.4 % (110).")


def test_depth_trend_does_not_hold_when_a_deeper_resnet_is_no_better() -> None:
    runs = {"resnet20": _run(0.01, 0.088), "resnet56": _run(0.01, 0.07), "resnet110": _run(0.01, 0.07)}
    verdict = depth_trend_verdict(runs)  # only the depths present
    assert not verdict.holds and verdict.depths == (20, 56, 110) and verdict.rises == ((56, 110),)
    assert verdict.sentence == ("ResNet test error does not fall at every step in depth: 8.8 % (20), 7.0 % (56), "
                                "7.0 % (110); it does not fall from ResNet-56 to ResNet-110. From ResNet-20 to "
                                "ResNet-110 it falls by 1.80 points.")
    assert verdict.falls_overall
    runs["resnet32"] = _run(0.01, 0.09)
    assert depth_trend_verdict(runs).rises == ((20, 32), (56, 110))
    assert "from ResNet-20 to ResNet-32 or from ResNet-56 to ResNet-110" in depth_trend_verdict(runs).sentence


def test_depth_trend_weighs_a_rise_against_the_noise_of_the_test_set() -> None:
    runs = {f"resnet{d}": {**_run(0.03, e), "meta": {"test_images": 10_000}}
            for d, e in ((20, 0.1328), (32, 0.1214), (44, 0.1160), (56, 0.1169))}
    verdict = depth_trend_verdict(runs)
    assert not verdict.holds and verdict.rises == ((44, 56),) and verdict.falls_overall
    assert verdict.sentence.endswith(
        "it does not fall from ResNet-44 to ResNet-56 (+0.09 points, 9 of the 10,000 test images: within two "
        "standard errors of a test error measured on 10,000 images, 0.64 points). From ResNet-20 to ResNet-56 it "
        "falls by 1.59 points.")
    runs["resnet56"] = {**_run(0.03, 0.1328), "meta": {"test_images": 10_000}}  # a clear rise, back to the start
    verdict = depth_trend_verdict(runs)
    assert "(+1.68 points, 168 of the 10,000 test images: beyond two standard errors" in verdict.sentence
    assert verdict.sentence.endswith("From ResNet-20 to ResNet-56 it does not fall.") and not verdict.falls_overall


def test_depth_trend_needs_two_depths() -> None:
    verdict = depth_trend_verdict({"resnet20": _run(0.01, 0.08), "plain56": _run(0.1, 0.1)})
    assert not verdict.holds and verdict.depths == (20,)
    assert verdict.sentence == "only ResNet-20 in the runs: no depth trend to read."
    assert not depth_trend_verdict({}).holds
    assert depth_trend_verdict({}).sentence == "no ResNet of those depths in the runs: no depth trend to read."


def test_plain_depth_verdict_holds_when_training_error_rises_at_every_depth() -> None:
    runs = {f"plain{d}": _run(e, 0.2) for d, e in ((20, 0.079), (32, 0.101), (44, 0.14), (56, 0.192))}
    runs["resnet32"] = _run(0.001, 0.1)  # another family: not read
    verdict = plain_depth_verdict(runs)
    assert verdict.holds and verdict.depths == (20, 32, 44, 56) and verdict.no_rise == ()
    assert verdict.sentence == ("plain training error rises at every step in depth: 7.9 % (20), 10.1 % (32), "
                                "14.0 % (44), 19.2 % (56). The deeper the plain net, the worse it trains.")


def test_plain_depth_verdict_names_every_step_where_training_error_does_not_rise() -> None:
    runs = {f"plain{d}": _run(e, 0.2) for d, e in ((20, 0.079), (32, 0.07), (44, 0.14), (56, 0.14))}
    verdict = plain_depth_verdict(runs)
    assert not verdict.holds and verdict.no_rise == ((20, 32), (44, 56))
    assert verdict.sentence == ("plain training error does not rise at every step in depth: 7.9 % (20), 7.0 % (32), "
                                "14.0 % (44), 14.0 % (56); it does not rise from plain-20 to plain-32 or from "
                                "plain-44 to plain-56.")


def test_plain_depth_verdict_needs_two_depths() -> None:
    verdict = plain_depth_verdict({"plain20": _run(0.08, 0.15), "resnet56": _run(0.01, 0.1)})
    assert not verdict.holds and verdict.depths == (20,)
    assert verdict.sentence == "only plain-20 in the runs: no depth trend to read."
    assert plain_depth_verdict({}).sentence == "no plain net in the runs: no depth trend to read."


# --------------------------------------------------------------------------- (d) transfer learning curves


def test_seed_summary() -> None:
    summary = SeedSummary.of([0.70, 0.72, 0.74])
    assert summary.mean == pytest.approx(0.72) and summary.std == pytest.approx(0.02) and summary.seeds == 3
    assert summary.standard_error == pytest.approx(0.02 / math.sqrt(3))
    assert SeedSummary.of([0.5]).std == 0.0
    with pytest.raises(ValueError):
        SeedSummary.of([])


def test_transfer_verdict_holds_when_ahead_by_more_than_two_standard_errors_everywhere() -> None:
    finetune = {50: [0.70, 0.72, 0.71], 200: [0.85, 0.86, 0.84]}
    scratch = {50: {"mean": 0.45, "std": 0.05, "seeds": 3}, 200: SeedSummary(0.72, 0.025, 3), 800: [0.9, 0.9]}
    verdict = transfer_verdict("fine-tuned", finetune, "from scratch", scratch)
    assert verdict.holds and [c.size for c in verdict.comparisons] == [50, 200]  # sizes both curves have
    first = verdict.comparisons[0]
    assert first.difference == pytest.approx(0.26)
    assert first.two_standard_errors == pytest.approx(2 * math.sqrt(0.01**2 / 3 + 0.05**2 / 3))
    assert first.clear
    assert verdict.sentence == (
        "fine-tuned vs from scratch, test accuracy (mean over seeds): 50 images 71.0 % vs 45.0 % (+26.0 points, "
        "beyond two standard errors, 5.9 points: fine-tuned ahead); 200 images 85.0 % vs 72.0 % (+13.0 points, "
        "beyond two standard errors, 3.1 points: fine-tuned ahead). Fine-tuned is ahead of from scratch by more "
        "than two standard errors at every size.")


def test_transfer_verdict_does_not_hold_within_two_standard_errors_or_when_behind() -> None:
    finetune = {50: [0.70, 0.72, 0.71], 800: [0.905, 0.91, 0.90]}
    scratch = {50: [0.40, 0.45, 0.50], 800: [0.89, 0.91, 0.90]}
    verdict = transfer_verdict("fine-tuned", finetune, "from scratch", scratch)
    assert not verdict.holds and [c.clear for c in verdict.comparisons] == [True, False]
    assert "800 images 90.5 % vs 90.0 % (+0.5 points, within two standard errors, 1.3 points)" in verdict.sentence
    assert verdict.sentence.endswith("Fine-tuned is not ahead of from scratch by more than two standard errors "
                                     "at every size.")
    behind = transfer_verdict("features", {50: [0.3, 0.31, 0.32]}, "fine-tuned", {50: [0.7, 0.71, 0.72]})
    assert not behind.holds and behind.comparisons[0].clear
    assert "(-40.0 points, beyond two standard errors, 1.6 points: fine-tuned ahead)" in behind.sentence


def test_transfer_verdict_for_errors_and_single_seeds() -> None:
    errors = transfer_verdict("fine-tuned", {100: [0.10, 0.11, 0.12]}, "from scratch", {100: [0.30, 0.32, 0.31]},
                              metric="test error", higher_is_better=False)
    assert errors.holds and "fine-tuned ahead" in errors.sentence and "test error" in errors.sentence
    single = transfer_verdict("fine-tuned", {50: [0.7]}, "from scratch", {50: [0.4]})
    assert not single.holds and math.isnan(single.comparisons[0].two_standard_errors)
    assert "a single seed, no standard error" in single.sentence
    with pytest.raises(ValueError, match="share no training-set size"):
        transfer_verdict("a", {50: [0.5]}, "b", {100: [0.5]})


# --------------------------------------------------------------------------- same depth, with and without shortcuts


@pytest.mark.parametrize("resnet, plain, holds, conclusion", [
    ((0.02, 0.13), (0.04, 0.15), True, "train better and generalise better"),
    ((0.02, 0.16), (0.04, 0.15), False, "train better but do not generalise better"),
    ((0.05, 0.13), (0.04, 0.15), False, "generalise better but do not train better"),
    ((0.05, 0.16), (0.04, 0.15), False, "help neither"),
])
def test_shortcut_verdict_compares_one_depth_both_errors(resnet, plain, holds, conclusion) -> None:
    verdict = shortcut_verdict({"resnet20": _run(*resnet), "plain20": _run(*plain)}, 20)
    assert verdict.holds is holds and conclusion in verdict.sentence
    assert verdict.sentence.startswith("ResNet-20 ends with") and "plain-20 with" in verdict.sentence
    assert _percent_numbers(verdict.sentence) == pytest.approx([resnet[0], resnet[1], plain[0], plain[1]])


def test_shortcut_verdict_needs_both_networks() -> None:
    with pytest.raises(KeyError, match="no run for plain56"):
        shortcut_verdict({"resnet56": _run(0.01, 0.1)}, 56)


PAPER = {"resnet20": {"error": 8.75}, "resnet56": {"error": 6.97}}


def test_fig6_findings_with_one_depth_measure_what_exists_and_give_the_papers_word_for_the_rest() -> None:
    found = fig6_findings({"resnet20": _run(0.02, 0.13), "plain20": _run(0.04, 0.15)}, PAPER)
    assert len(found) == 3
    assert found[0].startswith("Same depth, without and with shortcuts: ResNet-20 ends with 2.0 % training")
    assert found[1].startswith("Degradation needs two plain depths; these networks are plain-20, ResNet-20. In the "
                               "paper (He et al. 2015")
    assert "In the paper" in found[2] and "a lower test error, 6.97 % against 8.75 % (Table 6)" in found[2]
    # measured sentences carry no "paper", the paper's sentences no measured number
    assert "paper" not in found[0] and "13.0 %" not in found[1] + found[2]


def test_fig6_findings_with_two_depths_read_every_verdict_from_the_runs() -> None:
    runs = {"plain20": _run(0.04, 0.15), "plain56": _run(0.08, 0.18),
            "resnet20": _run(0.02, 0.13), "resnet56": _run(0.01, 0.11)}
    found = fig6_findings(runs, PAPER)
    assert [f.split(":")[0] for f in found] == ["Same depth, without and with shortcuts"] * 2 + [
        "Degradation", "Residual learning", "Depth trend"]
    assert not any("paper" in f for f in found)
    assert "the deeper plain net trains worse" in found[2] and "trains better and generalises better" in found[3]


def test_fig6_findings_with_three_plain_depths_read_the_plain_nets_depth_by_depth() -> None:
    runs = {"plain20": _run(0.04, 0.15), "plain32": _run(0.09, 0.16), "plain56": _run(0.08, 0.18)}
    found = fig6_findings(runs, PAPER)
    assert found[0].startswith("Degradation: plain-56 ends with 8.0 % training error, above plain-20's 4.0 %")
    assert found[1] == ("Degradation, depth by depth: plain training error does not rise at every step in depth: "
                        "4.0 % (20), 9.0 % (32), 8.0 % (56); it does not rise from plain-32 to plain-56.")
    assert found[2].startswith("The residual fix between depths needs two ResNet depths")


def test_fig6_findings_of_resnets_only_state_no_shortcut_comparison() -> None:
    found = fig6_findings({"resnet20": _run(0.02, 0.13), "resnet56": _run(0.03, 0.12)}, PAPER)
    assert found[0].startswith("Degradation needs two plain depths; these networks are ResNet-20, ResNet-56.")
    assert found[1].startswith("Residual learning: ResNet-56") and "does not train better" in found[1]


def test_construction_verdict_says_whether_sgd_found_a_network_as_good_as_the_built_one() -> None:
    start = "A plain-56 with training error 8.06% exists — we just built it. "
    assert construction_verdict(0.0806, 0.1884) == start + "SGD, starting from scratch, found a worse one."
    assert construction_verdict(0.0806, 0.05) == start + "SGD, starting from scratch, found one at least as good."
    assert construction_verdict(0.0806, None) == start + (
        "In the paper (He et al. 2015, Fig. 6 left), SGD, starting from scratch, finds a plain-56 whose training "
        "error stays above plain-20's.")
