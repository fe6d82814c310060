"""The teaching guide's tables (resnet_course.lessons.teaching), read from the notebooks and results/.

A small notebook written here stands in for a chapter, so the parsing is checked on what it
must find; the real chapters are checked by tests/test_notebooks.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_course.lessons import teaching


def _notebook(folder: Path, name: str, cells: list[tuple[str, str]]) -> Path:
    path = folder / name
    path.write_text(json.dumps({"cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(True)}
                                          for kind, source in cells]}), encoding="utf-8")
    return path


_CHAPTER = [
    ("markdown", "# 3. Building blocks\n\nSome prose."),
    ("markdown", "```{exercise} A basic block ★★\n:label: ex-ch3-basic-block\n\nWrite it.\n```\n"),
    ("code", "class MyBlock: ...\ncheck_basic_block(MyBlock)\n"),
    ("markdown", ":::{exercise} Why is `+=` safe? ★\n:label: ex-ch3-inplace\n\nDiscuss.\n:::\n"),
    ("code", "print('no check here')\n"),
    ("markdown", "````{exercise} Zero init ★★★\n:label: ex-ch3-zero-init\n\nThen call check_zero_init(fn).\n````"),
]


def test_the_paths_point_into_the_checkout() -> None:
    assert (teaching.REPO_ROOT / "pyproject.toml").is_file()
    assert teaching.NOTEBOOK_DIR == teaching.REPO_ROOT / "notebooks"
    assert teaching.results_dir() == teaching.REPO_ROOT / "results" and teaching.results_dir().is_dir()
    assert teaching.TIMES_FILE.parent == teaching.results_dir()
    assert teaching.chapter_notebooks()[0].name.startswith("01_")


def test_exercises_are_read_with_difficulty_and_self_check(tmp_path: Path) -> None:
    path = _notebook(tmp_path, "03_building_blocks.ipynb", _CHAPTER)
    assert teaching.chapter_title(path) == "3. Building blocks"
    found = teaching.exercises(path)
    assert [(e.chapter, e.label, e.difficulty, e.self_check) for e in found] == [
        (3, "ex-ch3-basic-block", 2, "check_basic_block"),  # the check in the code cell after it
        (3, "ex-ch3-inplace", 1, None),
        (3, "ex-ch3-zero-init", 3, "check_zero_init"),  # the check named in its own text
    ]
    assert found[0].title == "A basic block ★★"
    with pytest.raises(ValueError, match="no '# N. Title' heading"):
        teaching.chapter_title(_notebook(tmp_path, "09_untitled.ipynb", [("markdown", "no title")]))


def test_tables(tmp_path: Path) -> None:
    _notebook(tmp_path, "03_building_blocks.ipynb", _CHAPTER)
    _notebook(tmp_path, "04_family.ipynb", [("markdown", "# 4. The ResNet family")])
    (tmp_path / "notes.ipynb").write_text("not a chapter")
    assert [p.name for p in teaching.chapter_notebooks(tmp_path)] == ["03_building_blocks.ipynb", "04_family.ipynb"]
    assert teaching.markdown_table(["a", "b"], [(1, 2)]) == "| a | b |\n|---|---|\n| 1 | 2 |"
    exercises = teaching.exercise_table(tmp_path).splitlines()
    # The number is Sphinx's (a {numref} to the exercise's label), so it is the one on the page.
    assert exercises[0] == "| Exercise | Ch. | Title | Difficulty | Self-check |"
    assert exercises[2] == "| {numref}`%s <ex-ch3-basic-block>` | 3 | A basic block ★★ | ★★ | `check_basic_block` |"
    assert exercises[3] == "| {numref}`%s <ex-ch3-inplace>` | 3 | Why is `+=` safe? ★ | ★ | discussion / by hand |"
    times = {"meta": {"device": "2-core CPU"}, "notebooks": {"03_building_blocks.ipynb": 90.0}}
    timing = teaching.timing_table(times, tmp_path).splitlines()
    assert timing[0] == "| Chapter | Quick mode, 2-core CPU | Exercises |"
    assert timing[2:] == ["| {doc}`/notebooks/03_building_blocks` | 1.5 min | 3 |",
                          "| {doc}`/notebooks/04_family` | not measured | 0 |"]


def test_load_times(tmp_path: Path) -> None:
    stored = {"meta": {"device": "cpu"}, "notebooks": {"01_degradation.ipynb": 12.5}}
    (tmp_path / "times.json").write_text(json.dumps(stored))
    assert teaching.load_times(tmp_path / "times.json") == stored
    with pytest.raises(FileNotFoundError, match="benchmarks/notebook_times.py"):
        teaching.load_times(tmp_path / "missing.json")
    if teaching.TIMES_FILE.is_file():
        assert "notebooks" in teaching.load_times()
