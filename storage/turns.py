"""The SQL of one conversation turn, as sync functions on a connection.

They run inside a write transaction of :mod:`storage.writer` (one hand-off each on
SQLite) and use SQLAlchemy Core on the tables of :mod:`storage.tables`: a turn is a
dozen small statements, and the ORM's unit of work cost more than all of them together
(``docs/BENCHMARKS.md``). :class:`storage.sql.SqlStore` wires them into
:meth:`~storage.sql.SqlStore.turn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.prepared import Prepared, first_rows, pipelined
from storage.records import (
    ConversationRecord,
    CustomerRecord,
    OutboxMessage,
    TicketRecord,
    TranscriptEntry,
    utcnow,
)
from storage.rows import row_id
from storage.tables import (
    ConversationRow,
    CustomerRow,
    InboundUpdateRow,
    OutboxRow,
    RatingRow,
    TranscriptEntryRow,
)
from storage.tickets import CLOSED, QUEUED, TICKET, QueueStatus, queue_status, ticket_record

CUSTOMER: sa.Table = CustomerRow.__table__  # type: ignore[attr-defined]
CONVERSATION: sa.Table = ConversationRow.__table__  # type: ignore[attr-defined]
TRANSCRIPT: sa.Table = TranscriptEntryRow.__table__  # type: ignore[attr-defined]
INBOUND: sa.Table = InboundUpdateRow.__table__  # type: ignore[attr-defined]
OUTBOX: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
RATING: sa.Table = RatingRow.__table__  # type: ignore[attr-defined]


# The hot statements, built once and run on the DB-API cursor (storage.prepared):
# building a statement and SQLAlchemy's per-call execution cost more than running it.
# ``b_*`` parameters are bound at execution; in an UPDATE, every other parameter given
# becomes a SET column. Rows are selected in the order of their record's fields, so a
# record is built straight from the row's values.
_B = sa.bindparam


def _columns(table: sa.Table, record: type[Any]) -> list[sa.Column[Any]]:
    return [table.c[f.name] for f in fields(record)]


_ADVISORY_LOCK = Prepared(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"))
_SEEN = Prepared(
    sa.select(INBOUND.c.update_id).where(
        INBOUND.c.channel == _B("b_channel"), INBOUND.c.update_id == _B("b_update_id")
    )
)
_CUSTOMER = Prepared(
    sa.select(*_columns(CUSTOMER, CustomerRecord))
    .where(CUSTOMER.c.id == _B("b_id"))
    .with_for_update()
)
_OPEN_CONVERSATION = Prepared(
    sa.select(*_columns(CONVERSATION, ConversationRecord))
    .where(CONVERSATION.c.chat_key == _B("b_chat_key"), CONVERSATION.c.ended_at.is_(None))
    .order_by(CONVERSATION.c.id.desc())
    .limit(1)
    .with_for_update()
)
_PREVIOUS_CONVERSATION = Prepared(
    sa.select(*_columns(CONVERSATION, ConversationRecord))
    .where(CONVERSATION.c.chat_key == _B("b_chat_key"), CONVERSATION.c.ended_at.is_not(None))
    .order_by(CONVERSATION.c.ended_at.desc(), CONVERSATION.c.id.desc())
    .limit(1)
)
_OPEN_TICKET = Prepared(
    # By chat key, not conversation id: it then needs no earlier result (PostgreSQL
    # sends the turn's reads in one round trip).
    sa.select(*_columns(TICKET, TicketRecord)).where(
        TICKET.c.conversation_id
        == sa.select(CONVERSATION.c.id)
        .where(CONVERSATION.c.chat_key == _B("b_chat_key"), CONVERSATION.c.ended_at.is_(None))
        .scalar_subquery(),
        TICKET.c.status != CLOSED,
    )
)
_UPDATE_CUSTOMER = Prepared(sa.update(CUSTOMER).where(CUSTOMER.c.id == _B("b_id")))
_UPDATE_CONVERSATION = Prepared(sa.update(CONVERSATION).where(CONVERSATION.c.id == _B("b_id")))
_INSERT_CUSTOMER = Prepared(sa.insert(CUSTOMER))
_INSERT_CONVERSATION = Prepared(sa.insert(CONVERSATION).returning(CONVERSATION.c.id))
_INSERT_TRANSCRIPT = Prepared(sa.insert(TRANSCRIPT))
_INSERT_INBOUND = Prepared(sa.insert(INBOUND))
_INSERT_OUTBOX = Prepared(sa.insert(OUTBOX))
_RECENT_ENTRIES = Prepared(
    sa.select(*_columns(TRANSCRIPT, TranscriptEntry))
    .where(TRANSCRIPT.c.conversation_id == _B("b_conversation_id"))
    .order_by(TRANSCRIPT.c.id.desc())
    .limit(_B("b_limit"))
)
_RATING_OF = sa.select(RATING.c.id).where(RATING.c.conversation_id == _B("b_conversation_id"))


@dataclass(slots=True)
class LoadedTurn:
    """What a turn starts from (see :meth:`storage.store.Store.turn`)."""

    customer: CustomerRecord
    conversation: ConversationRecord
    previous: ConversationRecord | None
    ticket: TicketRecord | None
    seen: frozenset[str]
    """The turn's update ids that were recorded before (redeliveries)."""


