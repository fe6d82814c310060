"""Resuming honestly: old checkpoints, changed settings, leftovers, Ctrl-C's report, the epoch log, the device.

Tiny network, tiny synthetic data, one CPU thread (the helpers are test_train.py's).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from test_train import Interrupting, TinyLoader, TinyNet, assert_same_weights, loaders, make_data, tiny

from resnet_course.training import (
    ResumeMismatchError,
    TrainConfig,
    TrainingInterrupted,
    fit,
    get_recipe,
    load_checkpoint,
    remove_leftovers,
    resolve_device,
)
from resnet_course.training.checkpoint import LOCK, FolderInUseError, folder_lock, lock_holder

pytestmark = pytest.mark.usefixtures("one_thread")

DATA = Path(__file__).parent / "data"
QUIET = dict(progress=False, device="cpu")
# The run behind tests/training/data/v1_*.pt, written by fit at commit 40c1bbe (FORMAT_VERSION 1, before
# TrainConfig): TinyNet seeded 0 on TinyLoader(make_data(320, seed=1)), validated on make_data(128, seed=2),
# interrupted at epoch 1, step 3 (v1_interrupted.pt); v1_expected.pt holds that code's uninterrupted run.
V1_RECIPE = TrainConfig(epochs=3, schedule="paper", warmup_epochs=0.5, momentum=0.9, lr=0.05)


@pytest.fixture(scope="module")
def data():
    x, y = make_data(320, seed=1)
    xv, yv = make_data(128, seed=2)
    return x, y, xv, yv


def v1_loaders() -> tuple[TinyLoader, TinyLoader]:
    x, y = make_data(320, seed=1)
    xv, yv = make_data(128, seed=2)
    return TinyLoader(x, y), TinyLoader(xv, yv, shuffle=False, augment=False)


def test_a_checkpoint_of_the_old_format_resumes_bit_identically(tmp_path: Path) -> None:
    expected = torch.load(DATA / "v1_expected.pt", weights_only=True)
    shutil.copy(DATA / "v1_interrupted.pt", tmp_path / "interrupted.pt")
    assert load_checkpoint(tmp_path / "interrupted.pt")["format_version"] == 1
    resumed = tiny(seed=7)
    history = fit(resumed, *v1_loaders(), V1_RECIPE, checkpoint_dir=tmp_path, resume=True, **QUIET)
    reference = TinyNet()
    reference.load_state_dict(expected["weights"])
    assert_same_weights(resumed, reference)  # the old code's uninterrupted run, to the bit
    assert history.train_loss == expected["train_loss"] and history.val_acc == expected["val_acc"]
    straight = tiny()
    fit(straight, *v1_loaders(), V1_RECIPE, **QUIET)  # and this code's uninterrupted run is the old code's
    assert_same_weights(straight, reference)


def test_keywords_and_a_config_train_the_same(data) -> None:
    """fit(model, train, val, config) and fit(..., **config.fit_kwargs()) (code written before TrainConfig)."""
    fast = get_recipe("fast").replace(epochs=2, batch_size=32, compile=False)
    by_config, by_keywords = tiny(), tiny()
    h1 = fit(by_config, *loaders(data), fast, **QUIET)
    h2 = fit(by_keywords, *loaders(data), **fast.fit_kwargs(), **QUIET)
    assert_same_weights(by_config, by_keywords)
    assert h1.train_loss == h2.train_loss
    assert h1.meta["batch_size"] == 32 and h1.meta["label_smoothing"] == 0.1  # the settings as used


@pytest.mark.parametrize("changes, named", [
    ({"lr": 0.1}, ["lr 0.05 -> 0.1"]),
    ({"schedule": "paper", "label_smoothing": 0.1}, ["schedule 'constant' -> 'paper'", "label_smoothing 0.0 -> 0.1"]),
    ({"seed": 1}, ["seed 0 -> 1"]),
    ({"epochs": 1}, ["epochs 1 is fewer than the 2 epoch(s) it has begun"]),
], ids=["lr", "schedule-and-label-smoothing", "seed", "fewer-epochs"])
def test_resuming_with_other_settings_is_refused_naming_them(data, tmp_path: Path, changes, named) -> None:
    config = TrainConfig(epochs=3, lr=0.05, schedule="constant")
    with pytest.raises(KeyboardInterrupt):
        fit(tiny(), Interrupting(TinyLoader(*data[:2]), epoch=1, step=3), config=config, checkpoint_dir=tmp_path,
            **QUIET)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ResumeMismatchError) as caught:
        fit(tiny(), TinyLoader(*data[:2]), config=config.replace(**changes), checkpoint_dir=tmp_path, resume=True,
            **QUIET)
    message = str(caught.value)
    assert all(part in message for part in named), message
    assert "interrupted.pt" in message and "\n" not in message
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing touched, nothing recorded


def test_another_batch_size_or_caller_meta_is_refused_too(data, tmp_path: Path) -> None:
    config = TrainConfig(epochs=2, lr=0.05)
    fit(tiny(), TinyLoader(*data[:2]), config=config, checkpoint_dir=tmp_path, meta={"data": "a"}, **QUIET)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ResumeMismatchError, match="batch_size 32 -> 64.*steps_per_epoch 10 -> 5"):
        fit(tiny(), TinyLoader(*data[:2], batch_size=64), config=config, checkpoint_dir=tmp_path, resume=True,
            meta={"data": "a"}, **QUIET)
    with pytest.raises(ResumeMismatchError, match="data 'a' -> 'b'"):
        fit(tiny(), TinyLoader(*data[:2]), config=config, checkpoint_dir=tmp_path, resume=True, meta={"data": "b"},
            **QUIET)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # refused before anything was written


def test_more_epochs_are_allowed_and_recorded(data, tmp_path: Path, capsys) -> None:
    train, val = loaders(data)
    fit(tiny(), train, val, epochs=1, lr=0.05, checkpoint_dir=tmp_path, **QUIET)
    history = fit(tiny(), train, val, epochs=2, lr=0.05, checkpoint_dir=tmp_path, resume=True, progress="log",
                  device="cpu")
    assert history.epochs == 2 and history.meta["epochs"] == 2
    assert history.meta["resumed"] == [{"epoch": 1, "step": 0, "changed": {"epochs": [1, 2]}}]
    out = capsys.readouterr().out
    assert "resumed from" in out and "that run planned 1 epochs; the lr schedule now spans 2" in out
    again = fit(tiny(), train, val, epochs=2, lr=0.05, checkpoint_dir=tmp_path, resume=True, **QUIET)
    assert again.epochs == 2  # nothing left to do: the history as it was
    assert load_checkpoint(tmp_path / "last.pt")["history"]["meta"]["resumed"] == history.meta["resumed"]


def test_a_run_stopped_by_on_epoch_end_stays_stopped_when_resumed(data, tmp_path: Path, capsys) -> None:
    """time_to_accuracy run again after it met its target must not train one more epoch."""
    train, val = loaders(data)

    def after_first(epoch, history):
        return history.epochs >= 1

    first = fit(tiny(), train, val, epochs=3, lr=0.05, checkpoint_dir=tmp_path, on_epoch_end=after_first, **QUIET)
    assert first.epochs == 1
    again = fit(tiny(), train, val, epochs=3, lr=0.05, checkpoint_dir=tmp_path, resume=True, progress="log",
                device="cpu", on_epoch_end=after_first)
    assert again.epochs == 1 and again.val_acc == first.val_acc
    assert "met the stopping condition" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "last.pt")["history"]["val_acc"] == first.val_acc
    later = fit(tiny(), train, val, epochs=3, lr=0.05, checkpoint_dir=tmp_path, resume=True, **QUIET)
    assert later.epochs == 3  # without the condition the run continues as planned


def test_ctrl_c_reports_where_the_run_is_saved(data, tmp_path: Path) -> None:
    train, val = loaders(data)
    with pytest.raises(TrainingInterrupted) as caught:
        fit(tiny(), Interrupting(train, epoch=0, step=4), val, epochs=2, checkpoint_dir=tmp_path, **QUIET)
    stop = caught.value
    assert isinstance(stop, KeyboardInterrupt)
    assert stop.checkpoint == tmp_path / "interrupted.pt" and (stop.epoch, stop.step) == (0, 4)
    assert str(tmp_path / "interrupted.pt") in str(stop) and "resume=True" in str(stop)
    with pytest.raises(TrainingInterrupted, match="no checkpoint_dir: not saved") as caught:
        fit(tiny(), Interrupting(train, epoch=0, step=2), val, epochs=1, **QUIET)
    assert caught.value.checkpoint is None


@pytest.mark.usefixtures("ctrl_c_raises")
def test_a_second_ctrl_c_stops_at_once_and_saves_nothing_half_done(data, tmp_path: Path) -> None:
    """The second press may land in the middle of a step: the last finished epoch's last.pt is the resume point."""

    def ctrl_c_twice_in_epoch_2(loader):
        class Loader:
            def __len__(self):
                return len(loader)

            def __iter__(self):
                for step, batch in enumerate(loader):
                    if loader.epoch == 2 and step == 2:  # the loader counts its passes (epoch 1 is the 2nd)
                        os.kill(os.getpid(), signal.SIGINT)
                        os.kill(os.getpid(), signal.SIGINT)
                    yield batch

        return Loader()

    train, val = loaders(data)
    with pytest.raises(TrainingInterrupted) as caught:
        fit(tiny(), ctrl_c_twice_in_epoch_2(train), val, epochs=3, checkpoint_dir=tmp_path, **QUIET)
    assert caught.value.checkpoint == tmp_path / "last.pt" and "stopped at once" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no interrupted.pt
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1


