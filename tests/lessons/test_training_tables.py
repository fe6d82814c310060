"""The tables of chapters 5 and 5b (resnet_course.lessons.training_tables): computed from the results,
networks that are not there left out, sentences that follow the numbers, lines that fit the column.
"""

from __future__ import annotations

import re

import pytest
import torch

from resnet_course.experiments.zoo import PAPER_TABLE6
from resnet_course.lessons.training_tables import (
    TimeToAccuracyRow,
    benchmark_target_verdict,
    benchmark_time_to_accuracy_row,
    curves_against_zoo,
    format_table6,
    format_time_to_accuracy,
    format_trick_gains,
    measure_images_per_second,
    recipe_table,
    schedule_gain,
    schedule_steps,
    speedup,
    table6_rows,
    target_verdict,
    time_to_accuracy_report,
    time_to_accuracy_rows,
    trick_gains,
)

COLUMN = 80  # characters of a table line that fit the book's column


def _zoo_result(test_error, tta=None, val_acc=(0.5, 0.8, 0.86, 0.91), rates=(100.0, 100.0, 10.0, 125.0),
                images=10_000, epochs=None):
    return {"meta": {"train_images": images, "epochs": epochs or len(val_acc), "parameters": 269_722},
            "settings": {"recipe": {"batch_size": 128, "drop_last": False}},
            "final": {"test_error": test_error, "test_error_flip_tta": tta, "train_error_eval": 0.05},
            "history": {"val_acc": list(val_acc), "images_per_sec": list(rates)}}


def _fits(text):
    return all(len(line) <= COLUMN for line in text.splitlines())


def test_recipe_table_shows_every_recipe_and_marks_the_differences():
    table = recipe_table(("paper", "fast", "zoo"))
    assert _fits(table)
    epochs = next(line for line in table.splitlines() if line.startswith("epochs"))
    assert epochs.split() == ["epochs", "182", "20*", "30*"]
    momentum = next(line for line in table.splitlines() if line.startswith("momentum"))
    assert "*" not in momentum


def test_table6_rows_leave_out_the_networks_not_trained():
    zoo = {"resnet56": _zoo_result(0.10, 0.09), "resnet20": _zoo_result(0.13, 0.12), "plain20": _zoo_result(0.2)}
    rows = table6_rows(zoo)
    assert [r.name for r in rows] == ["resnet20", "resnet56"]  # by depth; plain nets are not Table 6's
    assert rows[1].paper_error == pytest.approx(PAPER_TABLE6["resnet56"]["error"] / 100)
    text = format_table6(rows)
    assert _fits(text) and "ResNet-32" not in text and "ResNet-110" not in text
    line20 = next(line for line in text.splitlines() if line.startswith("ResNet-20"))
    assert "13.00 %" in line20 and "12.00 %" in line20 and "+4.25 pts" in line20  # 13.00 - 8.75


def test_target_verdict_below_the_target_says_so_with_the_numbers():
    verdict = target_verdict("resnet20", _zoo_result(0.1328, 0.1219))
    assert not verdict.reached and not verdict.reached_tta
    sentence = str(verdict)
    assert "86.72 %" in sentence and "87.81 %" in sentence and "below the 90 % target either way" in sentence
    assert "4.53 points below the paper's 91.25 %" in str(verdict)


def test_target_verdict_reached_only_with_flip_tta():
    verdict = target_verdict("resnet20", _zoo_result(0.105, 0.095))
    assert not verdict.reached and verdict.reached_tta
    assert "below the 90 % target with a single view, at or above it with flip TTA" in str(verdict)


def test_target_verdict_above_the_paper():
    verdict = target_verdict("resnet20", _zoo_result(0.08, 0.07))
    assert verdict.reached and "at or above the 90 % target" in str(verdict)
    assert "0.75 points above the paper's" in str(verdict)


def test_schedule_steps_counts_the_last_short_batch():
    steps = schedule_steps(_zoo_result(0.1, images=50_000, epochs=30))
    assert (steps.steps_per_epoch, steps.steps, steps.images_seen) == (391, 11_730, 1_500_000)
    assert steps.share_of_paper == pytest.approx(11_730 / 64_000)


THROUGHPUT = {"rows": [
    {"method": "usual", "images_per_sec": 100.0, "runs_images_per_sec": [80.0, 100.0]},
    {"method": "loader", "images_per_sec": 150.0, "runs_images_per_sec": [150.0]},
    {"method": "graphs", "images_per_sec": None, "note": "n/a on cpu"},
    {"method": "compile", "images_per_sec": 153.0, "runs_images_per_sec": [153.0]},
    {"method": "worse", "images_per_sec": 120.0, "runs_images_per_sec": [120.0]},
]}


