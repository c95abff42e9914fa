"""Which worker holds an outbox lease, and whether that worker is still alive.

Every outbox lease names its worker (``lease_owner`` is ``"{worker}/{sender}"``, see
:mod:`storage.outbox`). A lease also has an end (``lease_until``, 60 s by default), but
waiting that out after a crash leaves the customers whose replies the dead worker had
leased without an answer for a minute. So a claim takes back, at once, the leases of a
worker that is *gone*; the end of the lease stays as the fallback for owners whose
liveness cannot be seen (rows leased before this scheme, a worker cut off from the
database but not known dead).

**SQLite** (:class:`OneProcess`) serves one process: every worker but this process's
own is an earlier process, dead — its leases are taken back by the first claim after
the start. Within the process, leases of all its senders are respected until they end.

**PostgreSQL** (:class:`AdvisoryLockPresence`), any number of workers: each worker holds
a *session-level advisory lock* ``(2, key)`` on a connection of its own, for as long as
it runs; its worker id names the key (``pg.{key}.{pid}``). A claim that meets a lease of
another worker looks in ``pg_locks`` whether that worker's lock is still held.

Why an advisory lock rather than a heartbeat row updated every second: the lock ends
with the worker's session — SIGKILL, an OOM kill or a lost host close the connection
and the server drops the lock the moment it notices — so a dead worker is seen at once,
with no clock, no stale threshold to tune, no writes every second per worker, no table
and no migration. A live worker's lock never disappears while its session lives,
however slow its sends (a heartbeat can go stale behind a blocked event loop). The
chat locks (:meth:`storage.sql.SqlStore.chat_lock`) already need session-level
advisory locks, so this asks nothing new of the deployment (no transaction-pooling
PgBouncer in front of the workers).

The one way a live worker's lock vanishes is its presence connection alone being cut
(a database restart, ``pg_terminate_backend``, an idle timeout). A keeper task checks
the connection every :data:`KEEP_SECONDS` and takes the lock again at once; and a claim
takes a lease back only once its owner has been seen without its lock for
:data:`ABSENT_GRACE_SECONDS` — longer than the keeper needs to come back. A send that a
worker began just before its presence was cut and that outlasts that grace may reach
the customer twice: the at-least-once window, as for a crash between a send and its
record (see :mod:`storage.outbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import uuid
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger("supportbot.storage")

LOCK_CLASS = 2
"""First key of the workers' two-int advisory locks (the chat locks use 1)."""
KEEP_SECONDS = 1.0
"""How often a worker checks that its presence connection (and so its lock) lives."""
ABSENT_GRACE_SECONDS = 3.0
"""How long a worker must be seen without its lock before its leases are taken back."""

