"""Where a result came from: the metadata block every run writes beside its numbers.

The book never shows a number without saying how it was produced (DESIGN.md), so
every result file carries: the device, the software versions, the git commit of the
code, the date, and whatever the run adds (model, data variant, epochs, schedule,
wall time …).
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

__all__ = ["device_name", "git_commit", "PACKAGE_ROOT", "run_metadata", "stored_device_name", "thread_count"]


PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def device_name(device: torch.device | str | None = None) -> str:
    """A readable name for the device a run used, e.g. ``"NVIDIA H100 80GB HBM3"`` or ``"CPU (2 threads)"``."""
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda":
        return torch.cuda.get_device_name(device)
    processor = platform.processor() or platform.machine()
    return f"CPU {processor} ({thread_count()})".replace("  ", " ")


def thread_count() -> str:
    """The threads PyTorch computes with on the CPU, in words: ``"1 thread"``, ``"2 threads"``."""
    threads = torch.get_num_threads()
    return f"{threads} thread{'' if threads == 1 else 's'}"


def stored_device_name(name: object) -> str:
    """A device name a result stored, as it reads today: files written before :func:`device_name` counted
    threads in words say ``"(1 threads)"``."""
    return str(name).replace("(1 threads)", "(1 thread)")


def git_commit(path: Path = PACKAGE_ROOT) -> str:
    """The commit of the code that ran, with ``+dirty`` if it had uncommitted changes; ``"unknown"`` outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=path, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def run_metadata(device: torch.device | str | None = None, **extra: Any) -> dict[str, Any]:
    """The metadata block of a run: environment first, then the run's own fields."""
    from resnet_course import __version__

    return {
        "device": device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "resnet_course": __version__,
        "commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        **extra,
    }
