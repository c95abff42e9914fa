"""Turns of one chat as its messages arrive: a burst is one turn, a flood is held.

**Bursts.** A message that arrives while a turn of its chat is queued or running waits
in that chat's next *batch*; when the chat's turn lock comes free, the whole batch runs
as one turn: each message is stored on its own, and their texts, joined in order, are
routed and validated as one ("my order hasn't arrived" + "it's ws10001" → one answer
about WS-10001). A message to an idle chat starts its turn at once (no added delay).
Only text messages without files are taken together; a tap, a photo, a file or
``/start`` is a turn of its own, in its place in the order.

**Floods.** A chat that sends faster than a person can (:mod:`bot.conversation.flood`)
is *held*: its messages are stored (a transcript entry each, so the desk relays them to
an agent when a ticket is open) in batches, without stepping the dialogue. The first
held batch tells the customer once that the bot read everything and will answer the
latest; when the chat calms, its latest message is answered (a question asked at
the end of a flood is not drowned by what came before it).

**When a message counts as taken (the platform's acknowledgement).** ``submit`` returns
only when the turn that *stores* the message has committed — for a message in a batch,
that batch's turn; for a held one, its hold. So the long poll advances its offset and
Slack gets its ack only for messages that are in the database; a crash before that
leaves them unacknowledged and the platform sends them again (nothing lost; the update
ids make the replay harmless). Long polling (a chat's backlog comes in one
``getUpdates``) and Slack (events arrive side by side) so take bursts together. Telegram
sends a chat's webhook updates one at a time, each after our answer to the previous one;
there :mod:`bot.conversation.receipts` answers a slow turn's update once it is kept in
the inbox, so the messages typed during that turn arrive and join its next batch
(:meth:`busy` tells it when a message would wait anyway). Floods are caught by rate on
every channel.

What is *not* durable: the promise to answer a flood's latest message lives in this
process. A shutdown answers it at once (:meth:`Arrivals.close`); a crash before the chat
calms leaves the messages stored but that one unanswered until the customer writes
again. Flood windows are per process (several webhook workers each see their share of
a chat's messages, so a flood trips later).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from bot.conversation.flood import OFF, FloodPolicy, FloodWatch
from bot.conversation.locks import KeyedLocks
from bot.messages import Inbound, InboundKind, Outbound

log = logging.getLogger("supportbot.conversation")


class Mode(Enum):
    ANSWER = "answer"  # store the messages and answer them as one turn
    HOLD = "hold"  # flooding: store them, answer nothing (but the notice, once)
    LATEST = "latest"  # the flood calmed: answer its latest message (already stored)


@dataclass(eq=False, slots=True)
class Batch:
    """Messages of one chat that run as one turn."""

    mode: Mode
    items: list[Inbound] = field(default_factory=list)
    notice: bool = False
    """HOLD: tell the customer the bot read everything (the first hold of a flood)."""
    started: bool = False
    waiters: list[asyncio.Future[list[Outbound]]] = field(default_factory=list)
    """One per item: the callers waiting for the turn that stores their message."""
    answered: Inbound | None = None
    """The item whose caller gets the replies (the last one that was no redelivery)."""

    def takes(self, inbound: Inbound) -> bool:
        """Whether ``inbound`` may join this (not yet started) batch."""
        if self.mode is Mode.HOLD:
            return True
        last = self.items[-1]
        return (
            self.mode is Mode.ANSWER
            and inbound.kind is InboundKind.TEXT
            and last.kind is InboundKind.TEXT
            and inbound.sender.user_id == last.sender.user_id
            and not inbound.attachments  # a message with files is a turn of its own
            and not last.attachments
        )


RunBatch = Callable[[Batch], Awaitable[list[Outbound]]]


class _Chat:
    __slots__ = ("busy", "latest", "noticed", "queued", "timer", "watch")

    def __init__(self, policy: FloodPolicy) -> None:
        self.watch = FloodWatch(policy)
        self.queued: list[Batch] = []  # waiting for the chat's turn lock, in order
        self.busy = 0  # batches queued or running
        self.latest: Inbound | None = None  # flooding: the message to answer at calm
        self.noticed = False
        self.timer: asyncio.TimerHandle | None = None


class Arrivals:
    """The per-chat queue in front of the manager's turns."""

    def __init__(
        self,
        run: RunBatch,
        locks: KeyedLocks,
        policy: FloodPolicy = OFF,
        clock: Callable[[], float] = time.monotonic,
        *,
        bursts: bool = True,
    ) -> None:
        """``run`` runs one batch as a turn; ``locks`` are the manager's per-chat locks
        (agents' turns take them too); ``clock`` is monotonic seconds; ``bursts=False``
        answers every message on its own (floods are still held)."""
        self._run_batch = run
        self._locks = locks
        self._policy = policy
        self._bursts = bursts
        self._clock = clock
        self._chats: dict[str, _Chat] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pruned_at = clock()

    async def submit(self, inbound: Inbound) -> list[Outbound]:
        """Take ``inbound`` into its chat's next turn; return once that turn stored it.

        The replies of a batch are returned to the call of its last message (the others
        get none: their messages were answered together; a redelivery gets none)."""
        key = str(inbound.key)
        now = self._clock()
        self._prune(now)
        chat = self._chats.get(key)
        if chat is None:
            chat = self._chats[key] = _Chat(self._policy)
        mode = Mode.ANSWER
        if self._policy.enabled and chat.watch.arrive(now):
            mode = Mode.HOLD
            self._hold_queued(chat)
            chat.latest = inbound  # a tap too: "Thanks, that's all" must not go unanswered
            self._schedule_calm(key, chat)
        batch = chat.queued[-1] if chat.queued else None
        joins = batch is not None and batch.mode is mode and batch.takes(inbound)
        if batch is None or not joins or (mode is Mode.ANSWER and not self._bursts):
            batch = self._enqueue(key, chat, Batch(mode))
        batch.items.append(inbound)
        waiter: asyncio.Future[list[Outbound]] = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(_retrieve)
        batch.waiters.append(waiter)
        return await asyncio.shield(waiter)

    def _hold_queued(self, chat: _Chat) -> None:
        """The chat started flooding: what waits to be answered is only stored now."""
        for batch in chat.queued:
            if batch.mode is Mode.ANSWER:
                batch.mode = Mode.HOLD
                chat.latest = batch.items[-1]

    def _enqueue(self, key: str, chat: _Chat, batch: Batch) -> Batch:
        chat.queued.append(batch)
        chat.busy += 1
        task = asyncio.create_task(self._run(key, chat, batch), name=f"turn {key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return batch

    async def _run(self, key: str, chat: _Chat, batch: Batch) -> None:
        try:
            async with self._locks.hold(key):
                batch.started = True
                chat.queued.remove(batch)
                if batch.mode is Mode.HOLD:
                    batch.notice = not chat.noticed
                replies = await self._run_batch(batch)
                if batch.mode is Mode.HOLD:
                    chat.noticed = True
        except BaseException as exc:
            if not batch.waiters:
                log.error("turn of %s (%s) failed", key, batch.mode.value, exc_info=exc)
            for waiter in batch.waiters:
                if waiter.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    waiter.cancel()
                else:
                    waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for inbound, waiter in zip(batch.items, batch.waiters, strict=False):
                if not waiter.done():
                    waiter.set_result(replies if inbound is batch.answered else [])
        finally:
            chat.busy -= 1
            self._forget(key, chat, self._clock())

    def _schedule_calm(self, key: str, chat: _Chat) -> None:
        if chat.timer is not None:
            chat.timer.cancel()
        delay = max(chat.watch.calm_at() - self._clock(), 0.0)
        chat.timer = asyncio.get_running_loop().call_later(delay, self._calm, key, chat)

    def _calm(self, key: str, chat: _Chat) -> None:
        """The chat slowed down: answer its latest messages as one turn."""
        chat.timer = None
        if self._clock() < chat.watch.calm_at():  # a message came in after all
            self._schedule_calm(key, chat)
            return
        self._answer_latest(key, chat)

    def _answer_latest(self, key: str, chat: _Chat) -> None:
        chat.watch.calm()
        chat.noticed = False
        latest, chat.latest = chat.latest, None
        if latest is not None:
            self._enqueue(key, chat, Batch(Mode.LATEST, [latest]))
        self._forget(key, chat, self._clock())

    def _forget(self, key: str, chat: _Chat, now: float) -> None:
        """Drop a chat with nothing queued, no flood and no recent message (memory stays
        flat however many chats pass through)."""
        idle = chat.busy == 0 and chat.timer is None and chat.watch.forgettable(now)
        if idle and self._chats.get(key) is chat:
            del self._chats[key]

    def _prune(self, now: float) -> None:
        """Now and then, forget the chats whose last message has left the window."""
        if now - self._pruned_at < self._policy.window_seconds:
            return
        self._pruned_at = now
        for key, chat in list(self._chats.items()):
            self._forget(key, chat, now)

    def busy(self, key: str) -> bool:
        """Whether chat ``key`` has a turn queued or running here: a message now would
        wait for it (and join its next batch)."""
        chat = self._chats.get(key)
        return chat is not None and chat.busy > 0

    def __len__(self) -> int:
        """Chats remembered (queued turns, floods, recent messages)."""
        return len(self._chats)

    async def close(self) -> None:
        """Shutting down (no more messages come in): answer every flooding chat's latest
        messages now rather than never, and wait for the turns in flight."""
        for key, chat in list(self._chats.items()):
            if chat.timer is not None:
                chat.timer.cancel()
                chat.timer = None
                self._answer_latest(key, chat)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def fresh_of(items: Sequence[Inbound], seen: frozenset[str]) -> list[Inbound]:
    """The batch's messages less redeliveries: updates handled before (``seen``) and a
    second copy of one in the same batch."""
    fresh: list[Inbound] = []
    ids: set[str] = set()
    for inbound in items:
        if inbound.update_id is not None:
            if inbound.update_id in seen or inbound.update_id in ids:
                continue
            ids.add(inbound.update_id)
        fresh.append(inbound)
    return fresh


def joined(items: Sequence[Inbound]) -> Inbound:
    """The one message a turn answers: the texts of a burst, in order, one per line."""
    if len(items) == 1:
        return items[0]
    text = "\n".join(i.text for i in items if i.kind is InboundKind.TEXT)
    return replace(items[-1], kind=InboundKind.TEXT, text=text, update_id=None)


def _retrieve(waiter: asyncio.Future[list[Outbound]]) -> None:
    """Mark a failed turn's exception as seen: its caller may have gone (cancelled)."""
    if not waiter.cancelled():
        waiter.exception()