_HELD = sa.text(
    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted"
    f" AND classid = {LOCK_CLASS} AND objsubid = 2"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
"""Keys of the worker locks held right now, in this database."""


def worker_of(lease_owner: str | None) -> str | None:
    """The worker a lease names (None: a lease from before workers were named)."""
    if lease_owner is None or "/" not in lease_owner:
        return None
    return lease_owner.split("/", 1)[0]


class Liveness(Protocol):
    """This process's worker id, and which other workers are gone."""

    @property
    def worker(self) -> str: ...

    async def ensure(self) -> None:
        """Make this worker visibly alive before it leases anything (idempotent)."""
        ...

    def gone(self, connection: Connection, workers: set[str]) -> set[str]:
        """Those of ``workers`` (never this one) whose leases may be taken back now;
        runs inside a claim's transaction."""
        ...

    async def close(self) -> None: ...


class OneProcess:
    """SQLite: one process; every other worker is an earlier, dead one."""

    def __init__(self) -> None:
        self._worker = f"sqlite.{os.getpid()}.{uuid.uuid4().hex[:8]}"

    @property
    def worker(self) -> str:
        return self._worker

    async def ensure(self) -> None:
        """Nothing to show: no other process looks."""

    def gone(self, connection: Connection, workers: set[str]) -> set[str]:
        return workers - {self._worker}

    async def close(self) -> None:
        """Nothing held."""


class AdvisoryLockPresence:
    """PostgreSQL: alive = holding the advisory lock ``(LOCK_CLASS, key)``."""

    def __init__(self, url: URL, *, grace_seconds: float = ABSENT_GRACE_SECONDS) -> None:
        """``url``: the database's async URL. The presence connection is opened by the
        first :meth:`ensure` (tools that never deliver never open it)."""
        # No pool: closing the connection must end the session, and the lock with it.
        self._engine: AsyncEngine = create_async_engine(url, poolclass=pool.NullPool)
        self._key = random.randrange(1, 2**31)
        self._worker = f"pg.{self._key}.{os.getpid()}"
        self._grace = grace_seconds
        self._connection: AsyncConnection | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._opening = asyncio.Lock()
        self._absent_since: dict[str, float] = {}

    @property
    def worker(self) -> str:
        return self._worker

    @property
    def held(self) -> bool:
        """Whether the presence connection (with the lock) is open, as far as known."""
        return self._connection is not None

    async def ensure(self) -> None:
        if self._connection is None:
            async with self._opening:
                if self._connection is None:
                    await self._open()
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep(), name="supportbot-worker-presence")

    async def _open(self) -> None:
        while True:
            connection = await self._engine.connect()
            try:
                locked = (
                    await connection.execute(
                        sa.text("SELECT pg_try_advisory_lock(:c, :k)"),
                        {"c": LOCK_CLASS, "k": self._key},
                    )
                ).scalar_one()
                await connection.commit()  # the session lock stays; no open transaction
            except BaseException:
                await connection.close()
                raise
            if locked:
                self._connection = connection
                return
            # Another worker drew this key (or our own old session has not ended yet):
            # a new key and worker id; leases under the old id end as any dead worker's.
            await connection.close()
            self._key = random.randrange(1, 2**31)
            self._worker = f"pg.{self._key}.{os.getpid()}"

    async def _keep(self) -> None:
        lost = False
        while True:
            await asyncio.sleep(KEEP_SECONDS)
            try:
                async with asyncio.timeout(KEEP_SECONDS * 2):
                    if self._connection is None:
                        async with self._opening:
                            if self._connection is None:
                                await self._open()
                    else:
                        await self._connection.execute(sa.text("SELECT 1"))
                        await self._connection.commit()
                if lost:
                    log.info("outbox worker %s visible again", self._worker)
                    lost = False
            except Exception as error:
                if not lost:
                    log.warning(
                        "outbox worker %s lost its presence connection (%s); reconnecting",
                        self._worker,
                        type(error).__name__,
                    )
                    lost = True
                await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()  # never reused: the session is ended
                await connection.close()

    def gone(self, connection: Connection, workers: set[str]) -> set[str]:
        others = {w: k for w in workers if w != self._worker and (k := _key_of(w)) is not None}
        if not others:
            return set()
        held = set(connection.execute(_HELD).scalars())
        now = time.monotonic()
        for worker in [w for w, t in self._absent_since.items() if now - t > 600]:
            del self._absent_since[worker]  # long taken back: forget it
        found = set()
        for worker, key in others.items():
            if key in held:
                self._absent_since.pop(worker, None)
            elif now - self._absent_since.setdefault(worker, now) >= self._grace:
                found.add(worker)
        return found

    async def close(self) -> None:
        """Stop the keeper and end the session (the lock goes with it)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
        await self._engine.dispose()


def _key_of(worker: str) -> int | None:
    """The lock key a PostgreSQL worker id names (None for any other id)."""
    parts = worker.split(".")
    if len(parts) >= 2 and parts[0] == "pg" and parts[1].isdigit():
        return int(parts[1])
    return None
