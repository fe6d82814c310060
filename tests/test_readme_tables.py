"""The README's result tables say exactly what the result files say."""

from __future__ import annotations

import pytest

from conftest import REPO_ROOT
from resnet_course.experiments.report import MARKER, render_readme


def test_readme_tables_match_the_result_files() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    assert {m.group("name") for m in MARKER.finditer(text)} >= {"zoo", "speed_cpu", "time_to_accuracy"}
    assert render_readme(text) == text, "README.md is stale: run python benchmarks/readme_tables.py --write"


def test_a_stale_or_unknown_table_is_caught() -> None:
    stale = "<!-- table: speed_cpu -->\n| made up | 1 |\n<!-- end table -->\n"
    assert render_readme(stale) != stale
    with pytest.raises(ValueError, match="unknown table 'nonsense'"):
        render_readme("<!-- table: nonsense -->\n<!-- end table -->\n")
