"""Data-subject rights: give a customer everything stored about them, or forget them.

*Export* reads one consistent snapshot of every row that belongs to the customer.
*Forget* removes what identifies them or what they said, in one write transaction, and
keeps the anonymous facts reports are built on (how many conversations, which flow and
step, how they ended, the persona, the transcript's flow/step events). The platform
user id is personal data too, and it is part of ``customer.id`` and of
``conversation.chat_key``/``customer_id``, so those become a random pseudonym: nothing
left can be linked back to the person, and when they write again they are a brand-new
customer.

Every table that stores personal data must be handled here; a new one gets a line in
:func:`_erase` and in :func:`export_customer`.

Files: the database holds only *references* to files customers and agents sent (a
``{kind, channel, file_id, …}`` object in transcript data, slots and outbox payloads),
never their bytes. Export lists them under ``files`` (where each is stored); forget
deletes them with the rows that hold them and counts them. Copies the platforms keep (the
customer's own chat, the desk thread a file was relayed to) are outside this database,
like the relayed texts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.records import utcnow
from storage.reporting import REPORT_EVENT_KINDS
from storage.sql import SqlStore
from storage.tables import metadata

FORGOTTEN_PREFIX = "forgotten:"
"""Pseudonymous customer ids and chat keys start with this."""

CLOSED = "closed"
"""Status and outcome given to conversations still open when their customer is forgotten."""

_CUSTOMER = metadata.tables["customer"]
_CONVERSATION = metadata.tables["conversation"]
_TRANSCRIPT = metadata.tables["transcript_entry"]
_INBOUND = metadata.tables["inbound_update"]
_OUTBOX = metadata.tables["outbox"]
_RATING = metadata.tables["rating"]
_TICKET = metadata.tables["ticket"]
_INBOX = metadata.tables["inbox"]


@dataclass(frozen=True, slots=True)
class ForgetReport:
    """What :func:`forget_customer` removed and what it anonymised."""

    customer_id: str
    pseudonym: str
    """The anonymous id the customer's conversations now belong to."""
    conversations_anonymised: int
    conversations_closed: int
    """Of those, still open ones that were ended (status and outcome ``closed``)."""
    transcript_entries_deleted: int
    outbox_rows_deleted: int
    inbound_updates_deleted: int
    file_references_deleted: int = 0
    """Distinct files (per conversation) whose references went with the rows above."""


async def export_customer(store: SqlStore, customer_id: str) -> dict[str, Any] | None:
    """Everything stored about a customer as JSON-ready data; ``None`` if unknown.

    Conversations come oldest first, each with its transcript (write order), the outbox
    rows it queued and the platform update ids it handled. Datetimes are ISO 8601.
    """
    read, _ = store.engines
    if read.dialect.name == "postgresql":
        # One snapshot for all the queries (SQLite's read transaction already is one).
        read = read.execution_options(isolation_level="REPEATABLE READ")
    async with read.begin() as conn:
        customer = await _one(conn, sa.select(_CUSTOMER).where(_CUSTOMER.c.id == customer_id))
        if customer is None:
            return None
        conversations = await _all(conn, _of_customer(_CONVERSATION, customer_id))
        transcripts = await _by_conversation(conn, _TRANSCRIPT, customer_id)
        outbox = await _by_conversation(conn, _OUTBOX, customer_id)
        inbound = await _by_conversation(conn, _INBOUND, customer_id)
        ratings = await _by_conversation(conn, _RATING, customer_id)
        tickets = await _by_conversation(conn, _TICKET, customer_id)
    return {
        "exported_at": utcnow().isoformat(),
        "customer": customer,
        "files": _files(conversations, transcripts, outbox),
        "conversations": [
            {
                **conversation,
                "transcript": transcripts[conversation["id"]],
                "outbox": outbox[conversation["id"]],
                "inbound_updates": inbound[conversation["id"]],
                "ratings": ratings[conversation["id"]],
                "tickets": tickets[conversation["id"]],
            }
            for conversation in conversations
        ],
    }