def load_turn(
    connection: Connection, chat_key: str, channel: str, user_id: str, update_ids: Sequence[str]
) -> LoadedTurn:
    """Lock the chat, then load (or create) its customer and open conversation, and find
    which of ``update_ids`` were handled before.

    The reads go together (one round trip on PostgreSQL, where the advisory lock goes
    first in the same batch); only a new customer or conversation costs more."""
    customer_id = f"{channel}:{user_id}"
    chat = {"b_chat_key": chat_key}
    calls: list[tuple[Prepared, dict[str, Any]]] = [
        (_CUSTOMER, {"b_id": customer_id}),  # FOR UPDATE on PostgreSQL
        (_OPEN_CONVERSATION, chat),
        (_PREVIOUS_CONVERSATION, chat),
        (_OPEN_TICKET, chat),
    ]
    calls[:0] = [(_SEEN, {"b_channel": channel, "b_update_id": u}) for u in update_ids]
    if connection.dialect.name == "postgresql":
        # Transaction-scoped: released by commit or rollback, even of a crashed worker.
        calls.insert(0, (_ADVISORY_LOCK, {"key": chat_key}))
    rows = first_rows(connection, calls)
    if connection.dialect.name == "postgresql":
        rows.pop(0)
    seen = frozenset(u for u, row in zip(update_ids, rows, strict=False) if row is not None)
    del rows[: len(update_ids)]
    customer_row, open_row, previous, ticket = rows
    if customer_row is not None:
        customer = CustomerRecord(*customer_row)  # fresh values (JSON decoded just now)
    else:
        customer = _create_customer(connection, customer_id, channel, user_id)
    if open_row is not None:
        conversation = ConversationRecord(*open_row)
    else:
        conversation = _create_conversation(connection, chat_key, customer.id)
    return LoadedTurn(
        customer=customer,
        conversation=conversation,
        previous=None if previous is None else ConversationRecord(*previous),
        ticket=None if ticket is None else TicketRecord(*ticket),
        seen=seen,
    )


def _create_customer(
    connection: Connection, customer_id: str, channel: str, user_id: str
) -> CustomerRecord:
    now = utcnow()
    customer = CustomerRecord(
        id=customer_id, channel=channel, user_id=user_id, created_at=now, last_seen_at=now
    )
    _INSERT_CUSTOMER.run(
        connection,
        {
            "id": customer_id,
            "channel": channel,
            "user_id": user_id,
            "profile": {},
            "created_at": now,
            "last_seen_at": now,
        },
    )
    return customer


def _create_conversation(
    connection: Connection, chat_key: str, customer_id: str
) -> ConversationRecord:
    now = utcnow()
    values: dict[str, Any] = {
        "chat_key": chat_key,
        "customer_id": customer_id,
        "status": "new",
        "state": {},
        "started_at": now,
        "updated_at": now,
    }
    inserted = _INSERT_CONVERSATION.run(connection, values).fetchone()
    return ConversationRecord(id=row_id(inserted[0]), **values)


