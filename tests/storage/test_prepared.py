"""Statements run on the DB-API cursor (``storage/prepared.py``) must behave exactly as
SQLAlchemy's own execution: the same values back, the same errors, the same events —
on SQLite and on PostgreSQL (where a turn's reads and writes go in pipeline mode)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from storage import turns
from storage.prepared import Prepared, first_rows, pipelined
from storage.records import TranscriptEntry
from storage.sql import SqlStore


async def _a_turn(store: SqlStore, chat: str, update_id: str) -> None:
    async with store.turn(f"t:{chat}", "t", chat, update_id) as turn:
        turn.conversation.state = {"slots": {"order": "WS-10001"}, "none": None}
        turn.customer.profile = {"unreachable_since": None, "tags": ["vip"]}
        turn.append(TranscriptEntry("in", "text", "where is my order", data={"n": [1, 2]}))


async def test_rows_come_back_as_sqlalchemy_gives_them(store: SqlStore) -> None:
    await _a_turn(store, "ann", "u1")
    await _a_turn(store, "ann", "u2")
    statements: list[tuple[sa.Select[Any], dict[str, Any]]] = [
        (sa.select(turns.CUSTOMER), {}),
        (sa.select(turns.CONVERSATION), {}),
        (sa.select(turns.TRANSCRIPT).order_by(turns.TRANSCRIPT.c.id), {}),
        (sa.select(turns.OUTBOX), {}),
        (
            sa.select(turns.INBOUND).where(turns.INBOUND.c.update_id == sa.bindparam("u")),
            {"u": "u2"},
        ),
    ]

    def both(connection: Connection) -> list[tuple[object, object]]:
        return [
            (
                Prepared(statement).all(connection, params),
                [tuple(row) for row in connection.execute(statement, params)],
            )
            for statement, params in statements
        ]

    for prepared_rows, sqlalchemy_rows in await store._writer.once(both):
        assert prepared_rows == sqlalchemy_rows
    conversation = (await store.conversations_of("t:ann"))[0]
    assert conversation.state == {"slots": {"order": "WS-10001"}, "none": None}
    assert conversation.updated_at.utcoffset() is not None  # aware, as everywhere else


async def test_the_reads_of_a_turn_batch_in_order(store: SqlStore) -> None:
    await _a_turn(store, "bob", "u1")

    def read(connection: Connection) -> list[tuple[Any, ...] | None]:
        return first_rows(
            connection,
            [
                (turns._SEEN, {"b_channel": "t", "b_update_id": "u1"}),
                (turns._SEEN, {"b_channel": "t", "b_update_id": "nope"}),
                (turns._CUSTOMER, {"b_id": "t:bob"}),
            ],
        )

    seen, unseen, customer = await store._writer.once(read)
    assert seen == ("u1",)
    assert unseen is None
    assert customer is not None and customer[0] == "t:bob"


@pytest.mark.parametrize("batched", [False, True], ids=["plain", "pipelined"])
async def test_a_driver_error_is_raised_as_sqlalchemy_would(store: SqlStore, batched: bool) -> None:
    await _a_turn(store, "cid", "u1")

    def duplicate(connection: Connection) -> None:
        row = {"channel": "t", "update_id": "u1", "received_at": turns.utcnow()}
        if batched:
            with pipelined(connection):
                turns._INSERT_INBOUND.run(connection, row)
        else:
            turns._INSERT_INBOUND.run(connection, row)

    with pytest.raises(sa.exc.IntegrityError):
        await store._writer.once(duplicate)
    # The failed transaction was rolled back; the store goes on.
    await _a_turn(store, "cid", "u2")
    assert [e.text for e in await store.transcript(1)] == ["where is my order"] * 2


async def test_statement_listeners_still_see_every_statement(store: SqlStore) -> None:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        await _a_turn(store, "dee", "u1")
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert any(sql.startswith("INSERT INTO transcript_entry") for sql in seen)
    assert any(sql.startswith("UPDATE conversation SET") for sql in seen)
    assert any(sql.startswith("SELECT inbound_update.update_id") for sql in seen)
