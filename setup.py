"""Build hook: ship the reference results and the chapters' weights inside the package.

Everything else is in pyproject.toml. ``results/*.json`` and ``results/zoo/*.{json,pt}``
are copied to ``resnet_course/_data/results/`` in the built package, where
:func:`resnet_course.locations.results_dir` finds them when there is no checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESULTS = Path(__file__).resolve().parent / "results"
PATTERNS = ("*.json", "zoo/*.json", "zoo/*.pt")


class BuildWithResults(build_py):
    """``build_py`` that also copies the reference results into the package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "resnet_course" / "_data" / "results"
        for pattern in PATTERNS:
            for source in sorted(RESULTS.glob(pattern)):
                destination = target / source.relative_to(RESULTS)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)


setup(cmdclass={"build_py": BuildWithResults})
