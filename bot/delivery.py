"""Delivering the outbox: one sender loop per channel.

Turns write replies to the outbox in the same transaction as the state change; an
:class:`OutboxSender` leases due rows, hands each to the channel's :class:`Transport`,
and records the outcome. Transient failures (network, 5xx, 429) are retried with
exponential backoff, honouring the platform's ``retry_after``; after ``max_attempts``
or on a permanent failure the row is marked failed and logged — never silently dropped.

The one place a customer could see a message twice is a crash between the platform
accepting a message and our commit of its id; there we choose at-least-once over losing
a message (no platform offers an idempotency key for sends).

**Pacing.** Platforms limit messages per chat (Telegram about one a second in a private
chat and twenty a minute in a group, Slack about one a second per channel) and answer
more with 429s. With a :class:`Pacing`, each chat has a small bucket of messages it may
get at once, refilled at its rate; a chat whose bucket is empty waits (its rows stay in
the outbox, left out of the next claims) while other chats are served. A 429's
``retry_after`` is still honoured, and empties the chat's bucket until then.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.errors import log_failure
from bot.faults import crash_point
from bot.messages import Attachment, Button, ConversationKey, Outbound
from bot.metrics import ERRORS, MESSAGES_OUT
from bot.settings import Settings
from storage.records import OutboxItem

log = logging.getLogger("supportbot.delivery")

MAX_IN_FLIGHT = 8
"""Chats sent to at once. Enough to keep a platform's rate limit busy over a real
network (Telegram allows ~30 messages/s per bot); few, because each message in flight
when the process is killed is one the customer may get twice (sent, not yet recorded)."""
PASSES = 3
"""Delivery passes under way at once (see :meth:`OutboxSender.run`)."""


class DeliveryError(Exception):
    """A send failed. ``permanent`` = retrying cannot help (e.g. the user blocked the bot)."""

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        unreachable: bool = False,
    ) -> None:
        """``unreachable``: the customer can't be reached at all (blocked the bot)."""
        super().__init__(reason)
        self.retry_after = retry_after
        self.permanent = permanent or unreachable
        self.unreachable = unreachable


class Transport(Protocol):
    """Sends one message on one platform; returns the platform's message id if any."""

    channel: str

    async def send(self, message: Outbound) -> str | None: ...


class OutboxQueue(Protocol):
    async def claim(
        self,
        channel: str,
        owner: str,
        *,
        limit: int = 50,
        lease_seconds: float = 60.0,
        chat_id: str | None = None,
        skip_chats: Collection[str] = (),
    ) -> list[OutboxItem]: ...

    async def mark_sent(self, item_id: int, platform_message_id: str | None) -> None: ...

    async def mark_retry(self, item_id: int, error: str, delay_seconds: float) -> None: ...

    async def mark_failed(self, item_id: int, error: str) -> None: ...

    async def release(self, item_ids: Sequence[int]) -> None: ...


def _own_chat(chat_id: str) -> str:
    return chat_id


@dataclass(frozen=True, slots=True)
class Pacing:
    """How fast one chat may be sent to (see the module docstring)."""

    interval: Callable[[str], float]
    """Seconds between messages to this chat once its burst is spent (0: unpaced)."""
    burst: int = 3
    """Messages a chat may get at once (a turn's few replies go out together)."""
    limit_of: Callable[[str], str] = _own_chat
    """The limit a chat counts against (all threads of a Slack channel share one)."""


