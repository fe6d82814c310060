"""Render the README's result tables from results/ (never typed in by hand).

    python benchmarks/readme_tables.py           # show what would change
    python benchmarks/readme_tables.py --write   # rewrite README.md in place

Each table sits between ``<!-- table: NAME -->`` and ``<!-- end table -->`` in README.md;
``resnet_course.experiments.report`` renders it. tests/test_readme_tables.py fails when the
README and the result files disagree.
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

from resnet_course.experiments.report import render_readme

README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite README.md in place")
    args = parser.parse_args()
    text = README.read_text()
    rendered = render_readme(text)
    if args.write:
        README.write_text(rendered)
        print(f"wrote {README}")
    else:
        print("".join(difflib.unified_diff(text.splitlines(True), rendered.splitlines(True), "README.md", "rendered"))
              or "README.md is up to date")


if __name__ == "__main__":
    main()
