"""Operator commands for stored data: customer export/forget, and retention (``db vacuum``).

Mounted by :mod:`bot.cli` (``supportbot customer …``, ``supportbot db vacuum``). Like
every command, a problem prints ``error: …`` on stderr and exits 1, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from bot.cli_support import fail, load_settings, run_async
from bot.settings import Settings
from storage.maintenance import VacuumReport, vacuum
from storage.privacy import ForgetReport, export_customer, forget_customer
from storage.sql import SqlStore, open_store

T = TypeVar("T")

customer_app = typer.Typer(
    help="Customer data: export and forget (data-subject rights).", no_args_is_help=True
)

CustomerId = Annotated[
    str, typer.Argument(help='The customer id, "{channel}:{user id}" (e.g. telegram:42).')
]


@customer_app.command("export")
def export_command(
    customer_id: CustomerId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Print everything stored about a customer as JSON (profile, conversations, messages)."""
    data = _with_store(lambda store: export_customer(store, customer_id))
    if data is None:
        fail(f"no customer {customer_id}")
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    typer.echo(f"wrote {output}", err=True)


@customer_app.command("forget")
def forget_command(
    customer_id: CustomerId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer's personal data; anonymous statistics stay. Cannot be undone."""
    if _with_store(lambda store: store.get_customer(customer_id)) is None:
        fail(f"no customer {customer_id}")
    if not yes:
        typer.confirm(
            f"Delete the messages, name and ids of {customer_id}? This cannot be undone.",
            abort=True,
        )
    report = _with_store(lambda store: forget_customer(store, customer_id))
    if report is None:  # forgotten by someone else in between
        fail(f"no customer {customer_id}")
    typer.echo(_forget_summary(report))


def vacuum_command() -> None:
    """Delete data past its retention (SUPPORTBOT_*_RETENTION_*) and reclaim disk space."""
    settings = load_settings()
    report = _with_store(
        lambda store: vacuum(
            store,
            inbound_retention=timedelta(hours=settings.inbound_retention_hours),
            transcript_retention=timedelta(days=settings.transcript_retention_days),
            outbox_retention=timedelta(days=settings.outbox_retention_days),
        ),
        settings,
    )
    typer.echo(_vacuum_summary(report, settings))


def _forget_summary(report: ForgetReport) -> str:
    return "\n".join(
        [
            f"forgot {report.customer_id} (its statistics now belong to {report.pseudonym})",
            f"  transcript entries deleted:  {report.transcript_entries_deleted}",
            f"  outbox messages deleted:     {report.outbox_rows_deleted}",
            f"  inbound update ids deleted:  {report.inbound_updates_deleted}",
            f"  conversations anonymised:    {report.conversations_anonymised}"
            f" ({report.conversations_closed} open ones closed)",
            "  name, language, profile, user id and conversation state removed;",
            "  persona and conversation status/outcome/flow/step kept for reports",
        ]
    )


def _vacuum_summary(report: VacuumReport, settings: Settings) -> str:
    return "\n".join(
        [
            f"inbound update ids deleted:      {report.inbound_updates_deleted}"
            f" (older than {settings.inbound_retention_hours} h)",
            f"transcript entries deleted:      {report.transcript_entries_deleted}"
            f" (conversations ended over {settings.transcript_retention_days} days ago;"
            f" {report.conversations_cleared} conversation states cleared)",
            f"outbox messages deleted:         {report.outbox_sent_deleted} sent,"
            f" {report.outbox_failed_deleted} failed"
            f" (older than {settings.outbox_retention_days} days)",
            f"space: {_space(report)}",
        ]
    )


def _space(report: VacuumReport) -> str:
    if report.space_reclaim == "autovacuum":
        return "left to PostgreSQL's autovacuum"
    freed = f"{report.bytes_freed / 1_048_576:.1f} MB freed"
    if report.space_reclaim == "busy":
        return "database busy, file not compacted (free pages are reused; run again later)"
    if report.space_reclaim == "checkpoint":
        return f"WAL checkpointed; too little free to rewrite the file ({freed})"
    return f"{report.space_reclaim} ({freed})"


def _with_store(work: Callable[[SqlStore], Awaitable[T]], settings: Settings | None = None) -> T:
    """Open the configured store, run ``work`` on it, close it; failures exit 1."""
    url = (settings or load_settings()).database_url

    async def main() -> T:
        store = await open_store(url)
        try:
            return await work(store)
        finally:
            await store.close()

    return run_async(main, url)
