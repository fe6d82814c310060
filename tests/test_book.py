"""The book builds with warnings as errors, from the stored notebook outputs."""

from __future__ import annotations

from pathlib import Path

from conftest import REPO_ROOT


def test_book_builds_with_warnings_as_errors(built_site: Path) -> None:
    """``built_site`` (tests/conftest.py) builds with ``-W -n`` and fails on any warning."""
    html = built_site
    assert (html / "favicon.ico").is_file()
    intro = (html / "book" / "intro.html").read_text()
    assert "ResNet Course" in intro
    # The bibliography resolved the citation to the 2015 paper.
    references = (html / "book" / "references.html").read_text().lower()
    assert "deep residual learning for image recognition" in references


def test_readme_shows_the_commands_ci_runs() -> None:
    """CI runs exactly the README's test command, and the README shows the two commands."""
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    test_command = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")][-1]
    assert test_command == "make test", f".ci/run must end with the README's test command, not {test_command!r}"
    assert "\nmake test\n" in readme and "\nmake book\n" in readme, "the README must show `make book` and `make test`"
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "jupyter-book build -W" in makefile and "-m pytest" in makefile
