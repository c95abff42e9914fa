"""Alembic migrations: the head revision builds exactly the models' schema, and
``open_store`` / ``storage.migrate`` / ``supportbot db`` treat every kind of database
(empty, current, behind, unknown revision, foreign, corrupt, unreachable) as documented.

PostgreSQL tests get throw-away databases from :mod:`tests.pg` and skip, saying why,
when no server is reachable.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url
from typer.testing import CliRunner

from bot.cli.db import db_app
from storage import migrate
from storage.errors import (
    CorruptDatabase,
    DatabaseUnreachable,
    ForeignDatabase,
    SchemaBehind,
    UnknownRevision,
)
from storage.migrate import SchemaState
from storage.sql import SqlStore, open_store
from storage.tables import TABLES, metadata
from storage.urls import mask_url
from tests.pg import require_server

NewDatabase = Callable[[], str]
"""Gives the URL of another fresh, empty database on the test's backend."""

UNREACHABLE = "postgresql+psycopg://supportbot:hunter2-secret@127.0.0.1:1/supportbot"
"""Nothing listens on port 1: connecting is refused at once."""


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Empty databases on the parametrised backend, dropped after the test."""
    created: list[str] = []
    server = require_server() if request.param == "postgresql" else None

    def new() -> str:
        if server is None:
            url = f"sqlite+aiosqlite:///{tmp_path / f'db{len(created)}.db'}"
        else:
            url = server.create_database(prefix="supportbot_mig_")
        created.append(url)
        return url

    yield new
    if server is not None:
        for url in created:
            server.drop_database(url)


@pytest.fixture
def empty_url(new_database: NewDatabase) -> str:
    return new_database()


def sqlite_url(tmp_path: Path, name: str = "bot.db") -> str:
    return f"sqlite+aiosqlite:///{tmp_path / name}"


@contextmanager
def sync_connection(url: str) -> Iterator[Connection]:
    """A plain (sync) connection in a transaction, for assertions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def version_rows(url: str) -> list[str]:
    with sync_connection(url) as connection:
        return list(connection.scalars(sa.text("SELECT version_num FROM alembic_version")))


def table_names(url: str) -> set[str]:
    with sync_connection(url) as connection:
        return set(sa.inspect(connection).get_table_names())


async def within_a_minute(*opening: Coroutine[Any, Any, SqlStore]) -> list[SqlStore]:
    """Run concurrently; a locking bug fails the test instead of hanging the suite."""
    return await asyncio.wait_for(asyncio.gather(*opening), timeout=60)


# --- the head revision is the models' schema ---------------------------------------------


async def test_autogenerate_finds_no_difference_between_head_and_models(empty_url: str) -> None:
    await migrate.upgrade(empty_url)

    with sync_connection(empty_url) as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, metadata) == []


_PG_CATALOG = {
    "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default"
    " FROM information_schema.columns WHERE table_schema = current_schema()"
    " AND table_name <> 'alembic_version' ORDER BY 1, 2",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
    " WHERE schemaname = current_schema() AND tablename <> 'alembic_version' ORDER BY 1, 2",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
    " AND conrelid::regclass::text <> 'alembic_version' ORDER BY 1, 2",
}


def schema_snapshot(url: str) -> dict[str, list[Any]]:
    """The database's own description of its schema (DDL text on SQLite, catalogs on
    PostgreSQL), without Alembic's version table."""
    with sync_connection(url) as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.execute(
                sa.text(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master"
                    " WHERE tbl_name <> 'alembic_version' ORDER BY type, name"
                )
            )
            return {"sqlite_master": [(*r[:3], " ".join((r[3] or "").split())) for r in rows]}
        return {
            key: [tuple(r) for r in connection.execute(sa.text(query))]
            for key, query in _PG_CATALOG.items()
        }


async def test_head_builds_exactly_what_the_models_create(new_database: NewDatabase) -> None:
    """What ``compare_metadata`` cannot see: it ignores index predicates (checked: a
    non-partial ``uq_conversation_open_chat_key``, or one with another WHERE, gives no
    diff on either backend), ``sqlite_autoincrement``, and on SQLite the time zone of
    ``DateTime``. So compare the schema itself with one ``metadata.create_all`` made."""
    migrated, created = new_database(), new_database()
    await migrate.upgrade(migrated)
    with sync_connection(created) as connection:
        metadata.create_all(connection, tables=list(TABLES))

    assert schema_snapshot(migrated) == schema_snapshot(created)
    snapshot = str(schema_snapshot(migrated))
    assert "uq_conversation_open_chat_key" in snapshot
    assert "WHERE ended_at IS NULL" in snapshot or "WHERE (ended_at IS NULL)" in snapshot


