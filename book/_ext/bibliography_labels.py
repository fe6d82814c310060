"""Bibliography labels that read like the citations in the text: [He et al., 2015].

The chapters cite in author-year form (``bibtex_reference_style: author_year``), but
pybtex's default ``alpha`` labels in the reference list are initials and a two-digit year
([HZRS15]), built from the raw BibTeX: a LaTeX accent such as ``Doll{\\'a}r`` comes out as
"Dollar" inside the label ([GDollarG+17]). This Sphinx extension registers a pybtex
formatting style, ``author_year_labels``, that is pybtex's ``alpha`` style with one change:
the label is the first author's surname (LaTeX decoded), "and" the second author's for two
authors, "et al." for more, and the year — what the text shows — with a, b, … appended
where two entries would get the same label; the list is sorted by these labels.

``_config.yml`` loads it through ``sphinx.local_extensions`` and selects the style with
``bibtex_default_style: author_year_labels``; tests/test_site.py checks every label of the
built reference list against its entry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.alpha import Style as AlphaStyle
from pybtex.style.labels import BaseLabelStyle

STYLE_NAME = "author_year_labels"


def _surname(person: Any) -> str:
    """The person's surname with its "von" part, LaTeX accents decoded (``Doll{\\'a}r`` → Dollár)."""
    raw = " ".join(person.prelast_names + person.last_names)
    return Text.from_latex(raw).render_as("text")


def author_year_label(entry: Any) -> str:
    """``He et al., 2015``, ``Ioffe and Szegedy, 2015``, ``Jordan, 2024`` (no year: the names alone)."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    if not people:
        names = Text.from_latex(entry.fields.get("key", entry.fields.get("title", "Anonymous"))).render_as("text")
    elif len(people) == 1:
        names = _surname(people[0])
    elif len(people) == 2:
        names = f"{_surname(people[0])} and {_surname(people[1])}"
    else:
        names = f"{_surname(people[0])} et al."
    year = entry.fields.get("year", "")
    return f"{names}, {year}" if year else names


class AuthorYearLabelStyle(BaseLabelStyle):
    """One label per entry as :func:`author_year_label`; equal labels get a, b, … after the year."""

    def format_labels(self, sorted_entries: Iterable[Any]) -> Iterator[str]:
        labels = [author_year_label(entry) for entry in sorted_entries]
        count, seen = Counter(labels), Counter()
        for label in labels:
            if count[label] == 1:
                yield label
            else:
                yield label + chr(ord("a") + seen[label])
                seen[label] += 1


class AuthorYearStyle(AlphaStyle):
    """pybtex's ``alpha`` style with author-year labels, the entries in the order of their labels."""

    default_label_style = STYLE_NAME

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sort = self.sort_by_label

    @staticmethod
    def sort_by_label(entries: Iterable[Any]) -> list[Any]:
        """Alphabetically by label (first author, then year), then by title."""
        return sorted(entries, key=lambda e: (author_year_label(e).casefold(), e.fields.get("title", "").casefold()))


def setup(app: Any) -> dict[str, Any]:
    register_plugin("pybtex.style.labels", STYLE_NAME, AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
