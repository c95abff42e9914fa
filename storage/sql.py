"""SQL implementation of :class:`storage.store.Store` (SQLite now, PostgreSQL later).

Rows never leave this module: every method copies them into the plain records of
:mod:`storage.records`, so callers cannot lazy-load or keep a session open by accident.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.errors import UnsupportedDatabase
from storage.outbox import SqlOutbox
from storage.records import (
    ConversationRecord,
    CustomerRecord,
    Direction,
    OutboxMessage,
    TicketRecord,
    TranscriptEntry,
    utcnow,
)
from storage.store import Store, Turn
from storage.tables import (
    ConversationRow,
    CustomerRow,
    InboundUpdateRow,
    OutboxRow,
    RatingRow,
    TicketRow,
    TranscriptEntryRow,
)
from storage.tickets import CLOSED, QueueStatus, SqlTickets, queue_status, ticket_record
from storage.urls import async_url, mask_url

_BEGIN_OPTION = "supportbot_sqlite_begin"
"""Execution option naming the SQLite ``BEGIN`` flavour (``DEFERRED``/``IMMEDIATE``)."""

_SQLITE_PRAGMAS = (
    # WAL: readers never block the writer and the writer never blocks readers.
    "PRAGMA journal_mode=WAL",
    # Wait for a busy lock instead of failing at once with "database is locked".
    "PRAGMA busy_timeout=5000",
    # SQLite ignores foreign keys unless told otherwise, per connection.
    "PRAGMA foreign_keys=ON",
    # Safe with WAL (a power loss can lose the last commits, never corrupt the file).
    "PRAGMA synchronous=NORMAL",
)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Set the pragmas on every new connection and let SQLAlchemy emit ``BEGIN``.

    A deferred ``BEGIN`` (SQLite's default) takes the write lock only at the first
    write, so two turns that both read and then write each hold a read snapshot, and
    the second to write can never upgrade: it fails at once with "database is locked",
    ``busy_timeout`` does not help. (The sqlite3 driver is worse: it runs the reads
    before the first write outside any transaction.) So the driver's transaction
    handling is off and we emit ``BEGIN IMMEDIATE`` for turns (see
    :attr:`SqlStore._write_engine`): the write lock is taken up front and concurrent
    turns queue on ``busy_timeout``. Plain reads use ``BEGIN DEFERRED``; under WAL they
    never wait for a writer.
    """

    def on_connect(dbapi_connection: Any, _connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        try:
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    def on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"unsupported SQLite BEGIN mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", on_begin)


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
        _configure_sqlite(engine)
    # Imported here: storage.migrate builds on this module's engine set-up.
    from storage.migrate import prepare

    try:
        await prepare(engine, url)
    except BaseException:
        await engine.dispose()
        raise
    return SqlStore(engine)


