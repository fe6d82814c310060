"""The committed chapters follow the course's conventions (DESIGN.md, the notebook guide).

These are static checks of the stored ``.ipynb`` files; running them is nbval's job
(``--nbval-lax`` over ``notebooks/``, configured in pyproject.toml). For every notebook in
``notebooks/``:

- it is committed executed: every code cell has an execution count, the counts run
  1..N in order, and no output is an error;
- it has exactly one H1 title (``# N. Title``, N its chapter number), a "Learning goals"
  and a "Summary" section, and at least three ``{exercise}`` directives, each with a
  label ``ex-chN-…``, a difficulty (★, ★★ or ★★★) and a matching ``{solution}`` hidden in
  a dropdown;
- every ``{cite}`` key (in the notebooks and in the book's prose pages) exists in
  ``book/references.bib``;
- the notebooks in ``notebooks/`` and the chapters in ``_toc.yml`` are the same set;
- every code line the book shows (code cells, and the code blocks of the text, also in the
  book's own pages) fits the page: at most 79 characters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import REPO_ROOT, toc_files

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# Book pages written as notebooks (the teaching guide's tables): committed executed too.
PAGE_NOTEBOOKS = sorted((REPO_ROOT / "book").glob("*.ipynb"))
BIB = REPO_ROOT / "book" / "references.bib"

# Directive openings: ```{name} args  or  :::{name} args  (MyST backtick or colon fences).
DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*)$")
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]*)`")


def _id(path: Path) -> str:
    return path.name


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _markdown(nb: dict) -> str:
    return "\n\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")


def _headings(markdown: str) -> list[tuple[int, str]]:
    """ATX headings outside fenced code blocks and directives, as (level, text)."""
    headings, fence = [], None
    for line in markdown.splitlines():
        stripped = line.strip()
        match = re.match(r"^(`{3,}|~{3,}|:{3,})", stripped)
        if fence is None and match:
            fence = match.group(1)
            continue
        if fence is not None:
            if stripped.startswith(fence) and stripped.strip(fence[0]) == "":
                fence = None
            continue
        heading = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if heading:
            headings.append((len(heading.group(1)), heading.group(2)))
    return headings


def _directives(markdown: str) -> list[dict]:
    """Top-level MyST directives: name, argument, options and body."""
    found, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i].strip())
        if not match:
            i += 1
            continue
        fence = match.group("fence")
        body, options, j = [], {}, i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence) and lines[j].strip().strip(fence[0]) == ""):
            body.append(lines[j])
            j += 1
        for line in body:
            option = re.match(r"^:(\w[\w-]*):\s*(.*)$", line.strip())
            if option:
                options[option.group(1)] = option.group(2).strip()
            elif line.strip():
                break
        found.append({"name": match.group("name"), "arg": match.group("arg").strip(), "options": options,
                      "body": "\n".join(body)})
        i = j + 1
    return found


def _chapter_number(path: Path) -> str:
    """``05_x.ipynb`` is chapter 5; ``05b_x.ipynb`` is chapter 5b (a chapter split off the one before)."""
    match = re.match(r"^(\d+)([a-z]?)_", path.name)
    assert match, f"{path.name}: chapter notebooks are named NN_slug.ipynb (or NNb_slug.ipynb)"
    return f"{int(match.group(1))}{match.group(2)}"


def _bib_keys() -> set[str]:
    return set(re.findall(r"@\w+\s*\{\s*([^,\s]+)\s*,", BIB.read_text(encoding="utf-8")))


# --------------------------------------------------------------------------------------
# (a) committed executed, in order, without errors


@pytest.mark.parametrize("path", NOTEBOOKS + PAGE_NOTEBOOKS, ids=_id)
def test_notebook_is_committed_executed_in_order(path: Path) -> None:
    nb = _load(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cell"
    problems = []
    counts = [c.get("execution_count") for c in code]
    for index, cell in enumerate(code, start=1):
        first_line = _source(cell).strip().splitlines()[:1]
        where = f"code cell {index} ({first_line[0][:60] if first_line else 'empty'!r})"
        if cell.get("execution_count") is None:
            problems.append(f"{where} has no execution count (not executed, or empty)")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"{where} stores an error: {output.get('ename')}: {output.get('evalue')}")
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"execution counts are {counts}, expected 1..{len(code)} in order "
                        "(re-run the whole notebook: RESNET_COURSE_QUICK=1 jupyter execute --inplace NOTEBOOK)")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------------------
# (b) structure: title, learning goals, summary, exercises with hidden solutions


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_structure(path: Path) -> None:
    nb = _load(path)
    number = _chapter_number(path)
    headings = _headings(_markdown(nb))
    titles = [text for level, text in headings if level == 1]
    assert len(titles) == 1, f"{path.name}: expected exactly one H1 title, found {titles}"
    assert re.match(rf"^{number}\.\s+\S", titles[0]), \
        f"{path.name}: the title {titles[0]!r} should read '# {number}. <Title>'"
    sections = [text.lower() for level, text in headings if level > 1]
    assert any("learning goals" in s for s in sections), f"{path.name}: no 'Learning goals' section"
    assert any("summary" in s for s in sections), f"{path.name}: no 'Summary' section"
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    assert kernel == "python3", f"{path.name}: kernelspec name is {kernel!r}, expected 'python3'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_notebook_exercises_have_hidden_solutions(path: Path) -> None:
    nb = _load(path)
    number = _chapter_number(path)
    directives = _directives(_markdown(nb))
    exercises = [d for d in directives if d["name"] == "exercise"]
    solutions = {d["arg"]: d for d in directives if d["name"] == "solution"}
    problems = []
    if len(exercises) < 3:
        problems.append(f"{len(exercises)} exercise(s), at least 3 expected")
    for exercise in exercises:
        label = exercise["options"].get("label")
        if not label:
            problems.append(f"exercise {exercise['arg']!r} has no :label:")
            continue
        if not label.startswith(f"ex-ch{number}-"):
            problems.append(f"exercise label {label!r} should start with 'ex-ch{number}-' (labels are book-wide)")
        if "★" not in exercise["body"] and "★" not in exercise["arg"]:
            problems.append(f"exercise {label!r} states no difficulty (★ easy, ★★ medium, ★★★ hard)")
        solution = solutions.pop(label, None)
        if solution is None:
            problems.append(f"exercise {label!r} has no ```{{solution}} {label}```")
        elif "dropdown" not in solution["options"].get("class", "").split():
            problems.append(f"the solution to {label!r} is not hidden: add ':class: dropdown'")
    for orphan in solutions:
        problems.append(f"solution {orphan!r} matches no exercise label")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_exercise_labels_are_unique_across_the_book() -> None:
    seen: dict[str, str] = {}
    duplicates = []
    for path in NOTEBOOKS:
        for directive in _directives(_markdown(_load(path))):
            label = directive["options"].get("label")
            if directive["name"] == "exercise" and label:
                if label in seen:
                    duplicates.append(f"{label} in {seen[label]} and {path.name}")
                seen[label] = path.name
    assert not duplicates, "duplicate exercise labels: " + "; ".join(duplicates)


# --------------------------------------------------------------------------------------
# (c) citations


def test_every_citation_is_in_the_bibliography() -> None:
    keys = _bib_keys()
    assert keys, f"no entries found in {BIB}"
    sources = [(p.name, _markdown(_load(p))) for p in NOTEBOOKS]
    sources += [(p.relative_to(REPO_ROOT).as_posix(), p.read_text(encoding="utf-8"))
                for p in sorted((REPO_ROOT / "book").glob("*.md"))]
    missing = []
    for name, text in sources:
        for group in CITE.findall(text):
            for key in (k.strip() for k in group.split(",")):
                if key and key not in keys:
                    missing.append(f"{name}: {key}")
    assert not missing, f"citation keys missing from {BIB.relative_to(REPO_ROOT)}: {missing}"


# --------------------------------------------------------------------------------------
# (d) the notebooks and the table of contents agree


def test_notebooks_and_toc_agree() -> None:
    toc = toc_files()
    missing_files = [f for f in toc if not any((REPO_ROOT / f).with_suffix(s).is_file() or (REPO_ROOT / f).is_file()
                                               for s in (".md", ".ipynb"))]
    assert not missing_files, f"_toc.yml lists files that do not exist: {missing_files}"
    in_toc = {Path(f).with_suffix("").as_posix() for f in toc if f.startswith("notebooks/")}
    on_disk = {p.relative_to(REPO_ROOT).with_suffix("").as_posix() for p in NOTEBOOKS}
    assert on_disk <= in_toc, f"notebooks missing from _toc.yml: {sorted(on_disk - in_toc)}"
    assert in_toc <= on_disk, f"_toc.yml lists chapters with no notebook: {sorted(in_toc - on_disk)}"


# --------------------------------------------------------------------------------------
# (e) the teaching guide's exercise table matches the chapters


def test_teaching_guide_lists_every_exercise_with_a_real_self_check() -> None:
    from resnet_course import exercises as self_checks
    from resnet_course.lessons import teaching

    for path in NOTEBOOKS:
        listed = teaching.exercises(path)
        labels = [d["options"].get("label") for d in _directives(_markdown(_load(path))) if d["name"] == "exercise"]
        assert [e.label for e in listed] == labels, f"{path.name}: the teaching guide's exercises differ"
        for exercise in listed:
            assert 1 <= exercise.difficulty <= 3, f"{exercise.label}: difficulty {exercise.difficulty}"
            if exercise.self_check is not None:
                assert exercise.self_check in self_checks.__all__, \
                    f"{exercise.label} names {exercise.self_check}, which resnet_course.exercises does not export"
    assert any(e.self_check for p in NOTEBOOKS for e in teaching.exercises(p)), "no exercise has a self-check"


# --------------------------------------------------------------------------------------
# (f) every chapter opens with the same setup cell; test markers are tags; no notes to ourselves

CHAPTERS_IN_TOC = [REPO_ROOT / f"{f}.ipynb" for f in toc_files() if re.match(r"^notebooks/\d\d[a-z]?_", f)]
OTHER_NOTEBOOKS = [p for p in NOTEBOOKS + PAGE_NOTEBOOKS if p not in CHAPTERS_IN_TOC]


def _code_cells(path: Path) -> list[dict]:
    return [c for c in _load(path)["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", CHAPTERS_IN_TOC, ids=_id)
def test_chapter_opens_with_the_setup_cell(path: Path) -> None:
    """The first code cell is resnet_course.lessons.chapter.SETUP_CELL, as it is, behind a toggle in the book."""
    import resnet_course
    from resnet_course.lessons.chapter import SETUP_CELL

    first = _code_cells(path)[0]
    source = _source(first)
    assert source == SETUP_CELL, (
        f"{path.name}: the first code cell is not the setup cell of resnet_course.lessons.chapter.SETUP_CELL "
        f"(starts {source[:80]!r})")
    assert "hide-input" in first.get("metadata", {}).get("tags", []), \
        f"{path.name}: tag the setup cell 'hide-input' so that the book shows it behind a toggle"
    pinned = re.search(r"resnet-course @ git\+\S+@v([\w.]+)\"", source)
    assert pinned and pinned.group(1) == resnet_course.__version__, \
        f"{path.name}: the setup cell installs version {pinned and pinned.group(1)}, the package is " \
        f"{resnet_course.__version__}"


def test_only_chapters_have_the_setup_cell() -> None:
    from resnet_course.lessons.chapter import SETUP_CELL

    assert CHAPTERS_IN_TOC, "no chapters found in _toc.yml"
    marker = SETUP_CELL.splitlines()[0]
    holders = [p.relative_to(REPO_ROOT).as_posix() for p in OTHER_NOTEBOOKS
               if any(marker in _source(c) or "start_chapter(" in _source(c) for c in _code_cells(p))]
    assert not holders, f"only the chapters open with the setup cell; also found in {holders}"


NBVAL_COMMENT = re.compile(r"^\s*#\s*(NBVAL_\w+|PYTEST_VALIDATE_\w+)\s*$", re.MULTILINE)


@pytest.mark.parametrize("path", NOTEBOOKS + PAGE_NOTEBOOKS, ids=_id)
def test_test_markers_are_tags_not_comments(path: Path) -> None:
    """nbval's markers are cell tags (``nbval-check-output``): readers never see a ``# NBVAL_…`` comment."""
    marked = [f"code cell {i} ({m.group(1)})" for i, c in enumerate(_code_cells(path), start=1)
              for m in [NBVAL_COMMENT.search(_source(c))] if m]
    assert not marked, f"{path.name}: replace these comments by nbval cell tags (e.g. nbval-check-output): {marked}"


