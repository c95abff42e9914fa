"""Every hot-path query of the store is answered from an index, not a table scan.

A missing index does not show in tests with ten rows; it shows in production as turns
that get slower with every stored conversation. Timings would be flaky, so this checks
the plan instead: the store runs its real operations on SQLite while every statement it
sends is captured, then ``EXPLAIN QUERY PLAN`` of each must not contain a full
``SCAN <table>`` (a scan *using an index* is fine) nor a temporary B-tree for sorting
(the order must come from an index too: a chat's rows can be many). The plans come from
SQLite's planner without statistics (no ``ANALYZE``), so they are deterministic.

The cases name the queries that run on every turn or every sender poll; the last test
checks every statement of a whole session, so a new query added later is covered too.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from storage.records import OutboxMessage, TranscriptEntry
from storage.sql import SqlStore, open_store


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    parameters: Any

    @property
    def flat(self) -> str:
        return " ".join(self.sql.split())


@contextmanager
def capture() -> Iterator[list[Statement]]:
    """Record every statement any engine sends while the block runs."""
    statements: list[Statement] = []

    def record(
        _conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        # executemany (rows recorded together, e.g. "sent"): the plan of one row's
        statements.append(Statement(sql, parameters[0] if many else parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def plan_of(path: Path, statement: Statement) -> list[str]:
    """The ``detail`` lines of SQLite's query plan for ``statement``."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {statement.sql}", statement.parameters)
        return [str(row[3]) for row in rows.fetchall()]


def unindexed(plan: list[str]) -> list[str]:
    """Plan lines that read a whole table or sort rows outside an index."""
    full_scan = re.compile(r"^SCAN \w+$")  # "SCAN t USING [COVERING] INDEX i" is fine
    return [line for line in plan if full_scan.match(line) or "TEMP B-TREE" in line]


async def seed(store: SqlStore) -> None:
    """A chat with an ended and an open conversation, a transcript and pending outbox rows."""
    async with store.turn("tg:c1", "tg", "u1", "1") as turn:
        turn.append(TranscriptEntry("in", "text", "hi", {"update_id": "1"}))
        turn.enqueue(OutboxMessage("tg", "c1", {"text": "hello"}))
        turn.conversation.ended_at = datetime.now(UTC)
    async with store.turn("tg:c1", "tg", "u1", "2") as turn:
        turn.append(TranscriptEntry("in", "text", "again", {"update_id": "2"}))
        turn.enqueue(OutboxMessage("tg", "c1", {"text": "welcome back"}))


async def existing_chat_turn(store: SqlStore) -> None:
    async with store.turn("tg:c1", "tg", "u1", "3") as turn:
        turn.append(TranscriptEntry("in", "text", "more"))


async def new_chat_turn(store: SqlStore) -> None:
    async with store.turn("tg:new", "tg", "u9", "4") as turn:
        turn.append(TranscriptEntry("in", "text", "first"))


async def sender_cycle(store: SqlStore) -> None:
    """What a delivery loop does: claim, then mark each row sent, retried or failed."""
    first, second = await store.outbox.claim("tg", "worker-1")
    await store.outbox.mark_sent(first.id, "m1")
    await store.outbox.release([second.id])
    (second,) = await store.outbox.claim("tg", "worker-1")
    await store.outbox.mark_retry(second.id, "timeout", 0)
    (second,) = await store.outbox.claim("tg", "worker-1")
    await store.outbox.mark_failed(second.id, "blocked by user")
    await store.outbox.counts()


@dataclass(frozen=True, slots=True)
class Case:
    """A hot-path query: the operation that runs it and how to recognise its SQL."""

    operation: Callable[[SqlStore], Awaitable[object]]
    table: str
    where: tuple[str, ...]
    """Fragments of the WHERE clause (as SQLAlchemy renders it) naming the query."""

    def matches(self, statement: Statement) -> bool:
        sql = statement.flat
        return (
            re.search(rf"\b(FROM|UPDATE) {self.table}\b", sql) is not None
            and " WHERE " in sql
            and all(fragment in sql.split(" WHERE ", 1)[1] for fragment in self.where)
        )


