"""How every SQLite connection of this package is set up (pragmas, ``BEGIN`` flavour).

Shared by the async engines (reads, migrations, rare writes) and the writer thread's
sync engine (:mod:`storage.writer`), so they all behave the same on one file.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

BEGIN_OPTION = "supportbot_sqlite_begin"
"""Execution option naming the SQLite ``BEGIN`` flavour (``DEFERRED``/``IMMEDIATE``)."""

SQLITE_PRAGMAS = (
    # WAL: readers never block the writer and the writer never blocks readers.
    "PRAGMA journal_mode=WAL",
    # Wait for a busy lock instead of failing at once with "database is locked".
    "PRAGMA busy_timeout=5000",
    # SQLite ignores foreign keys unless told otherwise, per connection.
    "PRAGMA foreign_keys=ON",
    # Safe with WAL (a power loss can lose the last commits, never corrupt the file).
    "PRAGMA synchronous=NORMAL",
)


def configure_sqlite(engine: Engine) -> None:
    """Set the pragmas on every new connection and let SQLAlchemy emit ``BEGIN``.

    ``engine`` is a sync engine (for an async one, pass its ``sync_engine``).

    A deferred ``BEGIN`` (SQLite's default) takes the write lock only at the first
    write, so two turns that both read and then write each hold a read snapshot, and
    the second to write can never upgrade: it fails at once with "database is locked",
    ``busy_timeout`` does not help. (The sqlite3 driver is worse: it runs the reads
    before the first write outside any transaction.) So the driver's transaction
    handling is off and writers ask for ``BEGIN IMMEDIATE`` with :data:`BEGIN_OPTION`:
    the write lock is taken up front and concurrent writers queue on ``busy_timeout``.
    Plain reads use ``BEGIN DEFERRED``; under WAL they never wait for a writer.
    """

    def on_connect(dbapi_connection: Any, _connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        try:
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    def on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"unsupported SQLite BEGIN mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