# Machine paths and raw error text in stored outputs say where the book was built, not what it teaches.
MACHINE_TRACES = re.compile(r"(/root/|/home/\w+|/tmp/|/work/|/private/var/|[A-Z]:\\\\Users|<urlopen error)")


@pytest.mark.parametrize("path", NOTEBOOKS + PAGE_NOTEBOOKS, ids=_id)
def test_outputs_show_no_machine_paths_or_raw_errors(path: Path) -> None:
    found = []
    for i, cell in enumerate(_code_cells(path), start=1):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts = [output.get("text", ""), data.get("text/plain", ""), data.get("text/markdown", "")]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                match = MACHINE_TRACES.search(text)
                if match:
                    found.append(f"code cell {i}: …{text[max(0, match.start() - 40):match.end() + 40]!r}…")
    assert not found, f"{path.name}: outputs show machine paths or raw errors:\n  " + "\n  ".join(found)


# How the course was made is not the reader's business; a measurement that does not exist is left out.
NOTES_TO_OURSELVES = re.compile(
    r"(no GPU was available|GPU (was|is) not available to|machines have no internet|built without internet|"
    r"not been measured yet|still to be (measured|done)|has not been measured|could not be rerun here)",
    re.IGNORECASE)


@pytest.mark.parametrize("path", NOTEBOOKS + PAGE_NOTEBOOKS + sorted((REPO_ROOT / "book").glob("*.md")), ids=_id)
def test_no_notes_about_how_the_book_was_made(path: Path) -> None:
    text = path.read_text(encoding="utf-8") if path.suffix == ".md" else _markdown(_load(path))
    notes = [m.group(0) for m in NOTES_TO_OURSELVES.finditer(text)]
    assert not notes, f"{path.name}: the book speaks to readers; remove: {notes}"


