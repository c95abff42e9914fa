"""Reports: what the stored conversations say about satisfaction, containment, handoffs
and drop-off, and the ways of showing it.

- :mod:`bot.reports.figures` computes every figure from stored facts (pure, no I/O);
- :mod:`bot.reports.formats` prints a report as terminal tables, CSV or JSON;
- :mod:`bot.reports.html` draws it as one self-contained HTML page of charts.

Split so that the figures are tested against hand-computed numbers without any
rendering, and each way of showing them reads the same :class:`Report`. Reports read
storage and the engine's rating rules only: they never run a turn and know no platform.
"""

from bot.reports.figures import (
    GROUPINGS,
    DropOffRow,
    Figures,
    GroupBy,
    LowComment,
    Report,
    build_report,
)
from bot.reports.formats import SECTIONS, Format, Section, render, sections
from bot.reports.html import render_html

__all__ = [
    "GROUPINGS",
    "SECTIONS",
    "DropOffRow",
    "Figures",
    "Format",
    "GroupBy",
    "LowComment",
    "Report",
    "Section",
    "build_report",
    "render",
    "render_html",
    "sections",
]
