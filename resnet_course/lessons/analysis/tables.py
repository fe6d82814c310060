"""Text tables the chapters print beside their figures: gradient norms per network and per block, shattering.

The numbers come from :mod:`~resnet_course.lessons.analysis.gradients` (He et al. 2015, §4.1;
He et al. 2016, Eq. (5)) and :mod:`~resnet_course.lessons.analysis.shattering` (Balduzzi et al. 2017).
"""

from __future__ import annotations

from collections.abc import Sequence

from resnet_course.lessons.analysis.gradients import model_name
from resnet_course.lessons.analysis.shattering import Shattering

__all__ = ["block_gradient_table", "gradient_norm_table", "shattering_table"]


# --------------------------------------------------------------------------- text tables for the notebooks


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, the first left-aligned, the others right-aligned; a rule under
    the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join([str(header[0]).ljust(widths[0])] + [str(h).rjust(w) for h, w in zip(header[1:], widths[1:])])]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append("  ".join([str(r[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(r[1:], widths[1:])]))
    return "\n".join(lines)


def gradient_norm_table(profiles: dict[tuple[str, int], list[tuple[str, float]]]) -> str:
    """One line per network: number of convolutions, ‖∂L/∂W‖ of the first and last, and their ratio."""
    rows = []
    for (kind, depth), norms in profiles.items():
        first, last = norms[0][1], norms[-1][1]
        rows.append((model_name(kind, depth), len(norms), f"{first:.3g}", f"{last:.3g}",
                     f"{first / last:.3g}" if last > 0 else "inf"))
    return _table(("network", "convs", "first conv", "last conv", "first / last"), rows)


def block_gradient_table(results: dict[str, list[tuple[str, float]]], every: int = 9) -> str:
    """‖∂L/∂x_l‖ at every ``every``-th block (and the last) for several networks side by side, plus first / last."""
    names = [name for name, _ in next(iter(results.values()))]
    picks = sorted(set(range(0, len(names), every)) | {len(names) - 1})
    rows = [(f"block {i + 1} ({names[i]})", *(f"{results[k][i][1]:.3g}" for k in results)) for i in picks]
    rows.append(("first / last", *(f"{results[k][0][1] / results[k][-1][1]:.3g}" for k in results)))
    return _table(("input of", *results), rows)


def shattering_table(results: dict[tuple[str, int], Shattering]) -> str:
    """Neighbour correlation of input gradients, and lag-1 autocorrelation of the directional derivative."""
    rows = [(model_name(kind, depth), f"{r.neighbour_correlation:.3f}", f"{float(r.autocorrelation[1]):.3f}")
            for (kind, depth), r in results.items()]
    return _table(("network", "neighbour correlation", "lag-1 autocorrelation"), rows)