# The book's code column shows 75 characters in a 1280-pixel window and 87 at most (measured in
# Chromium); a longer line hides its end behind a scroll bar. PEP 8's 79 fits all but narrow windows.
CODE_LINE_LIMIT = 79
NOT_SHOWN = {"remove-input", "remove-cell"}  # hide-input cells are shown, behind a toggle
FENCE = re.compile(r"^(`{3,}|~{3,})[\w+-]*\s*$")


def markdown_code_lines(markdown: str) -> list[str]:
    """The lines of the fenced code blocks (```python, ```bash, ```) in ``markdown``, also those inside
    directives; a directive's own text (```{exercise} … ```) is prose, not code."""
    lines, directives, code_fence = [], [], None
    for line in markdown.splitlines():
        stripped = line.strip()
        if code_fence is not None:
            if stripped == code_fence:
                code_fence = None
            else:
                lines.append(line)
        elif match := DIRECTIVE.match(stripped):
            directives.append(match.group("fence"))
        elif directives and stripped == directives[-1]:
            directives.pop()
        elif match := FENCE.match(stripped):
            code_fence = match.group(1)
    return lines


def test_markdown_code_lines_are_the_code_blocks_only() -> None:
    markdown = "\n".join([
        "prose " * 20, "````{solution} ex-ch1-x", ":class: dropdown", "prose inside " * 10,
        "```python", "x = 1  # code inside a directive", "```", "````", "```bash", "make book", "```", "prose"])
    assert markdown_code_lines(markdown) == ["x = 1  # code inside a directive", "make book"]


@pytest.mark.parametrize("path", NOTEBOOKS + PAGE_NOTEBOOKS + sorted((REPO_ROOT / "book").glob("*.md")), ids=_id)
def test_code_lines_fit_the_page(path: Path) -> None:
    """Every code line the book shows — code cells and the code blocks of the text — fits the page."""
    if path.suffix == ".md":
        shown = [("text", line) for line in markdown_code_lines(path.read_text(encoding="utf-8"))]
    else:
        nb = _load(path)
        shown = [(f"code cell {i}", line) for i, cell in enumerate(_code_cells(path), start=1)
                 if not NOT_SHOWN & set(cell.get("metadata", {}).get("tags", []))
                 for line in _source(cell).splitlines()]
        shown += [("text", line) for line in markdown_code_lines(_markdown(nb))]
    long = [f"{where}: {len(line)} characters: {line.strip()[:60]}…" for where, line in shown
            if len(line) > CODE_LINE_LIMIT]
    assert not long, (f"{path.name}: {len(long)} code lines longer than {CODE_LINE_LIMIT} characters, cut off "
                      "in the book; wrap them:\n  " + "\n  ".join(long))