def test_ctrl_c_again_right_after_a_mid_epoch_resume_still_resumes_exactly(data, tmp_path: Path) -> None:
    """The position saved then is the checkpoint's own (its random state already in saved form)."""
    x, y, xv, yv = data
    val = TinyLoader(xv, yv, shuffle=False, augment=False)
    config = TrainConfig(epochs=2, lr=0.05)
    straight = tiny()
    fit(straight, TinyLoader(x, y), val, config, **QUIET)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny(), Interrupting(TinyLoader(x, y), epoch=1, step=3), val, config, checkpoint_dir=tmp_path, **QUIET)
    with pytest.raises(KeyboardInterrupt):  # the replay skips steps 0-2; Ctrl-C before step 3 runs
        fit(tiny(), Interrupting(TinyLoader(x, y), epoch=0, step=3), val, config, checkpoint_dir=tmp_path,
            resume=True, **QUIET)
    assert load_checkpoint(tmp_path / "interrupted.pt")["step"] == 3
    resumed = tiny(seed=3)
    fit(resumed, TinyLoader(x, y), val, config, checkpoint_dir=tmp_path, resume=True, **QUIET)
    assert_same_weights(straight, resumed)


def test_leftovers_of_a_killed_checkpoint_write_are_removed_at_the_next_start(data, tmp_path: Path) -> None:
    dead = tmp_path / ".last.pt.99999999.tmp"  # a pid no process has: the write was killed
    alive = tmp_path / f".last.pt.{os.getppid()}.tmp"  # a live process might still be writing it
    other = tmp_path / "notes.tmp"  # not a checkpoint write's: never touched
    for path in (dead, alive, other):
        path.write_bytes(b"half a checkpoint")
    assert remove_leftovers(tmp_path / "missing") == []
    fit(tiny(), TinyLoader(*data[:2]), epochs=1, lr=0.05, checkpoint_dir=tmp_path, **QUIET)
    assert not dead.exists() and alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["last.pt", "notes.tmp"]


