"""Retention (``vacuum``, ``prune_inbound``) on data written by the real conversation manager.

Time is simulated by ageing rows in SQL and passing ``now=``: each test knows exactly
which rows are past their window, and checks that exactly those go.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from bot.cli.db import vacuum_command
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.messages import Inbound, InboundKind
from storage.maintenance import BATCH_SIZE, prune_inbound, vacuum
from storage.records import TranscriptEntry, utcnow
from storage.sql import SqlStore, open_store
from storage.tables import metadata
from tests.conftest import Customer, example_actions

INBOUND = metadata.tables["inbound_update"]
CONVERSATION = metadata.tables["conversation"]
TRANSCRIPT = metadata.tables["transcript_entry"]
OUTBOX = metadata.tables["outbox"]

DAY = timedelta(days=1)
RETENTION = {
    "inbound_retention": timedelta(hours=72),
    "transcript_retention": 30 * DAY,
    "outbox_retention": 30 * DAY,
}


async def say(customer: Customer, text: str, update_id: str) -> str:
    inbound = Inbound(customer.key, customer.sender, InboundKind.TEXT, text, update_id=update_id)
    return await customer.send(inbound)


async def resolve_order_question(customer: Customer, prefix: str) -> None:
    await say(customer, "where is my order", f"{prefix}1")
    await customer.tap("Quick answers")
    await say(customer, "WS-10001", f"{prefix}2")
    await customer.tap("Thanks, that's all")
    await customer.tap("😀 5")
    await customer.tap("Skip")  # rated: the conversation ends


@dataclass(frozen=True, slots=True)
class Chats:
    """Conversation ids: Ann's old resolved one and her open one, Bob's recent resolved
    one, Carl's ancient but still open one."""

    ann_old: int
    ann_open: int
    bob_recent: int
    carl_open: int


async def populate(manager: ConversationManager, store: SqlStore) -> Chats:
    ann, bob, carl = (Customer(manager, user_id=name) for name in ("ann", "bob", "carl"))
    await resolve_order_question(ann, "a")
    await say(ann, "hello", "a3")
    await resolve_order_question(bob, "b")
    await say(carl, "hello", "c1")
    ann_open, ann_old = (c.id for c in await store.conversations_of("test:ann"))
    (bob_recent,) = (c.id for c in await store.conversations_of("test:bob"))
    (carl_open,) = (c.id for c in await store.conversations_of("test:carl"))
    return Chats(ann_old, ann_open, bob_recent, carl_open)


async def update(store: SqlStore, table: sa.Table, where: Any, **values: Any) -> None:
    _, write = store.engines
    async with write.begin() as conn:
        await conn.execute(sa.update(table).where(where).values(**values))


async def column(store: SqlStore, query: sa.Select[Any]) -> list[Any]:
    read, _ = store.engines
    async with read.connect() as conn:
        return list((await conn.execute(query)).scalars())


async def entries_of(store: SqlStore, conversation_id: int) -> int:
    return len(await store.transcript(conversation_id))


@dataclass(frozen=True, slots=True)
class Aged:
    """What the ageing made deletable (and the ids that must stay)."""

    chats: Chats
    now: datetime
    old_outbox: set[int]
    kept_outbox: set[int]


async def age(store: SqlStore, chats: Chats) -> Aged:
    """Age rows so that some are just past each window and others just inside it."""
    now = utcnow()
    ended = CONVERSATION.c.id
    await update(store, CONVERSATION, ended == chats.ann_old, ended_at=now - 40 * DAY)
    await update(store, CONVERSATION, ended == chats.bob_recent, ended_at=now - 10 * DAY)
    await update(store, CONVERSATION, ended == chats.carl_open, started_at=now - 400 * DAY)
    await update(store, INBOUND, INBOUND.c.update_id.in_(["a1", "a2"]), received_at=now - 5 * DAY)

    ids = sorted(await column(store, sa.select(OUTBOX.c.id)))
    sent_old, sent_new, failed_old, failed_new, pending_ancient = (
        ids[:2],
        ids[2],
        ids[3],
        ids[4],
        ids[5],
    )
    where = OUTBOX.c.id.in_(sent_old)
    await update(store, OUTBOX, where, status="sent", sent_at=now - 40 * DAY)
    await update(store, OUTBOX, OUTBOX.c.id == sent_new, status="sent", sent_at=now - DAY)
    failed = OUTBOX.c.id == failed_old
    await update(store, OUTBOX, failed, status="failed", next_attempt_at=now - 40 * DAY)
    await update(
        store, OUTBOX, OUTBOX.c.id == failed_new, status="failed", next_attempt_at=now - DAY
    )
    ancient = now - 400 * DAY
    await update(
        store, OUTBOX, OUTBOX.c.id == pending_ancient, created_at=ancient, next_attempt_at=ancient
    )
    old = {*sent_old, failed_old}
    return Aged(chats, now, old, set(ids) - old)


