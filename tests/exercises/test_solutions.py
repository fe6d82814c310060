"""The solutions printed in the chapters' dropdowns pass their self-checks (every chapter that has one)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import REPO_ROOT

SOLUTION = re.compile(r"^(`{3,})\{solution\}[^\n]*\n(?P<body>.*?)^\1\s*$", re.DOTALL | re.MULTILINE)
CODE = re.compile(r"^```python\n(?P<code>.*?)^```\s*$", re.DOTALL | re.MULTILINE)


def _solution_code(notebook: str) -> list[str]:
    """The code blocks of the notebook's ``{solution}`` dropdowns that call a self-check."""
    nb = json.loads((REPO_ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))
    markdown = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    blocks = []
    for solution in SOLUTION.finditer(markdown):
        blocks += [m.group("code") for m in CODE.finditer(solution.group("body")) if "check_" in m.group("code")]
    return blocks


@pytest.mark.parametrize("notebook, at_least", [
    ("01_degradation.ipynb", 1), ("02_residual_learning.ipynb", 2), ("03_building_blocks.ipynb", 3),
    ("04_resnet_family.ipynb", 2), ("05_training_cifar10.ipynb", 4), ("05b_training_fast.ipynb", 3),
    ("06_transfer_learning.ipynb", 3),
    ("07_why_resnets_work.ipynb", 3), ("08_beyond_resnet.ipynb", 4),
])
def test_the_chapters_solutions_pass_their_self_checks(notebook, at_least, capsys):
    blocks = _solution_code(notebook)
    assert len(blocks) >= at_least, f"{notebook}: expected {at_least}+ solutions that call a self-check"
    for code in blocks:
        exec(compile(code, f"<{notebook} solution>", "exec"), {"__name__": "solution"})  # noqa: S102 - the book's own code
    assert capsys.readouterr().out.count("✓") >= len(blocks)