def test_trick_gains_compare_each_row_with_the_last_measured_one():
    gains = {g.method: g for g in trick_gains(THROUGHPUT)}
    assert gains["usual"].verdict == "baseline" and gains["usual"].spread == pytest.approx(0.2)
    assert gains["loader"].over_previous == pytest.approx(1.5) and gains["loader"].verdict == "faster"
    assert gains["graphs"].images_per_sec is None and gains["graphs"].verdict == "n/a on cpu"
    assert gains["compile"].over_previous == pytest.approx(1.02) and gains["compile"].verdict == "no measurable change"
    assert gains["worse"].verdict == "slower" and gains["worse"].over_first == pytest.approx(1.2)
    assert _fits(format_trick_gains(list(gains.values())))


def test_speedup_names_a_missing_row():
    assert speedup(THROUGHPUT, "compile", over="loader") == pytest.approx(1.02)
    with pytest.raises(KeyError, match="no measured row 'graphs'"):
        speedup(THROUGHPUT, "graphs", over="usual")


def test_time_to_accuracy_uses_the_median_epoch_and_says_not_reached():
    rows = time_to_accuracy_rows({"resnet20": _zoo_result(0.1)}, targets=(0.85, 0.95))
    row = rows[0]
    assert row.median_epoch_s == pytest.approx(100.0)  # epochs of 100, 100, 1000 and 80 s: the median, not the mean
    assert row.to_target[0.85] == (3, pytest.approx(5.0)) and row.to_target[0.95] is None
    text = format_time_to_accuracy(rows)
    assert _fits(text) and re.search(r"3 ep, 5\.0 min\s+not reached", text)


def test_time_to_accuracy_columns_stay_apart_for_a_slow_deep_network():
    row = TimeToAccuracyRow("resnet110", 30, 0.9, 0.9, 586.5, 85.0, {0.85: (26, 254.1), 0.9: (29, 283.5)})
    text = format_time_to_accuracy([row])
    assert _fits(text) and re.search(r"586\.5 s {2,}26 ep, 254\.1 min {2,}29 ep, 283\.5 min$", text)


def test_format_trick_gains_continues_a_long_name_on_the_next_line():
    long = {"rows": [{"method": "usual", "images_per_sec": 100.0},
                     {"method": "all: + the fast recipe's batch, schedule, optimizer and more words",
                      "images_per_sec": 110.0}]}
    lines = format_trick_gains(trick_gains(long)).splitlines()
    assert _fits("\n".join(lines)) and len(lines) == 5
    assert lines[-1].startswith(" " * 34) and "more words" in lines[-1]


def test_time_to_accuracy_report_gives_minutes_and_the_usual_scripts_rate():
    result = _zoo_result(0.1)
    row = time_to_accuracy_rows({"resnet20": result}, targets=(0.85, 0.95))[0]
    text = time_to_accuracy_report(row, result, {"rows": [{"method": "usual", "images_per_sec": 50.0}]})
    assert "ResNet-20 to 85 % test accuracy: 3 epochs, 5.0 minutes at its median pace" in text
    assert "ResNet-20 to 95 % test accuracy: not reached in its 4 epochs (best 91.00 %)" in text
    assert "its epochs ran at 10 to 125 images/s" in text
    assert "on the same CPU: 50.0 images/s, 200 s per epoch" in text  # 10,000 images at 50 per second
    assert "the 3 epochs to 85 % would take 10.0 minutes" in text


def test_the_tables_of_the_stored_results_fit_the_column():
    from resnet_course.experiments.results import load_result
    from resnet_course.experiments.zoo import load_zoo

    zoo = load_zoo(missing_ok=True)
    assert _fits(format_table6(table6_rows(zoo))) and _fits(format_time_to_accuracy(time_to_accuracy_rows(zoo)))
    assert _fits(format_trick_gains(trick_gains(load_result("throughput_cpu_resnet20"))))


def test_measure_images_per_second_trains_a_few_steps_and_keeps_the_random_state():
    from resnet_course.data.imageset import ImageSet

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=generator)
    data = ImageSet(images, torch.arange(64) % 10, [str(c) for c in range(10)], "random", "train")
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    rate = measure_images_per_second("resnet20", data, "cpu", batch_size=16, steps=2, warmup=1)
    assert rate > 0 and torch.equal(torch.rand(2), expected)


