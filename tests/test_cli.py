"""The ``resnet-course`` command: a real quick-mode training run, reloaded by ``evaluate``; clear errors;
no finished run lost (a full --out refused, --resume compared with the checkpoint), --seed repeatable, Ctrl-C
reported with the command that continues."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_course import cli
from resnet_course.cli import build_parser, main
from resnet_course.experiments.speed import throughput_comparison
from resnet_course.nn.weights import WEIGHTS, Weights
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


# ----------------------------------------------------------------------------------------
# Hardening (issue 13): no run lost or misreported, every anticipated error one line
# ----------------------------------------------------------------------------------------

TINY = ["--model", "resnet8", "--subset", "100", "--test-subset", "50", "--batch-size", "50", "--device", "cpu",
        "--no-progress"]  # 2 steps an epoch


def tiny_train(out: Path, data_root: Path, *extra: str) -> int:
    return main(["train", "--out", str(out), "--data-root", str(data_root), *TINY, *extra])


def run_files(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def one_line(err: str) -> str:
    err = err.strip()
    assert err.count("\n") == 0, err
    return err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """ResNet-8, one epoch of 100 images: a finished run to try things on (copy it first)."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    assert tiny_train(out, data_root, "--epochs", "1") == 0
    return out


@pytest.fixture
def finished(tiny_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


def test_a_finished_run_is_not_overwritten_unless_asked(finished: Path, data_root: Path, capsys) -> None:
    before = run_files(finished)
    assert tiny_train(finished, data_root, "--epochs", "1") == 2
    err = one_line(capsys.readouterr().err)
    assert f"--out {finished} is not empty" in err and "--resume" in err and "--overwrite" in err
    assert run_files(finished) == before  # best.pt and all
    (finished / "notes.txt").write_text("mine")
    assert tiny_train(finished, data_root, "--epochs", "1", "--overwrite", "--lr", "0.05") == 0
    meta = json.loads((finished / "metadata.json").read_text())
    assert meta["lr"] == 0.05 and "resumed" not in meta  # a new run, not a continued one
    assert (finished / "notes.txt").read_text() == "mine"  # only the run's own files are replaced
    with pytest.raises(SystemExit) as exit_info:
        tiny_train(finished, data_root, "--resume", "--overwrite")
    assert exit_info.value.code == 2


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--batch-size", "0"), ("--lr", "-0.1"),
                                         ("--subset", "0"), ("--momentum", "1.5"), ("--seed", "-1")])
def test_out_of_range_numbers_are_usage_errors(tmp_path: Path, capsys, flag: str, value: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path / "run"), flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}: must be" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_the_same_seed_gives_the_same_run(tmp_path: Path, data_root: Path) -> None:
    """--seed seeds before the model is built: the same command twice, the same initial weights and history."""
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert tiny_train(tmp_path / name, data_root, "--epochs", "1", "--seed", seed) == 0
    history = {name: json.loads((tmp_path / name / "history.json").read_text()) for name in "abc"}
    weights = {name: load_checkpoint(tmp_path / name / "last.pt")["model"] for name in "abc"}
    assert history["a"]["train_loss"] == history["b"]["train_loss"] and history["a"]["meta"]["seed"] == 3
    assert history["a"]["val_acc"] == history["b"]["val_acc"]
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert not torch.equal(weights["a"]["fc.weight"], weights["c"]["fc.weight"])  # the seed matters


def test_resume_refuses_other_settings_and_records_only_what_ran(finished: Path, data_root: Path, capsys) -> None:
    before = run_files(finished)
    assert tiny_train(finished, data_root, "--epochs", "2", "--lr", "0.05", "--batch-size", "25", "--resume") == 1
    err = one_line(capsys.readouterr().err)
    assert "cannot resume with other settings" in err and "lr 0.1 -> 0.05" in err and "batch_size 50 -> 25" in err
    assert run_files(finished) == before  # metadata.json still says what ran
    assert tiny_train(finished, data_root, "--epochs", "2", "--resume") == 0  # more epochs: allowed, and said
    meta = json.loads((finished / "metadata.json").read_text())
    assert meta["epochs"] == 2 and meta["resumed"] == [{"epoch": 1, "step": 0, "changed": {"epochs": [1, 2]}}]
    assert len(json.loads((finished / "history.json").read_text())["train_loss"]) == 2
    assert tiny_train(finished, data_root, "--epochs", "1", "--resume") == 1
    assert "epochs 1 is fewer than the 2" in one_line(capsys.readouterr().err)


