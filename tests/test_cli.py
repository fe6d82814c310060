"""The ``resnet-course`` command: a real quick-mode training run, reloaded by ``evaluate``; clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_course.cli import main
from resnet_course.experiments.speed import throughput_comparison
from resnet_course.training.checkpoint import load_checkpoint

METADATA_KEYS = {"model", "data", "data_variant", "epochs", "batch_size", "schedule", "device", "torch",
                 "wall_time_s", "commit", "date", "train_images", "test_images", "best_test_accuracy"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """ResNet-20, quick mode, 10,000 CIFAR-10 training images, 2 epochs (about a minute and a half)."""
    out = tmp_path_factory.mktemp("resnet20_quick")
    status = main(["train", "--model", "resnet20", "--out", str(out), "--epochs", "2", "--subset", "10000",
                   "--test-subset", "1000", "--data-root", str(data_root), "--device", "cpu", "--no-progress"])
    assert status == 0
    return out


def test_quick_run_learns(quick_run: Path) -> None:
    """A real learning check: 2 epochs on 10k images reach at least 40% test accuracy (chance: 10%)."""
    history = json.loads((quick_run / "history.json").read_text())
    assert len(history["val_acc"]) == 2
    assert history["val_acc"][-1] >= 0.40, history["val_acc"]
    assert history["train_loss"][1] < history["train_loss"][0]


def test_quick_run_writes_history_checkpoint_and_metadata(quick_run: Path) -> None:
    meta = json.loads((quick_run / "metadata.json").read_text())
    assert METADATA_KEYS <= set(meta), METADATA_KEYS - set(meta)
    assert meta["data_variant"] == "CIFAR-10 (JPEG copy)"
    assert meta["train_images"] == 10_000 and meta["test_images"] == 1_000 and meta["mode"] == "quick"
    checkpoint = load_checkpoint(quick_run / "best.pt")  # weights_only=True inside
    assert checkpoint["arch"] == "resnet20" and checkpoint["num_classes"] == 10
    assert checkpoint["history"]["meta"]["data"] == "cifar10"  # the checkpoint alone says what it was trained on


def test_evaluate_reloads_to_the_same_accuracy(quick_run: Path, data_root: Path, capsys) -> None:
    meta = json.loads((quick_run / "metadata.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(quick_run / "best.pt"), "--json", "--data-root", str(data_root)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["test_images"] == 1_000
    assert report["accuracy"] == pytest.approx(meta["best_test_accuracy"], abs=1e-9)


def test_unknown_model_fails_fast_with_one_line(tmp_path: Path, capsys) -> None:
    assert main(["train", "--model", "resnet21", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "resnet21" in err and "6n+2" in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_missing_checkpoint_and_bad_arguments_exit_non_zero(tmp_path: Path, capsys) -> None:
    assert main(["evaluate", str(tmp_path / "none.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "resnet20", "--out", str(tmp_path), "--epochs", "two"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--epochs" in err


def test_checkpoint_of_another_network_is_refused(quick_run: Path, tmp_path: Path, capsys) -> None:
    checkpoint = load_checkpoint(quick_run / "best.pt")
    checkpoint["arch"] = "resnet56"
    torch.save(checkpoint, tmp_path / "renamed.pt")
    (tmp_path / "metadata.json").write_text((quick_run / "metadata.json").read_text())
    assert main(["evaluate", str(tmp_path / "renamed.pt")]) == 1
    err = capsys.readouterr().err
    # The label says resnet56 but the weights are resnet20's: refused, naming the file and what is missing.
    assert "renamed.pt" in err and "do not fit" in err and "missing: layer1.3" in err


def test_module_entry_point_lists_models() -> None:
    result = subprocess.run([sys.executable, "-m", "resnet_course", "list-models"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0
    names = result.stdout.split()
    assert "resnet20" in names and "resnet152" in names and "preact_resnet1001" in names


def test_help_explains_the_commands(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "--schedule" in text and "history.json" in text


def test_bench_runs_both_ways(data_root: Path) -> None:
    """The benchmark's code works (its numbers are for benchmarks/, never asserted)."""
    report = throughput_comparison("resnet20", steps=2, batch_size=32, data_root=data_root, workers=0)
    assert [row.steps for row in report.rows] == [2, 2]
    assert report.rows[0].ratio == 1.0 and all(row.images_per_sec > 0 for row in report.rows)
    assert report.data_variant == "CIFAR-10 (JPEG copy)"
