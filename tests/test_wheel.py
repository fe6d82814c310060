"""The package as readers install it (issue 14): a wheel, no repository around it.

- the built wheel carries every reference result and stored weight file of ``results/``,
  byte for byte (the chapters' SHA-256 checks then pass on the installed copy);
- each chapter, copied **alone** into an empty folder, runs in quick mode from the wheel
  installed into a temporary folder: its setup cell finds the package (it would otherwise try
  to pip-install it, which fails offline) and every result it reads comes from the package.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT, toc_files

pytestmark = pytest.mark.slow

CHAPTERS = [REPO_ROOT / f"{f}.ipynb" for f in toc_files() if f.startswith("notebooks/")]
SHIPPED = sorted([*(REPO_ROOT / "results").glob("*.json"), *(REPO_ROOT / "results" / "zoo").glob("*.json"),
                  *(REPO_ROOT / "results" / "zoo").glob("*.pt")])
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "resnet_course", "results")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's wheel, built from a copy of the checkout (the build leaves nothing in it)."""
    source = tmp_path_factory.mktemp("wheel-source")
    for name in BUILD_INPUTS:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "_data"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
               "--wheel-dir", str(out), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, "pip wheel failed:\n" + result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = out.glob("resnet_course-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a folder of its own (its dependencies are the test environment's)."""
    target = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, "pip install of the wheel failed:\n" + result.stderr[-3000:]
    return target


def test_the_wheel_ships_every_result_byte_for_byte(wheel: Path) -> None:
    assert SHIPPED, "results/ holds no reference results"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        problems = []
        for path in SHIPPED:
            member = "resnet_course/_data/results/" + path.relative_to(REPO_ROOT / "results").as_posix()
            if member not in names:
                problems.append(f"{member} missing")
            elif _sha256(archive.read(member)) != _sha256(path.read_bytes()):
                problems.append(f"{member} differs from {path.relative_to(REPO_ROOT)}")
    assert not problems, f"{wheel.name}: " + "; ".join(problems)


# Run by a child Python so that the kernel inherits PYTHONPATH (the installed copy, not the checkout).
EXECUTE = """
import sys
import nbformat
from nbclient import NotebookClient

path, target = sys.argv[1], sys.argv[2]
notebook = nbformat.read(path, as_version=4)
notebook.cells.append(nbformat.v4.new_code_cell(
    "import resnet_course, resnet_course.locations as _where\\n"
    f"assert resnet_course.__file__.startswith({target!r}), resnet_course.__file__\\n"
    "assert _where.checkout_root() is None and _where.results_dir() == _where.PACKAGED_RESULTS"))
NotebookClient(notebook, timeout=900, kernel_name="python3",
               resources={"metadata": {"path": str(__import__('pathlib').Path(path).parent)}}).execute()
"""


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_runs_alone_from_the_installed_wheel(chapter: Path, installed: Path, data_root: Path,
                                                       tmp_path: Path) -> None:
    alone = tmp_path / chapter.name
    shutil.copy2(chapter, alone)
    env = {**os.environ, "PYTHONPATH": str(installed), "RESNET_COURSE_QUICK": "1",
           "RESNET_COURSE_DATA": str(data_root), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", EXECUTE, str(alone), str(installed)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"{chapter.name} failed alone:\n" + result.stderr[-5000:]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".ipynb") == [chapter.name]
