"""Checkpoints: written atomically, read with ``weights_only=True``, resumed exactly.

A checkpoint holds everything a run needs to continue as if it had never stopped: the
weights, the optimiser's momentum, the schedule's position, the loss scaler, the history,
the random state, and where in the run it was taken (:class:`Position`). One taken in the
middle of an epoch (Ctrl-C) also holds the random state of the epoch's start and the
epoch's running sums, so that :func:`epoch_batches` can replay the epoch's batches up to
the step and continue bit for bit. :func:`resume_from` refuses a run whose settings differ
from the checkpoint's (:class:`ResumeMismatchError`) and :class:`Checkpointer` is what
:func:`~resnet_course.training.fit` calls to write them.

Read top to bottom: random state, writing and reading files, where a run is, resuming,
and the :class:`Checkpointer`.
"""

from __future__ import annotations

import json
import random
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from resnet_course.training.files import (
    LOCK,
    FolderInUseError,
    atomic_copy,
    atomic_write,
    folder_lock,
    lock_holder,
    remove_leftovers,
)
from resnet_course.training.history import History, PathLike
from resnet_course.training.runtime import model_device, unwrap

if TYPE_CHECKING:
    from resnet_course.training.loop import Run

__all__ = [
    "atomic_copy", "atomic_write", "check_compatible", "CheckpointError", "Checkpointer", "CheckpointMismatchError",
    "epoch_batches", "folder_lock", "FolderInUseError", "FORMAT_VERSION", "get_rng_state", "holds_checkpoint",
    "latest_checkpoint", "load_checkpoint", "LOCK", "lock_holder", "Position", "remove_leftovers", "RESUMABLE",
    "RESUME_MAY_CHANGE", "Resumed", "resume_changes", "resume_from", "ResumeMismatchError", "rng_for_saving",
    "save_checkpoint", "set_rng_state"
]


FORMAT_VERSION = 1  # of the checkpoint files; bump when their layout changes


class CheckpointMismatchError(ValueError):
    """A checkpoint holds the weights of a different network (architecture or classes)."""


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read: truncated, corrupt, or not a checkpoint."""


class ResumeMismatchError(ValueError):
    """A run was asked to resume with other settings than those its checkpoint was trained with."""


# ----------------------------------------------------------------------------------------
# Random-number state: what makes a resumed run repeat the uninterrupted one
# ----------------------------------------------------------------------------------------


def get_rng_state(device: torch.device) -> dict[str, Any]:
    """Every global generator a training step may draw from (cheap: a few microseconds)."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def rng_for_saving(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """The same state as tensors, lists and numbers only, so ``weights_only`` loading works.

    A state already in that form (read from a checkpoint) is returned as it is.
    """
    if state is None or isinstance(state["python"], dict):
        return state
    version, internal, gauss_next = state["python"]
    numpy_state = state["numpy"]
    if not isinstance(numpy_state, dict):
        name, keys, pos, has_gauss, cached = numpy_state
        numpy_state = {
            "name": str(name),
            "keys": [int(k) for k in keys],
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        }
    return {
        "torch": state["torch"],
        "cuda": state["cuda"],
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": numpy_state,
    }


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore a state saved by :func:`rng_for_saving`."""
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss_next"]))
    n = state["numpy"]
    keys = np.array(n["keys"], dtype=np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))


# ----------------------------------------------------------------------------------------
# Files: written atomically (resnet_course.training.files), read with weights_only=True
# ----------------------------------------------------------------------------------------