async def forget_customer(store: SqlStore, customer_id: str) -> ForgetReport | None:
    """Erase a customer's personal data, keep anonymous facts; ``None`` if unknown.

    One write transaction: a crash leaves either everything or nothing forgotten. On
    PostgreSQL the customer's chats are locked like a turn locks them, so a turn running
    at the same time either finishes first (and is forgotten too) or starts afterwards
    as a new customer.
    """
    _, write = store.engines
    async with write.begin() as conn:
        if write.dialect.name == "postgresql":
            await _lock_chats(conn, customer_id)
        locked = sa.select(_CUSTOMER).where(_CUSTOMER.c.id == customer_id).with_for_update()
        customer = (await conn.execute(locked)).mappings().first()
        if customer is None:
            return None
        return await _erase(conn, customer, f"{FORGOTTEN_PREFIX}{uuid.uuid4().hex}")


async def _erase(conn: AsyncConnection, customer: sa.RowMapping, pseudonym: str) -> ForgetReport:
    customer_id: str = customer["id"]
    owned = _of_customer(_CONVERSATION, customer_id).with_only_columns(_CONVERSATION.c.id)
    files = _files(
        await _all(conn, _of_customer(_CONVERSATION, customer_id)),
        await _by_conversation(conn, _TRANSCRIPT, customer_id),
        await _by_conversation(conn, _OUTBOX, customer_id),
    )
    # What they said goes; the anonymous step/flow events the reports count stay.
    said = sa.not_(
        sa.and_(_TRANSCRIPT.c.direction == "event", _TRANSCRIPT.c.kind.in_(REPORT_EVENT_KINDS))
    )
    entries = await _delete(
        conn, _TRANSCRIPT, sa.and_(_TRANSCRIPT.c.conversation_id.in_(owned), said)
    )
    outbox = await _delete(conn, _OUTBOX, _OUTBOX.c.conversation_id.in_(owned))
    inbound = await _delete(conn, _INBOUND, _INBOUND.c.conversation_id.in_(owned))
    # Messages kept while their turn ran (storage.inbox): gone with the rest of their words.
    chats = _of_customer(_CONVERSATION, customer_id).with_only_columns(_CONVERSATION.c.chat_key)
    await _delete(conn, _INBOX, _INBOX.c.chat_key.in_(chats))
    # Ratings keep the score and its attribution (reports); the comment is personal text.
    await conn.execute(
        sa.update(_RATING)
        .where(_RATING.c.conversation_id.in_(owned))
        .values(comment=None, customer_id=pseudonym)
    )
    # Tickets keep queue, timings and resolution; who and where become the pseudonym.
    await conn.execute(
        sa.update(_TICKET)
        .where(_TICKET.c.conversation_id.in_(owned))
        .values(customer_id=pseudonym, chat_key=pseudonym, desk_refs={})
    )

    await conn.execute(sa.insert(_CUSTOMER).values(_anonymous_customer(customer, pseudonym)))
    closed = await _close_open_conversations(conn, customer_id)
    anonymised = (
        await conn.execute(
            sa.update(_CONVERSATION)
            .where(_CONVERSATION.c.customer_id == customer_id)
            # state holds the slots (order numbers, emails, ...): cleared. The status,
            # outcome, flow/step/version and timestamps columns are kept for reports.
            .values(customer_id=pseudonym, chat_key=pseudonym, state={})
        )
    ).rowcount
    await _delete(conn, _CUSTOMER, _CUSTOMER.c.id == customer_id)
    return ForgetReport(
        customer_id=customer_id,
        pseudonym=pseudonym,
        conversations_anonymised=anonymised,
        conversations_closed=closed,
        transcript_entries_deleted=entries,
        outbox_rows_deleted=outbox,
        inbound_updates_deleted=inbound,
        file_references_deleted=len(files),
    )


def _anonymous_customer(customer: sa.RowMapping, pseudonym: str) -> dict[str, Any]:
    """The customer row minus everything personal; channel and persona stay for reports."""
    return {
        **customer,
        "id": pseudonym,
        "user_id": pseudonym,
        "first_name": None,
        "last_name": None,
        "language": None,
        "profile": {},
    }


