"""Retention: delete what is past its keep-by date, then give the space back.

Three kinds of data age out (windows come from the settings, see ``supportbot db vacuum``):

- ``inbound_update`` ids: only needed while a platform may redeliver an update.
- transcripts of conversations that *ended* long ago. The conversation rows stay (reports
  count them by status, outcome, flow and step), but their ``state`` is cleared because
  its slots hold what the customer typed. Open conversations are never touched.
- outbox rows that are done: ``sent`` ones once ``sent_at`` is past the window, and
  ``failed`` ones once their last attempt (``next_attempt_at``) is: operators had the
  whole window to look at them, and their payloads are personal data that must not be
  kept forever. ``pending`` rows are never deleted, however old: they are still owed.

Deletes run in batches, one short write transaction each, so a huge backlog never holds
SQLite's write lock (or PostgreSQL row locks) for long; live turns slip in between.

Space: on SQLite deleted pages go to the file's free list and are reused by new rows,
so the file stops growing but does not shrink. So after the deletes: if the database was
created with ``auto_vacuum=INCREMENTAL``, ``PRAGMA incremental_vacuum`` hands the free
pages back (cheap: it moves only those); otherwise a full ``VACUUM`` rewrites the file,
but only once at least :data:`VACUUM_MIN_FREE_RATIO` of it is free, since it holds the
write lock meanwhile (readers go on; if another writer holds the lock past
``busy_timeout``, it is skipped for this run). Both run outside any transaction and work
in WAL mode. Then the WAL is checkpointed with ``TRUNCATE``: ``VACUUM`` writes the whole
new file into the WAL, which goes back to zero bytes (once no reader holds it).

On PostgreSQL nothing is done: autovacuum reclaims dead rows, and ``VACUUM FULL`` would
lock the tables exclusively.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.outbox import FAILED, SENT
from storage.records import utcnow
from storage.sql import SqlStore
from storage.tables import metadata

BATCH_SIZE = 5_000
"""Rows deleted per write transaction."""

VACUUM_MIN_FREE_RATIO = 0.10
"""A full SQLite ``VACUUM`` (a rewrite of the file) runs only when this much is free."""

_AUTO_VACUUM_INCREMENTAL = 2
"""``PRAGMA auto_vacuum`` value of a database created with ``auto_vacuum=INCREMENTAL``."""

_INBOUND = metadata.tables["inbound_update"]
_CONVERSATION = metadata.tables["conversation"]
_TRANSCRIPT = metadata.tables["transcript_entry"]
_OUTBOX = metadata.tables["outbox"]


@dataclass(frozen=True, slots=True)
class VacuumReport:
    """What :func:`vacuum` removed, and what it did to give the space back."""

    inbound_updates_deleted: int
    transcript_entries_deleted: int
    conversations_cleared: int
    outbox_sent_deleted: int
    outbox_failed_deleted: int
    space_reclaim: str
    """``vacuum``, ``incremental_vacuum``, ``checkpoint`` (too little free to rewrite the
    file), ``busy`` (a writer kept ``VACUUM`` from running; try again later) or
    ``autovacuum`` (PostgreSQL: left to the server)."""
    bytes_freed: int


async def vacuum(
    store: SqlStore,
    *,
    inbound_retention: timedelta,
    transcript_retention: timedelta,
    outbox_retention: timedelta,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> VacuumReport:
    """Delete everything past its retention window, then reclaim disk space."""
    now = _aware(now or utcnow())
    _, write = store.engines
    inbound = await _prune_inbound(write, now - inbound_retention, batch_size)
    entries, cleared = await _purge_transcripts(write, now - transcript_retention, batch_size)
    sent, failed = await _prune_outbox(write, now - outbox_retention, batch_size)
    reclaim, freed = await _reclaim_space(write)
    return VacuumReport(
        inbound_updates_deleted=inbound,
        transcript_entries_deleted=entries,
        conversations_cleared=cleared,
        outbox_sent_deleted=sent,
        outbox_failed_deleted=failed,
        space_reclaim=reclaim,
        bytes_freed=freed,
    )


async def prune_inbound(
    store: SqlStore, older_than: timedelta, *, batch_size: int = BATCH_SIZE
) -> int:
    """Forget handled-update ids older than ``older_than``; for the bot's periodic task.

    Cheap enough to run every few minutes: only this table, no space reclaim.
    """
    _, write = store.engines
    return await _prune_inbound(write, utcnow() - older_than, batch_size)


async def _prune_inbound(write: AsyncEngine, cutoff: datetime, batch_size: int) -> int:
    old = (
        sa.select(_INBOUND.c.channel, _INBOUND.c.update_id)
        .where(_INBOUND.c.received_at < cutoff)
        .order_by(_INBOUND.c.received_at)
        .limit(batch_size)
    )
    statement = sa.delete(_INBOUND).where(
        sa.tuple_(_INBOUND.c.channel, _INBOUND.c.update_id).in_(old.correlate(None))
    )
    return await _in_batches(write, statement, batch_size)


async def _purge_transcripts(
    write: AsyncEngine, cutoff: datetime, batch_size: int
) -> tuple[int, int]:
    """Delete transcripts of conversations ended before ``cutoff``; clear their state."""
    ended = sa.select(_CONVERSATION.c.id).where(_CONVERSATION.c.ended_at < cutoff)
    entries = (
        sa.select(_TRANSCRIPT.c.id)
        .where(_TRANSCRIPT.c.conversation_id.in_(ended))
        .limit(batch_size)
    )
    delete = sa.delete(_TRANSCRIPT).where(_TRANSCRIPT.c.id.in_(entries.correlate(None)))
    deleted = await _in_batches(write, delete, batch_size)

    with_state = ended.where(sa.cast(_CONVERSATION.c.state, sa.Text) != "{}").limit(batch_size)
    clear = (
        sa.update(_CONVERSATION)
        .where(_CONVERSATION.c.id.in_(with_state.correlate(None)))
        .values(state={})
    )
    cleared = await _in_batches(write, clear, batch_size)
    return deleted, cleared


async def _prune_outbox(write: AsyncEngine, cutoff: datetime, batch_size: int) -> tuple[int, int]:
    """Delete delivered rows sent before ``cutoff`` and failed rows last tried before it."""
    sent_before = sa.or_(
        _OUTBOX.c.sent_at < cutoff,
        sa.and_(_OUTBOX.c.sent_at.is_(None), _OUTBOX.c.created_at < cutoff),  # not recorded
    )
    sent = _outbox_batch(_OUTBOX.c.status == SENT, sent_before, batch_size)
    failed = _outbox_batch(
        _OUTBOX.c.status == FAILED, _OUTBOX.c.next_attempt_at < cutoff, batch_size
    )
    return (
        await _in_batches(write, sent, batch_size),
        await _in_batches(write, failed, batch_size),
    )


def _outbox_batch(
    status: sa.ColumnElement[bool], old: sa.ColumnElement[bool], batch_size: int
) -> sa.Delete:
    ids = sa.select(_OUTBOX.c.id).where(status, old).order_by(_OUTBOX.c.id).limit(batch_size)
    return sa.delete(_OUTBOX).where(_OUTBOX.c.id.in_(ids.correlate(None)))


async def _in_batches(write: AsyncEngine, statement: sa.Executable, batch_size: int) -> int:
    """Run a statement that touches at most ``batch_size`` rows until it touches fewer.

    Each run is its own transaction, and the loop yields between runs, so live turns of
    this process (and other processes' writers) get the lock in between.
    """
    total = 0
    while True:
        async with write.begin() as conn:
            count = (await conn.execute(statement)).rowcount
        total += count
        if count < batch_size:
            return total
        await asyncio.sleep(0)


async def _reclaim_space(write: AsyncEngine) -> tuple[str, int]:
    """Give freed pages back to the OS on SQLite; (what was done, bytes freed)."""
    if write.dialect.name != "sqlite":
        return "autovacuum", 0
    async with write.connect() as conn:
        # The bare driver connection: it is in autocommit mode (the store emits BEGIN
        # itself), and VACUUM and a full checkpoint refuse to run inside a transaction.
        raw = await conn.get_raw_connection()
        return await _reclaim_sqlite(cast(aiosqlite.Connection, raw.driver_connection))


async def _reclaim_sqlite(db: aiosqlite.Connection) -> tuple[str, int]:
    page_size = await _pragma(db, "page_size")
    pages = await _pragma(db, "page_count")
    free = await _pragma(db, "freelist_count")
    action = "checkpoint"
    # executescript steps each statement to completion; a plain execute of
    # incremental_vacuum frees a single page.
    if free and await _pragma(db, "auto_vacuum") == _AUTO_VACUUM_INCREMENTAL:
        action = "incremental_vacuum"
        await db.executescript("PRAGMA incremental_vacuum")
    elif free and free >= pages * VACUUM_MIN_FREE_RATIO:
        action = await _full_vacuum(db)
    # VACUUM in WAL mode writes the whole new file into the WAL: truncate it after.
    await db.executescript("PRAGMA wal_checkpoint(TRUNCATE)")
    return action, (pages - await _pragma(db, "page_count")) * page_size


async def _full_vacuum(db: aiosqlite.Connection) -> str:
    """``VACUUM``, unless a writer holds the lock past ``busy_timeout``: the deletes are
    done and committed, and the free pages are reused anyway, so that is no failure."""
    try:
        await db.executescript("VACUUM")
    except sqlite3.OperationalError:
        return "busy"
    return "vacuum"


async def _pragma(db: aiosqlite.Connection, name: str) -> int:
    async with db.execute(f"PRAGMA {name}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def _aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("now must be timezone-aware (use storage.records.utcnow())")
    return value