def save_checkpoint(
    path: PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
    *,
    epoch: int = 0,
    step: int = 0,
    history: History | None = None,
    rng: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """Save everything needed to continue training, atomically; returns the path.

    ``epoch`` is the epoch to continue in (0-based, so after finishing epoch ``e`` it is
    ``e + 1``) and ``step`` the batches of it already done. ``rng`` is the random state to
    continue from (default: the current one). The model's ``arch`` and ``num_classes``
    are stored so that :func:`load_checkpoint` can refuse another network's weights.
    ``extra`` values must be tensors, numbers, strings, lists or dicts of those.
    """
    path = Path(path)
    net = unwrap(model)
    num_classes = getattr(net, "num_classes", None)
    payload = {
        "format_version": FORMAT_VERSION,
        "arch": getattr(net, "arch", None),
        "num_classes": int(num_classes) if num_classes is not None else None,
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_for_saving(rng if rng is not None else get_rng_state(model_device(net))),
        "epoch": int(epoch),
        "step": int(step),
        "history": history.to_dict() if history is not None else None,
        "torch_version": str(torch.__version__),
        **extra,
    }
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def _describe(arch: str | None, num_classes: int | None) -> str:
    name = arch if arch is not None else "an unnamed network"
    return f"{name} with {num_classes} classes" if num_classes is not None else name


def check_compatible(checkpoint: dict[str, Any], model: nn.Module, path: Path) -> None:
    """Raise :class:`CheckpointMismatchError` unless the checkpoint's weights fit ``model``."""
    net = unwrap(model)
    model_arch, model_classes = getattr(net, "arch", None), getattr(net, "num_classes", None)
    ckpt_arch, ckpt_classes = checkpoint.get("arch"), checkpoint.get("num_classes")
    arch_differs = None not in (model_arch, ckpt_arch) and model_arch != ckpt_arch
    classes_differ = None not in (model_classes, ckpt_classes) and int(model_classes) != int(ckpt_classes)
    if arch_differs or classes_differ:
        fix = (
            f"build the matching model, create_model({ckpt_arch!r}, num_classes={ckpt_classes}), to load it"
            if ckpt_arch is not None
            else "build the matching model to load it"
        )
        raise CheckpointMismatchError(
            f"{path}: checkpoint is {_describe(ckpt_arch, ckpt_classes)}; model is "
            f"{_describe(model_arch, model_classes)}. Either {fix}, or train this model from "
            "scratch (resume=False, or another checkpoint_dir)."
        )
    own, theirs = net.state_dict(), checkpoint["model"]
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    reshaped = [
        f"{k} {tuple(theirs[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in theirs and tuple(theirs[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or reshaped:
        problems = []
        kinds = (("missing", missing), ("unexpected", unexpected), ("shape (checkpoint vs model)", reshaped))
        for label, items in kinds:
            if items:
                more = f" and {len(items) - 3} more" if len(items) > 3 else ""
                problems.append(f"{label}: {', '.join(items[:3])}{more}")
        raise CheckpointMismatchError(
            f"{path}: the checkpoint's weights ({_describe(ckpt_arch, ckpt_classes)}) do not fit this model "
            f"({_describe(model_arch, model_classes)}) -- {'; '.join(problems)}. Build the network the "
            "checkpoint was trained with, or train this one from scratch."
        )


def _strip_prefixes(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop the ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) prefixes of a bare state dict."""
    for prefix in ("module.", "_orig_mod."):
        if state_dict and all(k.startswith(prefix) for k in state_dict):
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
    return state_dict


def _looks_like(start: bytes) -> str:
    """What the first bytes of a file that is not a checkpoint suggest it is, in words."""
    if start.lstrip()[:1] in (b"{", b"["):
        return "it looks like JSON"
    try:
        start.decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with the bytes {start[:8]!r}"
    return "it looks like text"


def _read_checkpoint(path: Path, map_location: Any) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        refused = "weights_only" in str(error) or "Weights only" in str(error)
        with open(path, "rb") as file:
            start = file.read(64)
        if refused and zipfile.is_zipfile(path):  # a whole file of torch.save's, with objects beyond tensors
            reason = (
                "it holds objects that weights_only=True loading refuses, so it was not written by "
                "resnet_course.training.save_checkpoint; if you trust its source, open it with "
                "torch.load(path, weights_only=False)"
            )
        elif start and not start.startswith((b"PK", b"\x80")):  # neither torch.save's zip nor its older pickle format
            reason = (
                f"it is not a PyTorch checkpoint at all ({_looks_like(start)}); give the .pt file a run wrote "
                "(best.pt or last.pt)"
            )
        else:
            reason = (
                "the file is truncated or corrupt, or not a PyTorch checkpoint (an interrupted copy? a full "
                "disk?); delete it or use another checkpoint"
            )
        first = str(error).split(". ")[0].split("\n")[0][:160]
        raise CheckpointError(
            f"cannot read the checkpoint {path}: {reason}. ({type(error).__name__}: {first})"
        ) from error
    is_bare = isinstance(checkpoint, dict) and all(isinstance(v, Tensor) for v in checkpoint.values())
    if is_bare and "model" not in checkpoint:
        checkpoint = {"format_version": 0, "model": _strip_prefixes(checkpoint)}  # a bare state_dict
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise CheckpointError(f"{path} is not a checkpoint: no model weights in it")
    if checkpoint.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {checkpoint['format_version']}, newer than this resnet_course "
            f"understands ({FORMAT_VERSION}); update the package"
        )
    return checkpoint


def load_checkpoint(path: PathLike, model: nn.Module | None = None, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(path, weights_only=True)`` and return its dict.

    With ``model``, first check that the checkpoint is the same network (``arch`` and
    ``num_classes``, or else the state-dict keys and shapes) -- raising
    :class:`CheckpointMismatchError` naming both if not -- then load the weights into it.
    A truncated or corrupt file raises :class:`CheckpointError` naming the file. A bare
    ``state_dict`` saved with ``torch.save`` is accepted too, as ``{"model": ...}``.
    """
    path = Path(path)
    checkpoint = _read_checkpoint(path, map_location)
    if model is not None:
        check_compatible(checkpoint, model, path)
        unwrap(model).load_state_dict(checkpoint["model"])
    return checkpoint


RESUMABLE = ("last.pt", "interrupted.pt")  # the files a run continues from, preferred first at the same position


def holds_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds a file a run can continue from (without reading it)."""
    return any((folder / name).is_file() for name in RESUMABLE)


def latest_checkpoint(folder: Path) -> tuple[dict[str, Any] | None, Path | None]:
    """The furthest-on of ``last.pt`` and ``interrupted.pt`` (by epoch, then step)."""
    best: tuple[tuple[int, int, int], dict[str, Any] | None, Path | None] = ((-1, -1, -1), None, None)
    for preference, name in zip((1, 0), RESUMABLE):
        path = folder / name
        if path.exists():
            checkpoint = _read_checkpoint(path, "cpu")
            key = (int(checkpoint.get("epoch", 0)), int(checkpoint.get("step", 0)), preference)
            if key > best[0]:
                best = (key, checkpoint, path)
    return best[1], best[2]


# ----------------------------------------------------------------------------------------
# Where a run is, and how an epoch starts again from there
# ----------------------------------------------------------------------------------------


@dataclass
class Position:
    """Where a run is: in epoch ``epoch`` (from 0), ``step`` of its batches done, random state ``rng`` there.

    ``rng_epoch_start`` is the random state when that epoch began and ``partial`` the
    epoch's running sums so far (``loss_sum``, ``correct``, ``count``, ``elapsed``); a
    checkpoint taken mid-epoch (``step > 0``) keeps both, for :func:`epoch_batches`.
    """

    epoch: int = 0
    step: int = 0
    rng: dict[str, Any] | None = None
    rng_epoch_start: dict[str, Any] | None = None
    partial: dict[str, Any] | None = None

    @property
    def mid_epoch(self) -> bool:
        return self.step > 0

    def advanced(self, rng: dict[str, Any]) -> Position:
        """The position one step further on, where the random state is ``rng``."""
        return Position(self.epoch, self.step + 1, rng, self.rng_epoch_start)

    @classmethod
    def of_checkpoint(cls, checkpoint: Mapping[str, Any]) -> Position:
        return cls(int(checkpoint.get("epoch", 0)), int(checkpoint.get("step", 0)), checkpoint.get("rng"),
                   checkpoint.get("rng_epoch_start"), checkpoint.get("partial"))


def epoch_batches(
    loader: Iterable[Any], epoch: int, steps_per_epoch: int, resumed: Position | None, device: torch.device
) -> tuple[Iterator[Any], Position]:
    """Start epoch ``epoch``: an iterator over its batches still to train, and the position it starts at.

    A fresh epoch starts from the current random state (an end-of-epoch checkpoint's, when
    the run resumes there). The epoch a mid-epoch checkpoint stopped in is replayed: the
    random state of the epoch's start is restored and the loader iterated past the batches
    already trained -- the same order and the same augmentations, drawn again -- then the
    state at the interrupted step is restored, so that dropout and a shuffling
    ``DataLoader`` continue exactly where they stopped.
    """
    here = resumed if resumed is not None and resumed.epoch == epoch else None
    mid = here is not None and here.mid_epoch
    if here is not None:
        state = here.rng_epoch_start if mid else here.rng
        if state is not None:
            set_rng_state(state, device)
    rng_start = get_rng_state(device)
    done = here.step if here is not None and mid else 0
    batches: Iterator[Any] = iter(())
    if done < steps_per_epoch:
        batches = iter(loader)
        for _ in range(done):  # the batches trained before the interruption
            next(batches)
    if here is not None and mid:
        set_rng_state(here.rng, device)  # type: ignore[arg-type]
        return batches, Position(epoch, done, here.rng, rng_start, here.partial)
    return batches, Position(epoch, 0, rng_start, rng_start)


# ----------------------------------------------------------------------------------------
# Resuming: the furthest checkpoint, checked against this run's settings, restored
# ----------------------------------------------------------------------------------------

# Settings a resumed run may change (recorded in ``history.meta["resumed"]``): more epochs
# (the schedule then spans them), and switches that change speed, not the arithmetic.
RESUME_MAY_CHANGE = ("epochs", "compile", "fused")


def _plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples as lists), as the checkpoint's record has it."""
    return json.loads(json.dumps(value, default=str))


def resume_changes(checkpoint: Mapping[str, Any], wanted: Mapping[str, Any], path: Path) -> dict[str, list[Any]]:
    """The settings in ``wanted`` that differ from those the checkpoint's run recorded, as ``[old, new]``.

    Raises :class:`ResumeMismatchError` naming every difference unless all are in
    :data:`RESUME_MAY_CHANGE`, and when ``wanted["epochs"]`` is fewer than the epochs
    already begun. A setting the checkpoint did not record (an older run) is not compared.
    """
    recorded = (checkpoint.get("history") or {}).get("meta") or {}
    changes = {}
    for key, value in wanted.items():
        if key in recorded and not (key == "batch_size" and recorded[key] is None):  # None: the loader had none
            old, new = _plain(recorded[key]), _plain(value)
            if old != new:
                changes[key] = [old, new]
    problems = [f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items() if key not in RESUME_MAY_CHANGE]
    position = Position.of_checkpoint(checkpoint)
    begun = position.epoch + (1 if position.mid_epoch else 0)
    if "epochs" in wanted and wanted["epochs"] < begun:
        problems.append(f"epochs {wanted['epochs']} is fewer than the {begun} epoch(s) it has begun")
    if problems:
        raise ResumeMismatchError(
            f"{path}: cannot resume with other settings than the run's so far ({'; '.join(problems)}). "
            "Resume with the same settings, or train from scratch elsewhere (another folder, without resuming)."
        )
    return changes


@dataclass
class Resumed:
    """What :func:`resume_from` restored: from which file, to which position, and what changed."""

    path: Path
    position: Position
    history: History
    changes: dict[str, list[Any]] = field(default_factory=dict)


def resume_from(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler, wanted: Mapping[str, Any],
) -> Resumed | None:
    """Load the furthest-on checkpoint in ``folder`` into the model, optimiser, schedule and scaler.

    First checks that it holds this network (:func:`check_compatible`) and that the run's
    settings ``wanted`` match the ones it recorded (:func:`resume_changes`). Without a
    checkpoint it warns and returns ``None`` (the run starts from scratch).
    """
    checkpoint, path = latest_checkpoint(folder)
    if checkpoint is None or path is None:
        warnings.warn(f"resume=True but {folder} holds no last.pt or interrupted.pt: starting from scratch",
                      stacklevel=3)
        return None
    check_compatible(checkpoint, model, path)
    changes = resume_changes(checkpoint, wanted, path)
    unwrap(model).load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    if scaler.is_enabled() and checkpoint.get("scaler"):
        scaler.load_state_dict(checkpoint["scaler"])
    history = History.from_dict(checkpoint["history"] or {})
    return Resumed(path, Position.of_checkpoint(checkpoint), history, changes)


# ----------------------------------------------------------------------------------------
# The Checkpointer fit calls
# ----------------------------------------------------------------------------------------


class Checkpointer:
    """Writes a run's checkpoints into ``folder`` -- on rank 0 only, and nothing without a folder.

    After every epoch ``last.pt``, copied to ``best.pt`` when the validation accuracy
    improved (and the superseded ``interrupted.pt`` removed); on Ctrl-C ``interrupted.pt``,
    mid-epoch if need be. Every write is atomic. At the start it removes the leftovers of
    writes that were killed half-way.
    """

    def __init__(self, folder: Path | None, enabled: bool = True) -> None:
        self.folder = folder if enabled else None
        if self.folder is not None:
            remove_leftovers(self.folder)

    def epoch_end(self, run: Run, improved: bool) -> None:
        if self.folder is None:
            return
        last = self._save("last.pt", run)
        if improved:
            atomic_copy(last, self.folder / "best.pt")
        (self.folder / "interrupted.pt").unlink(missing_ok=True)  # superseded

    def last(self) -> Path | None:
        """The last finished epoch's checkpoint, if there is one."""
        path = self.folder / "last.pt" if self.folder is not None else None
        return path if path is not None and path.is_file() else None

    def interrupted(self, run: Run, partial: dict[str, Any] | None) -> Path | None:
        """Save where the run stopped; ``partial``: the epoch's running sums (used mid-epoch)."""
        if self.folder is None:
            return None
        return self._save("interrupted.pt", run, partial)

    def _save(self, name: str, run: Run, partial: dict[str, Any] | None = None) -> Path:
        assert self.folder is not None
        at = run.at
        epoch_start = rng_for_saving(at.rng_epoch_start) if at.mid_epoch else None
        return save_checkpoint(
            self.folder / name, run.net, run.optimizer, run.scheduler, run.scaler, epoch=at.epoch, step=at.step,
            history=run.history, rng=at.rng, rng_epoch_start=epoch_start, partial=partial if at.mid_epoch else None,
            epochs=run.config.epochs, steps_per_epoch=run.steps_per_epoch,
        )