@pytest.fixture
async def aged(manager: ConversationManager, store: SqlStore) -> Aged:
    return await age(store, await populate(manager, store))


@pytest.mark.parametrize("batch_size", [2, BATCH_SIZE])
async def test_vacuum_deletes_exactly_what_is_past_retention(
    aged: Aged, store: SqlStore, batch_size: int
) -> None:
    chats = aged.chats
    counts = {cid: await entries_of(store, cid) for cid in astuple(chats)}
    updates_before = set(await column(store, sa.select(INBOUND.c.update_id)))

    report = await vacuum(store, now=aged.now, batch_size=batch_size, **RETENTION)

    assert report.inbound_updates_deleted == 2
    assert set(await column(store, sa.select(INBOUND.c.update_id))) == updates_before - {
        "a1",
        "a2",
    }
    assert (report.transcript_entries_deleted, report.conversations_cleared) == (
        counts[chats.ann_old],
        1,
    )
    assert await entries_of(store, chats.ann_old) == 0
    for kept in (chats.ann_open, chats.bob_recent, chats.carl_open):
        assert await entries_of(store, kept) == counts[kept]
    assert (report.outbox_sent_deleted, report.outbox_failed_deleted) == (2, 1)
    assert set(await column(store, sa.select(OUTBOX.c.id))) == aged.kept_outbox


async def test_vacuum_keeps_the_conversation_row_for_reports_but_clears_its_state(
    aged: Aged, store: SqlStore
) -> None:
    before = await store.get_conversation(aged.chats.ann_old)
    assert before is not None and before.state["slots"]["order_number"] == "WS-10001"

    await vacuum(store, now=aged.now, **RETENTION)

    after = await store.get_conversation(aged.chats.ann_old)
    assert after is not None
    assert after.state == {}
    assert (after.status, after.outcome, after.flow_id, after.step_id, after.ended_at) == (
        before.status,
        before.outcome,
        before.flow_id,
        before.step_id,
        before.ended_at,
    )
    bob = await store.get_conversation(aged.chats.bob_recent)
    assert bob is not None and bob.state["slots"]["order_number"] == "WS-10001"


async def test_vacuum_twice_deletes_nothing_more(aged: Aged, store: SqlStore) -> None:
    await vacuum(store, now=aged.now, **RETENTION)

    again = await vacuum(store, now=aged.now, **RETENTION)

    assert (
        again.inbound_updates_deleted,
        again.transcript_entries_deleted,
        again.conversations_cleared,
        again.outbox_sent_deleted,
        again.outbox_failed_deleted,
    ) == (0, 0, 0, 0, 0)


async def test_vacuum_never_touches_open_conversations_or_pending_messages(
    aged: Aged, store: SqlStore
) -> None:
    chats = aged.chats
    open_entries = {cid: await entries_of(store, cid) for cid in (chats.ann_open, chats.carl_open)}
    pending = sa.select(OUTBOX.c.id).where(OUTBOX.c.status == "pending")
    pending_before = set(await column(store, pending))
    centuries_later = aged.now + 36_500 * DAY

    report = await vacuum(
        store,
        now=centuries_later,
        inbound_retention=timedelta(hours=1),
        transcript_retention=DAY,
        outbox_retention=DAY,
    )

    for cid, count in open_entries.items():
        assert await entries_of(store, cid) == count
        conversation = await store.get_conversation(cid)
        assert conversation is not None and conversation.state != {}
    assert set(await column(store, pending)) == pending_before
    assert await entries_of(store, chats.bob_recent) == 0
    assert await column(store, sa.select(INBOUND.c.update_id)) == []
    assert report.conversations_cleared == 2  # Ann's old one and Bob's


async def test_prune_inbound_deletes_only_ids_past_the_window(aged: Aged, store: SqlStore) -> None:
    all_ids = set(await column(store, sa.select(INBOUND.c.update_id)))

    assert await prune_inbound(store, timedelta(hours=72)) == 2
    assert await prune_inbound(store, timedelta(hours=72)) == 0

    assert set(await column(store, sa.select(INBOUND.c.update_id))) == all_ids - {"a1", "a2"}


