"""The code keeps the style pyproject.toml sets (``[tool.ruff]``): pyflakes, pycodestyle, sorted imports."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT


def test_ruff_finds_nothing() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, "ruff check . found:\n" + done.stdout[-4000:] + done.stderr[-2000:]
