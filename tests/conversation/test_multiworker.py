"""Two bot worker processes on one PostgreSQL database: nothing lost, doubled or mixed up.

In production several workers (webhook servers) share one database and a platform may
deliver any update to any of them, redeliver it, or deliver a chat's messages in a
burst. The in-process lock of :class:`ConversationManager` cannot help across processes;
what keeps a chat consistent there is the store: the per-chat advisory lock of a turn
and the ``inbound_update`` record of handled update ids. This test plays that traffic
against two real worker processes (:mod:`tests.conversation.worker`) and then checks
the database, not the workers' word.

Would it catch a broken store? Tried on a scratch copy of ``storage/sql.py``, 3 runs
each: without the advisory lock, bursts into a new chat make both workers insert the
same customer and a redelivery racing its original passes the ``inbound_update`` check
in both workers; the losers fail with unique violations (``customer_pkey``,
``inbound_update_pkey``), the workers report them and this test fails every time.
Without the ``inbound_update`` check, the same. Without the lock *and* the row locks
(errors ignored, bursts into existing chats), the ``turn`` counters lose updates
("counted 10 turns but handled 12").

The schema is created once before the workers start, as a deploy would; two processes
migrating an empty database at once is the migration tests' business.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from storage.records import TranscriptEntry
from storage.sql import SqlStore, open_store
from tests.pg import PgServer, require_server

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "test"  # what the worker uses

CONVERSATIONS = 30
MESSAGES_PER_CONVERSATION = 8
REDELIVERED = 20
"""Sequential messages that are sent to both workers at once (a platform redelivery)."""
BURSTS = 8
"""Conversations that also get a burst: messages fired at both workers without waiting."""
BURST_SIZE = 3
SEED = int(os.environ.get("SUPPORTBOT_MULTIWORKER_SEED", "20240611"))

MESSAGE_TIMEOUT = 30.0
"""A turn waiting this long means a deadlock (a turn takes milliseconds)."""
TEST_TIMEOUT = 180.0

SCRIPTS: tuple[tuple[str, ...], ...] = (
    ("hi", "where is my order", "Quick answers", "WS-10001", "Thanks, that's all", "5", "great"),
    ("where is my order", "Step by step", "Found it", "WS-10003", "menu"),
    ("hello", "I was charged twice", "Quick answers", "help", "restart"),
    ("reset my password", "Step by step", "I'm stuck", "human", "menu"),
    ("hi", "Where is my order?", "WS-99999", "Talk to a person", "menu"),
    ("return", "Quick answers", "blorp", "step by step please", "back"),
)
NOISE = ("blorp", "asdf qwerty", "what?", "12", "hmm", "menu", "help", "ok")
BURST_TEXTS = ("menu", "help", "hi", "blorp", "what?", "hello", "back", "ok")
"""Burst texts never run a custom action (see :func:`test_two_workers_share_one_database`)."""


@dataclass(frozen=True, slots=True)
class Message:
    chat: str
    update_id: str
    text: str


@dataclass(slots=True)
class Step:
    """What a conversation sends before waiting: one message, or a burst of several."""

    messages: list[Message]
    redeliver: bool = False

    @property
    def update_ids(self) -> set[str]:
        return {m.update_id for m in self.messages}


@dataclass(slots=True)
class Plan:
    chats: dict[str, list[Step]] = field(default_factory=dict)

    def messages(self) -> Iterator[Message]:
        for steps in self.chats.values():
            for step in steps:
                yield from step.messages

    def redelivered(self) -> set[str]:
        return {
            m.update_id for s in self.chats.values() for t in s if t.redeliver for m in t.messages
        }


def make_plan(rng: random.Random) -> Plan:
    """~30 conversations × 8 messages, some redelivered, some with a burst."""
    plan = Plan()
    ids = iter(range(1_000_000, 2_000_000))
    for c in range(CONVERSATIONS):
        chat = f"chat{c:02d}"
        texts = list(rng.choice(SCRIPTS))
        while len(texts) < MESSAGES_PER_CONVERSATION:
            texts.append(rng.choice((*NOISE, "where is my order", "WS-10002")))
        plan.chats[chat] = [Step([Message(chat, str(next(ids)), t)]) for t in texts]
    sequential = [step for steps in plan.chats.values() for step in steps]
    for step in rng.sample(sequential, REDELIVERED):
        step.redeliver = True
    for chat in rng.sample(sorted(plan.chats), BURSTS):
        burst = [Message(chat, str(next(ids)), rng.choice(BURST_TEXTS)) for _ in range(BURST_SIZE)]
        # Position 0 included: a burst into a brand-new chat races to create it.
        plan.chats[chat].insert(rng.randrange(0, MESSAGES_PER_CONVERSATION), Step(burst))
    return plan


class Worker:
    """One worker process and the done-lines it printed, by update id."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[dict[str, Any]] = []
        self.stderr = bytearray()
        self.readers = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    @classmethod
    async def start(cls, name: str, url: str) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.conversation.worker",
            url,
            name,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(name, process)

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = json.loads(raw)
            if "ready" in line:
                self.ready.set_result(None)
                continue
            if "error" in line:
                self.errors.append(line)
            future = self.pending.pop(line["update_id"], None)
            if future is not None and not future.done():
                future.set_result(line)

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.stderr.extend(raw)

    async def send(self, message: Message) -> dict[str, Any]:
        """Send one update and wait for this worker's done-line for it."""
        assert self.process.stdin is not None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[message.update_id] = future
        line = {"chat": message.chat, "update_id": message.update_id, "text": message.text}
        self.process.stdin.write((json.dumps(line) + "\n").encode())
        await self.process.stdin.drain()
        try:
            async with asyncio.timeout(MESSAGE_TIMEOUT):
                return await future
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: no answer to update {message.update_id} ({message.text!r}) "
                f"in {MESSAGE_TIMEOUT:.0f} s — deadlock?\n{self.stderr_tail()}"
            ) from None

    async def finish(self) -> int:
        """Close stdin and wait for a clean exit (a hang fails instead of blocking)."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            async with asyncio.timeout(MESSAGE_TIMEOUT):
                code = await self.process.wait()
                await asyncio.gather(*self.readers)
        except TimeoutError:
            raise AssertionError(f"{self.name} did not exit\n{self.stderr_tail()}") from None
        return code

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        for reader in self.readers:
            reader.cancel()

    def stderr_tail(self) -> str:
        return f"--- {self.name} stderr (tail) ---\n" + self.stderr.decode(errors="replace")[-3000:]


@pytest.fixture
async def database() -> AsyncIterator[tuple[PgServer, str]]:
    """A fresh PostgreSQL database with the schema in place; skips without a server."""
    server = require_server()
    url = server.create_database()
    try:
        store = await open_store(url)  # creates the schema once, before any worker runs
        await store.close()
        yield server, url
    finally:
        server.drop_database(url)


@contextlib.asynccontextmanager
async def workers(url: str, count: int) -> AsyncIterator[list[Worker]]:
    started = [await Worker.start(f"w{i}", url) for i in range(count)]
    try:
        async with asyncio.timeout(MESSAGE_TIMEOUT):
            await asyncio.gather(*(w.ready for w in started))
        yield started
    finally:
        for worker in started:
            worker.kill()  # no-op after a clean exit


async def play(plan: Plan, pool: Sequence[Worker], rng: random.Random) -> dict[str, list[int]]:
    """Send every conversation, all at once; returns the reply counts per update id."""
    replies: dict[str, list[int]] = {}

    def record(line: dict[str, Any]) -> None:
        replies.setdefault(line["update_id"], []).append(int(line.get("replies", -1)))

    async def conversation(steps: list[Step], chat_rng: random.Random) -> None:
        for step in steps:
            if step.redeliver:  # the same update to both workers at the same moment
                (message,) = step.messages
                lines = await asyncio.gather(*(w.send(message) for w in pool))
            elif len(step.messages) == 1:
                lines = [await chat_rng.choice(pool).send(step.messages[0])]
            else:  # a burst: spread over both workers, nobody waits
                lines = await asyncio.gather(
                    *(pool[i % len(pool)].send(m) for i, m in enumerate(step.messages))
                )
            for line in lines:
                record(line)

    await asyncio.gather(
        *(conversation(steps, random.Random(rng.random())) for steps in plan.chats.values())
    )
    return replies


async def chat_entries(store: SqlStore, chat: str) -> list[tuple[int, TranscriptEntry]]:
    """The chat's transcript over all its conversations, oldest first."""
    entries = []
    for conversation in reversed(await store.conversations_of(f"{CHANNEL}:{chat}")):
        entries += [(conversation.id, e) for e in await store.transcript(conversation.id)]
    return entries