async def test_vacuum_refuses_a_naive_now(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await vacuum(store, now=datetime(2030, 1, 1), **RETENTION)


# --- giving the space back ------------------------------------------------------------


def sqlite_file(url: str) -> Path:
    if not url.startswith("sqlite"):
        pytest.skip("reclaiming file space is SQLite's business; PostgreSQL autovacuums")
    return Path(make_url(url).database or "")


def size(path: Path) -> int:
    """Bytes in ``path`` (0 if missing: SQLite may delete an empty WAL)."""
    return path.stat().st_size if path.exists() else 0


async def write_big_ended_conversation(store: SqlStore, megabytes: int) -> None:
    async with store.turn("test:big", "test", "big") as turn:
        for _ in range(megabytes * 4):
            turn.append(TranscriptEntry("in", "text", "x" * 262_144))
        turn.conversation.status = turn.conversation.outcome = "resolved"
        turn.conversation.ended_at = utcnow()


async def test_sqlite_vacuum_shrinks_the_file_and_truncates_the_wal(
    store: SqlStore, store_url: str
) -> None:
    path = sqlite_file(store_url)
    await write_big_ended_conversation(store, megabytes=4)
    await vacuum(store, now=utcnow() - DAY, **RETENTION)  # nothing to delete yet
    size_before = size(path)

    report = await vacuum(store, now=utcnow() + 365 * DAY, **RETENTION)

    assert report.space_reclaim == "vacuum"
    assert report.bytes_freed > 3_000_000
    assert size(path) < size_before - 3_000_000
    assert size(Path(f"{path}-wal")) == 0


async def test_sqlite_small_deletes_only_checkpoint(store: SqlStore, store_url: str) -> None:
    sqlite_file(store_url)
    await write_big_ended_conversation(store, megabytes=4)
    async with store.turn("test:small", "test", "small") as turn:
        turn.append(TranscriptEntry("in", "text", "hi"))
        turn.conversation.ended_at = utcnow() - 400 * DAY

    report = await vacuum(store, now=utcnow(), **RETENTION)

    assert (report.transcript_entries_deleted, report.space_reclaim) == (1, "checkpoint")


@pytest.fixture
def incremental_store_url(store_url: str) -> Iterator[str]:
    """The test database switched to ``auto_vacuum=INCREMENTAL`` (set up like a new one)."""
    path = sqlite_file(store_url)

    async def create() -> None:
        await (await open_store(store_url)).close()

    asyncio.run(create())
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
    conn.close()
    yield store_url


def test_sqlite_incremental_auto_vacuum_is_used_when_enabled(incremental_store_url: str) -> None:
    async def main() -> None:
        store = await open_store(incremental_store_url)
        try:
            await write_big_ended_conversation(store, megabytes=2)
            report = await vacuum(store, now=utcnow() + 365 * DAY, **RETENTION)
        finally:
            await store.close()
        assert report.space_reclaim == "incremental_vacuum"
        assert report.bytes_freed > 1_500_000

    asyncio.run(main())


async def test_postgresql_space_is_left_to_autovacuum(store: SqlStore, store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    report = await vacuum(store, **RETENTION)
    assert (report.space_reclaim, report.bytes_freed) == ("autovacuum", 0)


# --- the command ----------------------------------------------------------------------


def vacuum_app() -> typer.Typer:
    app = typer.Typer()
    app.command("vacuum")(vacuum_command)
    return app


@pytest.fixture
def database(
    store_url: str, shipped_catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The configured database, populated and aged; cwd has no .env."""

    async def main() -> None:
        store = await open_store(store_url)
        try:
            runner = example_actions()
            manager = ConversationManager(store, FixedCatalog(shipped_catalog), runner)
            await age(store, await populate(manager, store))
        finally:
            await store.close()

    asyncio.run(main())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", store_url)
    return store_url


def test_cli_vacuum_uses_the_retention_settings_and_prints_the_report(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_INBOUND_RETENTION_HOURS", "72")
    monkeypatch.setenv("SUPPORTBOT_TRANSCRIPT_RETENTION_DAYS", "20")  # Ann's, not Bob's
    monkeypatch.setenv("SUPPORTBOT_OUTBOX_RETENTION_DAYS", "30")

    result = CliRunner().invoke(vacuum_app(), [])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("inbound update ids deleted:      2 (older than 72 h)")
    assert "1 conversation states cleared" in lines[1]
    assert "2 sent, 1 failed (older than 30 days)" in lines[2]
    assert lines[3].startswith("space: ")


def test_cli_vacuum_on_an_unusable_database_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", "sqlite:///:memory:")

    result = CliRunner().invoke(vacuum_app(), [])

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
