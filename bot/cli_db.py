"""``supportbot db …``: the configured database's schema (``SUPPORTBOT_DATABASE_URL``).

The bot creates the tables in an empty database by itself but never upgrades an older
schema behind the operator's back: that is ``supportbot db upgrade``, run on purpose
(after a backup). Database problems print ``error: …`` and exit 1, never a traceback.
"""

from __future__ import annotations

import typer

from bot.cli_support import load_settings, run_async
from storage import migrate
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