@dataclass(slots=True)
class _SqlTurn:
    """What :meth:`SqlStore.turn` yields: plain records plus the entries to write."""

    customer: CustomerRecord
    conversation: ConversationRecord
    previous: ConversationRecord | None
    session: AsyncSession
    duplicate: bool = False
    ticket: TicketRecord | None = None
    entries: list[TranscriptEntry] = field(default_factory=list)
    outgoing: list[OutboxMessage] = field(default_factory=list)

    async def open_ticket(
        self, queue: str, reason: str, flow_id: str | None, step_id: str | None
    ) -> tuple[TicketRecord, QueueStatus]:
        """Open a ticket for this conversation now (in the turn's transaction).

        If one is open already, that one is returned: asking again never makes a second.
        """
        if self.ticket is not None and self.ticket.status != CLOSED:
            row = await self.session.get(TicketRow, self.ticket.id)
            assert row is not None
        else:
            row = TicketRow(
                conversation_id=self.conversation.id,
                customer_id=self.customer.id,
                chat_key=self.conversation.chat_key,
                queue=queue,
                reason=reason,
                flow_id=flow_id,
                step_id=step_id,
            )
            self.session.add(row)
            await self.session.flush()
        self.ticket = ticket_record(row)
        return self.ticket, await queue_status(self.session, row)

    async def record_rating(self, score: int | None = None, comment: str | None = None) -> None:
        """Store the conversation's rating (score first, the comment later), attributed to
        the persona, channel, flow and step, and the agent/queue of its last ticket."""
        conversation_id = self.conversation.id
        row = (
            await self.session.exec(
                select(RatingRow).where(col(RatingRow.conversation_id) == conversation_id)
            )
        ).first()
        if row is None:
            if score is None:
                return  # a comment without a score: nothing to attach it to
            ticket = (
                await self.session.exec(
                    select(TicketRow)
                    .where(col(TicketRow.conversation_id) == conversation_id)
                    .order_by(col(TicketRow.id).desc())
                    .limit(1)
                )
            ).first()
            row = RatingRow(
                conversation_id=conversation_id,
                customer_id=self.customer.id,
                channel=self.customer.channel,
                persona=self.customer.persona,
                # After a person closed, the flow that escalated is the ticket's.
                flow_id=self.conversation.flow_id or (ticket.flow_id if ticket else None),
                step_id=self.conversation.step_id or (ticket.step_id if ticket else None),
                agent_id=ticket.owner_id if ticket else None,
                queue=ticket.queue if ticket else None,
                resolution=ticket.resolution if ticket else None,
                score=score,
            )
            self.session.add(row)
        if comment is not None:
            row.comment = comment
        await self.session.flush()

    async def cancel_ticket(self) -> TicketRecord | None:
        """The customer withdrew the request: close the open ticket (if any) now."""
        if self.ticket is None or self.ticket.status == CLOSED:
            return None
        row = await self.session.get(TicketRow, self.ticket.id)
        assert row is not None
        row.status, row.closed_at, row.resolution = CLOSED, utcnow(), "cancelled"
        row.version += 1
        await self.session.flush()
        self.ticket = ticket_record(row)
        return self.ticket

    def enqueue(self, message: OutboxMessage) -> None:
        """Queue ``message`` for the outbox; it is written when the turn commits."""
        self.outgoing.append(replace(message, payload=copy.deepcopy(message.payload)))

    def append(self, entry: TranscriptEntry) -> None:
        """Queue ``entry`` for this conversation; it is written when the turn commits."""
        _require_aware(entry.created_at, "TranscriptEntry.created_at")
        self.entries.append(
            replace(
                entry,
                conversation_id=self.conversation.id,
                # Copy now: what was appended is what gets written, whatever happens later.
                data=copy.deepcopy(entry.data),
            )
        )


