"""Devices, precision, compilation and several processes.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "autocast", "barrier", "COMPILE_MODES", "distributed_info", "init_distributed", "is_channels_last",
    "model_device", "precision_name", "read_stats", "resolve_amp", "resolve_compile", "resolve_device",
    "resolve_fused", "seed_everything", "synchronize", "to_device", "unwrap"
]


def distributed_info() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)``: from the process group if one is running, else
    from the ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` variables ``torchrun`` sets, else
    ``(0, 1, 0)``."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), local_rank
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), local_rank


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    """The one device resolver of the package: the device to run on, checked.

    ``device`` as named (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``), else the GPU
    when there is one, else the CPU. A bare ``"cuda"`` becomes this process's GPU:
    ``cuda:LOCAL_RANK`` under ``torchrun``, else the current one. A name PyTorch does not
    know, or CUDA on a machine without a GPU, raises ``ValueError`` saying what to use.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r}: this machine has no CUDA GPU; use cpu")
        if device.index is None:
            _, world_size, local_rank = distributed_info()
            device = torch.device("cuda", local_rank if world_size > 1 else torch.cuda.current_device())
    return device


def seed_everything(seed: int) -> None:
    """Seed every global generator a run draws from: torch (CPU and GPUs), ``random`` and numpy."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def init_distributed(device: torch.device) -> None:
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


def barrier(device: torch.device) -> None:
    if device.type == "cuda":
        dist.barrier(device_ids=[device.index])
    else:
        dist.barrier()


def synchronize(device: torch.device) -> None:
    """Wait for the GPU to finish its queue, so the clock measures the work, not the launches."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def resolve_amp(amp: str | bool | None, device: torch.device) -> torch.dtype | None:
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


def resolve_compile(compile: bool | str | None, device: torch.device) -> str | None:
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


def resolve_fused(fused: bool | None, device: torch.device) -> bool:
    """Whether to use the fused optimizer: as asked, or (``None``, auto) where PyTorch has one for ``device``."""
    if fused is not None:
        return bool(fused)
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        return device.type in _get_fused_kernels_supported_devices()
    except ImportError:  # an older PyTorch: fused kernels on CUDA only
        return device.type == "cuda"


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel and/or ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def is_channels_last(model: nn.Module) -> bool:
    return any(
        p.ndim == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
        for p in model.parameters()
    )


def to_device(x: Tensor, y: Tensor, device: torch.device, channels_last: bool) -> tuple[Tensor, Tensor]:
    """Move a batch to ``device`` (a no-op for a loader that already lives there)."""
    x = x.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    if y.dtype != torch.long:
        y = y.long()
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def precision_name(amp: str | bool | None, device: torch.device | str) -> str:
    """What ``fit(amp=...)`` runs in on ``device``: ``"bf16"``, ``"fp16"`` or ``"fp32"``."""
    dtype = resolve_amp(amp, torch.device(device))
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def read_stats(
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
