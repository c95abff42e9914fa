"""``supportbot db …``: the configured database's schema (``SUPPORTBOT_DATABASE_URL``) and
its retention (``db vacuum``).

The bot creates the tables in an empty database by itself but never upgrades an older
schema behind the operator's back: that is ``supportbot db upgrade``, run on purpose
(after a backup). Database problems print ``error: …`` and exit 1, never a traceback.
One module per command group, like every ``bot.cli`` module.
"""

from __future__ import annotations

from datetime import timedelta

import typer

from bot.cli.common import load_settings, run_async, with_store
from bot.settings import Settings
from storage import migrate
from storage.maintenance import VacuumReport, vacuum
from storage.urls import mask_url

db_app = typer.Typer(help="Database: migrations and maintenance.", no_args_is_help=True)


@db_app.command()
def upgrade() -> None:
    """Upgrade the database to this version's schema (an empty one gets all tables)."""
    url = load_settings().database_url

    async def work() -> tuple[str | None, str | None]:
        before = await migrate.current(url)
        await migrate.upgrade(url)
        return before, await migrate.current(url)

    before, after = run_async(work, url)
    if before == after:
        typer.echo(f"{mask_url(url)} is already at {after}")
    else:
        typer.echo(f"upgraded {mask_url(url)} to {after}")


@db_app.command()
def current() -> None:
    """Print the database's schema revision ("empty database" if it has no tables)."""
    url = load_settings().database_url
    revision = run_async(lambda: migrate.current(url), url)
    typer.echo("empty database" if revision is None else revision)


@db_app.command("vacuum")
def vacuum_command() -> None:
    """Delete data past its retention (SUPPORTBOT_*_RETENTION_*) and reclaim disk space."""
    settings = load_settings()
    report = with_store(
        lambda store: vacuum(
            store,
            inbound_retention=timedelta(hours=settings.inbound_retention_hours),
            transcript_retention=timedelta(days=settings.transcript_retention_days),
            outbox_retention=timedelta(days=settings.outbox_retention_days),
        ),
        settings,
    )
    typer.echo(_vacuum_summary(report, settings))


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