class SqlStore:
    """A :class:`storage.store.Store` over a SQLAlchemy async engine.

    Build it with :func:`open_store`, which configures the engine and creates tables.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._is_postgresql = engine.dialect.name == "postgresql"
        # Same pool; connections from it start their transactions with BEGIN IMMEDIATE
        # on SQLite (see _configure_sqlite). Other backends ignore the option.
        self._write_engine = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        # Chat locks hold a connection for a whole turn (custom action included), so they
        # get their own pool: a turn waiting for a lock never starves turns holding one.
        self._lock_engine: AsyncEngine | None = None
        if self._is_postgresql:
            self._lock_engine = create_async_engine(
                engine.url, pool_size=10, max_overflow=90, pool_pre_ping=True
            )

    @property
    def url(self) -> str:
        """The database URL with the password hidden (safe to log)."""
        return self._engine.url.render_as_string(hide_password=True)

    def turn(
        self, chat_key: str, channel: str, user_id: str, update_id: str | None = None
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
        sees it committed and becomes a ``duplicate``.
        """
        return self._turn(chat_key, channel, user_id, update_id)

    @asynccontextmanager
    async def _turn(
        self, chat_key: str, channel: str, user_id: str, update_id: str | None
    ) -> AsyncIterator[Turn]:
        async with AsyncSession(self._write_engine) as session, session.begin():
            if self._is_postgresql:
                await session.exec(  # type: ignore[call-overload]
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    params={"key": chat_key},
                )
            duplicate = update_id is not None and await _seen(session, channel, update_id)
            customer = await _load_or_create_customer(session, channel, user_id)
            conversation = await _load_or_create_open_conversation(session, chat_key, customer)
            previous = await _latest_ended_conversation(session, chat_key)
            ticket = await _open_ticket_of(session, _row_id(conversation.id))
            turn = _SqlTurn(
                customer=_customer_record(customer),
                conversation=_conversation_record(conversation),
                previous=None if previous is None else _conversation_record(previous),
                session=session,
                duplicate=duplicate,
                ticket=None if ticket is None else ticket_record(ticket),
            )
            yield turn
            if duplicate:
                return  # nothing of a redelivered update is written (a new chat's rows were)
            _write_back(session, turn, customer, conversation)
            if update_id is not None:
                session.add(
                    InboundUpdateRow(
                        channel=channel, update_id=update_id, conversation_id=conversation.id
                    )
                )
            _queue_outgoing(session, turn)

    async def get_customer(self, customer_id: str) -> CustomerRecord | None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(CustomerRow, customer_id)
            return None if row is None else _customer_record(row)

    async def get_conversation(self, conversation_id: int) -> ConversationRecord | None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(ConversationRow, conversation_id)
            return None if row is None else _conversation_record(row)

    async def conversations_of(self, customer_id: str) -> Sequence[ConversationRecord]:
        """All conversations of a customer, newest first (ids grow with creation)."""
        query = (
            select(ConversationRow)
            .where(col(ConversationRow.customer_id) == customer_id)
            .order_by(col(ConversationRow.id).desc())
        )
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
            return [_conversation_record(row) for row in rows]

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
            return [_conversation_record(row) for row in (await session.exec(query)).all()]

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
        async with AsyncSession(self._write_engine) as session, session.begin():
            row = await session.get(ConversationRow, conversation_id)
            if row is None:
                return False
            if self._is_postgresql:
                await session.exec(  # type: ignore[call-overload]
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    params={"key": row.chat_key},
                )
                await session.refresh(row)
            idle = row.updated_at < before and row.status in statuses
            if row.ended_at is not None or not idle:
                return False
            now = utcnow()
            row.status, row.outcome, row.ended_at, row.updated_at = "closed", outcome, now, now
            session.add(_entry_row(conversation_id, entry))
            return True

    async def transcript(self, conversation_id: int) -> Sequence[TranscriptEntry]:
        """The conversation's transcript in write order."""
        query = (
            select(TranscriptEntryRow)
            .where(col(TranscriptEntryRow.conversation_id) == conversation_id)
            .order_by(col(TranscriptEntryRow.id))
        )
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
            return [_entry_record(row) for row in rows]

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
            return [_entry_record(row) for row in rows]

    async def recent_transcript(self, conversation_id: int, limit: int) -> list[TranscriptEntry]:
        """The last ``limit`` entries of the conversation, in write order.

        For prompts and agent views, which need the tail of long conversations only.
        """
        if limit <= 0:
            return []
        query = (
            select(TranscriptEntryRow)
            .where(col(TranscriptEntryRow.conversation_id) == conversation_id)
            .order_by(col(TranscriptEntryRow.id).desc())
            .limit(limit)
        )
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
            return [_entry_record(row) for row in reversed(rows)]

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
    def outbox(self) -> SqlOutbox:
        """The delivery queue that turns write to (see :mod:`storage.outbox`)."""
        return SqlOutbox(self._engine, self._write_engine)

    async def mark_unreachable(self, chat_key: str) -> None:
        """Note on the chat's customer that the platform refuses delivery (bot blocked).

        Cleared by the next message from the customer (see the conversation manager).
        """
        query = (
            select(ConversationRow)
            .where(col(ConversationRow.chat_key) == chat_key)
            .order_by(col(ConversationRow.id).desc())
            .limit(1)
        )
        async with AsyncSession(self._write_engine) as session, session.begin():
            conversation = (await session.exec(query)).first()
            if conversation is None:
                return
            customer = await session.get(CustomerRow, conversation.customer_id)
            if customer is not None:
                customer.profile = {**customer.profile, "unreachable_since": utcnow().isoformat()}

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
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(1, hashtext(:key))"), key)
                await conn.commit()

    async def close(self) -> None:
        """Close all pooled connections; the store cannot be used afterwards."""
        await self._engine.dispose()
        if self._lock_engine is not None:
            await self._lock_engine.dispose()


async def _open_ticket_of(session: AsyncSession, conversation_id: int) -> TicketRow | None:
    query = select(TicketRow).where(
        col(TicketRow.conversation_id) == conversation_id, col(TicketRow.status) != CLOSED
    )
    return (await session.exec(query)).first()


async def _seen(session: AsyncSession, channel: str, update_id: str) -> bool:
    return await session.get(InboundUpdateRow, (channel, update_id)) is not None


def _queue_outgoing(session: AsyncSession, turn: _SqlTurn) -> None:
    now = utcnow()
    session.add_all(
        OutboxRow(
            channel=m.channel,
            chat_id=m.chat_id,
            chat_key=f"{m.channel}:{m.chat_id}",
            conversation_id=turn.conversation.id,
            kind=m.kind,
            payload=m.payload,
            created_at=now,
            next_attempt_at=now,
        )
        for m in turn.outgoing
    )


async def _load_or_create_customer(
    session: AsyncSession, channel: str, user_id: str
) -> CustomerRow:
    customer_id = f"{channel}:{user_id}"
    # FOR UPDATE locks the row on PostgreSQL; SQLite already holds the write lock.
    row = await session.get(CustomerRow, customer_id, with_for_update=True)
    if row is None:
        row = CustomerRow(id=customer_id, channel=channel, user_id=user_id)
        session.add(row)
        await session.flush()  # the conversation's foreign key needs the row
    return row