async def test_open_conversation_index_is_partial_and_unique(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    insert = sa.text(
        "INSERT INTO conversation (chat_key, customer_id, status, state, started_at,"
        " updated_at, ended_at) VALUES ('tg:1', 'tg:1', 'new', '{}', :now, :now, :ended)"
    )
    now = "2024-01-01 00:00:00+00:00"
    with sync_connection(empty_url) as connection:
        connection.execute(
            sa.text(
                "INSERT INTO customer (id, channel, user_id, profile, created_at, last_seen_at)"
                " VALUES ('tg:1', 'tg', '1', '{}', :now, :now)"
            ),
            {"now": now},
        )
        for _ in range(2):  # any number of ended conversations per chat ...
            connection.execute(insert, {"now": now, "ended": now})
        connection.execute(insert, {"now": now, "ended": None})
    with pytest.raises(sa.exc.IntegrityError), sync_connection(empty_url) as connection:
        connection.execute(insert, {"now": now, "ended": None})  # ... one open one


# --- open_store ----------------------------------------------------------------------------


async def test_open_store_migrates_an_empty_database_to_head(empty_url: str) -> None:
    store = await open_store(empty_url)
    try:
        async with store.turn("tg:1", "tg", "1") as turn:
            assert turn.conversation.status == "new"
    finally:
        await store.close()

    assert version_rows(empty_url) == [migrate.head()]
    assert {t.name for t in TABLES} < table_names(empty_url)
    status = await migrate.schema_status(empty_url)
    assert (status.state, status.current) == (SchemaState.CURRENT, migrate.head())

    reopened = await open_store(empty_url)  # a current database: nothing to do
    await reopened.close()
    assert version_rows(empty_url) == [migrate.head()]


async def test_concurrent_starts_on_an_empty_database_create_the_tables_once(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    stores = await within_a_minute(*(open_store(url) for _ in range(4)))
    for store in stores:
        await store.close()
    assert version_rows(url) == [migrate.head()]


async def test_two_empty_databases_opened_at_once_each_get_their_own_tables(
    new_database: NewDatabase,
) -> None:
    """Alembic's ``op``/``context`` are module globals: interleaved migrations on one
    event loop would run each other's operations (see ``migrate._alembic_lock``)."""
    urls = [new_database() for _ in range(3)]
    stores = await within_a_minute(*(open_store(url) for url in urls))
    for store in stores:
        await store.close()
    for url in urls:
        assert version_rows(url) == [migrate.head()]
        assert {t.name for t in TABLES} < table_names(url)


async def test_status_of_a_missing_sqlite_file_is_empty_and_creates_nothing(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path, "not/there.db")
    assert (await migrate.schema_status(url)).state is SchemaState.EMPTY
    assert await migrate.current(url) is None
    assert not (tmp_path / "not").exists()


# --- a database at an older revision --------------------------------------------------------

SECOND_REVISION = '''
"""Test-only revision on top of the shipped head."""

import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("nickname", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("nickname")
'''


@pytest.fixture
def newer_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Play a supportbot one revision ahead of the shipped one: the shipped scripts
    plus a test-only revision, so "behind" is a real older revision of ours."""
    shipped = migrate.head()
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    second = SECOND_REVISION.format(down=shipped)
    (scripts / "versions" / "9999_test_nickname.py").write_text(second, encoding="utf-8")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", scripts)
    assert migrate.head() == "9999"
    return shipped


async def test_older_revision_is_behind_and_refused_until_upgraded(
    newer_version: str, empty_url: str
) -> None:
    await migrate.upgrade(empty_url, newer_version)

    status = await migrate.schema_status(empty_url)
    assert (status.state, status.current, status.head) == (
        SchemaState.BEHIND,
        newer_version,
        "9999",
    )
    with pytest.raises(SchemaBehind) as raised:
        await open_store(empty_url)
    assert str(raised.value) == (
        f"database {mask_url(empty_url)} is at revision {newer_version}, this version "
        "needs 9999: run `supportbot db upgrade`"
    )
    assert version_rows(empty_url) == [newer_version]  # open_store changed nothing

    await migrate.upgrade(empty_url)

    assert await migrate.current(empty_url) == "9999"
    with sync_connection(empty_url) as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("customer")}
    assert "nickname" in columns
    store = await open_store(empty_url)
    await store.close()


async def test_unknown_revision_is_refused_as_probably_newer(empty_url: str) -> None:
    await migrate.upgrade(empty_url)
    with sync_connection(empty_url) as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))

    status = await migrate.schema_status(empty_url)
    assert (status.state, status.current) == (SchemaState.UNKNOWN, "ffff")
    with pytest.raises(UnknownRevision) as raised:
        await open_store(empty_url)
    assert isinstance(raised.value, ForeignDatabase)
    assert "revision ffff" in str(raised.value)
    assert "newer version" in str(raised.value)
    with pytest.raises(UnknownRevision):
        await migrate.upgrade(empty_url)
    assert version_rows(empty_url) == ["ffff"]


# --- databases that are not ours, or not databases ------------------------------------------


def make_sqlite(path: Path, *statements: str) -> None:
    connection = sqlite3.connect(path)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


async def test_foreign_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    make_sqlite(
        tmp_path / "shop.db", "CREATE TABLE users (id INTEGER)", "CREATE TABLE invoices (id INT)"
    )
    url = sqlite_url(tmp_path, "shop.db")

    status = await migrate.schema_status(url)
    assert (status.state, status.tables) == (SchemaState.FOREIGN, ("invoices", "users"))
    with pytest.raises(ForeignDatabase) as raised:
        await open_store(url)
    assert str(raised.value) == (
        f"{mask_url(url)} is not a supportbot database (tables invoices, users); "
        "point SUPPORTBOT_DATABASE_URL at an empty or supportbot database"
    )
    assert raised.value.tables == ("invoices", "users")
    with pytest.raises(ForeignDatabase):
        await migrate.upgrade(url)
    assert table_names(url) == {"invoices", "users"}


async def test_another_applications_alembic_history_is_foreign(tmp_path: Path) -> None:
    make_sqlite(
        tmp_path / "other.db",
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('3f2a9c1b7d4e')",
        "CREATE TABLE orders (id INTEGER)",
    )
    url = sqlite_url(tmp_path, "other.db")

    status = await migrate.schema_status(url)
    assert (status.state, status.current) == (SchemaState.FOREIGN, "3f2a9c1b7d4e")
    with pytest.raises(ForeignDatabase) as raised:
        await open_store(url)
    assert not isinstance(raised.value, UnknownRevision)
    assert "alembic_version, orders" in str(raised.value)


@pytest.mark.parametrize("call", ["open_store", "schema_status", "upgrade"])
async def test_corrupt_sqlite_file_is_reported_and_not_touched(tmp_path: Path, call: str) -> None:
    path = tmp_path / "bot.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    url = sqlite_url(tmp_path)

    with pytest.raises(CorruptDatabase) as raised:
        await _call(call, url)
    assert str(raised.value).startswith(
        f"cannot read {mask_url(url)}: file is not a SQLite database"
    )
    assert path.read_bytes() == garbage


@pytest.mark.parametrize("call", ["open_store", "schema_status", "upgrade"])
async def test_unreachable_server_names_the_url_without_its_password(call: str) -> None:
    with pytest.raises(DatabaseUnreachable) as raised:
        await _call(call, UNREACHABLE)
    message = str(raised.value)
    assert "hunter2-secret" not in message
    assert mask_url(UNREACHABLE) in message
    assert "supportbot:***@127.0.0.1:1" in message
    assert "refused" in message.lower()  # the driver's reason
    assert "SUPPORTBOT_DATABASE_URL" in message


async def _call(name: str, url: str) -> None:
    if name == "open_store":
        store = await open_store(url)
        await store.close()
    elif name == "schema_status":
        await migrate.schema_status(url)
    else:
        await migrate.upgrade(url)


# --- supportbot db ---------------------------------------------------------------------------


@pytest.fixture
def db_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run ``supportbot db ARGS`` against ``SUPPORTBOT_DATABASE_URL=url``."""
    monkeypatch.chdir(tmp_path)  # no stray .env

    def run(url: str, *args: str) -> Any:
        monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", url)
        return CliRunner().invoke(db_app, list(args))

    return run


def test_cli_upgrades_and_reports_the_revision(db_cli: Callable[..., Any], tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    head = migrate.head()

    result = db_cli(url, "current")
    assert (result.exit_code, result.stdout) == (0, "empty database\n")

    result = db_cli(url, "upgrade")
    assert (result.exit_code, result.stdout) == (0, f"upgraded {mask_url(url)} to {head}\n")

    result = db_cli(url, "current")
    assert (result.exit_code, result.stdout) == (0, f"{head}\n")

    result = db_cli(url, "upgrade")
    assert (result.exit_code, result.stdout) == (0, f"{mask_url(url)} is already at {head}\n")


def test_cli_upgrades_a_database_that_is_behind(
    db_cli: Callable[..., Any], newer_version: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path)
    asyncio.run(migrate.upgrade(url, newer_version))

    assert db_cli(url, "current").stdout == f"{newer_version}\n"
    result = db_cli(url, "upgrade")
    assert (result.exit_code, result.stdout) == (0, f"upgraded {mask_url(url)} to 9999\n")


@pytest.mark.parametrize("command", ["current", "upgrade"])
def test_cli_errors_are_one_line_without_traceback(
    db_cli: Callable[..., Any], tmp_path: Path, command: str
) -> None:
    make_sqlite(tmp_path / "shop.db", "CREATE TABLE users (id INTEGER)")

    foreign = db_cli(sqlite_url(tmp_path, "shop.db"), command)
    unreachable = db_cli(UNREACHABLE, command)

    for result in (foreign, unreachable):
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)
    assert "is not a supportbot database (tables users)" in foreign.stderr
    assert "hunter2-secret" not in unreachable.output
    assert mask_url(UNREACHABLE) in unreachable.stderr