CASES = {
    "customer by id (turn)": Case(existing_chat_turn, "customer", ("customer.id = ?",)),
    "customer by id (read)": Case(
        lambda s: s.get_customer("tg:u1"), "customer", ("customer.id = ?",)
    ),
    "open conversation by chat_key": Case(
        existing_chat_turn,
        "conversation",
        ("conversation.chat_key = ?", "conversation.ended_at IS NULL"),
    ),
    "latest ended conversation by chat_key": Case(
        existing_chat_turn,
        "conversation",
        ("conversation.chat_key = ?", "conversation.ended_at IS NOT NULL"),
    ),
    "new chat: no open conversation yet": Case(
        new_chat_turn,
        "conversation",
        ("conversation.chat_key = ?", "conversation.ended_at IS NULL"),
    ),
    "inbound_update by (channel, update_id)": Case(
        existing_chat_turn,
        "inbound_update",
        ("inbound_update.channel = ?", "inbound_update.update_id = ?"),
    ),
    "conversation write-back by id": Case(
        existing_chat_turn, "conversation", ("conversation.id = ?",)
    ),
    "transcript by conversation_id": Case(
        lambda s: s.transcript(2), "transcript_entry", ("transcript_entry.conversation_id = ?",)
    ),
    "recent transcript by conversation_id": Case(
        lambda s: s.recent_transcript(2, 5),
        "transcript_entry",
        ("transcript_entry.conversation_id = ?",),
    ),
    "conversations of a customer": Case(
        lambda s: s.conversations_of("tg:u1"), "conversation", ("conversation.customer_id = ?",)
    ),
    "conversation by id": Case(
        lambda s: s.get_conversation(1), "conversation", ("conversation.id = ?",)
    ),
    "outbox claim by status and channel, oldest first": Case(
        sender_cycle, "outbox", ("outbox.status = ?", "outbox.channel = ?")
    ),
    "outbox lease/mark by id": Case(sender_cycle, "outbox", ("outbox.id = ?",)),
}


@pytest.fixture
async def seeded(tmp_path: Path) -> tuple[SqlStore, Path]:
    path = tmp_path / "plans.db"
    store = await open_store(f"sqlite+aiosqlite:///{path}")
    await seed(store)
    return store, path


@pytest.mark.parametrize("name", list(CASES))
async def test_hot_path_query_uses_an_index(name: str, seeded: tuple[SqlStore, Path]) -> None:
    store, path = seeded
    case = CASES[name]
    try:
        with capture() as statements:
            await case.operation(store)
    finally:
        await store.close()
    matching = [s for s in statements if case.matches(s)]
    assert matching, f"no statement on {case.table} WHERE {case.where}; ran:\n" + "\n".join(
        s.flat for s in statements
    )
    for statement in matching:
        plan = plan_of(path, statement)
        assert plan, statement.flat
        assert not unindexed(plan), f"{name}: {statement.flat}\nplan: {plan}"


async def test_every_statement_of_a_session_uses_an_index(
    seeded: tuple[SqlStore, Path],
) -> None:
    """Reads, turns on new and existing chats and a sender cycle: no query scans a table."""
    store, path = seeded
    try:
        with capture() as statements:
            for operation in dict.fromkeys(case.operation for case in CASES.values()):
                await operation(store)
    finally:
        await store.close()
    checked = 0
    for statement in statements:
        verb = statement.flat.split(" ", 1)[0].upper()
        if verb not in ("SELECT", "UPDATE", "DELETE"):
            continue
        plan = plan_of(path, statement)
        assert not unindexed(plan), f"{statement.flat}\nplan: {plan}"
        checked += 1
    assert checked >= len(CASES)
