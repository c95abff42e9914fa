"""Outbox leases after a crash: a gone worker's leases are taken back at once, a live
worker's never (:mod:`storage.workers`).

SQLite: a store opened after another one (an earlier process) takes its leases back on
the first claim. PostgreSQL: two stores are two workers; one leases rows for 10 minutes
and is slow — the other gets nothing, also after the slow one's presence connection was
cut and came back; once the leasing worker is killed (SIGKILL, a real process), the
other gets the rows within a few seconds, in order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.records import OutboxItem, OutboxMessage
from storage.sql import SqlStore, open_store
from storage.workers import ABSENT_GRACE_SECONDS, KEEP_SECONDS
from tests.pg import PgServer, require_server
from tests.storage.conftest import sqlite_url

ROOT = Path(__file__).resolve().parents[2]
CHATS, PER_CHAT = 3, 2
LONG_LEASE = 600.0
TAKE_BACK_TIMEOUT = 20.0
"""Far below the lease: a take-back by then can only come from liveness."""

LEASING_WORKER = """
import asyncio, sys
from storage.sql import open_store

async def main() -> None:
    store = await open_store(sys.argv[1])
    items = await store.outbox.claim("test", "slow-sender", lease_seconds=600)
    print(len(items), flush=True)
    await asyncio.sleep(3600)  # "sending": killed before it ends

asyncio.run(main())
"""


async def queue_replies(store: SqlStore) -> None:
    """``PER_CHAT`` pending replies in each of ``CHATS`` chats."""
    for c in range(CHATS):
        async with store.turn(f"test:c{c}", "test", f"c{c}") as turn:
            for n in range(PER_CHAT):
                turn.enqueue(OutboxMessage("test", f"c{c}", {"text": f"m{n}"}))


def in_order(items: list[OutboxItem]) -> list[tuple[str, str]]:
    return [(item.chat_id, item.payload["text"]) for item in items]


EVERY_ROW = [(f"c{c}", f"m{n}") for c in range(CHATS) for n in range(PER_CHAT)]


async def claim_until(store: SqlStore, timeout: float) -> tuple[list[OutboxItem], float]:
    """Claim repeatedly (as a sender loop does) until rows come; (rows, seconds waited)."""
    started = time.monotonic()
    while True:
        items = await store.outbox.claim("test", "sender", lease_seconds=LONG_LEASE)
        waited = time.monotonic() - started
        if items or waited > timeout:
            return items, waited
        await asyncio.sleep(0.2)


async def test_sqlite_takes_back_an_earlier_process_leases_at_once(tmp_path: Path) -> None:
    with sqlite_url(tmp_path) as url:
        earlier = await open_store(url)
        await queue_replies(earlier)
        leased = await earlier.outbox.claim("test", "sender", lease_seconds=LONG_LEASE)
        assert len(leased) == CHATS * PER_CHAT
        # Another sender of the same process respects them: it may be sending them now.
        assert await earlier.outbox.claim("test", "other-sender") == []
        await earlier.close()  # its leases stay, as after a kill -9

        later = await open_store(url)
        try:
            items = await later.outbox.claim("test", "sender", lease_seconds=LONG_LEASE)
            assert in_order(items) == EVERY_ROW  # at once, each chat in order
            row = await later.outbox.get(items[0].id)
            assert row is not None and row.lease_owner is not None
            assert row.lease_owner.startswith("sqlite.") and row.lease_owner.endswith("/sender")
        finally:
            await later.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[tuple[PgServer, str]]:
    server = require_server()
    url = server.create_database()
    try:
        yield server, url
    finally:
        server.drop_database(url)


def worker_key(lease_owner: str | None) -> int:
    """The advisory-lock key in a PostgreSQL lease owner (``pg.{key}.{pid}/{sender}``)."""
    assert lease_owner is not None and lease_owner.startswith("pg."), lease_owner
    return int(lease_owner.split(".")[1])


def presence_pids(server: PgServer, url: str, key: int) -> list[int]:
    with server.sync_connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 2"
            " AND objsubid = 2 AND objid = %s AND granted",
            (key,),
        ).fetchall()
    return [pid for (pid,) in rows]


async def test_postgresql_never_takes_a_live_workers_leases(
    pg_url: tuple[PgServer, str],
) -> None:
    server, url = pg_url
    slow, other = await open_store(url), await open_store(url)
    try:
        await queue_replies(slow)
        leased = await slow.outbox.claim("test", "slow-sender", lease_seconds=LONG_LEASE)
        assert len(leased) == CHATS * PER_CHAT
        row = await slow.outbox.get(leased[0].id)
        assert row is not None
        key = worker_key(row.lease_owner)

        # The slow worker is alive: longer than the grace, the other gets nothing.
        items, _ = await claim_until(other, ABSENT_GRACE_SECONDS + 1.5)
        assert items == []

        # Its presence connection is cut (a database blip, an admin): it comes back
        # before the grace is over, and its leases stay its own.
        (pid,) = presence_pids(server, url, key)
        with server.sync_connect(url) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await other.outbox.claim("test", "sender") == []  # absent: grace begins
        items, _ = await claim_until(other, ABSENT_GRACE_SECONDS + 1.5)
        assert items == []
        again = presence_pids(server, url, key)
        assert len(again) == 1 and again != [pid], "the keeper did not take the lock again"
    finally:
        await slow.close()
        await other.close()


async def test_postgresql_takes_back_a_killed_workers_leases(
    pg_url: tuple[PgServer, str],
) -> None:
    _server, url = pg_url
    survivor = await open_store(url)
    process = None
    try:
        await queue_replies(survivor)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LEASING_WORKER, url,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert int(line) == CHATS * PER_CHAT  # it leased every row
        assert await survivor.outbox.claim("test", "sender") == []

        process.send_signal(signal.SIGKILL)
        await process.wait()
        items, waited = await claim_until(survivor, TAKE_BACK_TIMEOUT)
        assert in_order(items) == EVERY_ROW, f"not taken back after {waited:.1f} s"
        print(f"leases of a killed worker taken back after {waited:.1f} s "
              f"(grace {ABSENT_GRACE_SECONDS} s, keeper every {KEEP_SECONDS} s)")  # fmt: skip
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        await survivor.close()
