"""A :class:`~bot.reports.figures.Report` as terminal tables, CSV or JSON.

Every format shows the same sections, as rows of plain values (:func:`sections`): the
summary, the breakdown chosen with ``--by``, handoff reasons, drop-off per flow step and
the latest low-score comments. CSV holds one section (``--section``, default the
breakdown) so spreadsheets and scripts get a single rectangular table.

Apart from the figures (:mod:`bot.reports.figures`), which know nothing of how they are
shown; the HTML page (:mod:`bot.reports.html`) reuses these sections for its tables.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.table import Table

from bot.reports.figures import Figures, LowComment, Report

Format = Literal["table", "csv", "json"]
SECTIONS = ("summary", "breakdown", "handoff_reasons", "dropoff", "low_comments")

FIGURE_COLUMNS = (
    "conversations",
    "csat",
    "average_score",
    "ratings",
    "response_rate",
    "containment",
    "handoff_rate",
    "abandoned",
    "median_wait_min",
    "p90_wait_min",
    "median_handling_min",
)


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _pct(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def figure_values(f: Figures) -> tuple[Any, ...]:
    return (
        f.conversations,
        _pct(f.csat),
        None if f.average_score is None else round(f.average_score, 2),
        f.ratings,
        _pct(f.response_rate),
        _pct(f.containment),
        _pct(f.handoff_rate),
        f.abandoned,
        _minutes(f.median_wait_seconds),
        _minutes(f.p90_wait_seconds),
        _minutes(f.median_handling_seconds),
    )


def sections(report: Report) -> list[Section]:
    return [
        Section("summary", "All conversations", FIGURE_COLUMNS, [figure_values(report.summary)]),
        Section(
            "breakdown",
            f"By {report.by}",
            (report.by, *FIGURE_COLUMNS),
            [(name, *figure_values(f)) for name, f in report.breakdown],
        ),
        Section(
            "handoff_reasons",
            "Why customers asked for a person",
            ("reason", "tickets"),
            list(report.handoff_reasons),
        ),
        Section(
            "dropoff",
            "Where are the problems: drop-off per flow step",
            ("flow", "variant", "step", "reached", "abandoned", "asked_for_person", "low_score"),
            [
                (r.flow, r.variant, r.step, r.reached, r.abandoned, r.asked_for_person, r.low_score)
                for r in report.dropoff
            ],
        ),
        Section(
            "low_comments",
            "Latest low-score comments",
            ("conversation", "score", "flow", "persona", "channel", "comment", "transcript"),
            [_comment_row(c) for c in report.low_comments],
        ),
    ]


def _comment_row(c: LowComment) -> tuple[Any, ...]:
    transcript = f"supportbot transcript {c.conversation_id}"
    return (c.conversation_id, c.score, c.flow, c.persona, c.channel, c.comment, transcript)


def render(report: Report, fmt: Format, section: str | None = None) -> str:
    chosen = sections(report)
    if fmt == "json":
        document: dict[str, Any] = {
            "since": report.since.isoformat() if report.since else None,
            "until": report.until.isoformat() if report.until else None,
            "by": report.by,
        }
        for s in chosen:
            document[s.name] = [dict(zip(s.columns, row, strict=True)) for row in s.rows]
        return json.dumps(document, indent=2, ensure_ascii=False)
    if fmt == "csv":
        wanted = section or "breakdown"
        [one] = [s for s in chosen if s.name == wanted]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(one.columns)
        writer.writerows(["" if v is None else v for v in row] for row in one.rows)
        return out.getvalue()
    return _tables(report, [s for s in chosen if section is None or s.name == section])


SHORT_HEADERS = {
    "conversations": "conv.",
    "csat": "CSAT %",
    "average_score": "avg",
    "response_rate": "answered %",
    "containment": "bot-only %",
    "handoff_rate": "person %",
    "median_wait_min": "wait p50",
    "p90_wait_min": "wait p90",
    "median_handling_min": "handling p50",
    "asked_for_person": "to person",
}
"""Column headers short enough for a terminal (CSV and JSON keep the full names)."""


def _tables(report: Report, chosen: list[Section]) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None, force_terminal=False)
    period = (
        f"{report.since.date() if report.since else 'the beginning'} → "
        f"{report.until.date() if report.until else 'now'}"
    )
    console.print(f"supportbot report, {period} (percentages; times in minutes)")
    for s in chosen:
        table = Table(title=s.title, box=box.SIMPLE_HEAD, title_justify="left")
        for column in s.columns:
            wraps = column == "comment"
            header = SHORT_HEADERS.get(column, column.replace("_", " "))
            table.add_column(header, no_wrap=not wraps, overflow="fold")
        for row in s.rows:
            table.add_row(*("–" if v is None else str(v) for v in row))
        if not s.rows:
            table.add_row(*("–" for _ in s.columns))
        console.print(table)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()
