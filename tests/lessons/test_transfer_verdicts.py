"""Chapter 6's readings say what the points show: leakage, who is ahead where, fitting, neighbour confusions."""

from __future__ import annotations

import pytest
import torch

from resnet_course.lessons.transfer_verdicts import (
    binomial_tail,
    inflated_by_own_split,
    neighbour_confusion_report,
    neighbour_confusions,
    split_comparison_report,
    strategy_reading,
    training_fit_report,
)
from resnet_course.lessons.verdicts import transfer_verdict

NAMES = {"scratch": "from scratch", "finetune": "fine-tuned"}


def test_split_comparison_names_only_the_strategies_beyond_two_standard_errors() -> None:
    own = {"scratch": [0.90, 0.92, 0.88], "finetune": [0.85, 0.86, 0.84]}
    session = {"scratch": [0.70, 0.72, 0.68], "finetune": [0.85, 0.84, 0.86]}
    lines = split_comparison_report(own, session, NAMES)
    assert lines[1] == "from scratch     90.0 ±  2.0   70.0 ±  2.0  +20.0    3.3     yes"
    assert lines[2].endswith("     no")
    assert lines[-1] == "\nThe dataset's own split scores higher, beyond two standard errors, for: from scratch."
    assert inflated_by_own_split(own, session, NAMES) == ["from scratch"]
    none = split_comparison_report({"scratch": [0.7, 0.72]}, {"scratch": [0.71, 0.70]}, NAMES)
    assert none[-1].endswith("for: no strategy.")


SIZES = {30: "5", 60: "10", 120: "20"}


def _verdict(first: dict, second: dict):
    return transfer_verdict("fine-tuned", first, "from scratch", second)


def test_strategy_reading_ahead_everywhere_and_shrinking() -> None:
    verdict = _verdict({30: [0.50, 0.52, 0.48], 60: [0.70, 0.72, 0.68], 120: [0.80, 0.81, 0.79]},
                       {30: [0.20, 0.22, 0.18], 60: [0.30, 0.31, 0.29], 120: [0.70, 0.71, 0.69]})
    assert strategy_reading(verdict, "Fine-tuning", SIZES) == (
        "Fine-tuning is ahead of training from scratch beyond two standard errors at 5, 10, 20 images per class. "
        "The difference is +30.0 points at 5 images per class and +10.0 at 20: smaller with all the data than "
        "with the least. Its largest value, +40.0 points, is at 10 images per class.")


def test_strategy_reading_behind_at_the_end_changes_sign() -> None:
    verdict = _verdict({30: [0.50, 0.52, 0.48], 60: [0.40, 0.60, 0.50], 120: [0.50, 0.51, 0.49]},
                       {30: [0.20, 0.22, 0.18], 60: [0.45, 0.55, 0.50], 120: [0.70, 0.71, 0.69]})
    reading = strategy_reading(verdict, "Feature extraction", SIZES)
    assert reading.startswith("Feature extraction is ahead of training from scratch beyond two standard errors at "
                              "5 images per class, behind at 20.")
    assert "it changes sign in between" in reading
    never = _verdict({30: [0.2, 0.3]}, {30: [0.25, 0.26]})
    assert strategy_reading(never, "Fine-tuning", SIZES).startswith(
        "Fine-tuning is ahead of training from scratch beyond two standard errors at no size images per class.")


def _point(strategy: str, per_class, train: float, test: float, seed: int = 0) -> dict:
    return {"strategy": strategy, "arch": "resnet20", "per_class": per_class, "train_accuracy": train,
            "test_accuracy": test, "seed": seed}


def test_training_fit_report_lists_the_runs_that_did_not_fit() -> None:
    points = [_point("scratch", 5, 0.50, 0.20), _point("scratch", 5, 0.60, 0.22, seed=1),
              _point("scratch", None, 0.95, 0.70), _point("finetune", 5, 1.0, 0.45),
              _point("finetune", None, 0.99, 0.84), _point("finetune", None, 0.5, 0.1)]
    points[-1]["arch"] = "resnet18"  # another network's point is left out
    lines = training_fit_report(points, ["scratch", "finetune"], ["5", "all"], NAMES, "resnet20")
    assert lines[1] == "from scratch            5         55.0%     21.0%  +34.0 pt"
    assert lines[4] == "fine-tuned            all         99.0%     84.0%  +15.0 pt"
    assert lines[-1] == ("\nMean training accuracy below 90 % (the budget did not fit the training images): "
                         "from scratch at 5.")


def test_neighbour_confusions_count_the_mistakes_one_class_off() -> None:
    matrix = torch.tensor([[5, 2, 1], [0, 6, 3], [4, 0, 7]])
    assert neighbour_confusions(matrix) == (2 + 3 + 0 + 0, 2 + 1 + 3 + 4)


def test_binomial_tail_is_exact() -> None:
    assert binomial_tail(0, 5, 0.3) == pytest.approx(1.0)
    assert binomial_tail(5, 5, 0.5) == pytest.approx(1 / 32)
    assert binomial_tail(2, 3, 0.5) == pytest.approx(0.5)


def test_neighbour_confusion_report_needs_every_seed() -> None:
    classes = [str(k) for k in range(6)]
    all_near = [[10 if i == j else 3 if abs(i - j) == 1 else 0 for j in range(6)] for i in range(6)]
    spread = [[10 if i == j else 1 for j in range(6)] for i in range(6)]
    yes = neighbour_confusion_report([{"seed": 0, "confusion_matrix": all_near}], classes)
    assert yes[0] == ("seed 0: 30 of 90 test crops wrong, 30 of them off by one finger (100%; chance 33%), "
                      "p = 4.9e-15")
    assert yes[-1] == "Neighbouring counts are confused more often than chance: yes, in every seed (p < 0.01 each)."
    no = neighbour_confusion_report([{"seed": 0, "confusion_matrix": all_near},
                                     {"seed": 1, "confusion_matrix": spread}], classes)
    assert no[-1].endswith("not shown: at least one seed's mistakes are compatible with chance at p < 0.01.")
