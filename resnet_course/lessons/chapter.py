"""The first cell of every chapter: what the reader's machine is and which mode the chapter runs in.

Every chapter opens with the same setup cell (:data:`SETUP_CELL`). Where the package is
missing (Colab, a fresh environment) it installs the version the book was built with, and
nothing else: the reader's PyTorch stays. Then :func:`start_chapter` prints the package
version, the device (on Colab without a GPU: how to switch one on) and the budget — quick
or full mode and what that means (:mod:`resnet_course.budget`).
"""

from __future__ import annotations

import sys

import torch

from resnet_course import __version__
from resnet_course.budget import Budget, current_budget

__all__ = ["PACKAGE_URL", "SETUP_CELL", "describe_device", "on_colab", "start_chapter"]

#: What the setup cell installs: this version of the course package, from its repository.
PACKAGE_URL = f"resnet-course @ git+https://github.com/resnet-course/resnet-course@v{__version__}"

#: The source of the setup cell, identical in every chapter (tests/test_notebooks.py checks it).
SETUP_CELL = f'''# Setup, the same in every chapter: install the course package where it is missing (on Colab),
# then say which device this notebook runs on and whether it runs in quick or full mode.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("resnet_course") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "{PACKAGE_URL}"], check=True)

from resnet_course.lessons.chapter import start_chapter

budget, device = start_chapter()'''


def on_colab() -> bool:
    """Whether this runs in a Google Colab kernel."""
    return "google.colab" in sys.modules


def describe_device(device: torch.device) -> str:
    """One line on the device; on Colab without a GPU, how to get one."""
    if device.type == "cuda":
        return f"device: GPU ({torch.cuda.get_device_name(device)})"
    line = f"device: CPU ({torch.get_num_threads()} threads), no GPU"
    if on_colab():
        line += " — on Colab choose Runtime → Change runtime type → a GPU, then run this cell again"
    return line


def start_chapter() -> tuple[Budget, torch.device]:
    """Print the package and PyTorch versions, the device and the mode; return the budget and the device."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    budget = current_budget()
    print(f"resnet_course {__version__}, PyTorch {torch.__version__}")
    print(describe_device(device))
    print(budget.describe())
    return budget, device
