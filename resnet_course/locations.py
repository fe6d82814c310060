"""Where the course's stored results and weights are found: one locator for the whole package.

The reference results (``results/*.json``) and the weights the chapters load
(``results/zoo/*.pt``) live in the repository's ``results/`` folder and are copied into the
package as ``resnet_course/_data/results/`` when a wheel is built (``setup.py``). A chapter
opened alone (on Colab, or anywhere the package was installed with pip) therefore finds
them without any path set, while a checkout's own ``results/`` wins during development, so
that a fresh reference run shows up in the book at once.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PACKAGE_DIR", "PACKAGED_RESULTS", "checkout_root", "results_dir"]

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED_RESULTS = PACKAGE_DIR / "_data" / "results"


def checkout_root() -> Path | None:
    """The repository the package is used from (``pyproject.toml`` beside ``resnet_course/``), if any."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "results").is_dir() else None


def results_dir() -> Path:
    """The folder of reference results: the checkout's ``results/``, else the installed copy."""
    root = checkout_root()
    return root / "results" if root is not None else PACKAGED_RESULTS
