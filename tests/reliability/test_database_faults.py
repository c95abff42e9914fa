"""Database faults: PostgreSQL restarts mid-load; no update is lost, the bot recovers.

The bot serves Telegram webhooks on a PostgreSQL cluster of the test's own
(:mod:`tests.reliability.pg_cluster`), so stopping it disturbs no one else. The load
generator plays Telegram: each chat's updates are POSTed in order, and one not answered
200 (a 500 while the database is away, a dropped connection) is posted again after a
short wait, until it is — as Telegram redelivers. While 40 customers talk, the server
is stopped twice and started again ~2 s later: once ``fast`` (it ends every session),
once ``immediate`` (a crash; recovery at start-up). The bot process is never restarted.

Afterwards, from the stand-in's log: every message got exactly one reply, in order;
the bot answers its health check. How many posts had to be redelivered is printed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.checks import check_echoes, echo_script
from tests.reliability.conftest import HEAVY, Tally
from tests.reliability.harness import Bot, bot_settings, flows_dir, start_bot
from tests.reliability.pg_cluster import PgCluster
from tests.standins.telegram_api import TelegramApiStandIn, text_update, user_json

CHATS = 40
MESSAGES = 60 if HEAVY else 20  # + "echo" each
OUTAGE_SECONDS = 2.0
STOPS = (("fast", 0.25), ("immediate", 0.6))
"""(shutdown mode, share of the load delivered when the server is stopped)."""
FINISH_TIMEOUT = 180.0

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    server = PgCluster()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
async def bot(tmp_path: Path, cluster: PgCluster) -> AsyncIterator[Bot]:
    async with TelegramApiStandIn() as api:
        settings = bot_settings(
            tmp_path,
            telegram=api,
            webhook=True,
            flows=flows_dir(tmp_path, shipped=False),
            database_url=cluster.url,
        )
        running = await start_bot(settings, telegram=api)
        try:
            yield running
        finally:
            await running.stop()


async def test_postgres_restarts_mid_load_lose_nothing(
    bot: Bot, cluster: PgCluster, tally: Tally
) -> None:
    api = bot.telegram
    assert api is not None
    users = [user_json(40_000 + i, f"D{i}") for i in range(CHATS)]
    scripts = {u["id"]: ["echo", *echo_script(str(u["id"]), MESSAGES)] for u in users}
    total = CHATS * (MESSAGES + 1)
    delivered = 0
    redelivered = 0
    answers: dict[str, int] = {}

    async def deliver(client: httpx.AsyncClient, update: dict[str, Any]) -> None:
        """POST until answered 200, waiting a little longer after each failure."""
        nonlocal delivered, redelivered
        for attempt in range(1000):
            try:
                status = str(await bot.post_update(client, update))
            except httpx.TransportError as error:
                status = type(error).__name__
            answers[status] = answers.get(status, 0) + 1
            if status == "200":
                delivered += 1
                return
            redelivered += 1
            await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
        raise AssertionError(f"update {update['update_id']} never accepted")

    async def customer(client: httpx.AsyncClient, user: dict[str, Any]) -> None:
        for text in scripts[user["id"]]:
            await deliver(client, {**text_update(user, text), "update_id": api.next_update_id()})

    async def outages() -> list[float]:
        stopped: list[float] = []
        for mode, share in STOPS:
            while delivered < share * total:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(cluster.stop, mode)
            stopped.append(time.monotonic())
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(cluster.start)
        return stopped

    limits = httpx.Limits(max_connections=CHATS)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        restarts = asyncio.create_task(outages())
        await asyncio.gather(*(customer(client, u) for u in users))
        stopped = await restarts
        expected = CHATS * (MESSAGES + 2)
        deadline = time.monotonic() + FINISH_TIMEOUT
        while len({(m["chat"]["id"], m["text"]) for m in api.sent.values()}) < expected:
            assert time.monotonic() < deadline, "replies still missing"
            await asyncio.sleep(0.2)
        await bot.settle()
        await asyncio.sleep(0.5)  # anything late (a duplicate in flight) arrives now
        health = await client.get(bot.base_url + "/healthz")
    assert health.status_code == 200, health.text

    sends = api.calls_of("sendMessage")
    for user in users:
        chat = str(user["id"])
        received = [c.params["text"] for c in sends if c.params["chat_id"] == chat]
        check_echoes(chat, received, scripts[user["id"]][1:])
    assert len(stopped) == len(STOPS)
    assert redelivered > 0, "no post was refused: the outages missed the load"
    tally.count("database faults: inbound messages across PostgreSQL restarts", total)
    tally.count("database faults: PostgreSQL stop + start", len(stopped))
    tally.note(
        "database faults: webhook answers",
        ", ".join(f"{status} ×{n}" for status, n in sorted(answers.items()))
        + f"; {redelivered} posts redelivered",
    )