def write_turn(
    connection: Connection,
    customer: CustomerRecord,
    conversation: ConversationRecord,
    entries: Sequence[TranscriptEntry],
    outgoing: Sequence[OutboxMessage],
    updates: tuple[str, Sequence[str]],
) -> None:
    """Write the turn's records back, then its transcript entries and outbox messages in
    order, and ``updates`` (channel, update ids) as handled. The caller commits.

    Nothing here reads a result, so on PostgreSQL the writes go in one round trip."""
    with pipelined(connection):
        _write_turn(connection, customer, conversation, entries, outgoing, updates)


def _write_turn(
    connection: Connection,
    customer: CustomerRecord,
    conversation: ConversationRecord,
    entries: Sequence[TranscriptEntry],
    outgoing: Sequence[OutboxMessage],
    updates: tuple[str, Sequence[str]],
) -> None:
    _UPDATE_CUSTOMER.run(
        connection,
        {
            "b_id": customer.id,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "language": customer.language,
            "persona": customer.persona,
            "profile": customer.profile,
            "last_seen_at": customer.last_seen_at,
            "last_conversation_id": conversation.id,
        },
    )
    _UPDATE_CONVERSATION.run(
        connection,
        {
            "b_id": conversation.id,
            "status": conversation.status,
            "flow_id": conversation.flow_id,
            "flow_version": conversation.flow_version,
            "step_id": conversation.step_id,
            "state": conversation.state,
            "updated_at": conversation.updated_at,
            "ended_at": conversation.ended_at,
            "outcome": conversation.outcome,
        },
    )
    if entries:
        _INSERT_TRANSCRIPT.many(connection, [entry_values(conversation.id, e) for e in entries])
    channel, update_ids = updates
    if update_ids:
        received_at = utcnow()
        _INSERT_INBOUND.many(
            connection,
            [
                {
                    "channel": channel,
                    "update_id": update_id,
                    "conversation_id": conversation.id,
                    "received_at": received_at,
                }
                for update_id in update_ids
            ],
        )
    if outgoing:
        now = utcnow()
        rows = [
            {
                "channel": m.channel,
                "chat_id": m.chat_id,
                "chat_key": f"{m.channel}:{m.chat_id}",
                "conversation_id": conversation.id,
                "kind": m.kind,
                "payload": m.payload,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            }
            for m in outgoing
        ]
        _INSERT_OUTBOX.many(connection, rows)


def recent_entries(
    connection: Connection, conversation_id: int, limit: int
) -> list[TranscriptEntry]:
    """The last ``limit`` entries of the conversation, in write order."""
    rows = _RECENT_ENTRIES.all(connection, {"b_conversation_id": conversation_id, "b_limit": limit})
    return [TranscriptEntry(*row) for row in reversed(rows)]


def _inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    return row_id(None if key is None else key[0])


def entry_values(conversation_id: int, entry: TranscriptEntry) -> dict[str, Any]:
    """The transcript row of ``entry``."""
    return {
        "conversation_id": conversation_id,
        "direction": entry.direction,
        "kind": entry.kind,
        "text": entry.text,
        "data": entry.data,
        "created_at": entry.created_at,
    }


def open_ticket(
    connection: Connection,
    conversation: ConversationRecord,
    open_ticket_id: int | None,
    queue: str,
    reason: str,
    flow_id: str | None,
    step_id: str | None,
) -> tuple[TicketRecord, QueueStatus]:
    """Open a ticket for the conversation, or return ``open_ticket_id`` (asking again
    never makes a second), with its place in the queue."""
    if open_ticket_id is None:
        result = connection.execute(
            sa.insert(TICKET).values(
                conversation_id=conversation.id,
                customer_id=conversation.customer_id,
                chat_key=conversation.chat_key,
                queue=queue,
                status=QUEUED,
                reason=reason,
                flow_id=flow_id,
                step_id=step_id,
                version=0,
                desk_refs={},
                created_at=utcnow(),
            )
        )
        open_ticket_id = _inserted_id(result)
    query = sa.select(TICKET).where(TICKET.c.id == open_ticket_id)
    ticket = ticket_record(connection.execute(query).one())
    return ticket, queue_status(connection, ticket)


