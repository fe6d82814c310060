"""Checkpoints: written atomically, read with ``weights_only=True``, resumed exactly.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from resnet_course.training.history import History, PathLike
from resnet_course.training.runtime import model_device, unwrap

__all__ = [
    "atomic_copy", "check_compatible", "CheckpointError", "CheckpointMismatchError", "FORMAT_VERSION",
    "get_rng_state", "latest_checkpoint", "load_checkpoint", "rng_for_saving", "save_checkpoint", "set_rng_state"
]


FORMAT_VERSION = 1  # of the checkpoint files; bump when their layout changes


class CheckpointMismatchError(ValueError):
    """A checkpoint holds the weights of a different network (architecture or classes)."""


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read: truncated, corrupt, or not a checkpoint."""


# ----------------------------------------------------------------------------------------
# 6. Random-number state: what makes a resumed run repeat the uninterrupted one
# ----------------------------------------------------------------------------------------


def get_rng_state(device: torch.device) -> dict[str, Any]:
    """Every global generator a training step may draw from (cheap: a few microseconds)."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def rng_for_saving(state: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The same state as tensors, lists and numbers only, so ``weights_only`` loading works."""
    if state is None:
        return None
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
# 7. Checkpoints: written atomically, read with weights_only=True
# ----------------------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write through a temporary file in the same folder, then rename it over ``path``.

    ``os.replace`` is atomic: a reader (or a crash, or Ctrl-C) sees the old file or the
    new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_copy(source: Path, target: Path) -> None:
    with open(source, "rb") as src:
        _atomic_write(target, lambda f: shutil.copyfileobj(src, f))


def save_checkpoint(
    path: PathLike,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[torch.optim.lr_scheduler.LRScheduler] = None,
    scaler: Optional[torch.amp.GradScaler] = None,
    *,
    epoch: int = 0,
    step: int = 0,
    history: Optional[History] = None,
    rng: Optional[dict[str, Any]] = None,
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
    _atomic_write(path, lambda f: torch.save(payload, f))
    return path


def _describe(arch: Optional[str], num_classes: Optional[int]) -> str:
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


def _read_checkpoint(path: Path, map_location: Any) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        if "weights_only" in str(error) or "Weights only" in str(error):
            reason = (
                "it holds objects that weights_only=True loading refuses, so it was not written by "
                "resnet_course.train.save_checkpoint; if you trust its source, open it with "
                "torch.load(path, weights_only=False)"
            )
        else:
            reason = (
                "the file is truncated or corrupt (an interrupted copy? a full disk?); "
                "delete it or use another checkpoint"
            )
        raise CheckpointError(
            f"cannot read the checkpoint {path}: {reason}. ({type(error).__name__}: {error})"
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


def load_checkpoint(path: PathLike, model: Optional[nn.Module] = None, map_location: Any = "cpu") -> dict[str, Any]:
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


def latest_checkpoint(folder: Path) -> tuple[Optional[dict[str, Any]], Optional[Path]]:
    """The furthest-on of ``last.pt`` and ``interrupted.pt`` (by epoch, then step)."""
    best: tuple[tuple[int, int, int], Optional[dict[str, Any]], Optional[Path]] = ((-1, -1, -1), None, None)
    for preference, name in ((1, "last.pt"), (0, "interrupted.pt")):
        path = folder / name
        if path.exists():
            checkpoint = _read_checkpoint(path, "cpu")
            key = (int(checkpoint.get("epoch", 0)), int(checkpoint.get("step", 0)), preference)
            if key > best[0]:
                best = (key, checkpoint, path)
    return best[1], best[2]