def test_progress_log_prints_a_line_per_epoch_without_a_bar(data, capsys) -> None:
    train, val = loaders(data)
    fit(tiny(), train, val, epochs=2, lr=0.05, device="cpu", progress="log")
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: train loss") and "val loss" in lines[1]
    assert out.err == ""  # no bar
    with pytest.raises(ValueError, match="progress must be"):
        fit(tiny(), train, epochs=1, device="cpu", progress="verbose")


def test_one_device_resolver() -> None:
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(torch.device("cpu")).type == "cpu"
    assert resolve_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu0': use cpu, cuda or cuda:N"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU; use cpu"):
            resolve_device("cuda")
    else:
        assert resolve_device("cuda").index is not None  # this process's GPU, by number


def test_a_full_disk_during_a_checkpoint_write_raises_the_oserror_and_keeps_the_last_one(data, tmp_path: Path,
                                                                                       full_disk) -> None:
    """torch.save reports ENOSPC as 'RuntimeError: [enforce fail at inline_container.cc] unexpected pos';
    atomic_write raises the OSError itself, naming the file, and the previous checkpoint stays whole."""
    config = TrainConfig(epochs=2, lr=0.05)
    fit(tiny(), TinyLoader(*data[:2]), config=config.replace(epochs=1), checkpoint_dir=tmp_path, **QUIET)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    full_disk("last.pt")
    with pytest.raises(OSError) as caught:
        fit(tiny(), TinyLoader(*data[:2]), config=config, checkpoint_dir=tmp_path, resume=True, **QUIET)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "last.pt")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary file, epoch 1 intact


def test_another_batch_size_after_a_mid_epoch_stop_is_refused(data, tmp_path: Path) -> None:
    """The issue's case: the replayed epoch would be cut into other batches than the ones already trained."""
    config = TrainConfig(epochs=2, lr=0.05)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny(), Interrupting(TinyLoader(*data[:2]), epoch=0, step=3), config=config, checkpoint_dir=tmp_path,
            **QUIET)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ResumeMismatchError, match=r"interrupted\.pt: cannot resume .*batch_size 32 -> 64"):
        fit(tiny(), TinyLoader(*data[:2], batch_size=64), config=config, checkpoint_dir=tmp_path, resume=True,
            **QUIET)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_folder_lock_refuses_a_second_writer_and_takes_over_a_stale_one(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text(str(os.getppid()))  # held by a live process
    with pytest.raises(FolderInUseError, match=f"in use by process {os.getppid()}"):
        with folder_lock(tmp_path):
            pass
    assert (tmp_path / LOCK).read_text() == str(os.getppid())  # not taken from its holder
    (tmp_path / LOCK).write_text("99999999")  # its process is gone
    with folder_lock(tmp_path) as lock:
        assert lock.read_text() == str(os.getpid()) and lock_holder(tmp_path) is None  # ours
    assert not lock.exists()  # released