async def _close_open_conversations(conn: AsyncConnection, customer_id: str) -> int:
    """End open conversations: nobody can ever continue them under a pseudonymous chat.

    Done before the chat keys change, since at most one open conversation may share a
    chat key and the customer may have had several chats. Flow and step stay, so reports
    still see where the conversation stopped.
    """
    statement = (
        sa.update(_CONVERSATION)
        .where(_CONVERSATION.c.customer_id == customer_id, _CONVERSATION.c.ended_at.is_(None))
        .values(status=CLOSED, outcome=CLOSED, ended_at=utcnow())
    )
    return (await conn.execute(statement)).rowcount


def _files(
    conversations: list[dict[str, Any]],
    transcripts: dict[int, list[dict[str, Any]]],
    outbox: dict[int, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Every file reference the customer's rows hold: one per file and conversation,
    with where it is stored (``transcript``, ``slots``, ``outbox``)."""
    found: dict[tuple[int, str, str], dict[str, Any]] = {}
    for conversation in conversations:
        cid = conversation["id"]
        places = [
            ("transcript", [e["data"] for e in transcripts.get(cid, [])]),
            ("slots", [(conversation["state"] or {}).get("slots")]),
            ("outbox", [o["payload"] for o in outbox.get(cid, [])]),
        ]
        for place, values in places:
            for ref in (r for value in values for r in _file_refs(value)):
                key = (cid, str(ref["channel"]), str(ref["file_id"]))
                entry = found.setdefault(key, {**ref, "conversation_id": cid, "stored_in": []})
                if place not in entry["stored_in"]:
                    entry["stored_in"].append(place)
    return list(found.values())


def _file_refs(value: Any) -> Iterator[dict[str, Any]]:
    """File references (objects with ``kind``, ``channel`` and ``file_id``) in JSON."""
    if isinstance(value, dict):
        if all(isinstance(value.get(k), str) for k in ("kind", "channel", "file_id")):
            yield value
            return
        for item in value.values():
            yield from _file_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _file_refs(item)


async def _lock_chats(conn: AsyncConnection, customer_id: str) -> None:
    """Take the advisory locks turns take (see ``SqlStore.turn``), in a fixed order."""
    chats = sa.select(_CONVERSATION.c.chat_key).where(_CONVERSATION.c.customer_id == customer_id)
    for chat_key in sorted(set((await conn.execute(chats)).scalars())):
        await conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": chat_key},
        )


async def _delete(conn: AsyncConnection, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    return (await conn.execute(sa.delete(table).where(where))).rowcount


def _of_customer(conversation: sa.Table, customer_id: str) -> sa.Select[Any]:
    return (
        sa.select(conversation)
        .where(conversation.c.customer_id == customer_id)
        .order_by(conversation.c.id)
    )


async def _by_conversation(
    conn: AsyncConnection, table: sa.Table, customer_id: str
) -> defaultdict[int, list[dict[str, Any]]]:
    """Rows of ``table`` that belong to the customer's conversations, grouped by them."""
    owned = _of_customer(_CONVERSATION, customer_id).with_only_columns(_CONVERSATION.c.id)
    query = sa.select(table).where(table.c.conversation_id.in_(owned))
    # Tables with an id sort in write order; inbound_update sorts by arrival.
    order = table.c.id if "id" in table.c else table.c.received_at
    grouped: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in await _all(conn, query.order_by(order)):
        grouped[row["conversation_id"]].append(row)
    return grouped


async def _one(conn: AsyncConnection, query: sa.Select[Any]) -> dict[str, Any] | None:
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _jsonable_row(row)


async def _all(conn: AsyncConnection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [_jsonable_row(row) for row in (await conn.execute(query)).mappings()]


def _jsonable_row(row: sa.RowMapping) -> dict[str, Any]:
    return {str(key): _jsonable(value) for key, value in row.items()}


def _jsonable(value: Any) -> Any:
    """Datetimes become ISO 8601 strings; JSON columns are already plain data."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value
