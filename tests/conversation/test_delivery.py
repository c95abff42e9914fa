"""The outbox sender against a stand-in platform transport, on a real SQLite store."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from bot.conversation.manager import ConversationManager
from bot.delivery import DeliveryError, OutboxSender
from bot.messages import Outbound
from storage.records import utcnow
from storage.sql import SqlStore
from tests.conftest import Customer


class Platform:
    """Stands in for a chat platform: records what arrived, fails on demand."""

    channel = "test"

    def __init__(self) -> None:
        self.received: list[Outbound] = []
        self.failures: list[DeliveryError] = []

    async def send(self, message: Outbound) -> str | None:
        await asyncio.sleep(0)
        if self.failures:
            raise self.failures.pop(0)
        self.received.append(message)
        return f"m{len(self.received)}"

    def texts(self, chat: str) -> list[str]:
        return [m.text for m in self.received if m.key.chat_id == chat]


async def test_replies_are_delivered_in_order_and_marked_sent(
    customer: Customer, store: SqlStore
) -> None:
    await customer.say("hi")
    replies = customer.last
    platform = Platform()
    sender = OutboxSender(store.outbox, platform)
    assert await sender.deliver_due() == len(replies)
    assert platform.texts("u1") == [r.text for r in replies]
    assert platform.received[1].buttons == replies[1].buttons
    assert await sender.deliver_due() == 0  # nothing is sent twice
    assert (await store.outbox.counts()) == {"sent": len(replies)}
    row = await store.outbox.get(1)
    assert row is not None and row.platform_message_id == "m1"


async def test_transient_failure_waits_for_retry_after_and_keeps_order(
    customer: Customer, store: SqlStore
) -> None:
    await customer.say("hi")  # two messages for one chat
    replies = customer.last
    platform = Platform()
    platform.failures.append(DeliveryError("429 Too Many Requests", retry_after=30))
    sender = OutboxSender(store.outbox, platform)
    assert await sender.deliver_due() == 0
    assert platform.received == []  # the second message did not overtake the first
    row = await store.outbox.get(1)
    assert row is not None and row.attempts == 1 and row.status == "pending"
    wait = (row.next_attempt_at - utcnow()).total_seconds()
    assert 25 < wait <= 30
    assert await sender.deliver_due() == 0  # not due yet: the whole chat waits

    await _make_due(store)
    assert await sender.deliver_due() == len(replies)
    assert platform.texts("u1") == [r.text for r in replies]


async def test_gives_up_after_max_attempts_and_logs(
    customer: Customer, store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    await customer.say("hi")
    platform = Platform()
    platform.failures.extend(DeliveryError("502 Bad Gateway") for _ in range(3))
    sender = OutboxSender(store.outbox, platform, max_attempts=3, base_delay=0)
    with caplog.at_level(logging.WARNING, logger="supportbot.delivery"):
        for _ in range(3):
            await sender.deliver_due()
            await _make_due(store)
    row = await store.outbox.get(1)
    assert row is not None and row.status == "failed" and row.attempts == 3
    assert "gave up on outbox row 1" in caplog.text
    assert "502" in (row.last_error or "")
    # The next message of the chat is no longer stuck behind it.
    await sender.deliver_due()
    assert len(platform.received) == 1


async def test_permanent_failure_is_not_retried(customer: Customer, store: SqlStore) -> None:
    await customer.say("hi")
    platform = Platform()
    platform.failures.append(
        DeliveryError("403 Forbidden: bot was blocked by the user", permanent=True)
    )
    await OutboxSender(store.outbox, platform).deliver_due()
    row = await store.outbox.get(1)
    assert row is not None and row.status == "failed" and row.attempts == 1


async def test_backoff_grows_and_is_capped(store: SqlStore) -> None:
    sender = OutboxSender(store.outbox, Platform(), base_delay=1, max_delay=60)
    assert [sender.backoff(n) for n in (1, 2, 3, 4, 10)] == [1, 2, 4, 8, 60]


async def test_two_senders_never_send_one_row_twice(
    manager: ConversationManager, store: SqlStore
) -> None:
    customers = [Customer(manager, f"u{i}") for i in range(10)]
    for c in customers:
        await c.say("hi")
    platform = Platform()
    a, b = OutboxSender(store.outbox, platform), OutboxSender(store.outbox, platform)
    for _ in range(5):
        await asyncio.gather(a.deliver_due(), b.deliver_due())
    texts = [(m.key.chat_id, m.text) for m in platform.received]
    assert len(texts) == 20 and len(set(texts)) == 20  # every reply once, none twice
    for c in customers:
        assert platform.texts(c.key.chat_id)[0].startswith("Hi")  # greeting first


async def test_expired_lease_of_a_dead_sender_is_taken_over(
    customer: Customer, store: SqlStore
) -> None:
    await customer.say("hi")
    replies = customer.last
    dead = await store.outbox.claim("test", "dead-worker", lease_seconds=0.05)
    assert len(dead) == len(replies)
    platform = Platform()
    sender = OutboxSender(store.outbox, platform)
    assert await sender.deliver_due() == 0  # leased by the (dead) worker
    await asyncio.sleep(0.1)
    assert await sender.deliver_due() == len(replies)


async def test_run_loop_delivers_when_woken(customer: Customer, store: SqlStore) -> None:
    platform = Platform()
    sender = OutboxSender(store.outbox, platform)
    stop = asyncio.Event()
    loop = asyncio.create_task(sender.run(stop, poll_seconds=30))
    await asyncio.sleep(0.05)
    await customer.say("hi")
    sender.wake()
    for _ in range(200):
        if len(platform.received) >= 2:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(loop, timeout=5)
    assert len(platform.received) == 2


async def _make_due(store: SqlStore) -> None:
    """Move every pending row's retry time into the past (instead of sleeping)."""
    from sqlalchemy import update

    from storage.tables import OutboxRow

    async with store.engines[1].begin() as conn:
        await conn.execute(
            update(OutboxRow).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


async def test_rows_sent_to_many_chats_at_once_are_each_recorded_with_their_id(
    manager: ConversationManager, store: SqlStore
) -> None:
    """The "sent" records of chats served side by side are written together: each row
    keeps its own platform message id, and none is sent again."""
    customers = [Customer(manager, f"u{i}") for i in range(12)]
    for c in customers:
        await c.say("hi")
    platform = Platform()
    sender = OutboxSender(store.outbox, platform)
    sent = 0
    while batch := await sender.deliver_due():
        sent += batch
    assert sent == len(platform.received) == 24
    assert await store.outbox.counts() == {"sent": 24}
    assert await sender.deliver_due() == 0
    rows = [await store.outbox.get(i) for i in range(1, 25)]
    for number, message in enumerate(platform.received, start=1):
        matching = [r for r in rows if r is not None and r.platform_message_id == f"m{number}"]
        assert len(matching) == 1 and matching[0].chat_id == message.key.chat_id
