"""The outbox: messages turns decided to send, delivered by a sender loop per channel.

A sender *claims* rows by leasing them in one short write transaction, sends outside
any transaction (a slow platform never holds a database lock), then marks each row
sent (with the platform's message id), due for a retry, or failed. Leases make this
safe with several workers: a row is leased by one worker at a time. A lease names its
worker (``lease_owner`` = ``"{worker}/{sender}"``) and the claim takes back, at once, the
leases of a worker that is gone (:mod:`storage.workers`: on SQLite any earlier process,
on PostgreSQL a worker whose advisory lock has vanished) — so after a crash the rows
the dead worker held are sent again within seconds. A lease's end (``lease_until``)
remains the fallback when liveness cannot be seen.

Order per chat: only a chat's oldest pending rows are claimed, in id order, and only
while none of them is leased or waiting for a retry — so a later message never
overtakes an earlier one.

Writes go through the store's writer (:mod:`storage.writer`), one hand-off each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.prepared import Prepared
from storage.records import OutboxItem, utcnow
from storage.tables import OutboxRow
from storage.workers import Liveness, OneProcess, worker_of
from storage.writer import Writer

PENDING, SENT, FAILED = "pending", "sent", "failed"

OUTBOX: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]


class SqlOutbox:
    def __init__(
        self, engine: AsyncEngine, writer: Writer, liveness: Liveness | None = None
    ) -> None:
        """``liveness``: this worker's id and who else is gone (default: one process)."""
        self._engine = engine
        self._writer = writer
        self._liveness = liveness or OneProcess()
        self._sent: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._recording: asyncio.Task[None] | None = None

    async def claim(
        self,
        channel: str,
        owner: str,
        *,
        limit: int = 50,
        lease_seconds: float = 60.0,
        chat_id: str | None = None,
        skip_chats: Collection[str] = (),
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` deliverable rows of ``channel`` (or one chat), oldest first.

        Per chat, the claimed rows are a prefix of its pending rows: the chat is skipped
        if its oldest pending row is leased by someone else or not yet due. A lease of a
        worker that is gone counts as ended (see :mod:`storage.workers`). Chats in
        ``skip_chats`` (the sender paces them) are left out of the search, so their
        backlog never crowds other chats out of it.
        """
        await self._liveness.ensure()
        lease_owner = f"{self._liveness.worker}/{owner}"
        return await self._writer.once(
            _claim,
            channel,
            lease_owner,
            limit,
            lease_seconds,
            chat_id,
            self._liveness,
            tuple(skip_chats),
        )

    async def mark_sent(self, item_id: int, platform_message_id: str | None) -> None:
        """Record the row as sent; returns once that committed.

        Rows marked while an earlier record is being written go together, in one write
        (group commit: the sender marks a message of each chat it serves at about the
        same time). A failed write fails each of its callers, who may try again."""
        sent = {"status": SENT, "sent_at": utcnow(), "platform_message_id": platform_message_id}
        values = _settled(item_id, sent)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent.append((values, done))
        if self._recording is None:
            # A task of its own: a caller cancelled while waiting must not cut the write
            # that records the others.
            self._recording = asyncio.create_task(self._record_sent())
        await done

    async def _record_sent(self) -> None:
        try:
            while self._sent:
                batch, self._sent = self._sent, []
                try:
                    await self._writer.urgently(_UPDATE.many, [values for values, _ in batch])
                except Exception as error:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                    continue
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._recording = None

    async def mark_retry(self, item_id: int, error: str, delay_seconds: float) -> None:
        """Count a failed attempt; the row (and its chat) waits ``delay_seconds``."""
        values = {
            "next_attempt_at": utcnow() + timedelta(seconds=delay_seconds),
            "last_error": error[:500],
        }
        await self._writer.urgently(_update, _COUNT_ATTEMPT, item_id, values)

    async def mark_failed(self, item_id: int, error: str) -> None:
        """Give up on a row for good; it stays in the table for operators to see."""
        values = {"status": FAILED, "last_error": error[:500]}
        await self._writer.urgently(_update, _COUNT_ATTEMPT, item_id, values)

    async def release(self, item_ids: Sequence[int]) -> None:
        """Give leases back unsent (e.g. the rows after one that must wait for a retry)."""
        if item_ids:
            await self._writer.urgently(_release, list(item_ids))

    async def counts(self) -> dict[str, int]:
        """Rows per status, for health checks and metrics."""
        query = select(OutboxRow.status, sa.func.count()).group_by(OutboxRow.status)
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
        return {status: count for status, count in rows}

    async def get(self, item_id: int) -> OutboxRow | None:
        """One row as stored (tests and operator tools)."""
        async with AsyncSession(self._engine) as session:
            row = await session.get(OutboxRow, item_id)
            if row is not None:
                session.expunge(row)
            return row


def _claim(
    connection: Connection,
    channel: str,
    owner: str,
    limit: int,
    lease_seconds: float,
    chat_id: str | None,
    liveness: Liveness,
    skip_chats: tuple[str, ...] = (),
) -> list[OutboxItem]:
    now = utcnow()
    params: dict[str, Any] = {"b_channel": channel, "b_limit": limit * 10}
    if skip_chats:  # paced chats are left out in SQL, or their backlog would hide the rest
        statement = _PENDING_STATEMENT.where(OUTBOX.c.chat_id.not_in(skip_chats))
        if chat_id is not None:
            statement = statement.where(OUTBOX.c.chat_id == chat_id)
        rows = [_Pending(*row) for row in connection.execute(statement, params)]
    elif chat_id is None:
        rows = [_Pending(*row) for row in _PENDING.all(connection, params)]
    else:
        params["b_chat_id"] = chat_id
        rows = [_Pending(*row) for row in _PENDING_OF_CHAT.all(connection, params)]
    abandoned = _abandoned_leases(connection, rows, now, liveness)
    chosen: list[_Pending] = []
    blocked: set[str] = set()
    for row in rows:
        if row.chat_key in blocked:
            continue
        leased = row.lease_until is not None and row.lease_until > now
        if (leased and row.lease_owner not in abandoned) or row.next_attempt_at > now:
            blocked.add(row.chat_key)  # the chat's head waits: so do the rest
            continue
        chosen.append(row)
        if len(chosen) >= limit:
            break
    if not chosen:
        return []
    # Conditional: a row another worker leased meanwhile is not ours.
    won = set(
        connection.execute(
            sa.update(OUTBOX)
            .where(
                OUTBOX.c.id.in_([row.id for row in chosen]),
                OUTBOX.c.status == PENDING,
                OUTBOX.c.lease_until.is_(None)
                | (OUTBOX.c.lease_until <= now)
                | OUTBOX.c.lease_owner.in_(abandoned),
            )
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
            .returning(OUTBOX.c.id)
        ).scalars()
    )
    claimed: list[OutboxItem] = []
    lost_chats: set[str] = set()
    give_back: list[int] = []
    for row in chosen:  # id order
        if row.chat_key in lost_chats or row.id not in won:
            # Behind a row someone else holds: sending it now would overtake that one.
            lost_chats.add(row.chat_key)
            if row.id in won:
                give_back.append(row.id)
            continue
        claimed.append(_item(row))
    if give_back:
        _release(connection, give_back)
    return claimed


def _abandoned_leases(
    connection: Connection, rows: Sequence[_Pending], now: datetime, liveness: Liveness
) -> set[str]:
    """The ``lease_owner`` values among ``rows`` whose lease runs but whose worker is gone:
    those rows may be claimed now (a row may have been sent already: at-least-once)."""
    running = {
        row.lease_owner
        for row in rows
        if row.lease_owner is not None and row.lease_until is not None and row.lease_until > now
    }
    workers = {w for owner in running if (w := worker_of(owner)) is not None}
    if not workers:
        return set()
    gone = liveness.gone(connection, workers)
    return {owner for owner in running if worker_of(owner) in gone}


def _release(connection: Connection, item_ids: list[int]) -> None:
    connection.execute(
        sa.update(OUTBOX)
        .where(OUTBOX.c.id.in_(item_ids), OUTBOX.c.status == PENDING)
        .values(lease_owner=None, lease_until=None)
    )


_UPDATE_STATEMENT = sa.update(OUTBOX).where(OUTBOX.c.id == sa.bindparam("b_id"))
_UPDATE = Prepared(_UPDATE_STATEMENT)
"""Built once; every parameter but ``b_id`` becomes a SET column."""
_COUNT_ATTEMPT = Prepared(_UPDATE_STATEMENT.values(attempts=OUTBOX.c.attempts + 1))


def _update(
    connection: Connection, statement: Prepared, item_id: int, values: dict[str, Any]
) -> None:
    """Apply ``values`` to the row and give its lease back (it is settled, or waits)."""
    statement.run(connection, _settled(item_id, values))


def _settled(item_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """The parameters that set ``values`` on row ``item_id`` and end its lease."""
    return {"b_id": item_id, "lease_owner": None, "lease_until": None, **values}


class _Pending(NamedTuple):
    """A pending row as the claim reads it (the columns of ``_PENDING``, in order)."""

    id: int
    channel: str
    chat_id: str
    chat_key: str
    conversation_id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None


_PENDING_STATEMENT = (
    sa.select(*[OUTBOX.c[name] for name in _Pending._fields])
    .where(OUTBOX.c.status == PENDING, OUTBOX.c.channel == sa.bindparam("b_channel"))
    .order_by(OUTBOX.c.id)
    .limit(sa.bindparam("b_limit"))
)
_PENDING = Prepared(_PENDING_STATEMENT)
_PENDING_OF_CHAT = Prepared(_PENDING_STATEMENT.where(OUTBOX.c.chat_id == sa.bindparam("b_chat_id")))


def _item(row: _Pending) -> OutboxItem:
    # The payload was decoded from the row just now: nobody else holds it, no copy needed.
    return OutboxItem(
        id=row.id,
        channel=row.channel,
        chat_id=row.chat_id,
        conversation_id=row.conversation_id,
        kind=row.kind,
        payload=row.payload,
        attempts=row.attempts,
        created_at=row.created_at,
    )
