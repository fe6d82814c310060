"""Training: :func:`fit` and :func:`evaluate`, checkpoints, learning-rate schedules.

The recipe is the paper's (He, Zhang, Ren & Sun 2015, *Deep Residual Learning for Image
Recognition*):

* §4.2, CIFAR-10: SGD with momentum 0.9 and weight decay 1e-4, mini-batch 128 (split over
  two GPUs), no dropout; learning rate 0.1, divided by 10 at 32k and again at 48k
  iterations, training stops at 64k iterations (about 164 epochs of 50k images). For
  ResNet-110 the rate starts at 0.01 until the training error falls below 80% (about 400
  iterations) -- a warm-up. ``schedule="paper"`` puts the two divisions at 50% and 75% of
  however many steps you train, which is exactly 32k/64k and 48k/64k.
* §3.4, ImageNet: the same optimiser with mini-batch 256 and lr 0.1, divided by 10 when
  the error plateaus, for up to 60e4 iterations.

Everything else here is engineering around that recipe: mixed precision, channels-last
memory, checkpoints that survive Ctrl-C and resume bit for bit, NaN detection, progress
bars, and DistributedDataParallel when launched with ``torchrun``.

Read top to bottom: errors, :class:`History`, schedules, optimisers, devices and
distributed helpers, random-number state, checkpoints, :func:`fit`, then
:func:`evaluate`, :func:`predict` and :func:`confusion_matrix`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from resnet_course.provenance import run_metadata
from resnet_course.summary import count_parameters

__all__ = [
    "COMPILE_MODES",
    "CheckpointError",
    "CheckpointMismatchError",
    "History",
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainingDiverged",
    "confusion_matrix",
    "distributed_info",
    "evaluate",
    "fit",
    "load_checkpoint",
    "make_optimizer",
    "make_schedule",
    "predict",
    "save_checkpoint",
    "schedule_multiplier",
]

FORMAT_VERSION = 1  # of the checkpoint files; bump when their layout changes
LOG_EVERY = 20  # steps between reads of values from the GPU (progress bar, NaN check)
PathLike = Union[str, os.PathLike]


# ----------------------------------------------------------------------------------------
# 1. Errors
# ----------------------------------------------------------------------------------------


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite.

    ``epoch`` and ``step`` are 0-based indices (the message also counts from 1, like the
    progress bar); ``lr`` is the learning rate of that step.
    """

    def __init__(self, message: str, *, epoch: int = -1, step: int = -1, lr: float = math.nan) -> None:
        super().__init__(message)
        self.epoch, self.step, self.lr = epoch, step, lr


class CheckpointMismatchError(ValueError):
    """A checkpoint holds the weights of a different network (architecture or classes)."""


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read: truncated, corrupt, or not a checkpoint."""


# ----------------------------------------------------------------------------------------
# 2. History: what fit() measured, epoch by epoch
# ----------------------------------------------------------------------------------------


@dataclass
class History:
    """Per-epoch measurements of one training run, plus where and how it ran.

    The lists have one entry per epoch (``val_loss``/``val_acc`` stay empty without
    validation data). Accuracies are fractions in [0, 1]. ``lr`` is the learning rate of
    each epoch's first step; ``images_per_sec`` counts training images (all ranks) per
    second of training, evaluation excluded; ``epoch_time`` is the whole epoch in seconds,
    evaluation included; ``wall_time`` adds up all of it, across resumed runs.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    images_per_sec: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    wall_time: float = 0.0
    best_val_acc: Optional[float] = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    def add_epoch(
        self,
        *,
        train_loss: float,
        train_acc: float,
        lr: float,
        images_per_sec: float,
        epoch_time: float,
        val_loss: Optional[float] = None,
        val_acc: Optional[float] = None,
    ) -> None:
        """Append one epoch's numbers."""
        self.train_loss.append(train_loss)
        self.train_acc.append(train_acc)
        self.lr.append(lr)
        self.images_per_sec.append(images_per_sec)
        self.epoch_time.append(epoch_time)
        if val_loss is not None and val_acc is not None:
            self.val_loss.append(val_loss)
            self.val_acc.append(val_acc)
            self.best_val_acc = max(self.val_acc)

    def truncate(self, epochs: int) -> None:
        """Keep only the first ``epochs`` epochs."""
        for name in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_sec", "epoch_time"):
            del getattr(self, name)[epochs:]
        self.best_val_acc = max(self.val_acc) if self.val_acc else None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists, numbers, strings) -- JSON- and checkpoint-safe."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in data.items() if k in known}
        if isinstance(values.get("meta"), dict):
            values["meta"] = dict(values["meta"])
        return cls(**values)

    def to_json(self, path: PathLike) -> Path:
        """Write the history as JSON (creating folders as needed); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_json(cls, path: PathLike) -> History:
        """Read a history written by :meth:`to_json`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


