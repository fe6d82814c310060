"""The small objects :func:`~resnet_course.training.fit` calls around its loop, one concern each.

Callbacks in PyTorch Lightning's sense, but named and called explicitly so that the loop
reads top to bottom: :class:`StopOnCtrlC` (finish the step, then stop), :class:`NaNGuard`
(stop on a non-finite loss before it reaches a checkpoint), :class:`ProgressBar` (a tqdm
bar over the run's steps) and :class:`EpochLog` (one line per epoch, also without the
bar, so a long run's log file shows its progress). Checkpoints are written by
:class:`~resnet_course.training.checkpoint.Checkpointer`.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from resnet_course.training.history import History

__all__ = ["EpochLog", "NaNGuard", "ProgressBar", "progress_modes", "StopOnCtrlC", "TrainingDiverged",
           "TrainingInterrupted"]


# ----------------------------------------------------------------------------------------
# Ctrl-C: finish the step, then stop
# ----------------------------------------------------------------------------------------


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C; ``checkpoint`` is the file to resume from (or ``None``).

    That is the ``interrupted.pt`` saved at the stop -- or, after a second Ctrl-C that
    stopped in the middle of a step, the last finished epoch's ``last.pt``. ``epoch``
    (from 0) and ``step`` say where the run stopped: ``step`` batches of that epoch were done.
    """

    def __init__(self, message: str, *, checkpoint: Path | None, epoch: int, step: int) -> None:
        super().__init__(message)
        self.checkpoint, self.epoch, self.step = checkpoint, epoch, step


class StopOnCtrlC:
    """Turn the first Ctrl-C (or Jupyter's "interrupt kernel") into a request to stop at
    the end of the current step, so the weights are never saved half-updated; a second
    Ctrl-C stops at once (``forced``: the weights may then be half-updated, and are not
    saved). Only in the main thread, and only if nobody else has replaced Python's default
    handler."""

    def __init__(self) -> None:
        self.requested = False
        self.forced = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            self.forced = True
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nInterrupt: stopping after this step (press again to stop at once)\n")

    def __enter__(self) -> StopOnCtrlC:
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# ----------------------------------------------------------------------------------------
# NaN guard
# ----------------------------------------------------------------------------------------


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite.

    ``epoch`` and ``step`` are 0-based indices (the message also counts from 1, like the
    progress bar); ``lr`` is the learning rate of that step.
    """

    def __init__(self, message: str, *, epoch: int = -1, step: int = -1, lr: float = math.nan) -> None:
        super().__init__(message)
        self.epoch, self.step, self.lr = epoch, step, lr


class NaNGuard:
    """Raise :class:`TrainingDiverged` when the earliest non-finite step's index is known.

    The loop tracks that index on the device and reads it every few steps (reading every
    step would stall a GPU); the guard is asked before every checkpoint, so ``last.pt``
    never holds non-finite weights. ``lr_at(epoch, step)`` names the step's learning rate.
    """

    def __init__(self, lr_at: Callable[[int, int], float], checkpoint_dir: Path | None) -> None:
        self.lr_at, self.checkpoint_dir = lr_at, checkpoint_dir

    def check(self, epoch: int, first_bad_step: float) -> None:
        if first_bad_step < math.inf:
            raise self.diverged(epoch, int(first_bad_step))

    def diverged(self, epoch: int, step: int) -> TrainingDiverged:
        lr = self.lr_at(epoch, step)
        message = (
            f"training diverged: the loss became NaN or infinite at step {step + 1} of epoch {epoch + 1} "
            f"(0-based: epoch index {epoch}, step index {step}) with lr {lr:.4g}. "
        )
        last = self.checkpoint_dir / "last.pt" if self.checkpoint_dir is not None else None
        if last is not None and last.exists():
            message += f"The last good checkpoint, {last}, is untouched. "
        message += (
            "Try a smaller lr, a warm-up (warmup_epochs=1; the paper warms ResNet-110 up, §4.2), "
            "grad_clip=..., or amp='bf16' instead of 'fp16'."
        )
        return TrainingDiverged(message, epoch=epoch, step=step, lr=lr)


# ----------------------------------------------------------------------------------------
# Progress: a bar over the steps, a line per epoch
# ----------------------------------------------------------------------------------------


def progress_modes(progress: bool | str) -> tuple[bool, bool]:
    """``(bar, lines)`` for fit's ``progress``: ``True`` both, ``"log"`` the epoch lines only, ``False`` neither."""
    if progress is True or progress == "bar":
        return True, True
    if progress == "log":
        return False, True
    if progress is False or progress is None:
        return False, False
    raise ValueError(f"progress must be True (bar and lines), 'log' (a line per epoch) or False, not {progress!r}")


class ProgressBar:
    """A tqdm bar over all the run's steps: the epoch in its title, loss, accuracy and images/s after it."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=done, disable=not enabled, unit="step", dynamic_ncols=True)

    def epoch(self, epoch: int, epochs: int) -> None:
        self.bar.set_description(f"epoch {epoch + 1}/{epochs}")

    def step(self) -> None:
        self.bar.update(1)

    def show(self, loss: float, accuracy: float, images_per_sec: float | None = None) -> None:
        shown = {"loss": f"{loss:.3f}", "acc": f"{accuracy:.1%}"}
        if images_per_sec is not None:
            shown["img_s"] = f"{images_per_sec:.0f}"
        self.bar.set_postfix(**shown)

    def close(self) -> None:
        self.bar.close()


class EpochLog:
    """One line per epoch (and the run's few messages), written above the bar when there is
    one, else printed and flushed -- so a run with its output in a file logs every epoch."""

    def __init__(self, enabled: bool, bar: ProgressBar | None = None) -> None:
        self.enabled, self.bar = enabled, bar

    def say(self, message: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None and self.bar.enabled:
            tqdm.write(message)
        else:
            print(message, flush=True)

    def epoch_end(self, history: History, epoch: int, epochs: int, validated: bool) -> None:
        line = f"epoch {epoch + 1}/{epochs}: train loss {history.train_loss[-1]:.4f} acc {history.train_acc[-1]:.2%}"
        if validated:
            line += f" | val loss {history.val_loss[-1]:.4f} acc {history.val_acc[-1]:.2%}"
        line += f" | lr {history.lr[-1]:.4g} | {history.images_per_sec[-1]:.0f} img/s"
        line += f" | {history.epoch_time[-1]:.1f} s"
        self.say(line)