def test_bad_output_folders_are_one_line(tmp_path: Path, data_root: Path, capsys) -> None:
    assert tiny_train(tmp_path / "none", data_root, "--resume") == 2
    assert "--resume" in one_line(capsys.readouterr().err) and not (tmp_path / "none").exists()
    (tmp_path / "file").write_text("x")
    assert tiny_train(tmp_path / "file", data_root) == 2
    assert "is a file" in one_line(capsys.readouterr().err)
    assert tiny_train(tmp_path / "file" / "run", data_root) == 2  # a folder inside a file
    assert "is a file, so no folder can be made inside it" in one_line(capsys.readouterr().err)


def test_leftovers_of_a_killed_checkpoint_write_are_cleaned(finished: Path, data_root: Path, capsys) -> None:
    leftover = finished / ".last.pt.99999999.tmp"
    before = run_files(finished)
    leftover.write_bytes(b"half")
    assert tiny_train(finished, data_root) == 2  # refused (not empty), but cleaned at the start anyway
    assert not leftover.exists() and ".tmp" not in capsys.readouterr().err
    assert run_files(finished) == before  # the finished run's own files untouched


def test_ctrl_c_says_where_the_run_is_and_how_to_continue(tmp_path: Path, data_root: Path, monkeypatch,
                                                         capsys) -> None:
    real_fit = cli.fit

    def ctrl_c_after_epoch_1(*args, **kwargs):
        def stop(epoch, history):
            raise KeyboardInterrupt

        return real_fit(*args, on_epoch_end=stop, **kwargs)

    argv = ["train", "--out", str(tmp_path / "run"), "--data-root", str(data_root), *TINY, "--epochs", "2"]
    monkeypatch.setattr(cli, "fit", ctrl_c_after_epoch_1)
    assert main(argv) == 130
    err = one_line(capsys.readouterr().err)
    assert f"continue from {tmp_path / 'run' / 'interrupted.pt'}" in err
    command = shlex.split(err.split("Continue it with: ")[1])
    assert command[:1] == ["resnet-course"] and command[1:] == [*argv, "--resume"]
    monkeypatch.setattr(cli, "fit", real_fit)
    assert main(command[1:]) == 0  # the command it printed continues the run
    assert main(["train", "--out", str(tmp_path / "straight"), *argv[3:]]) == 0
    resumed, straight = (json.loads((tmp_path / name / "history.json").read_text()) for name in ("run", "straight"))
    assert resumed["train_loss"] == straight["train_loss"] and resumed["val_acc"] == straight["val_acc"]
    assert not (tmp_path / "run" / "interrupted.pt").exists()


def test_an_unusable_cache_variable_is_named(tmp_path: Path, data_root: Path, monkeypatch, capsys) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("RESNET_COURSE_CACHE", str(tmp_path / "file"))
    assert tiny_train(tmp_path / "run", data_root, "--epochs", "1") == 1
    err = one_line(capsys.readouterr().err)
    assert str(tmp_path / "file") in err and "$RESNET_COURSE_CACHE" in err


def test_debug_shows_the_traceback(tmp_path: Path, capsys) -> None:
    assert main(["train", "--out", str(tmp_path / "run"), "--recipe", "fsat"]) == 1
    assert "Traceback" not in capsys.readouterr().err
    for argv in (["--debug", "train", "--out", str(tmp_path / "run"), "--recipe", "fsat"],
                 ["train", "--out", str(tmp_path / "run"), "--recipe", "fsat", "--debug"]):
        with pytest.raises(ValueError, match="unknown recipe 'fsat'"):
            main(argv)