def cancel_ticket(connection: Connection, ticket_id: int) -> TicketRecord:
    """Close the ticket because the customer withdrew the request."""
    connection.execute(
        sa.update(TICKET)
        .where(TICKET.c.id == ticket_id)
        .values(
            status=CLOSED,
            closed_at=utcnow(),
            resolution="cancelled",
            version=TICKET.c.version + 1,
        )
    )
    return ticket_record(
        connection.execute(sa.select(TICKET).where(TICKET.c.id == ticket_id)).one()
    )


def record_rating(
    connection: Connection,
    customer: CustomerRecord,
    conversation: ConversationRecord,
    score: int | None,
    comment: str | None,
) -> None:
    """Store the conversation's rating (score first, the comment later), attributed to
    the persona, channel, flow and step, and the agent/queue of its last ticket."""
    rated = connection.execute(_RATING_OF, {"b_conversation_id": conversation.id}).first()
    if rated is not None:
        if comment is not None:
            connection.execute(
                sa.update(RATING).where(RATING.c.id == rated.id).values(comment=comment)
            )
        return
    if score is None:
        return  # a comment without a score: nothing to attach it to
    ticket = connection.execute(
        sa.select(TICKET)
        .where(TICKET.c.conversation_id == conversation.id)
        .order_by(TICKET.c.id.desc())
        .limit(1)
    ).first()
    connection.execute(
        sa.insert(RATING).values(
            conversation_id=conversation.id,
            customer_id=customer.id,
            channel=customer.channel,
            persona=customer.persona,
            # After a person closed, the flow that escalated is the ticket's.
            flow_id=conversation.flow_id or (ticket.flow_id if ticket else None),
            step_id=conversation.step_id or (ticket.step_id if ticket else None),
            agent_id=ticket.owner_id if ticket else None,
            queue=ticket.queue if ticket else None,
            resolution=ticket.resolution if ticket else None,
            score=score,
            comment=comment,
            created_at=utcnow(),
        )
    )


def end_if_idle(
    connection: Connection,
    conversation_id: int,
    before: datetime,
    statuses: tuple[str, ...],
    outcome: str,
    entry: TranscriptEntry,
) -> bool:
    """End the conversation if it is still open, in ``statuses`` and idle since
    ``before``, recording ``entry``; False if a turn got there first."""
    query = sa.select(CONVERSATION).where(CONVERSATION.c.id == conversation_id)
    row = connection.execute(query).first()
    if row is None:
        return False
    if connection.dialect.name == "postgresql":
        # The chat's turn lock: never interleave with a customer's turn. Then re-read.
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": row.chat_key},
        )
        row = connection.execute(query).one()
    idle = row.updated_at < before and row.status in statuses
    if row.ended_at is not None or not idle:
        return False
    now = utcnow()
    connection.execute(
        sa.update(CONVERSATION)
        .where(CONVERSATION.c.id == conversation_id)
        .values(status="closed", outcome=outcome, ended_at=now, updated_at=now)
    )
    connection.execute(sa.insert(TRANSCRIPT).values(**entry_values(conversation_id, entry)))
    return True


def mark_unreachable(connection: Connection, chat_key: str) -> None:
    """Note on the chat's customer that the platform refuses delivery."""
    customer_id = connection.execute(
        sa.select(CONVERSATION.c.customer_id)
        .where(CONVERSATION.c.chat_key == chat_key)
        .order_by(CONVERSATION.c.id.desc())
        .limit(1)
    ).scalar()
    if customer_id is None:
        return
    query = sa.select(CUSTOMER.c.profile).where(CUSTOMER.c.id == customer_id)
    profile = connection.execute(query).scalar()
    if profile is None:
        return
    connection.execute(
        sa.update(CUSTOMER)
        .where(CUSTOMER.c.id == customer_id)
        .values(profile={**profile, "unreachable_since": utcnow().isoformat()})
    )