# ----------------------------------------------------------------------------------------
# 3. Learning-rate schedules: a multiplier of the base lr for every optimizer step
# ----------------------------------------------------------------------------------------

SCHEDULES = ("paper", "cosine", "onecycle", "constant")


def _check_name(kind: str, name: str, valid: tuple[str, ...]) -> None:
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; choose one of {', '.join(map(repr, valid))}")


def schedule_multiplier(name: str, total_steps: int, warmup_steps: int = 0) -> Callable[[int], float]:
    """The function ``step -> lr / base_lr`` of schedule ``name`` (steps count from 0).

    * ``"paper"``: 1 until 50% of the steps, 0.1 until 75%, then 0.01 -- §4.2's divisions
      by 10 at 32k and 48k of 64k iterations.
    * ``"cosine"``: half a cosine from 1 down to (almost) 0 at the last step.
    * ``"onecycle"``: a triangle -- linear up to 1 at 30% of the steps (or at
      ``warmup_steps`` if given), then linear down to ``1 / (steps after the peak + 1)`` at
      the last step (the triangular one-cycle that airbench uses; torch's ``OneCycleLR`` instead
      anneals with cosines and starts at ``lr / 25``).
    * ``"constant"``: 1.

    Except for ``"onecycle"`` (which ramps up anyway), ``warmup_steps > 0`` multiplies the
    first steps by a linear ramp ``(step + 1) / warmup_steps``.
    """
    _check_name("schedule", name, SCHEDULES)
    total = max(1, int(total_steps))
    warmup = max(0, int(warmup_steps))

    if name == "onecycle":
        peak = warmup if warmup > 0 else max(1, round(0.3 * total))

        def onecycle(step: int) -> float:
            if step < peak:
                return (step + 1) / peak
            return max(total - step, 1) / (total - peak + 1)

        return onecycle

    def main(step: int) -> float:
        if name == "paper":
            return 1.0 if step < 0.5 * total else 0.1 if step < 0.75 * total else 0.01
        if name == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        return 1.0

    def with_warmup(step: int) -> float:
        ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
        return ramp * main(step)

    return with_warmup


def make_schedule(
    name: str, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepping :func:`schedule_multiplier` once per optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule_multiplier(name, total_steps, warmup_steps))


# ----------------------------------------------------------------------------------------
# 4. Optimisers
# ----------------------------------------------------------------------------------------

OPTIMIZERS = ("sgd", "adamw")


def make_optimizer(
    model: nn.Module,
    name: str = "sgd",
    *,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    nesterov: bool = False,
    decay_bn_and_bias: bool = True,
    fused: bool = False,
) -> torch.optim.Optimizer:
    """SGD with momentum (the paper's, §3.4 and §4.2) or AdamW.

    The paper decays every parameter. ``decay_bn_and_bias=False`` exempts the 1-d
    parameters -- batch-norm scales and shifts and all biases -- a common modern tweak:
    decaying a BN scale only changes the effective learning rate of the layer before it.
    ``momentum`` and ``nesterov`` apply to SGD only; AdamW keeps its default betas (it
    wants a far smaller ``lr``, around 1e-3).

    ``fused=True`` updates all parameters in one fused kernel per group (PyTorch's
    ``fused=True``; same arithmetic, fewer launches). ``False`` keeps PyTorch's default
    implementation (``foreach`` on a GPU, a loop over parameters on the CPU).
    """
    _check_name("optimizer", name, OPTIMIZERS)
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_bn_and_bias:
        groups = [{"params": params, "weight_decay": weight_decay}]
    else:
        groups = [
            {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
        ]
        groups = [g for g in groups if g["params"]]
    implementation = {"fused": True} if fused else {}  # fused=False would also switch foreach off
    if name == "sgd":
        return torch.optim.SGD(
            groups, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, **implementation
        )
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, **implementation)


# ----------------------------------------------------------------------------------------
# 5. Devices, precision, several processes
# ----------------------------------------------------------------------------------------