def test_damaged_or_foreign_checkpoints_are_one_line(tiny_run: Path, tmp_path: Path, capsys) -> None:
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((tiny_run / "best.pt").read_bytes()[:5000])
    assert main(["evaluate", str(truncated)]) == 1
    err = one_line(capsys.readouterr().err)
    assert str(truncated) in err and "truncated or corrupt" in err
    bare = tmp_path / "bare.pt"
    torch.save(load_checkpoint(tiny_run / "best.pt")["model"], bare)  # weights alone: which data?
    assert main(["evaluate", str(bare)]) == 2
    assert "does not say which network and data" in one_line(capsys.readouterr().err)


# ----------------------------------------------------------------------------------------
# Hardening beyond the list: what a student or an instructor hits
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """The tiny run's two epochs in one go: what every stopped-and-continued run must equal."""
    out = tmp_path_factory.mktemp("straight") / "run"
    assert tiny_train(out, data_root, "--epochs", "2") == 0
    return out


def same_history(a: Path, b: Path) -> bool:
    first, second = (json.loads((run / "history.json").read_text()) for run in (a, b))
    return all(first[key] == second[key] for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"))


def test_resume_alone_continues_with_the_runs_own_settings(tmp_path: Path, straight_run: Path, data_root: Path,
                                                          monkeypatch, capsys) -> None:
    """The docstring's 'train --out DIR --resume': the network, data, subsets and settings come from the run."""
    real_fit = cli.fit

    def ctrl_c_after_epoch_1(*args, **kwargs):
        return real_fit(*args, on_epoch_end=lambda epoch, history: (_ for _ in ()).throw(KeyboardInterrupt),
                        **kwargs)

    monkeypatch.setattr(cli, "fit", ctrl_c_after_epoch_1)
    out = tmp_path / "run"
    assert tiny_train(out, data_root, "--epochs", "2") == 130
    monkeypatch.undo()
    monkeypatch.setenv("RESNET_COURSE_QUICK", "0")  # another session's mode: the run keeps its own
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--data-root", str(data_root), "--device", "cpu",
                 "--no-progress"]) == 0
    assert f"continuing resnet8 from {out / 'last.pt'}" in capsys.readouterr().out
    meta = json.loads((out / "metadata.json").read_text())
    assert (meta["model"], meta["train_images"], meta["test_images"], meta["batch_size"]) == ("resnet8", 100, 50, 50)
    assert meta["mode"] == "quick" and meta["epochs"] == 2
    assert same_history(out, straight_run)  # as if it had never stopped


@pytest.mark.parametrize("flag, value", [("--model", "resnet20"), ("--data", "hands")])
def test_resume_with_another_network_or_data_is_refused_before_reading_data(finished: Path, tmp_path: Path,
                                                                           capsys, flag: str, value: str) -> None:
    before = run_files(finished)
    argv = ["train", "--out", str(finished), "--resume", flag, value, "--data-root", str(tmp_path / "no-data")]
    assert main(argv) == 1  # no data there: a refusal after reading data would be another error
    err = one_line(capsys.readouterr().err)
    assert f"the run in {finished} trains resnet8 on cifar10" in err and f"leave {flag} out" in err
    assert "create_model" not in err and "resume=False" not in err  # the command's words, not the Python API's
    assert run_files(finished) == before


def test_a_read_only_output_folder_is_refused_before_any_work(finished: Path, tmp_path: Path, data_root: Path,
                                                             capsys) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    before = run_files(finished)
    finished.chmod(0o555)
    try:
        assert tiny_train(locked / "run", data_root, "--epochs", "1") == 2
        assert f"--out {locked / 'run'}: {locked} is read-only" in one_line(capsys.readouterr().err)
        assert tiny_train(finished, data_root, "--epochs", "2", "--resume") == 2  # a whole epoch would be lost
        assert f"{finished} is read-only" in one_line(capsys.readouterr().err)
    finally:
        locked.chmod(0o755)
        finished.chmod(0o755)
    assert not (locked / "run").exists() and run_files(finished) == before


