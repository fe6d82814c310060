"""The teaching guide's tables, read from the chapters themselves and from ``results/``.

An instructor planning a class needs two things per chapter: how long it takes to run and
which exercises it has, how hard, and which ones a self-check grades. Both are derived
here — the exercises by parsing the committed notebooks' ``{exercise}`` directives, the
times from ``results/notebook_times_cpu.json`` (written by ``benchmarks/notebook_times.py``)
— so the guide can never disagree with the book.

The tables are MyST Markdown, for the guide's cells to render with
``mystnb.markdown_format: myst`` (CommonMark, myst-nb's default for Markdown outputs, has no
tables). They link the chapters with ``{doc}`` and give each exercise's number with
``{numref}``: sphinx-exercise numbers exercises through the whole book (Exercise 1 … N in
reading order, not per chapter), and the number in the guide is the one Sphinx gives the
exercise on its page, links included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_course.locations import results_dir

__all__ = [
    "NOTEBOOK_DIR",
    "REPO_ROOT",
    "TIMES_FILE",
    "Exercise",
    "chapter_notebooks",
    "chapter_title",
    "doc_link",
    "exercise_number",
    "exercise_table",
    "exercises",
    "load_times",
    "markdown_table",
    "timing_table"
]


REPO_ROOT = Path(__file__).resolve().parents[2]  # resnet_course/lessons/teaching.py → the checkout
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


TIMES_FILE = results_dir() / "notebook_times_cpu.json"

_DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{exercise\}[ \t]*(.*)$")
_STARS = re.compile(r"(★+)")
_CHECK = re.compile(r"\b(check_\w+)\s*\(")


@dataclass(frozen=True)
class Exercise:
    """One ``{exercise}`` of a chapter."""

    chapter: int
    label: str
    title: str
    difficulty: int  # number of stars: 1 easy, 2 medium, 3 hard
    self_check: str | None  # the resnet_course.exercises function that grades it, if any


def _cells(path: Path) -> list[dict[str, Any]]:
    """The cells of a notebook file."""
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict[str, Any]) -> str:
    """A cell's source as one string (notebooks store it as a list of lines or as one string)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def chapter_notebooks(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """The chapters in reading order (``NN_slug.ipynb``, and ``NNb_slug.ipynb`` for a chapter split off NN)."""
    return sorted(p for p in notebook_dir.glob("[0-9][0-9]*_*.ipynb") if re.match(r"\d\d[a-z]?_", p.name))


def chapter_title(path: Path) -> str:
    """The notebook's H1 title, e.g. ``"1. The degradation problem"``."""
    for cell in _cells(path):
        if cell["cell_type"] == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError(f"{path.name} has no '# N. Title' heading")


def exercises(path: Path) -> list[Exercise]:
    """The exercises of one chapter, in order, with difficulty and self-check.

    A self-check counts when a ``check_…(`` call appears in the exercise's text or in the
    code cells between it and the next exercise (where the chapters put the student's
    cell and its check).
    """
    chapter = int(path.name[:2])
    found: list[Exercise] = []
    pending: dict[str, Any] | None = None

    def close() -> None:
        """Record the exercise being read, if any."""
        if pending is not None:
            found.append(Exercise(chapter, pending["label"], pending["title"], pending["stars"],
                                  pending["check"]))

    for cell in _cells(path):
        text = _source(cell)
        if cell["cell_type"] == "code":
            if pending is not None and pending["check"] is None:
                match = _CHECK.search(text)
                pending["check"] = match.group(1) if match else None
            continue
        lines = text.splitlines()
        for i, line in enumerate(lines):
            match = _DIRECTIVE.match(line.strip())
            if not match:
                continue
            close()
            body = "\n".join(lines[i + 1:])
            fence = match.group(1)
            body = body.split(fence, 1)[0]
            label = re.search(r"^:label:\s*(\S+)", body, re.MULTILINE)
            stars = _STARS.search(match.group(2) + body)
            check = _CHECK.search(body)
            pending = {"label": label.group(1) if label else "", "title": match.group(2).strip(),
                       "stars": len(stars.group(1)) if stars else 0, "check": check.group(1) if check else None}
    close()
    return found


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub/MyST Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def doc_link(path: Path) -> str:
    """A MyST ``{doc}`` link to a chapter notebook (its title as the text)."""
    return f"{{doc}}`/notebooks/{path.stem}`"


def exercise_number(label: str) -> str:
    """A MyST ``{numref}`` giving the book-wide number of the exercise labelled ``label``, as a link."""
    return f"{{numref}}`%s <{label}>`"


def exercise_table(notebook_dir: Path = NOTEBOOK_DIR) -> str:
    """Every exercise of the book: its number (as on its page), chapter, title, difficulty, self-check."""
    rows = []
    for path in chapter_notebooks(notebook_dir):
        for exercise in exercises(path):
            rows.append((exercise_number(exercise.label), exercise.chapter, exercise.title or exercise.label,
                         "★" * exercise.difficulty,
                         f"`{exercise.self_check}`" if exercise.self_check else "discussion / by hand"))
    return markdown_table(["Exercise", "Ch.", "Title", "Difficulty", "Self-check"], rows)


def load_times(path: Path | None = None) -> dict[str, Any]:
    """The stored notebook run times (default: :data:`TIMES_FILE`); a missing file says how to produce it."""
    path = TIMES_FILE if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {path}; produce it with 'python benchmarks/notebook_times.py'")
    return json.loads(path.read_text())


def timing_table(times: dict[str, Any], notebook_dir: Path = NOTEBOOK_DIR) -> str:
    """Per chapter: its title, the measured quick-mode run time, and its exercise count."""
    rows = []
    for path in chapter_notebooks(notebook_dir):
        seconds = times["notebooks"].get(path.name)
        shown = f"{seconds / 60:.1f} min" if seconds is not None else "not measured"
        rows.append((doc_link(path), shown, len(exercises(path))))
    return markdown_table(["Chapter", f"Quick mode, {times['meta']['device']}", "Exercises"], rows)
