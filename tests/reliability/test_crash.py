"""Crash: ``kill -9`` the bot process at random moments under load, restart it each time.

The bot is ``supportbot run`` in a subprocess (long polling against the Bot API stand-in
in this process, a SQLite file), with the outbox lease it has in production (60 s).
~2,000 messages from 40 customers arrive while it is killed (SIGKILL)
5 times at random moments and restarted. Afterwards, from the stand-in's log: every
message got its reply, per chat in order; a message may reach the customer twice only
in the documented at-least-once window (the platform accepted it, the process died
before recording that) — such a duplicate is the same reply twice in a row, the first
copy accepted before a kill and the second after it. Those are counted and printed.

Recovery after each kill is measured (printed, not asserted): the replies *in flight* at
a kill are those already in the outbox (committed before it) that the customer had not
got before the restart; the figure is the time from the restart (the new process
spawned) to the last of them arriving, with the time to serving again and the
duplicates of that kill. A reply the killed process had leased used to wait out its
lease (the test ran with a 2 s lease to stay quick); now the next process takes it back
at once (see ``storage/workers.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.reliability.checks import check_echoes, echo_script
from tests.reliability.conftest import HEAVY, Tally
from tests.reliability.harness import flows_dir
from tests.standins import free_port
from tests.standins.telegram_api import Call, TelegramApiStandIn, text_update, user_json

ROOT = Path(__file__).resolve().parents[2]
CHATS = 40
MESSAGES = 99 if HEAVY else 49  # + "echo" each: 4,000 / 2,000 messages
KILLS = 10 if HEAVY else 5
SEED = int(os.environ.get("SUPPORTBOT_CRASH_SEED", "0")) or random.randrange(1, 10**6)
FINISH_TIMEOUT = 300.0
KILL_GRACE = 1.0
"""Seconds a request already sent may take to show in the stand-in's log."""

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def start(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run",
            cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Kill:
    at: float
    """``time.monotonic()`` of the SIGKILL (the stand-in's clock)."""
    wall: float
    """``time.time()`` of the SIGKILL (the outbox rows' clock)."""
    restarted: float
    """``time.monotonic()`` when the next process was spawned."""


def committed_replies(database: Path) -> list[tuple[str, str, float]]:
    """(chat id, text, created_at as a POSIX time) of every outbox row."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT chat_id, payload, created_at FROM outbox").fetchall()
    found = []
    for chat, payload, created in rows:
        stamp = datetime.fromisoformat(created)
        if stamp.tzinfo is None:  # SQLite holds UTC without an offset
            stamp = stamp.replace(tzinfo=UTC)
        found.append((chat, json.loads(payload).get("text", ""), stamp.timestamp()))
    return found


def recovery(
    kills: list[Kill], replies: list[tuple[str, str, float]], sends: list[Call], polls: list[Call]
) -> list[tuple[float | None, int, float | None]]:
    """Per kill: seconds from the restart to the last reply in flight at the kill arriving
    (None if none was), how many were in flight, seconds to polling again (None: the test
    ended first)."""
    first: dict[tuple[str, str], float] = {}
    for call in sends:
        first.setdefault((call.params["chat_id"], call.params["text"]), call.at)
    figures = []
    for kill in kills:
        arrived = [
            first[(chat, text)]
            for chat, text, created in replies
            if created < kill.wall and first.get((chat, text), 0.0) >= kill.restarted
        ]
        polled = [c.at - kill.restarted for c in polls if c.at > kill.restarted]
        waited = max(arrived) - kill.restarted if arrived else None
        figures.append((waited, len(arrived), min(polled, default=None)))
    return figures


async def test_kill_9_under_load_loses_nothing(tmp_path: Path, tally: Tally) -> None:
    rng = random.Random(SEED)
    async with TelegramApiStandIn() as api:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))},
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": api.url,
            "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "SUPPORTBOT_FLOWS_DIR": str(flows_dir(tmp_path, shipped=False)),
            "SUPPORTBOT_PERSONAS_DIR": str(ROOT / "personas"),
            "SUPPORTBOT_HOT_RELOAD": "false",
            "SUPPORTBOT_HTTP_PORT": str(free_port()),
            "SUPPORTBOT_LOG_LEVEL": "WARNING",
            # Machine-speed customers, an echo flow that answers every message: measure
            # delivery, not the per-chat limits nor bursts read as one.
            "SUPPORTBOT_PACING": "false",
            "SUPPORTBOT_FLOOD_MESSAGES": "0",
            "SUPPORTBOT_BURSTS": "false",
        }
        log = tmp_path / "bot.log"
        users = [user_json(30_000 + i, f"C{i}") for i in range(CHATS)]
        scripts = {u["id"]: ["echo", *echo_script(str(u["id"]), MESSAGES)] for u in users}

        async def load() -> None:  # 40 customers, one message each every ~0.1 s
            for n in range(MESSAGES + 1):
                for user in users:
                    api.queue_update(text_update(user, scripts[user["id"]][n]))
                await asyncio.sleep(0.1)

        feeding = asyncio.create_task(load())
        process = await start(env, log)
        kills: list[Kill] = []
        try:
            for _ in range(KILLS):
                polls = len(api.calls_of("getUpdates"))
                while len(api.calls_of("getUpdates")) <= polls:  # wait until it serves
                    assert process.returncode is None, log.read_text()[-3000:]
                    await asyncio.sleep(0.02)
                await asyncio.sleep(rng.uniform(0.3, 3.0))
                process.kill()  # SIGKILL: no cleanup, no flush
                killed, killed_wall = time.monotonic(), time.time()
                await process.wait()
                kills.append(Kill(killed, killed_wall, time.monotonic()))
                process = await start(env, log)
            await feeding
            expected = CHATS * (MESSAGES + 2)
            deadline = time.monotonic() + FINISH_TIMEOUT
            while len({(m["chat"]["id"], m["text"]) for m in api.sent.values()}) < expected:
                assert process.returncode is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "replies still missing"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # anything late (a duplicate in flight) arrives now
        finally:
            feeding.cancel()
            if process.returncode is None:
                process.terminate()
                await asyncio.wait_for(process.wait(), 60)

    sends = api.calls_of("sendMessage")  # accepted ones, in arrival order
    duplicates = 0
    per_kill: Counter[int] = Counter()
    for user in users:
        chat = str(user["id"])
        mine = [c for c in sends if c.params["chat_id"] == chat]
        kept = []
        for call in mine:
            if kept and kept[-1].params["text"] == call.params["text"]:
                first = kept[-1]
                # The first copy may be logged by the stand-in just after the kill: the
                # request left the killed process before, the stand-in read it after.
                between = [n for n, k in enumerate(kills) if first.at - KILL_GRACE < k.at < call.at]
                assert between, f"{chat}: {call.params['text']!r} twice with no kill between"
                duplicates += 1
                per_kill[between[-1]] += 1
                continue
            kept.append(call)
        check_echoes(chat, [c.params["text"] for c in kept], scripts[user["id"]][1:])
    # A turn that fails (SQLite "database is locked" when a restarted process meets the
    # backlog) is logged with its traceback and fetched again: counted, not a failure.
    output = log.read_text(errors="replace")
    refetched = output.count("it will be fetched again")
    assert output.count("Traceback") <= refetched, output[-3000:]
    tally.count("crash: inbound messages under kill -9", CHATS * (MESSAGES + 1))
    tally.count("crash: kill -9 + restart", len(kills))
    tally.note(
        "crash duplicates (at-least-once window)",
        f"{duplicates} replies delivered twice out of {len(sends) - duplicates} "
        f"(seed {SEED}; SUPPORTBOT_CRASH_SEED={SEED} repeats the kill timing); "
        f"{refetched} turns failed and were fetched again",
    )
    figures = recovery(
        kills, committed_replies(tmp_path / "bot.db"), sends, api.calls_of("getUpdates")
    )
    waits = [w for w, _, _ in figures if w is not None]
    tally.note(
        "crash recovery (restart -> last reply in flight at the kill; goal <= 5 s)",
        f"longest {max(waits, default=0.0):.1f} s; per kill: "
        + "; ".join(
            f"#{n + 1}: {'-' if w is None else f'{w:.1f} s'} for {count} in flight, "
            f"polling after {'-' if serving is None else f'{serving:.1f} s'}, "
            f"{per_kill[n]} duplicate(s)"
            for n, (w, count, serving) in enumerate(figures)
        ),
    )