class Pacer:
    """The buckets of the chats sent to lately (in memory: per process)."""

    def __init__(self, pacing: Pacing, clock: Callable[[], float] = time.monotonic) -> None:
        self._pacing = pacing
        self._clock = clock
        # limit -> (messages left, as of when, seconds per message)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._waiting: dict[str, float] = {}  # chat -> when it may be sent to again
        self._held: set[str] = set()  # limits told "retry after": one message, then paced
        self._swept = clock()

    def take(self, chat_id: str) -> bool:
        """Use up one message of the chat's bucket; False (and the chat waits) if empty."""
        interval = self._pacing.interval(chat_id)
        if interval <= 0:
            return True
        limit, now = self._pacing.limit_of(chat_id), self._clock()
        messages = self._level(limit, interval, now)
        if messages >= 1:
            self._buckets[limit] = (messages - 1, now, interval)
            self._held.discard(limit)
            return True
        self._waiting[chat_id] = now + (1 - messages) * interval
        return False

    def hold(self, chat_id: str, seconds: float) -> None:
        """The platform said "retry after": one message then, paced from there on."""
        interval = self._pacing.interval(chat_id)
        if interval > 0:
            limit, at = self._pacing.limit_of(chat_id), self._clock() + seconds
            self._buckets[limit] = (1.0, at, interval)
            self._held.add(limit)  # the retry may go out later than ``at``: still only one
            self._waiting[chat_id] = at  # and the sender wakes up for it then

    def waiting(self) -> list[str]:
        """Chats that must not be sent to yet (left out of the next claim)."""
        now = self._clock()
        self._waiting = {c: at for c, at in self._waiting.items() if at > now}
        if now - self._swept > 60:  # forget the buckets that are full again: flat memory
            self._swept = now
            burst = self._pacing.burst
            self._buckets = {
                k: b for k, b in self._buckets.items() if b[0] + (now - b[1]) / b[2] < burst
            }
        return list(self._waiting)

    def next_ready(self) -> float | None:
        """Seconds until the first waiting chat may be sent to, if any waits."""
        if not self._waiting:
            return None
        return max(min(self._waiting.values()) - self._clock(), 0.0)

    def _level(self, limit: str, interval: float, now: float) -> float:
        burst = float(self._pacing.burst)
        messages, at, _ = self._buckets.get(limit, (burst, now, interval))
        return min(1.0 if limit in self._held else burst, messages + (now - at) / interval)


def pacing_for(channel: str, settings: Settings) -> Pacing | None:
    """The platform's documented per-chat limits (SUPPORTBOT_PACE_*), or None when
    ``SUPPORTBOT_PACING`` is off or the channel has none."""
    if not settings.pacing:
        return None
    burst = settings.pace_burst
    if channel == "telegram":
        chat = 1 / settings.pace_telegram_chat_per_second
        group = 60 / settings.pace_telegram_group_per_minute

        def telegram(chat_id: str) -> float:
            return group if chat_id.startswith("-") else chat  # groups have negative ids

        return Pacing(telegram, burst)
    if channel == "slack":
        interval = 1 / settings.pace_slack_channel_per_second
        return Pacing(lambda _chat: interval, burst, _slack_channel)
    return None


def _slack_channel(chat_id: str) -> str:
    """A Slack chat is a DM or a channel, or ``channel:thread``: the limit is the channel's."""
    return chat_id.split(":", 1)[0]


class _Abandoned(Exception):
    """A send cut by :meth:`OutboxSender.abandon` (shutdown's deadline)."""


def outbound_of(item: OutboxItem) -> Outbound:
    """The channel-neutral message an outbox row holds (a file: its reference, never bytes)."""
    payload: dict[str, Any] = item.payload
    buttons = tuple(
        Button(b["label"], payload=b.get("payload"), url=b.get("url"))
        for b in payload.get("buttons", [])
    )
    key = ConversationKey(item.channel, item.chat_id)
    file = Attachment.from_json(payload.get("attachment"))
    return Outbound(key, payload.get("text", ""), buttons, file)


