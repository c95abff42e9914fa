"""Contract of :class:`storage.store.Store`: what every backend must do.

Tests use the ``store`` fixture (see conftest), so each runs on every backend. They check
what a user of the bot would notice: nothing lost, nothing half-written, order kept.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage import CustomerRecord, Store, TranscriptEntry, mask_url, open_store
from storage.errors import UnsupportedDatabase
from storage.sql import SqlStore


class Boom(Exception):
    """Raised inside a turn to check it rolls back."""


def say(text: str, **data: object) -> TranscriptEntry:
    return TranscriptEntry(direction="in", kind="text", text=text, data=dict(data))


async def texts(store: Store, conversation_id: int) -> list[str]:
    return [e.text for e in await store.transcript(conversation_id)]


def test_sql_store_is_a_store(store: SqlStore) -> None:
    assert isinstance(store, SqlStore)
    typed: Store = store  # mypy checks the protocol; this keeps the intent visible
    assert typed is store


async def test_first_turn_creates_customer_and_conversation(store: SqlStore) -> None:
    async with store.turn("tg:chat1", "tg", "42") as turn:
        assert turn.customer.id == "tg:42"
        assert (turn.customer.channel, turn.customer.user_id) == ("tg", "42")
        assert turn.conversation.chat_key == "tg:chat1"
        assert turn.conversation.customer_id == "tg:42"
        assert turn.conversation.status == "new"
        assert turn.conversation.state == {}
        assert turn.conversation.ended_at is None
        assert turn.previous is None
        conversation_id = turn.conversation.id

    customer = await store.get_customer("tg:42")
    assert customer is not None
    assert customer.last_conversation_id == conversation_id
    conversation = await store.get_conversation(conversation_id)
    assert conversation is not None
    assert conversation.chat_key == "tg:chat1"
    assert [c.id for c in await store.conversations_of("tg:42")] == [conversation_id]


async def test_unknown_ids_are_none_or_empty(store: SqlStore) -> None:
    assert await store.get_customer("tg:nobody") is None
    assert await store.get_conversation(999) is None
    assert list(await store.conversations_of("tg:nobody")) == []
    assert list(await store.transcript(999)) == []


async def test_state_and_customer_written_in_one_turn_are_read_in_the_next(
    store: SqlStore,
) -> None:
    async with store.turn("tg:c", "tg", "1") as turn:
        turn.conversation.state["answers"] = {"order": "A-1"}  # in-place mutation
        turn.conversation.status = "in_flow"
        turn.conversation.flow_id = "refund"
        turn.conversation.flow_version = "3"
        turn.conversation.step_id = "ask_order"
        turn.customer.first_name = "Ada"
        turn.customer.language = "de"
        turn.customer.persona = "friendly"
        turn.customer.profile["vip"] = True

    async with store.turn("tg:c", "tg", "1") as turn:
        assert turn.conversation.state == {"answers": {"order": "A-1"}}
        assert turn.conversation.status == "in_flow"
        assert (turn.conversation.flow_id, turn.conversation.flow_version) == ("refund", "3")
        assert turn.conversation.step_id == "ask_order"
        assert turn.customer.first_name == "Ada"
        assert turn.customer.language == "de"
        assert turn.customer.persona == "friendly"
        assert turn.customer.profile == {"vip": True}
        turn.conversation.state["answers"]["order"] = "A-2"  # nested in-place mutation

    async with store.turn("tg:c", "tg", "1") as turn:
        assert turn.conversation.state == {"answers": {"order": "A-2"}}


async def test_updated_at_moves_forward_each_turn(store: SqlStore) -> None:
    async with store.turn("tg:c", "tg", "1") as turn:
        conversation_id = turn.conversation.id
        started_at = turn.conversation.started_at
    first = await store.get_conversation(conversation_id)
    async with store.turn("tg:c", "tg", "1"):
        pass
    second = await store.get_conversation(conversation_id)
    assert first is not None and second is not None
    assert second.updated_at >= first.updated_at >= started_at
    assert second.started_at == first.started_at


async def test_records_are_copies_not_live_rows(store: SqlStore) -> None:
    async with store.turn("tg:c", "tg", "1") as turn:
        turn.conversation.state["n"] = 1
        record = turn.conversation
    record.state["n"] = 999  # after the turn: must not reach the database
    stored = await store.get_conversation(record.id)
    assert stored is not None
    assert stored.state == {"n": 1}


async def test_transcript_keeps_write_order_across_turns(store: SqlStore) -> None:
    async with store.turn("tg:c", "tg", "1") as turn:
        conversation_id = turn.conversation.id
        turn.append(say("hello"))
        turn.append(TranscriptEntry(direction="out", kind="text", text="hi, how can I help?"))
    async with store.turn("tg:c", "tg", "1") as turn:
        turn.append(say("refund", button="refund"))
        turn.append(TranscriptEntry(direction="event", kind="flow_started", data={"flow": "r"}))
        turn.append(TranscriptEntry(direction="out", kind="text", text="order number?"))

    entries = await store.transcript(conversation_id)
    assert [e.text for e in entries] == [
        "hello",
        "hi, how can I help?",
        "refund",
        "",
        "order number?",
    ]
    assert [e.direction for e in entries] == ["in", "out", "in", "event", "out"]
    assert entries[2].data == {"button": "refund"}
    assert entries[3].kind == "flow_started"
    assert all(e.conversation_id == conversation_id for e in entries)
    ids = [e.id for e in entries if e.id is not None]
    assert len(ids) == len(entries)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_recent_transcript_returns_the_tail_in_write_order(store: SqlStore) -> None:
    async with store.turn("tg:c", "tg", "1") as turn:
        conversation_id = turn.conversation.id
        for i in range(10):
            turn.append(say(f"m{i}"))
    tail = await store.recent_transcript(conversation_id, 3)
    assert [e.text for e in tail] == ["m7", "m8", "m9"]
    assert [e.text for e in await store.recent_transcript(conversation_id, 50)] == [
        f"m{i}" for i in range(10)
    ]
    assert await store.recent_transcript(conversation_id, 0) == []


async def test_exception_in_turn_rolls_back_state_and_transcript(store: SqlStore) -> None:
    async with store.turn("tg:c", "tg", "1") as turn:
        conversation_id = turn.conversation.id
        turn.conversation.state = {"step": 1}
        turn.customer.first_name = "Ada"
        turn.append(say("one"))

    with pytest.raises(Boom):
        async with store.turn("tg:c", "tg", "1") as turn:
            turn.conversation.state = {"step": 2}
            turn.conversation.ended_at = datetime.now(UTC)
            turn.customer.first_name = "Eve"
            turn.append(say("two"))
            turn.append(say("three"))
            raise Boom

    conversation = await store.get_conversation(conversation_id)
    customer = await store.get_customer("tg:1")
    assert conversation is not None and customer is not None
    assert conversation.state == {"step": 1}
    assert conversation.ended_at is None
    assert customer.first_name == "Ada"
    assert await texts(store, conversation_id) == ["one"]

    async with store.turn("tg:c", "tg", "1") as turn:  # the chat still works afterwards
        assert turn.conversation.id == conversation_id
        assert turn.conversation.state == {"step": 1}


async def test_exception_in_first_turn_creates_nothing(store: SqlStore) -> None:
    with pytest.raises(Boom):
        async with store.turn("tg:c", "tg", "1") as turn:
            conversation_id = turn.conversation.id
            turn.append(say("hello"))
            raise Boom
    assert await store.get_customer("tg:1") is None
    assert await store.get_conversation(conversation_id) is None
    assert list(await store.transcript(conversation_id)) == []


async def test_cancelled_turn_writes_nothing_and_does_not_block_the_chat(
    store: SqlStore,
) -> None:
    inside = asyncio.Event()

    async def slow_turn() -> None:
        async with store.turn("tg:c", "tg", "1") as turn:
            turn.conversation.state = {"lost": True}
            turn.append(say("lost"))
            inside.set()
            await asyncio.sleep(30)  # e.g. a reply that times out

    task = asyncio.create_task(slow_turn())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async with asyncio.timeout(5):  # the write lock must have been released
        async with store.turn("tg:c", "tg", "1") as turn:
            assert turn.conversation.state == {}
            turn.append(say("kept"))
            conversation_id = turn.conversation.id
    assert await texts(store, conversation_id) == ["kept"]


async def test_ending_a_conversation_opens_a_new_one_next_turn(store: SqlStore) -> None:
    async with store.turn("tg:c", "tg", "1") as turn:
        first_id = turn.conversation.id
        turn.append(say("my parcel is late"))
    async with store.turn("tg:c", "tg", "1") as turn:
        assert turn.conversation.id == first_id
        assert turn.previous is None
        turn.conversation.status = "resolved"
        turn.conversation.outcome = "resolved"
        turn.conversation.ended_at = datetime.now(UTC)
        turn.append(TranscriptEntry(direction="event", kind="resolved"))

    async with store.turn("tg:c", "tg", "1") as turn:
        second_id = turn.conversation.id
        assert second_id != first_id
        assert turn.conversation.status == "new"
        assert turn.conversation.state == {}
        assert turn.conversation.ended_at is None
        assert turn.previous is not None
        assert turn.previous.id == first_id
        assert turn.previous.outcome == "resolved"
        assert turn.customer.last_conversation_id == first_id  # as of the turn's start
        turn.append(say("hello again"))

    customer = await store.get_customer("tg:1")
    assert customer is not None
    assert customer.last_conversation_id == second_id
    assert [c.id for c in await store.conversations_of("tg:1")] == [second_id, first_id]
    assert await texts(store, first_id) == ["my parcel is late", ""]
    assert await texts(store, second_id) == ["hello again"]

    # Ending the second one: `previous` is now the latest ended conversation.
    async with store.turn("tg:c", "tg", "1") as turn:
        turn.conversation.ended_at = datetime.now(UTC)
    async with store.turn("tg:c", "tg", "1") as turn:
        assert turn.previous is not None
        assert turn.previous.id == second_id
        third_id = turn.conversation.id
    assert [c.id for c in await store.conversations_of("tg:1")] == [third_id, second_id, first_id]


async def test_chats_and_customers_are_kept_apart(store: SqlStore) -> None:
    async with store.turn("tg:a", "tg", "1") as turn:
        a_id = turn.conversation.id
        turn.conversation.state = {"who": "a"}
    async with store.turn("tg:b", "tg", "2") as turn:
        assert turn.conversation.id != a_id
        assert turn.conversation.state == {}
        assert turn.customer.id == "tg:2"
    async with store.turn("wa:a", "wa", "1") as turn:  # same user id, other channel
        assert turn.customer.id == "wa:1"
        assert turn.conversation.id != a_id


async def test_data_survives_closing_and_reopening(store: SqlStore, store_url: str) -> None:
    async with store.turn("tg:c", "tg", "1") as turn:
        conversation_id = turn.conversation.id
        turn.conversation.state = {"step": "ask_order"}
        turn.customer.language = "fr"
        turn.append(say("bonjour"))
    await store.close()

    reopened = await open_store(store_url)
    try:
        customer = await reopened.get_customer("tg:1")
        assert customer is not None and customer.language == "fr"
        async with reopened.turn("tg:c", "tg", "1") as turn:
            assert turn.conversation.id == conversation_id
            assert turn.conversation.state == {"step": "ask_order"}
        assert await texts(reopened, conversation_id) == ["bonjour"]
    finally:
        await reopened.close()


async def test_concurrent_turns_on_different_chats_all_succeed(store: SqlStore) -> None:
    async def one(i: int) -> int:
        async with store.turn(f"tg:chat{i}", "tg", f"user{i}") as turn:
            await asyncio.sleep(0)  # let the other turns interleave
            turn.conversation.state = {"i": i}
            turn.append(say(f"hello from {i}"))
            return turn.conversation.id

    ids = await asyncio.gather(*(one(i) for i in range(20)))
    assert len(set(ids)) == 20
    for i, conversation_id in enumerate(ids):
        conversation = await store.get_conversation(conversation_id)
        assert conversation is not None and conversation.state == {"i": i}
        assert await texts(store, conversation_id) == [f"hello from {i}"]


async def test_concurrent_turns_on_one_chat_lose_nothing(store: SqlStore) -> None:
    async def one(i: int) -> int:
        async with store.turn("tg:busy", "tg", "1") as turn:
            count = turn.conversation.state.get("count", 0)
            await asyncio.sleep(0)  # a lost update would show here
            turn.conversation.state["count"] = count + 1
            turn.append(say(f"m{i}"))
            return turn.conversation.id

    ids = await asyncio.gather(*(one(i) for i in range(20)))
    assert len(set(ids)) == 1, "one chat must have one open conversation"
    conversation = await store.get_conversation(ids[0])
    assert conversation is not None
    assert conversation.state == {"count": 20}
    assert sorted(await texts(store, ids[0])) == sorted(f"m{i}" for i in range(20))
    assert len(await store.conversations_of("tg:1")) == 1


async def test_unicode_and_large_text_round_trip(store: SqlStore) -> None:
    big = "Ünïcødé ✓ 漢字 עברית 🙂 " * 5000  # ~ 120 KB of UTF-8
    assert len(big.encode()) > 100_000
    odd = "quotes ' \" ; -- newline\nand tab\t and emoji 👩‍💻 and combining é"
    async with store.turn("tg:ü", "tg", "ユーザー") as turn:
        conversation_id = turn.conversation.id
        turn.customer.first_name = "Zoë"
        turn.customer.profile = {"note": odd, "nested": {"list": [1, "二", None]}}
        turn.conversation.state = {"draft": big}
        turn.append(say(big, payload=odd))
        turn.append(say(odd))

    customer = await store.get_customer("tg:ユーザー")
    assert customer is not None
    assert customer.first_name == "Zoë"
    assert customer.profile == {"note": odd, "nested": {"list": [1, "二", None]}}
    conversation = await store.get_conversation(conversation_id)
    assert conversation is not None and conversation.chat_key == "tg:ü"
    assert conversation.state == {"draft": big}
    entries = await store.transcript(conversation_id)
    assert [e.text for e in entries] == [big, odd]
    assert entries[0].data == {"payload": odd}


async def test_datetimes_come_back_aware_utc(store: SqlStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    ended = datetime(2025, 3, 1, 14, 30, 15, 123456, tzinfo=plus_two)
    said = datetime(2025, 3, 1, 14, 0, tzinfo=plus_two)
    async with store.turn("tg:c", "tg", "1") as turn:
        conversation_id = turn.conversation.id
        turn.append(TranscriptEntry(direction="in", kind="text", text="x", created_at=said))
        turn.conversation.ended_at = ended

    def check(value: datetime | None) -> datetime:
        assert value is not None
        assert value.utcoffset() == timedelta(0), value
        return value

    customer = await store.get_customer("tg:1")
    conversation = await store.get_conversation(conversation_id)
    assert customer is not None and conversation is not None
    check(customer.created_at)
    check(customer.last_seen_at)
    check(conversation.started_at)
    check(conversation.updated_at)
    assert check(conversation.ended_at) == ended  # same instant, now in UTC
    assert check(conversation.ended_at).hour == 12
    (entry,) = await store.transcript(conversation_id)
    assert check(entry.created_at) == said
    async with store.turn("tg:c", "tg", "1") as turn:
        assert turn.previous is not None
        check(turn.previous.ended_at)
        check(turn.conversation.started_at)


async def test_naive_datetimes_are_refused_and_nothing_is_written(store: SqlStore) -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    async with store.turn("tg:c", "tg", "1") as turn:
        conversation_id = turn.conversation.id
        with pytest.raises(ValueError, match="timezone-aware"):
            turn.append(TranscriptEntry(direction="in", kind="text", created_at=naive))

    with pytest.raises(ValueError, match="timezone-aware"):
        async with store.turn("tg:c", "tg", "1") as turn:
            turn.conversation.ended_at = naive
            turn.append(say("lost with the turn"))
    conversation = await store.get_conversation(conversation_id)
    assert conversation is not None and conversation.ended_at is None
    assert await texts(store, conversation_id) == []


async def test_customer_created_at_is_kept(store: SqlStore) -> None:
    async with store.turn("tg:c", "tg", "1") as turn:
        created = turn.customer.created_at
    async with store.turn("tg:c", "tg", "1") as turn:
        turn.customer.created_at = created - timedelta(days=1)  # identity: not written
        turn.customer.last_seen_at = created + timedelta(minutes=5)
    customer = await store.get_customer("tg:1")
    assert isinstance(customer, CustomerRecord)
    assert customer.created_at == created
    assert customer.last_seen_at == created + timedelta(minutes=5)


# --- not backend contract: URL handling ---------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+asyncpg://bot:s3cr%40t@db.example:5432/supportbot",
            "postgresql+asyncpg://bot:***@db.example:5432/supportbot",
        ),
        ("postgresql://bot:pw@db/sb?password=pw2&sslmode=require", None),
        ("sqlite+aiosqlite:///data/supportbot.db", "sqlite+aiosqlite:///data/supportbot.db"),
        ("not a url ://user:hunter2@host", None),
    ],
)
def test_mask_url_hides_passwords(url: str, masked: str | None) -> None:
    result = mask_url(url)
    for secret in ("s3cr", "pw2", ":pw@", "hunter2"):
        assert secret not in result
    if masked is not None:
        assert result == masked


async def test_plain_sqlite_url_is_accepted_and_directories_created(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bot.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        async with store.turn("tg:c", "tg", "1") as turn:
            turn.append(say("hi"))
        assert path.exists()
        assert store.url.startswith("sqlite+aiosqlite:///")
    finally:
        await store.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite+aiosqlite:///:memory:"])
async def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(UnsupportedDatabase, match="in-memory"):
        await open_store(url)


async def test_sqlite_file_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    store = await open_store(f"sqlite:///{path}")
    await store.close()
    conn = sqlite3.connect(path)  # WAL is a property of the file, not of a connection
    try:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    finally:
        conn.close()
    assert mode == "wal"
