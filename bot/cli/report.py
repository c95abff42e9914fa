"""``supportbot report``: satisfaction, containment, handoffs and drop-off for a period.

Mounted by :mod:`bot.cli.main`. Dates are ISO (``2026-11-01`` or ``2026-11-01T09:00``),
read as UTC; ``--until`` is exclusive. The figures and their formats are
:mod:`bot.reports`; this module only reads the options and the stored facts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail, load_settings, run_async
from bot.reports import GROUPINGS, SECTIONS, Format, GroupBy, build_report, render, render_html
from storage.reporting import load_report_facts
from storage.sql import open_store


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date; use e.g. 2026-11-01 or 2026-11-01T09:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def report_command(
    since: Annotated[str | None, typer.Option(help="From this date/time (UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date/time (exclusive).")] = None,
    by: Annotated[
        str, typer.Option(help=f"Break the figures down by: {', '.join(GROUPINGS)}.")
    ] = "flow",
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    section: Annotated[
        str | None,
        typer.Option(help=f"Only one section: {', '.join(SECTIONS)} (csv: default breakdown)."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML page.")
    ] = None,
) -> None:
    """Print CSAT, containment, handoffs and drop-off per flow step for a period."""
    if by not in GROUPINGS:
        fail(f"--by {by!r}: choose one of {', '.join(GROUPINGS)}")
    if fmt not in ("table", "csv", "json"):
        fail(f"--format {fmt!r}: choose table, csv or json")
    if section is not None and section not in SECTIONS:
        fail(f"--section {section!r}: choose one of {', '.join(SECTIONS)}")
    start, end = _when(since, "--since"), _when(until, "--until")
    group: GroupBy = next(g for g in GROUPINGS if g == by)
    output: Format = "csv" if fmt == "csv" else "json" if fmt == "json" else "table"
    settings = load_settings()

    async def main() -> str:
        store = await open_store(settings.database_url)
        try:
            facts = await load_report_facts(store, start, end)
        finally:
            await store.close()
        report = build_report(facts, group)
        if html is not None:
            try:
                html.write_text(render_html(report), encoding="utf-8")
            except OSError as exc:
                fail(f"cannot write {html}: {exc.strerror}")
            typer.echo(f"wrote {html}", err=True)
        return render(report, output, section)

    typer.echo(run_async(main, settings.database_url), nl=False)
