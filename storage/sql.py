"""SQL implementation of :class:`storage.store.Store` (SQLite and PostgreSQL).

Rows never leave this module: every method copies them into the plain records of
:mod:`storage.records`, so callers cannot lazy-load or keep a session open by accident.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import turns
from storage.errors import UnsupportedDatabase
from storage.inbox import SqlInbox
from storage.outbox import SqlOutbox
from storage.records import (
    ConversationRecord,
    CustomerRecord,
    OutboxMessage,
    TicketRecord,
    TranscriptEntry,
    utcnow,
)
from storage.rows import conversation_record, customer_record, entry_record
from storage.sqlite import BEGIN_OPTION, configure_sqlite
from storage.store import Store, Turn
from storage.tables import ConversationRow, CustomerRow, RatingRow, TranscriptEntryRow
from storage.tickets import CLOSED, QueueStatus, SqlTickets
from storage.urls import async_url, mask_url
from storage.workers import AdvisoryLockPresence, Liveness, OneProcess
from storage.writer import AsyncDriverWriter, SqliteWriter, Writer, WriteTransaction


async def open_store(url: str) -> SqlStore:
    """Open the database at ``url``; an empty database gets the tables (migrated to head).

    Accepts ``sqlite:///path`` and ``sqlite+aiosqlite:///path`` (the parent directory is
    created) and any other SQLAlchemy async URL. In-memory SQLite is refused: it is a
    single shared connection, which cannot run concurrent turns; use a temporary file.

    The schema is checked by :func:`storage.migrate.prepare`: an older revision raises
    :class:`~storage.errors.SchemaBehind` (the operator runs ``supportbot db upgrade``),
    another application's database :class:`~storage.errors.ForeignDatabase`, a server
    that cannot be reached :class:`~storage.errors.DatabaseUnreachable`, an unreadable
    SQLite file :class:`~storage.errors.CorruptDatabase`.
    """
    try:
        parsed = async_url(url)
    except ArgumentError as exc:
        raise UnsupportedDatabase(f"cannot parse the database URL {mask_url(url)}: {exc}") from None
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        database = parsed.database or ""
        if database in ("", ":memory:") or "mode=memory" in database:
            raise UnsupportedDatabase(
                f"in-memory SQLite is not supported ({mask_url(url)}); use a file path"
            )
        if not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    # pre_ping: a connection that died while idle (database server restarted) is replaced
    # instead of failing the next turn. A SQLite file has no server to lose; the ping
    # would cost a thread round trip per checkout (benchmarks/core.py --variant).
    try:
        engine = create_async_engine(parsed, pool_pre_ping=not is_sqlite)
    except (ArgumentError, ImportError) as exc:
        raise UnsupportedDatabase(f"cannot use the database URL {mask_url(url)}: {exc}") from None
    if is_sqlite:
        configure_sqlite(engine.sync_engine)
    # Imported here: storage.migrate builds on this module's engine set-up.
    from storage.migrate import prepare

    try:
        await prepare(engine, url)
    except BaseException:
        await engine.dispose()
        raise
    writer: Writer
    if is_sqlite:
        writer = SqliteWriter(parsed.set(drivername="sqlite"))
    else:
        writer = AsyncDriverWriter(engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"}))
    return SqlStore(engine, writer)


@dataclass(slots=True)
class _SqlTurn:
    """What :meth:`SqlStore.turn` yields: plain records plus the entries to write."""

    customer: CustomerRecord
    conversation: ConversationRecord
    previous: ConversationRecord | None
    db: WriteTransaction
    duplicate: bool = False
    seen: frozenset[str] = frozenset()
    ticket: TicketRecord | None = None
    entries: list[TranscriptEntry] = field(default_factory=list)
    outgoing: list[OutboxMessage] = field(default_factory=list)

    async def open_ticket(
        self, queue: str, reason: str, flow_id: str | None, step_id: str | None
    ) -> tuple[TicketRecord, QueueStatus]:
        """Open a ticket for this conversation now (in the turn's transaction).

        If one is open already, that one is returned: asking again never makes a second.
        """
        open_id = self.ticket.id if self.ticket and self.ticket.status != CLOSED else None
        ticket, place = await self.db.run(
            turns.open_ticket, self.conversation, open_id, queue, reason, flow_id, step_id
        )
        self.ticket = ticket
        return ticket, place

    async def record_rating(self, score: int | None = None, comment: str | None = None) -> None:
        """Store the conversation's rating (score first, the comment later)."""
        await self.db.run(turns.record_rating, self.customer, self.conversation, score, comment)

    async def cancel_ticket(self) -> TicketRecord | None:
        """The customer withdrew the request: close the open ticket (if any) now."""
        if self.ticket is None or self.ticket.status == CLOSED:
            return None
        self.ticket = await self.db.run(turns.cancel_ticket, self.ticket.id)
        return self.ticket

    def enqueue(self, message: OutboxMessage) -> None:
        """Queue ``message`` for the outbox; it is written when the turn commits."""
        payload = json_copy(message.payload)
        self.outgoing.append(OutboxMessage(message.channel, message.chat_id, payload, message.kind))

    def append(self, entry: TranscriptEntry) -> None:
        """Queue ``entry`` for this conversation; it is written when the turn commits."""
        _require_aware(entry.created_at, "TranscriptEntry.created_at")
        # Copy now: what was appended is what gets written, whatever happens later.
        self.entries.append(
            TranscriptEntry(
                entry.direction,
                entry.kind,
                entry.text,
                json_copy(entry.data),
                entry.created_at,
                entry.id,
                self.conversation.id,
            )
        )


class SqlStore:
    """A :class:`storage.store.Store` over a SQLAlchemy async engine.

    Build it with :func:`open_store`, which configures the engine and creates tables.
    """

    def __init__(self, engine: AsyncEngine, writer: Writer) -> None:
        """``engine`` serves reads (and the rare writes of maintenance tools); ``writer``
        the write transactions of turns, the outbox and tickets (see :mod:`storage.writer`)."""
        self._engine = engine
        self._writer = writer
        self._is_postgresql = engine.dialect.name == "postgresql"
        # Same pool; connections from it start their transactions with BEGIN IMMEDIATE
        # on SQLite (see storage.sqlite). Other backends ignore the option.
        self._write_engine = engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        # Chat locks hold a connection for a whole turn (custom action included), so they
        # get their own pool: a turn waiting for a lock never starves turns holding one.
        self._lock_engine: AsyncEngine | None = None
        # Whose outbox leases are alive (storage.workers): this process on SQLite, each
        # worker's advisory lock on PostgreSQL.
        self._liveness: Liveness = OneProcess()
        if self._is_postgresql:
            # AUTOCOMMIT: a session lock needs no transaction around it, and without one
            # taking and releasing it is two round trips instead of six (BEGIN/COMMIT).
            self._lock_engine = create_async_engine(
                engine.url,
                pool_size=10,
                max_overflow=90,
                pool_pre_ping=True,
                isolation_level="AUTOCOMMIT",
            )
            self._liveness = AdvisoryLockPresence(engine.url)

    @property
    def is_postgresql(self) -> bool:
        """PostgreSQL (several workers possible) rather than SQLite (one process)."""
        return self._is_postgresql

    @property
    def url(self) -> str:
        """The database URL with the password hidden (safe to log)."""
        return self._engine.url.render_as_string(hide_password=True)

    def turn(
        self,
        chat_key: str,
        channel: str,
        user_id: str,
        update_id: str | None = None,
        *,
        update_ids: Sequence[str] = (),
    ) -> AbstractAsyncContextManager[Turn]:
        """Run one turn of the chat ``chat_key`` in one transaction.

        Yields the customer ``{channel}:{user_id}`` (created if new), the chat's open
        conversation (created with status ``new`` if there is none) and the chat's most
        recent ended conversation. Leaving the block writes the records back (the
        conversation's ``updated_at`` becomes now, the customer's
        ``last_conversation_id`` this conversation) and the appended entries in order,
        then commits; an exception rolls all of it back and propagates.

        Changes to ids, ``channel``/``user_id``, ``chat_key``, ``customer_id`` and the
        ``created_at``/``started_at`` stamps are not written back: they are identity.

        Serialisation across processes: on PostgreSQL the turn first takes a
        transaction-scoped advisory lock on the chat key (it works before any row of a
        new chat exists and is released by commit or rollback, so a crashed worker never
        leaves it held); SQLite's ``BEGIN IMMEDIATE`` already serialises all writers.
        ``update_id`` is checked after the lock, so a redelivery that raced the original
        sees it committed and becomes a ``duplicate``. A turn that takes several messages
        together (a burst) names their other ids in ``update_ids``: ``seen`` holds those
        recorded before, and the turn is a ``duplicate`` only when all of them were.
        """
        ids = list(dict.fromkeys([*([update_id] if update_id is not None else []), *update_ids]))
        return self._turn(chat_key, channel, user_id, ids)

    @asynccontextmanager
    async def _turn(
        self, chat_key: str, channel: str, user_id: str, update_ids: list[str]
    ) -> AsyncIterator[Turn]:
        async with self._writer.transaction() as db:
            loaded = await db.run(turns.load_turn, chat_key, channel, user_id, update_ids)
            duplicate = bool(update_ids) and len(loaded.seen) == len(update_ids)
            turn = _SqlTurn(
                customer=loaded.customer,
                conversation=loaded.conversation,
                previous=loaded.previous,
                db=db,
                duplicate=duplicate,
                seen=loaded.seen,
                ticket=loaded.ticket,
            )
            yield turn
            if duplicate:
                return  # nothing of a redelivered update is written (a new chat's rows were)
            # Mirror what the database will hold, for callers that look at the records after.
            turn.conversation.updated_at = utcnow()
            turn.customer.last_conversation_id = turn.conversation.id
            customer, conversation = _checked_copies(turn)
            await db.finish(
                turns.write_turn,
                customer,
                conversation,
                turn.entries,
                turn.outgoing,
                (channel, [u for u in update_ids if u not in loaded.seen]),
            )

    async def get_customer(self, customer_id: str) -> CustomerRecord | None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(CustomerRow, customer_id)
            return None if row is None else customer_record(row)

    async def get_conversation(self, conversation_id: int) -> ConversationRecord | None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(ConversationRow, conversation_id)
            return None if row is None else conversation_record(row)

    async def conversations_of(self, customer_id: str) -> Sequence[ConversationRecord]:
        """All conversations of a customer, newest first (ids grow with creation)."""
        query = (
            select(ConversationRow)
            .where(col(ConversationRow.customer_id) == customer_id)
            .order_by(col(ConversationRow.id).desc())
        )
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
            return [conversation_record(row) for row in rows]

    async def idle_open_conversations(
        self, before: datetime, statuses: Sequence[str], limit: int = 500
    ) -> list[ConversationRecord]:
        """Open conversations in one of ``statuses`` with no activity since ``before``,
        least recently active first (served by a partial index on open conversations)."""
        query = (
            select(ConversationRow)
            .where(
                col(ConversationRow.ended_at).is_(None),
                col(ConversationRow.updated_at) < before,
                col(ConversationRow.status).in_(statuses),
            )
            .order_by(col(ConversationRow.updated_at))
            .limit(limit)
        )
        async with AsyncSession(self._engine) as session:
            return [conversation_record(row) for row in (await session.exec(query)).all()]

    async def end_if_idle(
        self,
        conversation_id: int,
        before: datetime,
        statuses: Sequence[str],
        outcome: str,
        entry: TranscriptEntry,
    ) -> bool:
        """End the conversation with ``outcome`` (and record ``entry``) if it is still open,
        in one of ``statuses`` and idle since ``before``; False if a turn got there first.

        Takes the chat's turn lock on PostgreSQL (SQLite serialises all writers), so it can
        never interleave with a customer's turn."""
        return await self._writer.once(
            turns.end_if_idle, conversation_id, before, tuple(statuses), outcome, entry
        )

    async def transcript(self, conversation_id: int) -> Sequence[TranscriptEntry]:
        """The conversation's transcript in write order."""
        query = (
            select(TranscriptEntryRow)
            .where(col(TranscriptEntryRow.conversation_id) == conversation_id)
            .order_by(col(TranscriptEntryRow.id))
        )
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
            return [entry_record(row) for row in rows]

    async def transcript_since(self, conversation_id: int, after_id: int) -> list[TranscriptEntry]:
        """Entries written after entry ``after_id``, in write order (desks poll this)."""
        query = (
            select(TranscriptEntryRow)
            .where(
                col(TranscriptEntryRow.conversation_id) == conversation_id,
                col(TranscriptEntryRow.id) > after_id,
            )
            .order_by(col(TranscriptEntryRow.id))
        )
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
            return [entry_record(row) for row in rows]

    async def recent_transcript(self, conversation_id: int, limit: int) -> list[TranscriptEntry]:
        """The last ``limit`` entries of the conversation, in write order.

        For prompts and agent views, which need the tail of long conversations only.
        """
        if limit <= 0:
            return []
        async with self._engine.connect() as connection:
            return await connection.run_sync(turns.recent_entries, conversation_id, limit)

    @property
    def engines(self) -> tuple[AsyncEngine, AsyncEngine]:
        """(reads, writes) for storage's own modules; writes begin ``IMMEDIATE`` on SQLite."""
        return self._engine, self._write_engine

    async def rating_of(self, conversation_id: int) -> tuple[int, str | None] | None:
        """(score, comment) of a conversation's rating, if it was rated."""
        query = select(RatingRow).where(col(RatingRow.conversation_id) == conversation_id)
        async with AsyncSession(self._engine) as session:
            row = (await session.exec(query)).first()
            return None if row is None else (row.score, row.comment)

    @property
    def tickets(self) -> SqlTickets:
        """Tickets outside a customer turn: agents' moves (see :mod:`storage.tickets`)."""
        return SqlTickets(self._engine, self._write_engine)

    @property
    def inbox(self) -> SqlInbox:
        """Updates acknowledged before their turn finished (see :mod:`storage.inbox`)."""
        return SqlInbox(self._writer, self._liveness)

    @functools.cached_property
    def outbox(self) -> SqlOutbox:
        """The delivery queue that turns write to (see :mod:`storage.outbox`); one per
        store, so the "sent" records of all its senders are written together."""
        return SqlOutbox(self._engine, self._writer, self._liveness)

    async def mark_unreachable(self, chat_key: str) -> None:
        """Note on the chat's customer that the platform refuses delivery (bot blocked).

        Cleared by the next message from the customer (see the conversation manager).
        """
        await self._writer.once(turns.mark_unreachable, chat_key)

    async def ping(self) -> None:
        """Raise if the database cannot answer (health checks)."""
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def chat_lock(self, chat_key: str) -> AbstractAsyncContextManager[None]:
        """Hold the chat across processes for a whole customer turn, action included.

        A turn with a custom action commits twice (before and after the action); this
        lock keeps another worker from starting a turn of the same chat in between (and
        running the action a second time). On PostgreSQL it is a session-level advisory
        lock in the two-int key space, so it never collides with the per-transaction
        lock :meth:`turn` takes in the bigint key space; a crashed worker's session ends
        and releases it. SQLite serves one process, whose in-memory lock suffices.
        """
        return self._chat_lock(chat_key)

    @asynccontextmanager
    async def _chat_lock(self, chat_key: str) -> AsyncIterator[None]:
        if self._lock_engine is None:
            yield
            return
        async with self._lock_engine.connect() as conn:
            key = {"key": chat_key}
            await conn.execute(text("SELECT pg_advisory_lock(1, hashtext(:key))"), key)
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(1, hashtext(:key))"), key)

    async def close(self) -> None:
        """Close all pooled connections; the store cannot be used afterwards."""
        await self._liveness.close()
        await self._writer.close()
        await self._engine.dispose()
        if self._lock_engine is not None:
            await self._lock_engine.dispose()


def _checked_copies(turn: _SqlTurn) -> tuple[CustomerRecord, ConversationRecord]:
    """Copies of the turn's records to write (the caller may have mutated them in place),
    with naive datetimes refused here, by name, rather than deep in the driver."""
    customer = replace(turn.customer, profile=json_copy(turn.customer.profile))
    _require_aware(customer.last_seen_at, "CustomerRecord.last_seen_at")
    conversation = replace(turn.conversation, state=json_copy(turn.conversation.state))
    if conversation.ended_at is not None:
        _require_aware(conversation.ended_at, "ConversationRecord.ended_at")
    return customer, conversation


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), several times cheaper than
    ``copy.deepcopy``, which it falls back to for anything else."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value)


def _require_aware(value: datetime, name: str) -> datetime:
    """Reject naive datetimes here, with the field's name, rather than deep in a flush."""
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (use storage.records.utcnow())")
    return value


if TYPE_CHECKING:
    _store_check: type[Store] = SqlStore  # mypy: SqlStore satisfies the Store protocol