def check_order(chat: str, steps: list[Step], inbound_ids: list[str]) -> None:
    """Inbound entries follow the sending order; a burst's messages may come in any order."""
    position = 0
    for step in steps:
        got = inbound_ids[position : position + len(step.messages)]
        assert set(got) == step.update_ids, (
            f"{chat}: transcript order {inbound_ids} does not follow what was sent "
            f"{[sorted(s.update_ids) for s in steps]}"
        )
        position += len(step.messages)
    assert position == len(inbound_ids), f"{chat}: extra inbound entries {inbound_ids}"


async def test_two_workers_share_one_database(database: tuple[PgServer, str]) -> None:
    """~280 turns on two workers: each update handled once, in order, turns never mixed.

    Bursts only use texts that never start a custom action. A turn with an action
    commits twice (before and after the action) and only the in-process lock spans
    both, so another worker's turn of the same chat can commit in between: a known gap
    of the manager across processes (the action runs again and the second message gets
    no reply), not of the store, whose guarantees this test checks.
    """
    server, url = database
    rng = random.Random(SEED)
    plan = make_plan(rng)
    sent = [m.update_id for m in plan.messages()]
    assert len(set(sent)) == len(sent)

    async with asyncio.timeout(TEST_TIMEOUT), workers(url, 2) as pool:
        replies = await play(plan, pool, rng)
        codes = [await w.finish() for w in pool]
    for worker, code in zip(pool, codes, strict=True):
        assert not worker.errors, f"{worker.name} failed turns: {worker.errors[:5]}\n" + (
            worker.stderr_tail()
        )
        assert code == 0, f"{worker.name} exited {code}\n{worker.stderr_tail()}"
        assert b"Traceback" not in worker.stderr, worker.stderr_tail()

    redelivered = plan.redelivered()
    for update_id in redelivered:
        assert len(replies[update_id]) == 2
        assert min(replies[update_id]) == 0, f"update {update_id} was answered twice"

    store = await open_store(url)
    try:
        seen: Counter[str] = Counter()
        work: Counter[str] = Counter()  # proof that the turns did real work
        inbound_conversation: dict[str, int] = {}
        out_texts: dict[int, list[str]] = {}
        for chat, steps in plan.chats.items():
            entries = await chat_entries(store, chat)
            assert entries and entries[0][1].direction == "in", f"{chat}: starts with {entries[:1]}"
            inbound_ids = []
            current: str | None = None
            outs: Counter[str] = Counter()
            for conversation_id, entry in entries:
                if entry.direction == "in":
                    current = str(entry.data["update_id"])
                    inbound_ids.append(current)
                    inbound_conversation[current] = conversation_id
                elif entry.direction == "out":
                    assert current is not None
                    outs[current] += 1  # a reply belongs to the last inbound before it
                    out_texts.setdefault(conversation_id, []).append(entry.text)
            seen.update(inbound_ids)
            check_order(chat, steps, inbound_ids)
            for update_id in inbound_ids:
                assert outs[update_id] == sum(replies[update_id]), (
                    f"{chat}: update {update_id} returned {replies[update_id]} replies but "
                    f"{outs[update_id]} follow it in the transcript: turns interleaved"
                )

            conversations = await store.conversations_of(f"{CHANNEL}:{chat}")
            work["chats with several conversations"] += len(conversations) > 1
            for conversation in conversations:
                transcript = await store.transcript(conversation.id)
                work.update(e.kind for e in transcript if e.direction == "event")
                handled = sum(
                    (e.direction == "in" and not e.data.get("with_previous"))
                    or e.kind == "action_result"
                    for e in transcript
                )  # messages of a burst taken together are one turn
                assert conversation.state.get("turn", 0) == handled, (
                    f"{chat}: conversation {conversation.id} counted "
                    f"{conversation.state.get('turn')} turns but handled {handled}: lost update"
                )

        print(f"seed {SEED}: {len(sent)} updates, {len(redelivered)} redelivered, {dict(work)}")
        for kind in ("action_result", "flow_started", "resolved", "rating", "handoff", "persona"):
            assert work[kind] > 0, f"no {kind!r} event: the traffic did too little ({work})"
        assert work["chats with several conversations"] > 0
        assert sorted(seen) == sorted(sent), "some update is missing or unexpected"
        assert set(seen.values()) == {1}, f"handled twice: {[u for u, n in seen.items() if n > 1]}"
    finally:
        await store.close()

    async with await server.async_connect(url) as conn:
        rows = await (
            await conn.execute("SELECT channel, update_id, conversation_id FROM inbound_update")
        ).fetchall()
        assert sorted(r[1] for r in rows) == sorted(sent)
        assert {r[0] for r in rows} == {CHANNEL}
        assert {r[1]: r[2] for r in rows} == inbound_conversation

        outbox = await (
            await conn.execute("SELECT conversation_id, payload FROM outbox ORDER BY id")
        ).fetchall()
    queued: dict[int, list[str]] = {}
    for conversation_id, payload in outbox:
        queued.setdefault(conversation_id, []).append(payload["text"])
    assert sum(map(len, queued.values())) == sum(map(len, out_texts.values()))
    assert queued == out_texts, "the outbox must hold every reply, in transcript order"
