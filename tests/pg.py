"""Throw-away PostgreSQL databases for tests and benchmarks.

Tests never touch a database someone cares about: they connect to a server with an
*admin* URL (``SUPPORTBOT_TEST_DATABASE_URL``, default: the local server as ``root``,
then as ``postgres``), create ``supportbot_t_<uuid hex>`` for their own use and drop it
``WITH (FORCE)`` afterwards, so a test that leaves a connection open cannot keep its
database alive. ``TEMPLATE template0`` because nobody ever connects to it: copying
``template1`` fails while any other session (a developer's psql) is attached to it.

The server may be missing (a laptop without PostgreSQL): :func:`require_server` then
skips with the URL tried (password masked) and how to point the tests elsewhere. CI
sets ``SUPPORTBOT_REQUIRE_POSTGRES=1`` so a missing server fails the run instead of
silently skipping every PostgreSQL test.
"""

from __future__ import annotations

import functools
import os
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from storage.urls import mask_url

URL_ENV = "SUPPORTBOT_TEST_DATABASE_URL"
REQUIRE_ENV = "SUPPORTBOT_REQUIRE_POSTGRES"
DEFAULT_ADMIN_URLS = (
    "postgresql+psycopg://root@127.0.0.1:5432/postgres",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)
CONNECT_TIMEOUT_SECONDS = 3


@dataclass(frozen=True, slots=True)
class PgServer:
    """A reachable server and the admin URL that may create and drop databases."""

    admin_url: URL

    def connect(self, database: str | None = None) -> psycopg.Connection[Any]:
        """An autocommit connection (CREATE/DROP DATABASE refuse to run in a transaction)."""
        return psycopg.connect(autocommit=True, **_connect_args(self.admin_url, database))

    def create_database(self, prefix: str = "supportbot_t_") -> str:
        """Create an empty database; returns its async SQLAlchemy URL (for ``open_store``)."""
        name = f"{prefix}{uuid.uuid4().hex}"
        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    sql.Identifier(name)
                )
            )
        return self.url_of(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url``, disconnecting whoever is still attached."""
        name = make_url(url).database
        if not name:
            raise ValueError(f"no database in {mask_url(url)}")
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def url_of(self, database: str) -> str:
        """The async (psycopg) URL of ``database`` on this server, password included."""
        url = self.admin_url.set(drivername="postgresql+psycopg", database=database)
        return url.render_as_string(hide_password=False)

    def sync_connect(self, url: str) -> psycopg.Connection[Any]:
        """An autocommit connection to the database of ``url`` (for assertions in SQL)."""
        return psycopg.connect(autocommit=True, **_connect_args(make_url(url), None))

    async def async_connect(self, url: str) -> psycopg.AsyncConnection[Any]:
        """An autocommit async connection to the database of ``url``."""
        return await psycopg.AsyncConnection.connect(
            autocommit=True, **_connect_args(make_url(url), None)
        )


def _connect_args(url: URL, database: str | None) -> dict[str, Any]:
    """libpq keyword arguments for ``url`` (any ``postgresql[+driver]://`` spelling)."""
    args: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": database or url.database,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    }
    for key, value in url.query.items():  # sslmode=..., options=..., host=/socket/dir
        args[key] = value if isinstance(value, str) else value[-1]
    return {key: value for key, value in args.items() if value is not None}


def candidate_urls() -> list[str]:
    """The admin URLs to try: the one configured, else the local server's usual users."""
    configured = os.environ.get(URL_ENV, "").strip()
    return [configured] if configured else list(DEFAULT_ADMIN_URLS)


@functools.cache
def find_server() -> PgServer | str:
    """The first reachable server (cached for the process), or why none was reachable."""
    failures = []
    for candidate in candidate_urls():
        try:
            url = make_url(candidate)
            if url.get_backend_name() != "postgresql":
                raise ValueError("not a postgresql:// URL")
            server = PgServer(url)
            with server.connect() as conn:
                conn.execute("SELECT 1")
            return server
        except Exception as error:  # any failure means "no usable server here"
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            failures.append(f"{mask_url(candidate)} ({type(error).__name__}: {first_line})")
    return (
        "PostgreSQL not reachable at "
        + "; ".join(failures)
        + f". Set {URL_ENV} to an admin URL of a server whose user may CREATE DATABASE,"
        " e.g. postgresql+psycopg://user:password@host:5432/postgres"
    )


def require_server() -> PgServer:
    """The server, or skip the calling test (fail instead if ``SUPPORTBOT_REQUIRE_POSTGRES``)."""
    import pytest  # only tests call this; benchmarks use find_server()

    found = find_server()
    if isinstance(found, PgServer):
        return found
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0", "false"):
        pytest.fail(f"{REQUIRE_ENV} is set but: {found}", pytrace=False)
    pytest.skip(found)