def test_a_batch_larger_than_the_training_images_is_named(tmp_path: Path, data_root: Path, capsys) -> None:
    """The fast recipe drops incomplete batches: 100 images at batch 512 would train no step at all."""
    argv = ["train", "--out", str(tmp_path / "run"), "--recipe", "fast", "--model", "resnet8", "--subset", "100",
            "--epochs", "1", "--data-root", str(data_root), "--device", "cpu", "--no-progress"]
    assert main(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert "--batch-size 512 is more than the 100 training images" in err and "smaller --batch-size" in err
    assert not (tmp_path / "run").exists()


def test_a_full_disk_mid_run_loses_no_finished_epoch(tmp_path: Path, data_root: Path, straight_run: Path,
                                                     full_disk, monkeypatch, capsys) -> None:
    """torch.save turns ENOSPC into a RuntimeError ('enforce fail at inline_container.cc'): it was a traceback."""
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--data-root", str(data_root), *TINY, "--epochs", "2"]
    full_disk("last.pt", 2)  # epoch 2's checkpoint
    assert main(argv) == 1
    err = one_line(capsys.readouterr().err)
    assert f"No space left on device: {out / 'last.pt'}" in err
    assert f"{out / 'last.pt'} holds the last finished epoch (1), intact" in err
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert load_checkpoint(out / "last.pt")["epoch"] == 1  # the finished epoch, readable
    monkeypatch.undo()
    command = shlex.split(err.split("continue with: ")[1])
    assert command[1:] == [*argv, "--resume"] and main(command[1:]) == 0
    assert same_history(out, straight_run)


def test_a_full_disk_while_writing_history_keeps_the_run(tmp_path: Path, data_root: Path, full_disk, monkeypatch,
                                                          capsys) -> None:
    out = tmp_path / "run"
    full_disk("history.json", room=10)
    assert tiny_train(out, data_root, "--epochs", "1") == 1
    err = one_line(capsys.readouterr().err)
    assert f"No space left on device: {out / 'history.json'}" in err and "holds the last finished epoch (1)" in err
    monkeypatch.undo()
    assert main(shlex.split(err.split("continue with: ")[1])[1:]) == 0  # nothing left to train: writes the files
    assert len(json.loads((out / "history.json").read_text())["train_loss"]) == 1


def test_ctrl_c_after_the_last_epoch_points_at_the_finished_run(tmp_path: Path, data_root: Path, monkeypatch,
                                                                 capsys) -> None:
    """Ctrl-C while history.json is written: the run is finished, not 'nothing was saved'."""
    out = tmp_path / "run"

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "write_run", ctrl_c)
    assert tiny_train(out, data_root, "--epochs", "1") == 130
    err = one_line(capsys.readouterr().err)
    assert f"the run can continue from {out / 'last.pt'}" in err and "nothing was saved" not in err
    monkeypatch.undo()
    assert main(shlex.split(err.split("Continue it with: ")[1])[1:]) == 0
    assert len(json.loads((out / "history.json").read_text())["train_loss"]) == 1


def test_ctrl_c_while_the_data_is_read_changes_nothing(finished: Path, data_root: Path, monkeypatch,
                                                       capsys) -> None:
    before = run_files(finished)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_dataset", ctrl_c)
    assert tiny_train(finished, data_root, "--epochs", "2", "--resume") == 130
    assert one_line(capsys.readouterr().err) == "resnet-course train: interrupted; nothing was saved"
    assert run_files(finished) == before


def test_divergence_is_one_line_in_the_commands_words(tmp_path: Path, data_root: Path, capsys) -> None:
    assert tiny_train(tmp_path / "run", data_root, "--epochs", "1", "--lr", "1e30") == 1
    err = one_line(capsys.readouterr().err)
    assert "training diverged" in err and "nothing of the run was saved" in err
    assert "smaller --lr" in err and "--warmup-epochs 1" in err
    assert "warmup_epochs=" not in err and "grad_clip" not in err  # Python's words, not the command's