async def _load_or_create_open_conversation(
    session: AsyncSession, chat_key: str, customer: CustomerRow
) -> ConversationRow:
    query = (
        select(ConversationRow)
        .where(
            col(ConversationRow.chat_key) == chat_key,
            col(ConversationRow.ended_at).is_(None),
        )
        .order_by(col(ConversationRow.id).desc())
        .limit(1)
        .with_for_update()
    )
    row = (await session.exec(query)).first()
    if row is None:
        now = utcnow()
        row = ConversationRow(
            chat_key=chat_key,
            customer_id=customer.id,
            status="new",
            state={},
            started_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()  # assigns the id the records need
    return row


async def _latest_ended_conversation(
    session: AsyncSession, chat_key: str
) -> ConversationRow | None:
    query = (
        select(ConversationRow)
        .where(
            col(ConversationRow.chat_key) == chat_key,
            col(ConversationRow.ended_at).is_not(None),
        )
        .order_by(col(ConversationRow.ended_at).desc(), col(ConversationRow.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


def _write_back(
    session: AsyncSession, turn: _SqlTurn, customer: CustomerRow, conversation: ConversationRow
) -> None:
    """Copy the turn's records onto the rows and queue the entries (flushed at commit)."""
    conversation_id = _row_id(conversation.id)
    now = utcnow()
    # Mirror what the database will hold, for callers that look at the records after.
    turn.conversation.updated_at = now
    turn.customer.last_conversation_id = conversation_id

    c = turn.customer
    customer.first_name = c.first_name
    customer.last_name = c.last_name
    customer.language = c.language
    customer.persona = c.persona
    # New objects, so the ORM sees a change even when the caller mutated in place.
    customer.profile = copy.deepcopy(c.profile)
    customer.last_seen_at = _require_aware(c.last_seen_at, "CustomerRecord.last_seen_at")
    customer.last_conversation_id = conversation_id

    v = turn.conversation
    conversation.status = v.status
    conversation.flow_id = v.flow_id
    conversation.flow_version = v.flow_version
    conversation.step_id = v.step_id
    conversation.state = copy.deepcopy(v.state)
    conversation.updated_at = now
    conversation.ended_at = (
        None if v.ended_at is None else _require_aware(v.ended_at, "ConversationRecord.ended_at")
    )
    conversation.outcome = v.outcome

    session.add_all(_entry_row(conversation_id, e) for e in turn.entries)


def _entry_row(conversation_id: int, entry: TranscriptEntry) -> TranscriptEntryRow:
    return TranscriptEntryRow(
        conversation_id=conversation_id,
        direction=entry.direction,
        kind=entry.kind,
        text=entry.text,
        data=entry.data,
        created_at=entry.created_at,
    )


def _require_aware(value: datetime, name: str) -> datetime:
    """Reject naive datetimes here, with the field's name, rather than deep in a flush."""
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (use storage.records.utcnow())")
    return value


def _row_id(value: int | None) -> int:
    if value is None:  # pragma: no cover - rows are flushed before records are built
        raise RuntimeError("row has no id; it was not flushed")
    return value


def _customer_record(row: CustomerRow) -> CustomerRecord:
    return CustomerRecord(
        id=row.id,
        channel=row.channel,
        user_id=row.user_id,
        first_name=row.first_name,
        last_name=row.last_name,
        language=row.language,
        persona=row.persona,
        profile=copy.deepcopy(row.profile),
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        last_conversation_id=row.last_conversation_id,
    )


def _conversation_record(row: ConversationRow) -> ConversationRecord:
    return ConversationRecord(
        id=_row_id(row.id),
        chat_key=row.chat_key,
        customer_id=row.customer_id,
        status=row.status,
        flow_id=row.flow_id,
        flow_version=row.flow_version,
        step_id=row.step_id,
        state=copy.deepcopy(row.state),
        started_at=row.started_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        outcome=row.outcome,
    )


def _entry_record(row: TranscriptEntryRow) -> TranscriptEntry:
    return TranscriptEntry(
        direction=cast(Direction, row.direction),
        kind=row.kind,
        text=row.text,
        data=copy.deepcopy(row.data),
        created_at=row.created_at,
        id=row.id,
        conversation_id=row.conversation_id,
    )


if TYPE_CHECKING:
    _store_check: type[Store] = SqlStore  # mypy: SqlStore satisfies the Store protocol
