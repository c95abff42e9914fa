"""Backends the store contract runs against.

Each backend is a factory giving a URL of a fresh, empty database for one test, plus a
clean-up for it. PostgreSQL gets a database of its own per test (see :mod:`tests.pg`)
rather than one per module with tables truncated in between: creating and dropping one
costs about 30 ms here (measured: CREATE DATABASE from template0 ~20 ms, DROP ~8 ms),
which is less than a test's own work, and it leaves nothing to forget — sequences,
advisory locks, half-finished transactions of a failed test, or tables a future
migration adds but a TRUNCATE list does not. It also lets ``open_store`` meet a truly
empty database every time, as it will in production (tables or migrations included).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from storage.sql import SqlStore, open_store
from tests.pg import require_server

UrlFactory = Callable[[Path], AbstractContextManager[str]]


@contextmanager
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A real SQLite file (not :memory:), so WAL, locking and reopening are exercised."""
    yield f"sqlite+aiosqlite:///{tmp_path / 'supportbot.db'}"


@contextmanager
def postgresql_url(_tmp_path: Path) -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards (skips if unreachable)."""
    server = require_server()
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


BACKENDS = [
    pytest.param(sqlite_url, id="sqlite"),
    pytest.param(postgresql_url, id="postgresql"),
]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database on the parametrised backend."""
    factory: UrlFactory = request.param
    with factory(tmp_path) as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    """An open store on an empty database, closed after the test."""
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()
