"""Shared pytest fixtures.

The real data sets live outside the repository (``../shared/data`` on the course's
machines, or wherever ``RESNET_COURSE_DATA`` points). Tests that need them ask for the
``data_root`` fixture; it fails (never skips) when the folder is missing, because a
green run without data would prove nothing.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]

# The tests run everything in quick mode (DESIGN.md), notebooks included: nbval's kernels
# inherit this process's environment. Set at import, before any test or kernel starts.
os.environ["RESNET_COURSE_QUICK"] = "1"


def _find_data_root() -> Path | None:
    env = os.environ.get("RESNET_COURSE_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for candidate in candidates:
        if (candidate / "cifar10-jpg").is_dir() or (candidate / "hands").is_dir():
            return candidate.resolve()
    return None


# Notebooks (run by nbval in their own kernels) find the data through the environment.
if "RESNET_COURSE_DATA" not in os.environ and _find_data_root() is not None:
    os.environ["RESNET_COURSE_DATA"] = str(_find_data_root())



def toc_files(node: object = None) -> list[str]:
    """Every ``root`` and ``file:`` entry of _toc.yml, in reading order."""
    if node is None:
        node = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(str(node[key]))
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                found.extend(toc_files(child))
    elif isinstance(node, list):
        for child in node:
            found.extend(toc_files(child))
    return found


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every URL fetch fails as it does offline (torchvision's and ours use urlopen).

    Here and not in a ``tests/data/conftest.py``: a second module named ``conftest`` would
    shadow this one for the test files that ``from conftest import REPO_ROOT``.
    """

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


class FullDisk(io.FileIO):
    """A file on a disk that fills up after ``room`` bytes: the next write raises ENOSPC, as a real one does."""

    room = 4096

    def write(self, data) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


@pytest.fixture()
def full_disk(monkeypatch: pytest.MonkeyPatch):
    """``full_disk(name, occurrence=1, room=4096)``: the ``occurrence``-th atomic write of the file ``name``
    (``last.pt``, ``history.json``, ...) finds the disk full after ``room`` bytes (until ``monkeypatch.undo()``)."""
    import resnet_course.training.files as files_module

    def fill(name: str, occurrence: int = 1, room: int = 4096) -> None:
        seen = []

        def open_(path, mode="r", *args, **kwargs):
            if "w" in mode and Path(path).name.startswith(f".{name}."):
                seen.append(path)
                if len(seen) == occurrence:
                    return io.BufferedWriter(type("Full", (FullDisk,), {"room": room})(path, "w"))
            return open(path, mode, *args, **kwargs)

        monkeypatch.setattr(files_module, "open", open_, raising=False)

    return fill


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C (SIGINT) raises KeyboardInterrupt in this test however pytest was started: a process started
    in the background by a script (``nohup make test &``) inherits SIGINT ignored, and Python then installs
    no handler, so a test of what Ctrl-C does would see nothing happen."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def one_thread():
    """For tests on tiny tensors: one intra-op thread beats two spinning against each other
    (and against whatever else the machine runs). Use with ``pytestmark``."""
    from resnet_course.lessons.analysis.gradients import single_thread

    with single_thread():
        yield


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding ``cifar10-jpg/`` and ``hands/``."""
    root = _find_data_root()
    if root is None:
        pytest.fail(
            "No course data found: set RESNET_COURSE_DATA to the folder holding "
            "cifar10-jpg/ and hands/ (on the course machines: ../shared/data)."
        )
    return root


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One decoded-data cache for the whole test session (decoding JPEGs once)."""
    env = os.environ.get("RESNET_COURSE_CACHE")
    if env:
        return Path(env)
    return tmp_path_factory.mktemp("resnet_course_cache")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book built once per session with warnings as errors; returns ``_build/html``."""
    out = tmp_path_factory.mktemp("site")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", "-W", "-n", "--keep-going", "--path-output", str(out), str(REPO_ROOT)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, "the book build failed:\n" + result.stdout[-4000:] + result.stderr[-4000:]
    html = out / "_build" / "html"
    assert (html / "index.html").is_file()
    return html
