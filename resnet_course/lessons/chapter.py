"""The first cell of every chapter: what the reader's machine is and which mode the chapter runs in.

Every chapter opens with the same setup cell (:data:`SETUP_CELL`). Where the package is
missing (Colab, a fresh environment) it installs the version the book was built with, and
nothing else: the reader's PyTorch stays. Then :func:`start_chapter` prints the package
version, the device (on Colab without a GPU: how to switch one on) and the budget — quick
or full mode and what that means (:mod:`resnet_course.budget`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from resnet_course import __version__
from resnet_course.budget import Budget, current_budget
from resnet_course.experiments.provenance import thread_count
from resnet_course.nn.registry import create_model
from resnet_course.training.runtime import resolve_device

__all__ = [
    "PACKAGE_URL", "REPOSITORY_URL", "SETUP_CELL", "describe_device", "estimate_minutes", "on_colab", "start_chapter",
]

#: Where the course package lives, and what the setup cell installs: this version of it.
REPOSITORY_URL = "https://github.com/resnet-course/resnet-course"
PACKAGE_URL = f"resnet-course @ git+{REPOSITORY_URL}@v{__version__}"

#: The source of the setup cell, identical in every chapter (tests/test_notebooks.py checks it).
SETUP_CELL = f'''# Setup, the same in every chapter: install the course package where it is
# missing (on Colab), then say which device this notebook runs on and whether
# it runs in quick or full mode.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("resnet_course") is None:
    repository = "{REPOSITORY_URL}"
    package = f"resnet-course @ git+{{repository}}@v{__version__}"
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, package], check=True)

from resnet_course.lessons.chapter import start_chapter

budget, device = start_chapter()'''


def on_colab() -> bool:
    """Whether this runs in a Google Colab kernel."""
    return "google.colab" in sys.modules


def describe_device(device: torch.device) -> str:
    """One line on the device; on Colab without a GPU, how to get one."""
    if device.type == "cuda":
        return f"device: GPU ({torch.cuda.get_device_name(device)})"
    line = f"device: CPU ({thread_count()}), no GPU"
    if on_colab():
        line += " — on Colab choose Runtime → Change runtime type → a GPU, then run this cell again"
    return line


def start_chapter() -> tuple[Budget, torch.device]:
    """Print the package and PyTorch versions, the device and the mode; return the budget and the device."""
    device = resolve_device()
    budget = current_budget()
    print(f"resnet_course {__version__}, PyTorch {torch.__version__}")
    print(describe_device(device))
    print(budget.describe())
    return budget, device


def _seconds_per_step(name: str, batch_size: int, image_size: int, device: torch.device, steps: int) -> float:
    """Measured seconds of one training step of network ``name`` on random images (after one warm-up step)."""
    torch.manual_seed(0)
    model = create_model(name).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(batch_size, 3, image_size, image_size, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)
    dtype = torch.bfloat16 if device.type == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype):
            loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times[1:])


def estimate_minutes(runs: Mapping[str, int], *, images: int, batch_size: int, device: torch.device | str,
                     image_size: int = 32, steps: int = 2) -> float:
    """Minutes of training for ``runs`` (network name → epochs) on ``images`` images, on this device.

    Each network trains a few steps on random images first, timed, and the fastest step is
    scaled to the run's steps: a measured throughput, not a guess. Evaluation and data
    loading are not counted, so the real run takes a little longer. The chapters print
    this before a live run starts.
    """
    device = torch.device(device)
    steps_per_epoch = -(-images // batch_size)
    seconds = sum(_seconds_per_step(name, batch_size, image_size, device, steps) * steps_per_epoch * epochs
                  for name, epochs in runs.items())
    return seconds / 60