class OutboxSender:
    def __init__(
        self,
        outbox: OutboxQueue,
        transport: Transport,
        *,
        max_attempts: int = 8,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        lease_seconds: float = 60.0,
        chat_id: str | None = None,
        on_unreachable: Callable[[str, str], Awaitable[None]] | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        pacing: Pacing | None = None,
    ) -> None:
        """``on_unreachable(channel, chat_id)`` records that a customer blocked the bot;
        at most ``max_in_flight`` chats are sent to at once; ``pacing`` spaces the
        messages to one chat (None: as fast as the platform takes them)."""
        self._pacer = Pacer(pacing) if pacing is not None else None
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._on_unreachable = on_unreachable
        self._outbox = outbox
        self._transport = transport
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._lease_seconds = lease_seconds
        self._chat_id = chat_id
        self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Timeout] = set()
        self._abandoned = False

    def wake(self) -> None:
        """Something was queued: deliver now instead of at the next poll."""
        self._wake.set()

    def abandon(self) -> int:
        """Shutdown's deadline: cut the sends waiting on the platform and start no more;
        returns how many were cut. Their rows stay leased — the next start takes them
        back at once, as another PostgreSQL worker does once this one is gone
        (``storage/workers.py``) — and the rows queued behind them stay due. Only the
        wait for the platform is cut, never a database write, so no row is left
        half-recorded."""
        self._abandoned = True
        now = asyncio.get_running_loop().time()
        for scope in self._sending:
            scope.reschedule(now)
        return len(self._sending)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure (exponential, capped)."""
        return float(min(self._max_delay, self._base_delay * 2 ** max(attempts - 1, 0)))

    async def deliver_due(self) -> int:
        """Send every due row of this channel once; returns how many were sent.

        Chats are served side by side (a slow chat does not hold up the others); within
        a chat, rows go one after the other, in order."""
        if self._abandoned:
            return 0
        items = await self._outbox.claim(
            self._transport.channel,
            self._owner,
            lease_seconds=self._lease_seconds,
            chat_id=self._chat_id,
            skip_chats=self._pacer.waiting() if self._pacer is not None else (),
        )
        by_chat: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_chat.setdefault(item.chat_id, []).append(item)
        results = await asyncio.gather(
            *(self._deliver_chat(rows) for rows in by_chat.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result  # every chat's sends finished first: no lease is left dangling
        return sum(r for r in results if isinstance(r, int))

    async def _deliver_chat(self, items: list[OutboxItem]) -> int:
        """Send one chat's claimed rows in order; stop at the first that must wait."""
        async with self._in_flight:
            return await self._deliver_in_order(items)

    async def _deliver_in_order(self, items: list[OutboxItem]) -> int:
        for index, item in enumerate(items):
            if self._abandoned:  # shutdown's deadline passed: these were never sent
                await self._outbox.release([i.id for i in items[index:]])
                return index
            if self._pacer is not None and not self._pacer.take(item.chat_id):
                await self._outbox.release([i.id for i in items[index:]])  # paced: later
                return index
            if not await self._deliver(item):
                # Keep order: the rest wait behind this one.
                await self._outbox.release([i.id for i in items[index + 1 :]])
                return index
        return len(items)

    async def _deliver(self, item: OutboxItem) -> bool:
        """Send one row; False if the chat must wait (retry scheduled or failed)."""
        crash_point("send:before")
        try:
            message_id = await self._send(outbound_of(item))
        except _Abandoned:
            return False  # the row stays leased: it goes out after the restart
        except DeliveryError as exc:
            await self._failed(item, exc)
            return False
        except Exception as exc:  # a transport bug must not kill the loop or drop the row
            log.exception("transport %s crashed on outbox row %d", item.channel, item.id)
            ERRORS.labels("transport").inc()
            await self._failed(item, DeliveryError(f"{type(exc).__name__}: {exc}"))
            return False
        crash_point("send:after")
        await self._record_sent(item, message_id)
        MESSAGES_OUT.labels(item.channel, "sent").inc()
        return True

    async def _send(self, message: Outbound) -> str | None:
        """The transport's send, inside a scope :meth:`abandon` can expire."""
        try:
            async with asyncio.timeout(None) as scope:
                self._sending.add(scope)
                try:
                    return await self._transport.send(message)
                finally:
                    self._sending.discard(scope)
        except TimeoutError:
            if scope.expired():
                raise _Abandoned() from None
            raise

    async def _record_sent(self, item: OutboxItem, message_id: str | None) -> None:
        """The platform has the message: record that, retrying through a database blip
        (for up to half the lease) — a row left leased is sent again when its lease ends,
        and the customer would read it twice."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._lease_seconds / 2
        delay = 0.1
        while True:
            try:
                await self._outbox.mark_sent(item.id, message_id)
                return
            except Exception:
                if loop.time() + delay > give_up:
                    raise
                log.warning("could not record outbox row %d as sent; retrying", item.id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _failed(self, item: OutboxItem, error: DeliveryError) -> None:
        attempts = item.attempts + 1
        if error.unreachable and self._on_unreachable is not None:
            await self._on_unreachable(item.channel, item.chat_id)
        if error.permanent or attempts >= self._max_attempts:
            await self._outbox.mark_failed(item.id, str(error))
            MESSAGES_OUT.labels(item.channel, "failed").inc()
            log.error(
                "gave up on outbox row %d to %s:%s after %d attempt(s): %s",
                item.id,
                item.channel,
                item.chat_id,
                attempts,
                error,
            )
            return
        delay = error.retry_after if error.retry_after is not None else self.backoff(attempts)
        if error.retry_after is not None and self._pacer is not None:
            self._pacer.hold(item.chat_id, delay)
        await self._outbox.mark_retry(item.id, str(error), delay)
        MESSAGES_OUT.labels(item.channel, "retry").inc()
        log.warning(
            "outbox row %d to %s:%s failed (attempt %d), retrying in %.1fs: %s",
            item.id,
            item.channel,
            item.chat_id,
            attempts,
            delay,
            error,
        )

    async def flush(self, max_wait: float = 10.0) -> None:
        """Send what is due now, waiting out pacing (not retries) for up to ``max_wait``
        seconds — at shutdown; what is left goes out after the next start."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + max_wait
        while True:
            if await self.deliver_due():
                continue
            ready = self._pacer.next_ready() if self._pacer is not None else None
            if ready is None or loop.time() + ready > give_up:
                return
            await asyncio.sleep(ready)

    def _pause(self, poll_seconds: float) -> float:
        """How long to wait for a wake-up: the poll, or less when a paced chat is due."""
        ready = self._pacer.next_ready() if self._pacer is not None else None
        return poll_seconds if ready is None else min(poll_seconds, ready)

    async def run(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        """Deliver until ``stop`` is set; rows left by a crash go out on the first pass.

        A wake-up starts a new pass even while earlier ones still send (up to
        :data:`PASSES` at once): a turn's replies never wait for the slowest chat of the
        pass in hand. Passes claim disjoint rows — a chat whose head row is leased is
        skipped — so a chat's messages still go out in order, and :attr:`_in_flight`
        bounds the chats sent to at once across all passes. On ``stop`` the passes under
        way finish their sends."""
        passes: set[asyncio.Task[int]] = set()
        stopping = asyncio.create_task(stop.wait())
        again = True
        try:
            while not stop.is_set():
                if again and len(passes) < PASSES:
                    # Clear before the pass, not after: a wake() while it runs (a turn
                    # that committed after its claim) must start the next one.
                    self._wake.clear()
                    passes.add(asyncio.create_task(self._pass()))
                    again = False
                waits: set[asyncio.Future[Any]] = {stopping, *passes}
                woken = None
                if len(passes) < PASSES:  # a full house waits for a pass, not a wake-up
                    woken = asyncio.create_task(self._wake.wait())
                    waits.add(woken)
                done, _ = await asyncio.wait(
                    waits, timeout=self._pause(poll_seconds), return_when=asyncio.FIRST_COMPLETED
                )
                if woken is not None:
                    woken.cancel()
                finished = [task for task in passes if task.done()]
                passes.difference_update(finished)
                # More may be due at once (the next message of a chat), or it was asked for.
                again = (
                    again
                    or self._wake.is_set()
                    or not done
                    or any(task.result() for task in finished)
                )
        finally:
            stopping.cancel()
            if passes:
                await asyncio.wait(passes)

    async def _pass(self) -> int:
        """One :meth:`deliver_due`; a failure is logged (the loop tries again)."""
        try:
            return await self.deliver_due()
        except Exception:
            log_failure(log, "outbox delivery pass failed; retrying")
            return 0
