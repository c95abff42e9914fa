"""Alembic environment: runs supportbot's migrations on one connection.

:mod:`storage.migrate` hands over its own connection as ``config.attributes["connection"]``,
already inside the transaction that holds the migration lock, so checking the schema and
upgrading it are one atomic step. Without one (alembic's command API with
``sqlalchemy.url`` set, e.g. to autogenerate a revision) it opens that URL itself; async
URLs (``sqlite+aiosqlite``, ``postgresql+psycopg``) and sync ones both work.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import AutoString, UTCDateTime

from storage.tables import metadata


def render_item(kind: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """Autogenerate SQLModel's types as the plain SQLAlchemy types they are, so
    revisions need no ``sqlmodel`` import and do not change when SQLModel does."""
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_on(connection: Connection) -> None:
    """Run the pending migrations on ``connection`` (in its transaction, if it has one)."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later revisions rebuild tables in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_async_url(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


def run_on_url(url: str) -> None:
    """Open ``url`` with an async or a sync engine, whichever its driver is."""
    if getattr(make_url(url).get_dialect(), "is_async", False):
        asyncio.run(run_on_async_url(url))
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            run_on(connection)
    finally:
        engine.dispose()


def run_offline(url: str) -> None:
    """``--sql`` mode: print the SQL instead of running it (for a DBA to review)."""
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=make_url(url).get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no database: pass a connection in config.attributes['connection'] or set "
            "sqlalchemy.url (storage.migrate.alembic_config(url) does)"
        )
    if context.is_offline_mode():
        run_offline(url)
    else:
        run_on_url(url)


main()