def distributed_info() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)``: from the process group if one is running, else
    from the ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` variables ``torchrun`` sets, else
    ``(0, 1, 0)``."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), local_rank
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), local_rank


def _resolve_device(device: Union[str, torch.device, None], world_size: int, local_rank: int) -> torch.device:
    """The device to train on: as asked, else ``cuda:LOCAL_RANK`` (or the current GPU), else CPU."""
    if device is not None:
        device = torch.device(device)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    else:
        device = torch.device("cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank if world_size > 1 else torch.cuda.current_device())
    return device


def _init_distributed(device: torch.device) -> None:
    """Join the process group ``torchrun`` set up (NCCL on GPUs, gloo on CPUs)."""
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl", device_id=device)
    else:
        dist.init_process_group(backend="gloo")


def _barrier(device: torch.device) -> None:
    if device.type == "cuda":
        dist.barrier(device_ids=[device.index])
    else:
        dist.barrier()


def _sync(device: torch.device) -> None:
    """Wait for the GPU to finish its queue, so the clock measures the work, not the launches."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _resolve_amp(amp: Union[str, bool, None], device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype, or ``None`` for full float32.

    ``None`` (auto): bfloat16 on a GPU that supports it, float32 elsewhere. ``"bf16"`` and
    ``"fp16"`` ask explicitly; ``False``/``"off"`` switches it off; ``True`` means bf16
    where supported, else fp16.
    """
    if amp is None:
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if amp is False or amp in ("off", "none", "fp32", "float32"):
        return None
    if amp is True:
        return torch.float16 if device.type == "cuda" and not torch.cuda.is_bf16_supported() else torch.bfloat16
    if amp in ("bf16", "bfloat16"):
        return torch.bfloat16
    if amp in ("fp16", "float16"):
        return torch.float16
    raise ValueError(f"unknown amp {amp!r}; choose None (auto), 'bf16', 'fp16' or False")


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _resolve_compile(compile: Union[bool, str, None], device: torch.device) -> Optional[str]:
    """The ``torch.compile`` mode to train with, or ``None`` for eager execution.

    ``False``: eager. ``True``: ``"default"`` (Inductor's fused kernels). ``None`` (auto):
    ``"default"`` on CUDA, eager elsewhere (compiling on a CPU takes minutes). A mode
    name from :data:`COMPILE_MODES` asks for it; ``"reduce-overhead"`` adds CUDA graphs,
    which replay a whole step's kernels with one launch (on CUDA only; elsewhere it
    compiles without them).
    """
    if compile is None:
        return "default" if device.type == "cuda" else None
    if compile is False:
        return None
    if compile is True:
        return "default"
    if compile in COMPILE_MODES:
        return str(compile)
    raise ValueError(
        f"unknown compile {compile!r}; choose True, False, None (auto) or a mode: {', '.join(map(repr, COMPILE_MODES))}"
    )


def _resolve_fused(fused: Optional[bool], device: torch.device) -> bool:
    """Whether to use the fused optimizer: as asked, or (``None``, auto) where PyTorch has one for ``device``."""
    if fused is not None:
        return bool(fused)
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        return device.type in _get_fused_kernels_supported_devices()
    except ImportError:  # an older PyTorch: fused kernels on CUDA only
        return device.type == "cuda"


def _autocast(device: torch.device, dtype: Optional[torch.dtype]) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel and/or ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _is_channels_last(model: nn.Module) -> bool:
    return any(
        p.ndim == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
        for p in model.parameters()
    )


def _to_device(x: Tensor, y: Tensor, device: torch.device, channels_last: bool) -> tuple[Tensor, Tensor]:
    """Move a batch to ``device`` (a no-op for a loader that already lives there)."""
    x = x.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    if y.dtype != torch.long:
        y = y.long()
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


# ----------------------------------------------------------------------------------------
# 6. Random-number state: what makes a resumed run repeat the uninterrupted one
# ----------------------------------------------------------------------------------------


def _get_rng_state(device: torch.device) -> dict[str, Any]:
    """Every global generator a training step may draw from (cheap: a few microseconds)."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def _rng_for_saving(state: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
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


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore a state saved by :func:`_rng_for_saving`."""
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


def _atomic_copy(source: Path, target: Path) -> None:
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
    net = _unwrap(model)
    num_classes = getattr(net, "num_classes", None)
    payload = {
        "format_version": FORMAT_VERSION,
        "arch": getattr(net, "arch", None),
        "num_classes": int(num_classes) if num_classes is not None else None,
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": _rng_for_saving(rng if rng is not None else _get_rng_state(_model_device(net))),
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


def _check_compatible(checkpoint: dict[str, Any], model: nn.Module, path: Path) -> None:
    """Raise :class:`CheckpointMismatchError` unless the checkpoint's weights fit ``model``."""
    net = _unwrap(model)
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
        _check_compatible(checkpoint, model, path)
        _unwrap(model).load_state_dict(checkpoint["model"])
    return checkpoint


def _latest_checkpoint(folder: Path) -> tuple[Optional[dict[str, Any]], Optional[Path]]:
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


# ----------------------------------------------------------------------------------------
# 8. Ctrl-C: finish the step, then stop
# ----------------------------------------------------------------------------------------


class _StopOnCtrlC:
    """Turn the first Ctrl-C (or Jupyter's "interrupt kernel") into a request to stop at
    the end of the current step, so the weights are never saved half-updated; a second
    Ctrl-C stops at once. Only in the main thread, and only if nobody else has replaced
    Python's default handler."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nInterrupt: stopping after this step (press again to stop at once)\n")

    def __enter__(self) -> _StopOnCtrlC:
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# ----------------------------------------------------------------------------------------
# 9. fit
# ----------------------------------------------------------------------------------------


def _read_stats(
    loss_sum: Tensor, correct: Tensor, count: int, first_bad: Tensor, reduce: bool
) -> tuple[float, int, int, float]:
    """Bring the running sums to the CPU (one sync); with ``reduce``, summed over all ranks
    (and the earliest non-finite step over all ranks)."""
    if reduce:
        sums = torch.stack([loss_sum.double(), correct.double(), torch.full_like(loss_sum, count, dtype=torch.float64)])
        dist.all_reduce(sums)
        bad = first_bad.clone()
        dist.all_reduce(bad, op=dist.ReduceOp.MIN)
        loss, right, n = sums.tolist()
        return loss, int(right), int(n), bad.item()
    return loss_sum.item(), int(correct.item()), count, first_bad.item()


def _diverged(epoch: int, step: int, lr: float, checkpoint_dir: Optional[Path]) -> TrainingDiverged:
    message = (
        f"training diverged: the loss became NaN or infinite at step {step + 1} of epoch {epoch + 1} "
        f"(0-based: epoch index {epoch}, step index {step}) with lr {lr:.4g}. "
    )
    last = checkpoint_dir / "last.pt" if checkpoint_dir is not None else None
    if last is not None and last.exists():
        message += f"The last good checkpoint, {last}, is untouched. "
    message += (
        "Try a smaller lr, a warm-up (warmup_epochs=1; the paper warms ResNet-110 up, §4.2), "
        "grad_clip=..., or amp='bf16' instead of 'fp16'."
    )
    return TrainingDiverged(message, epoch=epoch, step=step, lr=lr)


def _num_samples(loader: Any) -> Optional[int]:
    samples = getattr(loader, "num_samples", None)
    if samples is None and hasattr(loader, "dataset"):
        with contextlib.suppress(TypeError):
            samples = len(loader.dataset)
    return int(samples) if isinstance(samples, int) else None


def _batches_per_epoch(loader: Iterable[Any]) -> int:
    """``len(loader)``; for a re-iterable loader without one, count a pass (with a warning)."""
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        pass
    if iter(loader) is loader:
        raise TypeError(
            "fit needs a loader it can iterate once per epoch (a DataLoader, a TensorLoader, a list of "
            "batches), not a one-shot iterator or generator"
        )
    warnings.warn("the training loader has no len(): counting its batches with one pass to lay out the lr schedule")
    return sum(1 for _ in loader)


def _run_meta(
    net: nn.Module, train: Any, samples: Optional[int], device: torch.device, world_size: int, **config: Any
) -> dict[str, Any]:
    """Where and how a run trained, for the History (and the book's result tables)."""
    num_classes = getattr(net, "num_classes", None)
    batch_size = getattr(train, "batch_size", None)
    return run_metadata(
        device,
        arch=str(getattr(net, "arch", type(net).__name__)),
        num_classes=int(num_classes) if num_classes is not None else None,
        parameters=count_parameters(net),
        device_type=str(device),
        world_size=world_size,
        batch_size=int(batch_size) if isinstance(batch_size, int) else None,
        train_samples=samples,
        **config,
    )


def fit(
    model: nn.Module,
    train: Iterable[tuple[Tensor, Tensor]],
    val: Optional[Iterable[tuple[Tensor, Tensor]]] = None,
    *,
    epochs: int,
    optimizer: str = "sgd",
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    nesterov: bool = False,
    decay_bn_and_bias: bool = True,
    schedule: str = "paper",
    warmup_epochs: float = 0.0,
    label_smoothing: float = 0.0,
    amp: Union[str, bool, None] = None,
    channels_last: Optional[bool] = None,
    compile: Union[bool, str, None] = False,
    fused: Optional[bool] = False,
    tta_flip: bool = False,
    checkpoint_dir: Optional[PathLike] = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    device: Union[str, torch.device, None] = None,
    grad_clip: Optional[float] = None,
    on_epoch_end: Optional[Callable[[int, History], Optional[bool]]] = None,
    meta: Optional[dict[str, Any]] = None,
) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs and return its :class:`History`.

    The defaults are the paper's CIFAR-10 recipe (§4.2; §3.4 for ImageNet): SGD, momentum
    0.9, weight decay 1e-4 on every parameter, lr 0.1 divided by 10 at 50% and 75% of the
    steps (``schedule="paper"``), cross-entropy loss. Give the loader a batch size of 128 to
    match it (the paper's 64k iterations are about 164 epochs of 50k images).

    * ``train``/``val``: a :class:`~resnet_course.data.TensorLoader`, a ``DataLoader`` or any
      iterable of ``(images, labels)`` batches with a ``len``. Batches are moved to the
      device if they are not there; ``set_epoch(epoch)`` is called when the loader has it.
    * ``optimizer``: ``"sgd"`` or ``"adamw"``; ``decay_bn_and_bias=False`` exempts BN
      parameters and biases from weight decay (see :func:`make_optimizer`).
    * ``schedule``: ``"paper"``, ``"cosine"``, ``"onecycle"`` or ``"constant"``, stepped
      every batch; ``warmup_epochs`` (may be fractional) ramps the lr up linearly first.
    * ``amp``: ``None`` = bfloat16 autocast on a GPU that supports it, float32 on CPU;
      ``"bf16"``, ``"fp16"`` (with a ``GradScaler``) or ``False``. ``channels_last``:
      ``None`` = on for CUDA. ``compile``: wrap the model in ``torch.compile`` --
      ``True``, a mode from :data:`COMPILE_MODES` (``"reduce-overhead"`` adds CUDA graphs),
      or ``None`` = on for CUDA. ``fused``: the fused optimizer kernel (``None`` = wherever
      PyTorch has one). ``tta_flip``: validate on each image and its mirror image (see
      :func:`evaluate`). These change speed (``amp`` and ``channels_last`` also the
      rounding; ``tta_flip`` what validation measures), not the training recipe;
      :mod:`resnet_course.recipes` names sets of all the settings.
    * ``checkpoint_dir``: after every epoch write ``last.pt``, and ``best.pt`` when the
      validation accuracy improves, atomically. Ctrl-C finishes the current step, writes
      ``interrupted.pt`` and re-raises ``KeyboardInterrupt``.
    * ``resume=True``: continue from the furthest-on of ``last.pt`` and ``interrupted.pt``
      (mid-epoch if need be, skipping the batches already done). On the CPU the result is
      bit-identical to an uninterrupted run as long as the schedule is the same, i.e. the
      same ``epochs`` (or ``schedule="constant"``) and the same loader. Without a
      checkpoint it warns and starts from scratch.
    * ``seed`` seeds torch, ``random`` and numpy at the start (create the model after
      ``torch.manual_seed`` yourself to make its initialisation repeatable too).
    * A NaN or infinite loss raises :class:`TrainingDiverged` (naming the epoch, step and
      lr) before any checkpoint is written with it; the loss is checked on the GPU every
      step and read every :data:`LOG_EVERY` steps, so the weights in memory may be
      non-finite by then, but ``last.pt`` is the previous epoch's.
    * ``meta``: fields of the caller's (data variant, subset sizes, …) merged into
      ``history.meta`` and so saved in every checkpoint.
    * ``on_epoch_end(epoch, history)`` runs after each epoch (after the checkpoint); return
      ``True`` to stop early. It runs on every rank.
    * Launched by ``torchrun`` with ``WORLD_SIZE > 1``, each process joins the process group
      (NCCL on ``cuda:LOCAL_RANK``, gloo on CPU), trains a DistributedDataParallel copy on
      ``train.shard(rank, world_size)``, and reports metrics summed over all ranks; only
      rank 0 writes checkpoints and progress. The global batch is ``world_size`` times the
      loader's, with the same ``lr``.

    The model is moved to the device (and to channels-last) in place and holds the trained
    weights afterwards. On CUDA this also sets ``torch.backends.cudnn.benchmark = True``.
    """
    # -- check the arguments before doing any work
    _check_name("schedule", schedule, SCHEDULES)
    _check_name("optimizer", optimizer, OPTIMIZERS)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir, the folder to resume from")

    # -- where to run: one process, or one of several launched by torchrun
    rank, world_size, local_rank = distributed_info()
    device = _resolve_device(device, world_size, local_rank)
    if world_size > 1:
        _init_distributed(device)
    is_main = rank == 0
    show = progress and is_main

    def say(message: str) -> None:
        if show:
            tqdm.write(message)

    # -- reproducibility and speed
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # pick the fastest conv algorithms for these shapes
    amp_dtype = _resolve_amp(amp, device)
    if channels_last is None:
        channels_last = device.type == "cuda"
    compile_mode = _resolve_compile(compile, device)
    fused = _resolve_fused(fused, device)

    # -- the model, in place on the device
    net = _unwrap(model)
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)

    # -- the data: each rank its own shard
    val_sharded = False
    train_samples = _num_samples(train)  # before sharding: the whole training set
    if world_size > 1:
        if hasattr(train, "shard"):
            train = train.shard(rank, world_size)
        else:
            warnings.warn("the training loader has no shard(): each rank trains on all of it; use a DistributedSampler")
        if val is not None and hasattr(val, "shard"):
            val, val_sharded = val.shard(rank, world_size), True
    steps_per_epoch = _batches_per_epoch(train)
    if steps_per_epoch == 0:
        raise ValueError("the training loader yields no batches")

    # -- optimiser, lr schedule (a multiplier per step), loss scaler for fp16
    opt = make_optimizer(
        net, optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
        decay_bn_and_bias=decay_bn_and_bias, fused=fused,
    )
    sched = make_schedule(schedule, opt, epochs * steps_per_epoch, round(warmup_epochs * steps_per_epoch))
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    def lr_at(epoch: int, step: int) -> float:
        return sched.base_lrs[0] * sched.lr_lambdas[0](epoch * steps_per_epoch + step)

    # -- resume: weights, optimiser, schedule, history, position, random state
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    history = History()
    start_epoch, start_step, partial = 0, 0, None
    rng_resume: Optional[dict[str, Any]] = None
    rng_epoch_start: Any = None
    if resume:
        assert checkpoint_dir is not None
        checkpoint, path = _latest_checkpoint(checkpoint_dir)
        if checkpoint is None:
            warnings.warn(f"resume=True but {checkpoint_dir} holds no last.pt or interrupted.pt: starting from scratch")
        else:
            _check_compatible(checkpoint, net, path)
            net.load_state_dict(checkpoint["model"])
            opt.load_state_dict(checkpoint["optimizer"])
            sched.load_state_dict(checkpoint["scheduler"])
            if scaler.is_enabled() and checkpoint.get("scaler"):
                scaler.load_state_dict(checkpoint["scaler"])
            history = History.from_dict(checkpoint["history"] or {})
            start_epoch, start_step = int(checkpoint["epoch"]), int(checkpoint["step"])
            partial, rng_resume = checkpoint.get("partial"), checkpoint["rng"]
            rng_epoch_start = checkpoint.get("rng_epoch_start")
            if start_step:
                say(f"resumed from {path}: epoch {start_epoch + 1}, {start_step} of {steps_per_epoch} steps done")
            else:
                say(f"resumed from {path}: {start_epoch} epochs done")
            if checkpoint.get("epochs") not in (None, epochs) and schedule != "constant":
                say(f"note: that run planned {checkpoint['epochs']} epochs; the lr schedule now spans {epochs}")
    run_meta = _run_meta(
        net, train, train_samples, device, world_size,
        optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
        decay_bn_and_bias=decay_bn_and_bias, schedule=schedule, warmup_epochs=warmup_epochs,
        label_smoothing=label_smoothing, amp=str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
        channels_last=bool(channels_last), compile=compile_mode or False, fused=fused, tta_flip=tta_flip,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch, seed=seed, grad_clip=grad_clip,
    )
    run_meta.update(meta or {})  # the caller's own fields (data variant, …) travel in every checkpoint
    run_meta["date"] = history.meta.get("date", run_meta["date"])  # when the run first started
    history.meta.update(run_meta)

    # -- the module that trains: DDP averages gradients across ranks, compile fuses kernels
    train_model: nn.Module = net
    if world_size > 1:
        train_model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if compile_mode is not None:
        # static shapes: a last, smaller batch gets its own graph instead of making every graph dynamic
        train_model = torch.compile(train_model, mode=compile_mode, dynamic=False)

    def save(name: str, epoch: int, step: int, rng: dict[str, Any], rng_start: Any = None, partial: Any = None) -> Path:
        assert checkpoint_dir is not None
        return save_checkpoint(
            checkpoint_dir / name, net, opt, sched, scaler, epoch=epoch, step=step, history=history, rng=rng,
            rng_epoch_start=_rng_for_saving(rng_start), partial=partial, epochs=epochs,
            steps_per_epoch=steps_per_epoch,
        )

    # -- state for an interruption: where we are (epoch, steps done, random state there)
    if rng_resume is not None and start_step == 0:
        _set_rng_state(rng_resume, device)
    at: tuple[int, int, Any] = (start_epoch, start_step, rng_resume)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    first_bad = torch.full((), math.inf, device=device)  # earliest step with a non-finite loss
    count, elapsed_before, t_epoch = 0, 0.0, time.perf_counter()
    wall_before, t_fit = history.wall_time, time.perf_counter()
    if start_epoch >= epochs:
        say(f"nothing to do: the checkpoint has trained {start_epoch} epochs already (epochs={epochs})")
        return history
    bar = tqdm(
        total=epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch + start_step,
        disable=not show, unit="step", dynamic_ncols=True,
    )
    stop = _StopOnCtrlC()  # under torchrun every rank gets the signal at a different step: stop at once
    epoch = start_epoch
    try:
        with stop if world_size == 1 else contextlib.nullcontext():
            for epoch in range(start_epoch, epochs):
                train_model.train()
                bar.set_description(f"epoch {epoch + 1}/{epochs}")
                if hasattr(train, "set_epoch"):
                    train.set_epoch(epoch)
                mid_epoch = epoch == start_epoch and start_step > 0
                if mid_epoch:  # replay the epoch's start: same random state, same batches
                    _set_rng_state(rng_epoch_start, device)
                rng_epoch_start = _get_rng_state(device)
                done = start_step if mid_epoch else 0
                loss_sum = torch.zeros((), device=device)
                correct = torch.zeros((), dtype=torch.long, device=device)
                first_bad = torch.full((), math.inf, device=device)
                count, elapsed_before = 0, 0.0
                if mid_epoch and partial:  # the interrupted run's sums so far this epoch
                    loss_sum.fill_(partial["loss_sum"])
                    correct.fill_(partial["correct"])
                    count, elapsed_before = int(partial["count"]), float(partial["elapsed"])
                if done < steps_per_epoch:
                    batches = iter(train)
                    for _ in range(done):  # skip the batches done before the interruption
                        next(batches)
                else:
                    batches = iter(())
                if mid_epoch:
                    _set_rng_state(rng_resume, device)  # type: ignore[arg-type]
                at = (epoch, done, rng_resume if mid_epoch else rng_epoch_start)
                _sync(device)
                t_epoch = time.perf_counter()

                for step, (x, y) in enumerate(batches, start=done):
                    x, y = _to_device(x, y, device, channels_last)
                    with _autocast(device, amp_dtype):
                        logits = train_model(x)
                        loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
                    # running sums stay on the GPU: reading them every step would stall it
                    loss_sum += loss.detach() * y.shape[0]
                    correct += (logits.detach().argmax(1) == y).sum()
                    count += y.shape[0]
                    this_bad = torch.where(torch.isfinite(loss.detach()), math.inf, float(step))
                    first_bad = torch.minimum(first_bad, this_bad)
                    opt.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if grad_clip is not None:
                        scaler.unscale_(opt)
                        nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
                    scaler.step(opt)
                    scaler.update()
                    sched.step()
                    at = (epoch, step + 1, _get_rng_state(device))
                    bar.update(1)
                    if (step + 1) % LOG_EVERY == 0:
                        seen_loss, seen_correct, seen, bad = _read_stats(
                            loss_sum, correct, count, first_bad, world_size > 1
                        )
                        if bad < math.inf:
                            raise _diverged(epoch, int(bad), lr_at(epoch, int(bad)), checkpoint_dir)
                        rate = seen / max(elapsed_before + time.perf_counter() - t_epoch, 1e-9)
                        bar.set_postfix(
                            loss=f"{seen_loss / seen:.3f}", acc=f"{seen_correct / seen:.1%}", img_s=f"{rate:.0f}"
                        )
                    if stop.requested:
                        raise KeyboardInterrupt

                # -- end of epoch: global metrics, validation, history, checkpoints
                _sync(device)
                train_time = elapsed_before + time.perf_counter() - t_epoch
                seen_loss, seen_correct, seen, bad = _read_stats(loss_sum, correct, count, first_bad, world_size > 1)
                if bad < math.inf:
                    raise _diverged(epoch, int(bad), lr_at(epoch, int(bad)), checkpoint_dir)
                bar.set_postfix(loss=f"{seen_loss / max(seen, 1):.3f}", acc=f"{seen_correct / max(seen, 1):.1%}")
                scores = None
                if val is not None:
                    scores = _evaluate(
                        train_model, val, device, amp_dtype, channels_last, label_smoothing, tta_flip,
                        reduce=val_sharded,
                    )
                best = history.best_val_acc
                improved = scores is not None and (best is None or scores["accuracy"] > best)
                history.add_epoch(
                    train_loss=seen_loss / max(seen, 1),
                    train_acc=seen_correct / max(seen, 1),
                    lr=lr_at(epoch, 0),
                    images_per_sec=seen / max(train_time, 1e-9),
                    epoch_time=elapsed_before + time.perf_counter() - t_epoch,
                    val_loss=scores["loss"] if scores else None,
                    val_acc=scores["accuracy"] if scores else None,
                )
                history.wall_time = wall_before + time.perf_counter() - t_fit
                at = (epoch + 1, 0, _get_rng_state(device))
                if is_main and checkpoint_dir is not None:
                    last = save("last.pt", epoch + 1, 0, at[2])
                    if improved:
                        _atomic_copy(last, checkpoint_dir / "best.pt")
                    (checkpoint_dir / "interrupted.pt").unlink(missing_ok=True)  # superseded
                if world_size > 1:
                    _barrier(device)
                line = (
                    f"epoch {epoch + 1}/{epochs}: train loss {history.train_loss[-1]:.4f} "
                    f"acc {history.train_acc[-1]:.2%}"
                )
                if scores:
                    line += f" | val loss {scores['loss']:.4f} acc {scores['accuracy']:.2%}"
                line += f" | lr {history.lr[-1]:.4g} | {history.images_per_sec[-1]:.0f} img/s"
                line += f" | {history.epoch_time[-1]:.1f} s"
                say(line)
                if on_epoch_end is not None and on_epoch_end(epoch, history):
                    break
                if stop.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        at_epoch, at_step, at_rng = at
        bad = first_bad.item()
        if bad < math.inf:  # never save non-finite weights
            raise _diverged(epoch, int(bad), lr_at(epoch, int(bad)), checkpoint_dir) from None
        history.truncate(at_epoch)  # an epoch recorded after the last position update
        history.wall_time = wall_before + time.perf_counter() - t_fit
        if is_main and checkpoint_dir is not None:
            partial_stats = None
            if at_step > 0:
                partial_stats = {
                    "loss_sum": loss_sum.item(), "correct": int(correct.item()), "count": count,
                    "elapsed": elapsed_before + time.perf_counter() - t_epoch,
                }
            rng_start = rng_epoch_start if at_step > 0 else None
            path = save("interrupted.pt", at_epoch, at_step, at_rng, rng_start, partial_stats)
            bar.close()
            say(f"interrupted at epoch {at_epoch + 1}, step {at_step}: saved {path}; continue with resume=True")
        raise
    finally:
        bar.close()
    history.wall_time = wall_before + time.perf_counter() - t_fit
    return history


# ----------------------------------------------------------------------------------------
# 10. evaluate, predict, confusion_matrix
# ----------------------------------------------------------------------------------------


def _logits(
    model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], device: torch.device,
    amp_dtype: Optional[torch.dtype], channels_last: bool, tta_flip: bool,
) -> Iterable[tuple[Tensor, Tensor]]:
    """``(float32 logits, labels)`` per batch; with ``tta_flip`` the mean of the logits of
    the images and of their mirror images (flipped left-right, ``dims=[3]``)."""
    for x, y in data:
        x, y = _to_device(x, y, device, channels_last)
        with _autocast(device, amp_dtype):
            logits = model(x).float()
            if tta_flip:
                logits = (logits + model(torch.flip(x, dims=[3])).float()) / 2
        yield logits, y


@torch.no_grad()
def _evaluate(
    model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], device: torch.device, amp_dtype: Optional[torch.dtype],
    channels_last: bool, label_smoothing: float = 0.0, tta_flip: bool = False, reduce: bool = False,
) -> dict[str, float]:
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    count = 0
    for logits, y in _logits(model, data, device, amp_dtype, channels_last, tta_flip):
        loss_sum += F.cross_entropy(logits, y, reduction="sum", label_smoothing=label_smoothing)
        correct += (logits.argmax(1) == y).sum()
        count += y.shape[0]
    model.train(was_training)
    loss, right, n, _ = _read_stats(loss_sum, correct, count, torch.zeros((), device=device), reduce)
    if n == 0:
        return {"loss": math.nan, "accuracy": math.nan, "count": 0}
    return {"loss": loss / n, "accuracy": right / n, "count": n}


def evaluate(
    model: nn.Module,
    data: Iterable[tuple[Tensor, Tensor]],
    *,
    tta_flip: bool = False,
    device: Union[str, torch.device, None] = None,
    amp: Union[str, bool, None] = None,
    label_smoothing: float = 0.0,
) -> dict[str, float]:
    """Mean loss, accuracy (a fraction) and sample count of ``model`` on ``data``.

    The model runs in eval mode (BN with its running statistics) under ``no_grad``, as in
    the paper's single-view testing (§4.2). ``tta_flip`` averages the logits of each image
    and its mirror image -- a cheap test-time augmentation the paper does not use.
    ``device`` defaults to the model's (a different one moves the model there); ``amp``
    as in :func:`fit`.
    """
    device = _model_device(model) if device is None else torch.device(device)
    model.to(device)
    amp_dtype = _resolve_amp(amp, device)
    return _evaluate(model, data, device, amp_dtype, _is_channels_last(model), label_smoothing, tta_flip)


@torch.no_grad()
def predict(
    model: nn.Module,
    data: Iterable[tuple[Tensor, Tensor]],
    tta_flip: bool = False,
    *,
    device: Union[str, torch.device, None] = None,
    amp: Union[str, bool, None] = None,
) -> tuple[Tensor, Tensor]:
    """``(logits, labels)`` for all of ``data``, on the CPU (float32 logits, int64 labels).

    ``logits.softmax(1)`` gives the probabilities, ``logits.argmax(1)`` the predictions.
    ``tta_flip`` as in :func:`evaluate`.
    """
    device = _model_device(model) if device is None else torch.device(device)
    model.to(device)
    was_training = model.training
    model.eval()
    outputs, labels = [], []
    for logits, y in _logits(model, data, device, _resolve_amp(amp, device), _is_channels_last(model), tta_flip):
        outputs.append(logits.cpu())
        labels.append(y.cpu())
    model.train(was_training)
    if not outputs:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.cat(outputs), torch.cat(labels)


def confusion_matrix(preds: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """``num_classes x num_classes`` counts: row = true class, column = predicted class.

    ``preds`` may be class indices or logits/probabilities (then the argmax is taken).
    The matrix sums to the number of samples and its trace over that is the accuracy.
    """
    if preds.ndim == 2:
        preds = preds.argmax(1)
    preds, labels = preds.long().flatten().cpu(), labels.long().flatten().cpu()
    if preds.shape != labels.shape:
        raise ValueError(f"preds and labels differ in length: {preds.numel()} vs {labels.numel()}")
    index = labels * num_classes + preds
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
