"""The catalogue of bad inputs and faults in tests/README.md cannot go stale.

Every test it names must exist (parametrised cases by their ids), the number of cases it states
must be the number of case rows it lists, and every test in the hardening tests must be listed --
as a case, or as a control. The tests are found as pytest finds them (``--collect-only``), so a
renamed test, a changed parametrisation or a new hardening test without its row fails here.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import Counter

import pytest

from conftest import REPO_ROOT

README = REPO_ROOT / "tests" / "README.md"
SECTION = "## Bad inputs and faults the tests try"

# The hardening tests: a whole file (None), or a file from the first line holding this marker on.
HARDENING = {
    "tests/data/test_damaged_data.py": None,
    "tests/nn/test_init.py": None,
    "tests/training/test_resume.py": None,
    "tests/test_cli.py": "# Hardening (issue 13)",
    "tests/nn/test_registry.py": "# The weights table",
    "tests/experiments/test_results.py": "# Hardening (issue 13",
    "tests/experiments/test_zoo.py": "# Hardening (issue 13",
}


def catalogue() -> tuple[int, list[tuple[str, str]], list[str]]:
    """The stated count, the case rows as (case, test) and the controls' tests."""
    text = README.read_text()
    assert SECTION in text, f"{README} has no section '{SECTION}'"
    section = text[text.index(SECTION):]
    following = section.find("\n## ", 1)
    section = section if following < 0 else section[:following]
    stated = re.search(r"The tests try \*\*(\d+) cases\*\*", section)
    assert stated, "the catalogue does not say how many cases the tests try ('The tests try **N cases**')"
    cases: list[tuple[str, str]] = []
    controls: list[str] = []
    in_controls = False
    for line in section.splitlines():
        if line.startswith("### "):
            in_controls = line.startswith("### Controls")
        elif line.startswith("| ") and not line.startswith(("| case |", "| what stays working |")):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            test = cells[-1].strip("`")
            if in_controls:
                controls.append(test)
            else:
                assert len(cells) == 3, f"a case row has three cells (case, what the user sees, test): {line}"
                cases.append((cells[0], test))
    return int(stated[1]), cases, controls


def hardening_functions() -> dict[str, set[str]]:
    """For each hardening file, the test functions defined in its hardening part."""
    found = {}
    for file, marker in HARDENING.items():
        source = (REPO_ROOT / file).read_text()
        start = 0
        if marker is not None:
            assert marker in source, f"{file} has no marker line {marker!r}"
            start = source[: source.index(marker)].count("\n") + 1
        tree = ast.parse(source)
        found[file] = {node.name for node in tree.body
                       if isinstance(node, ast.FunctionDef) and node.name.startswith("test") and node.lineno > start}
    return found


@pytest.fixture(scope="module")
def listed() -> tuple[int, list[tuple[str, str]], list[str]]:
    return catalogue()


@pytest.fixture(scope="module")
def collected(listed) -> set[str]:
    """The node ids pytest collects from every file the catalogue names and every hardening file."""
    _, cases, controls = listed
    files = sorted({test.split("::")[0] for _, test in cases} | {test.split("::")[0] for test in controls}
                   | set(HARDENING))
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


def test_every_test_the_catalogue_names_exists(listed, collected: set[str]) -> None:
    _, cases, controls = listed
    named = {test for _, test in cases} | set(controls)
    missing = sorted(named - collected)
    assert not missing, f"tests/README.md names tests that do not exist (renamed? ids changed?): {missing}"


def test_the_stated_count_is_the_number_of_cases_listed(listed) -> None:
    stated, cases, _ = listed
    assert stated == len(cases), f"tests/README.md says {stated} cases but lists {len(cases)}"
    repeated = [row for row, count in Counter(cases).items() if count > 1]
    assert not repeated, f"rows listed twice: {repeated}"


def test_every_hardening_test_is_in_the_catalogue(listed, collected: set[str]) -> None:
    _, cases, controls = listed
    named = {test for _, test in cases} | set(controls)
    functions = hardening_functions()
    hardening = set()
    for node in collected:
        file, test = node.split("::")
        if test.split("[")[0] in functions.get(file, ()):
            hardening.add(node)
    assert len(hardening) > 100, "the hardening tests were not found"
    absent = sorted(hardening - named)
    assert not absent, f"hardening tests missing from tests/README.md's catalogue (add a row each): {absent}"


def test_there_is_one_conftest_module() -> None:
    """A second ``conftest.py`` (there was one in tests/data/) shadows this one as the module ``conftest`` for
    every test file that does ``from conftest import REPO_ROOT``: the suite then fails to collect."""
    assert sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "tests").rglob("conftest.py")) == [
        "tests/conftest.py"]
