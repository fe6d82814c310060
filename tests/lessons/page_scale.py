"""How large a figure's text is on the book's page (imported by the figure tests of tests/lessons).

The book shows a notebook's PNG at its natural size (the inline backend saves at 100 dpi,
``bbox_inches="tight"``) unless it is wider than the text column, which is 688 px at the
usual 1280-px window (measured in Chromium on the built site); then it is scaled down to
the column. A label of ``s`` points is ``s × 100 / 72`` px at natural size.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure
from matplotlib.text import Text

COLUMN_PX = 688
DPI = 100


def rendered_width_px(fig: Figure) -> int:
    """The width of the PNG the notebook stores for ``fig`` (tight bounding box, 100 dpi)."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    buffer.seek(0)
    return Image.open(buffer).size[0]


def smallest_text_px(fig: Figure) -> float:
    """The height in page pixels of the smallest non-empty text in ``fig``, after scaling to the column."""
    scale = min(1.0, COLUMN_PX / rendered_width_px(fig))
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    return min(sizes) * DPI / 72 * scale
