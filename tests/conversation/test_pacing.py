"""Pacing: replies to one chat are spaced by the platform's per-chat limit, other chats are
not held up, and a 429's ``retry_after`` is still honoured (real SQLite outbox, a
stand-in platform that records when each message arrived)."""

from __future__ import annotations

import asyncio
import itertools
import time

from bot.delivery import DeliveryError, Outbound, OutboxSender, Pacer, Pacing, pacing_for
from bot.settings import Settings
from storage.records import OutboxMessage
from storage.sql import SqlStore

INTERVAL = 0.25


class TimedPlatform:
    """Records each message with the time it arrived; fails on demand."""

    channel = "test"

    def __init__(self) -> None:
        self.received: list[tuple[float, Outbound]] = []
        self.failures: list[DeliveryError] = []
        self.attempts: list[float] = []

    async def send(self, message: Outbound) -> str | None:
        self.attempts.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        self.received.append((time.monotonic(), message))
        return None

    def times(self, chat: str) -> list[float]:
        return [at for at, m in self.received if m.key.chat_id == chat]


async def queue(store: SqlStore, chat: str, count: int) -> None:
    async with store.turn(f"test:{chat}", "test", chat) as turn:
        for n in range(count):
            turn.enqueue(OutboxMessage("test", chat, {"text": f"{chat} {n}"}))


async def deliver_all(sender: OutboxSender, platform: TimedPlatform, count: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop, poll_seconds=5.0))
    try:
        deadline = time.monotonic() + 20
        while len(platform.received) < count:
            assert time.monotonic() < deadline, f"only {len(platform.received)} of {count}"
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_one_chat_is_paced_while_another_is_served_at_once(store: SqlStore) -> None:
    await queue(store, "busy", 6)
    await queue(store, "calm", 1)
    platform = TimedPlatform()
    sender = OutboxSender(store.outbox, platform, pacing=Pacing(lambda _c: INTERVAL, burst=2))
    started = time.monotonic()
    await deliver_all(sender, platform, 7)

    busy = platform.times("busy")
    assert [m.text for _, m in platform.received if m.key.chat_id == "busy"] == [
        f"busy {n}" for n in range(6)
    ]  # in order
    spaced = gaps(busy)[1:]  # the first two went out together (the burst)
    assert all(gap >= INTERVAL * 0.9 for gap in spaced), spaced
    [calm] = platform.times("calm")
    assert calm - started < INTERVAL  # not queued behind the busy chat
    shown = [round(g, 3) for g in gaps(busy)]
    print(f"\npaced gaps (s): {shown}; the calm chat's reply after {calm - started:.3f}s")


async def test_a_429_retry_after_is_honoured_and_pacing_resumes_after_it(store: SqlStore) -> None:
    await queue(store, "c", 3)
    platform = TimedPlatform()
    platform.failures.append(DeliveryError("429 Too Many Requests", retry_after=1.0))
    sender = OutboxSender(store.outbox, platform, pacing=Pacing(lambda _c: INTERVAL, burst=3))
    await deliver_all(sender, platform, 3)
    failed_at = platform.attempts[0]
    first, second, third = platform.times("c")
    assert first - failed_at >= 0.95  # not before retry_after
    assert second - first >= INTERVAL * 0.9 and third - second >= INTERVAL * 0.9


def test_buckets_refill_at_the_rate_and_threads_share_their_channels_limit() -> None:
    now = [0.0]
    settings = Settings(_env_file=None, pace_burst=2)  # type: ignore[call-arg]
    slack = pacing_for("slack", settings)
    assert slack is not None
    pacer = Pacer(slack, clock=lambda: now[0])
    assert pacer.take("C1:1.000") and pacer.take("C1:2.000")  # the burst, in two threads
    assert not pacer.take("C1")  # the channel's limit is spent
    assert pacer.take("D9")  # another chat is not
    assert pacer.waiting() == ["C1"] and pacer.next_ready() == 1.0
    now[0] = 1.0
    assert pacer.waiting() == [] and pacer.take("C1") and not pacer.take("C1")

    telegram = pacing_for("telegram", settings)
    assert telegram is not None
    assert telegram.interval("42") == 1.0  # a private chat: one a second
    assert telegram.interval("-100123") == 3.0  # a group: twenty a minute
    off = Settings(_env_file=None, pacing=False)  # type: ignore[call-arg]
    assert pacing_for("telegram", off) is None and pacing_for("console", settings) is None