def _benchmark_result(val_acc=(0.5, 0.86, 0.905), seconds=(60.0, 70.0, 50.0), max_epochs=60, tta=True,
                      single_view=None):
    """A stored run of benchmarks/time_to_accuracy.py: its meta block and the TimeToAccuracy fields read here."""
    cumulative = [sum(seconds[: i + 1]) for i in range(len(seconds))]
    return {"meta": {"device": "CPU x86_64 (2 threads)", "train_images": 50_000},
            "result": {"model": "resnet20", "recipe": "fast", "batch_size": 128, "max_epochs": max_epochs,
                       "epochs": len(val_acc), "val_acc": list(val_acc), "train_seconds_cumulative": cumulative,
                       "train_seconds": cumulative[-1], "train_images": 50_000,
                       "fit_settings": {"lr": 0.1, "tta_flip": tta},
                       "history": {"images_per_sec": [50_000 / s for s in seconds]},
                       **({} if single_view is None else {"final_single_view_acc": single_view})}}


def test_benchmark_verdict_says_when_the_target_was_reached_and_with_which_view():
    verdict = benchmark_target_verdict(_benchmark_result(), target=0.90)
    assert verdict.to_target == (3, pytest.approx(3.0)) and verdict.tta  # 60 + 70 + 50 s of training
    text = str(verdict)
    assert "fast recipe at batch 128 and peak lr 0.1, a 60-epoch schedule, on CPU x86_64 (2 threads)" in text
    assert "reaches 90.50 % test accuracy with flip TTA after 3 of 60 epochs, 3 minutes of training" in text
    assert "at or above the 90 % target" in text
    assert "0.75 points below the paper's 91.25 % (which tests a single view)" in text
    assert verdict.single_view is None and "Tested on a single view" not in text  # an older run stored none


def test_benchmark_verdict_adds_the_single_view_accuracy_beside_the_papers():
    verdict = benchmark_target_verdict(_benchmark_result(single_view=0.8975), target=0.90)
    assert verdict.single_view == pytest.approx(0.8975)
    assert ("Tested on a single view, as the paper tests, its last epoch's network reaches 89.75 %: "
            "1.50 points below the paper's.") in str(verdict)


def test_benchmark_verdict_says_below_the_target_with_the_best_epoch():
    verdict = benchmark_target_verdict(_benchmark_result(val_acc=(0.5, 0.89, 0.88), tta=False), target=0.90)
    assert verdict.to_target is None and verdict.accuracy == pytest.approx(0.89)
    text = str(verdict)
    assert "reaches at best 89.00 % test accuracy with a single view in its 3 epochs: below the 90 % target" in text
    assert "2.25 points below the paper's 91.25 %." in text and "at or above" not in text


def test_benchmark_row_counts_the_minutes_the_run_trained_not_a_median_pace():
    stored = _benchmark_result()
    row = benchmark_time_to_accuracy_row(stored, targets=(0.85, 0.90, 0.95))
    assert row.median_epoch_s == pytest.approx(60.0)
    assert row.to_target[0.85] == (2, pytest.approx(130 / 60)) and row.to_target[0.95] is None
    text = time_to_accuracy_report(row, stored, {"rows": [{"method": "usual", "images_per_sec": 500.0}]})
    assert "ResNet-20 to 85 % test accuracy: 2 epochs, 2.2 minutes of its own training" in text
    assert "the 2 epochs to 85 % would take 3.3 minutes" in text  # 2 × 50,000 images at 500 per second


def test_curves_against_zoo_count_the_epochs_behind_and_the_first_pass() -> None:
    zoo_curve = [0.5, 0.7, 0.8, 0.85]
    lines = curves_against_zoo({"fast": [0.4, 0.6, 0.86, 0.90], "slow": [0.4, 0.5]}, zoo_curve)
    assert lines == ["fast: behind the zoo run at 2 of its 4 epochs; first above its final 85.00% at epoch 3 of 4",
                     "slow: behind the zoo run at 2 of its 4 epochs; never above its final 85.00% in 2 epochs"]


def test_schedule_gain_compares_the_best_epochs() -> None:
    shorter, longer = {"max_epochs": 60, "val_acc": [0.5, 0.893]}, {"max_epochs": 120, "val_acc": [0.4, 0.9018]}
    assert schedule_gain(shorter, longer) == ("the 120-epoch schedule's best epoch against the 60-epoch one's: "
                                              "+0.88 points")