@pytest.mark.parametrize("how", ["--data-root", "RESNET_COURSE_DATA"])
def test_a_data_folder_that_is_a_file_is_named_as_such(tmp_path: Path, monkeypatch, capsys, how: str) -> None:
    """It was reported as 'the folder is read-only' (a download was tried into it)."""
    (tmp_path / "data").write_text("not a folder")
    argv = ["train", "--out", str(tmp_path / "run"), "--model", "resnet8", "--device", "cpu"]
    if how == "--data-root":
        argv += ["--data-root", str(tmp_path / "data")]
    else:
        monkeypatch.setenv("RESNET_COURSE_DATA", str(tmp_path / "data"))
    assert main(argv) == 1
    err = one_line(capsys.readouterr().err)
    assert f"the data folder {tmp_path / 'data'}" in err and "is a file" in err and "read-only" not in err
    assert ("(from $RESNET_COURSE_DATA)" in err) == (how == "RESNET_COURSE_DATA")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train", "evaluate"])
@pytest.mark.parametrize("device, expected", [("cuda", "device 'cuda': this machine has no CUDA GPU; use cpu"),
                                              ("gpu", "unknown device 'gpu': use cpu, cuda or cuda:N")],
                         ids=["cuda-without-gpu", "unknown-device"])
def test_an_unusable_device_is_a_usage_error(tiny_run: Path, tmp_path: Path, monkeypatch, capsys, command: str,
                                             device: str, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU machine, wherever the test runs
    target = ["--out", str(tmp_path / "run"), "--model", "resnet8"] if command == "train" else [
        str(tiny_run / "best.pt")]
    assert main([command, *target, "--device", device]) == 2
    assert one_line(capsys.readouterr().err) == f"resnet-course {command}: error: --device: {expected}"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, status, expected", [
    (["train", "--model", "resnt20"], 1, "unknown model 'resnt20'. Did you mean resnet20"),
    (["train", "--model", "resnet-20"], 1, "(the command: resnet-course list-models)"),
    (["train", "--recipe", "Fats"], 1, "unknown recipe 'Fats'. Did you mean 'fast'?"),
    (["experiment", "lesoin"], 2, "invalid choice: 'lesoin' (choose from"),
    (["experiment", "zoo", "--only", "resnt20"], 1, "not in the zoo: resnt20 (did you mean resnet20?)"),
], ids=["model", "model-list-models", "recipe", "experiment", "zoo-only"])
def test_a_near_miss_name_gets_a_suggestion(tmp_path: Path, capsys, argv: list[str], status: int,
                                            expected: str) -> None:
    argv = [*argv, "--out", str(tmp_path / "run")] if argv[0] == "train" else [*argv, "--runs-dir", str(tmp_path)]
    if status == 2:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    else:
        assert main(argv) == status
    assert expected in one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_quick_mode_value_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RESNET_COURSE_QUICK", "maybe")
    assert main(["train", "--out", str(tmp_path / "run")]) == 1
    err = one_line(capsys.readouterr().err)
    assert "RESNET_COURSE_QUICK must be 1 (quick) or 0 (full), not 'maybe'" in err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def mini_data(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A CIFAR-10 JPEG copy of 3 test images per class: enough for evaluate, quick to decode."""
    root = tmp_path_factory.mktemp("mini_data")
    for name in sorted(p.name for p in (data_root / "cifar10-jpg" / "test").iterdir()):
        (root / "cifar10-jpg" / "test" / name).mkdir(parents=True)
        for source in sorted((data_root / "cifar10-jpg" / "test" / name).iterdir())[:3]:
            shutil.copyfile(source, root / "cifar10-jpg" / "test" / name / source.name)
    return root


def test_evaluate_a_run_folder_points_at_its_checkpoint(tiny_run: Path, capsys) -> None:
    assert main(["evaluate", str(tiny_run)]) == 2
    assert one_line(capsys.readouterr().err).endswith(f"{tiny_run} is a folder, not a checkpoint: "
                                                      f"evaluate {tiny_run / 'best.pt'}")


def test_evaluate_a_file_that_is_no_checkpoint_does_not_say_delete_it(tiny_run: Path, capsys) -> None:
    """history.json given by mistake: it was 'truncated or corrupt ...; delete it'."""
    before = (tiny_run / "history.json").read_bytes()
    assert main(["evaluate", str(tiny_run / "history.json")]) == 1
    err = one_line(capsys.readouterr().err)
    assert "is not a PyTorch checkpoint at all (it looks like JSON)" in err and "best.pt or last.pt" in err
    assert "delete" not in err and (tiny_run / "history.json").read_bytes() == before


def test_evaluate_pinned_weights_of_the_zoo(tiny_run: Path, tmp_path: Path, mini_data: Path, monkeypatch,
                                           capsys) -> None:
    """results/zoo/resnet20.pt is a bare state dict: the pinned SHA-256 says which network and data it is."""
    bare = tmp_path / "resnet8.pt"
    torch.save(load_checkpoint(tiny_run / "best.pt")["model"], bare)
    digest = hashlib.sha256(bare.read_bytes()).hexdigest()
    assert main(["evaluate", str(bare), "--data-root", str(mini_data)]) == 2  # not pinned: which network?
    err = one_line(capsys.readouterr().err)
    assert "does not say which network and data" in err and "not weights the package pins" in err
    monkeypatch.setitem(WEIGHTS, ("resnet8", "cifar10"), Weights("resnet8.pt", digest, {"num_classes": 10}))
    assert main(["evaluate", str(bare), "--json", "--data-root", str(mini_data)]) == 0
    pinned = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["evaluate", str(tiny_run / "best.pt"), "--json", "--all-test-images", "--data-root",
                 str(mini_data)]) == 0
    checkpoint = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert pinned["model"] == "resnet8" and pinned["test_images"] == checkpoint["test_images"] == 30
    assert (pinned["accuracy"], pinned["loss"]) == (checkpoint["accuracy"], checkpoint["loss"])


def test_evaluate_with_damaged_metadata_beside_a_bare_checkpoint(tiny_run: Path, tmp_path: Path, capsys) -> None:
    """A metadata.json that is JSON but not a dict was a TypeError traceback."""
    torch.save(load_checkpoint(tiny_run / "best.pt")["model"], tmp_path / "bare.pt")
    for text in ("[1, 2]", "{not json"):
        (tmp_path / "metadata.json").write_text(text)
        assert main(["evaluate", str(tmp_path / "bare.pt")]) == 2
        assert f"{tmp_path / 'metadata.json'} is not the metadata a run writes" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv, flag", [(["experiment", "lesion", "--results-dir", "{folder}"], "--results-dir"),
                                        (["experiment", "lesion", "--results-dir", "{folder}", "--test-subset", "200"],
                                         "--results-dir")],
                         ids=["lesion", "lesion-toy"])
def test_a_finished_experiment_result_is_not_replaced_unless_asked(tmp_path: Path, capsys, argv: list[str],
                                                                   flag: str) -> None:
    """'experiment lesion --test-subset 200' replaced the book's reference lesion.json without a word."""
    result = tmp_path / "lesion.json"
    result.write_text(json.dumps({"meta": {"date": "2026-11-23T10:00:00", "device": "NVIDIA H100"}, "runs": {}}))
    before = result.read_bytes()
    assert main([word.format(folder=tmp_path) for word in argv] + ["--data-root", str(tmp_path / "none")]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"{result} holds a finished run (made 2026-11-23 on NVIDIA H100)" in err
    assert "add the networks it lacks with --extend" in err and "--overwrite" in err and flag in err
    assert result.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["lesion.json"]


def test_extend_and_overwrite_together_are_refused(tmp_path: Path, capsys) -> None:
    """--extend keeps a study's finished networks, --overwrite replaces them: both at once is a one-line error."""
    result = tmp_path / "lesion.json"
    result.write_text(json.dumps({"meta": {"date": "2026-11-23T10:00:00", "device": "NVIDIA H100"}, "runs": {}}))
    before = result.read_bytes()
    assert main(["experiment", "lesion", "--extend", "--overwrite", "--results-dir", str(tmp_path)]) == 2
    assert "--extend keeps the networks the result holds and --overwrite replaces them" in one_line(
        capsys.readouterr().err)
    assert result.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["lesion.json"]


def test_a_folder_another_train_is_writing_is_refused(finished: Path, tmp_path: Path, data_root: Path,
                                                      capsys) -> None:
    """Two trains into one --out each overwrote the other's last.pt and history.json without a word."""
    alive = str(os.getppid())  # a process that runs: the one that started the tests
    empty = tmp_path / "empty"
    empty.mkdir()
    for out, extra in ((empty, ()), (finished, ("--resume", "--epochs", "2"))):
        (out / ".lock").write_text(alive)
        before = run_files(out)
        assert tiny_train(out, data_root, "--epochs", "1", *extra) == 2
        err = one_line(capsys.readouterr().err)
        assert f"--out {out} is in use by another resnet-course train (process {alive})" in err
        assert run_files(out) == before  # the other run's files and its lock untouched


def test_a_stale_lock_of_a_killed_train_is_taken_over(finished: Path, data_root: Path) -> None:
    (finished / ".lock").write_text("99999999")  # its process is gone (kill -9)
    assert tiny_train(finished, data_root, "--epochs", "2", "--resume") == 0
    assert not (finished / ".lock").exists()
    assert len(json.loads((finished / "history.json").read_text())["train_loss"]) == 2


def test_a_run_another_train_finished_meanwhile_is_not_overwritten(tiny_run: Path, tmp_path: Path, data_root: Path,
                                                                   monkeypatch, capsys) -> None:
    """Both found --out empty; the other finished while this one read its data: checked again under the lock."""
    out = tmp_path / "run"
    real = cli.training_data

    def the_other_finishes_meanwhile(*args, **kwargs):
        loaded = real(*args, **kwargs)
        shutil.copytree(tiny_run, out)
        return loaded

    monkeypatch.setattr(cli, "training_data", the_other_finishes_meanwhile)
    assert tiny_train(out, data_root, "--epochs", "1") == 2
    assert f"--out {out} is not empty" in one_line(capsys.readouterr().err)
    assert run_files(out) == run_files(tiny_run)  # the finished run byte-identical, no lock left behind


@pytest.mark.parametrize("argv, refused", [
    (["experiment", "lesion", "--epochs", "3"], "experiment lesion does not take --epochs"),
    (["experiment", "zoo", "--points", "5", "--sizes", "5"], "experiment zoo does not take --points, --sizes"),
    (["experiment", "gestures", "--only", "resnet20"], "experiment gestures does not take --only"),
    (["experiment", "zoo", "--extend"], "experiment zoo does not take --extend"),
], ids=["lesion-epochs", "zoo-points-sizes", "gestures-only", "zoo-extend"])
def test_an_option_the_experiment_does_not_read_is_refused(tmp_path: Path, capsys, argv: list[str],
                                                           refused: str) -> None:
    """An option that does nothing (the toy --epochs of a study of stored networks) is a one-line error, before any
    work: nothing is written."""
    assert main([*argv, "--results-dir", str(tmp_path)]) == 2
    err = one_line(capsys.readouterr().err)
    assert refused in err and "resnet-course experiment --help" in err
    assert list(tmp_path.iterdir()) == []


def test_every_experiment_option_is_read_by_some_experiment() -> None:
    """The catalogue (experiments.catalogue) and the parser agree: no option is accepted and then ignored."""
    from resnet_course.experiments.catalogue import ALL_OPTIONS, EXPERIMENTS

    parser = build_parser()
    experiment = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("experiment"))
    dests = {action.dest for action in experiment._actions if action.dest not in ("help", "name", "debug")}
    assert dests == set(ALL_OPTIONS)
    assert set(EXPERIMENTS) == {"zoo", "gestures", "lesion", "landscape"}
