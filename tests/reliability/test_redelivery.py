"""Redelivery: Telegram webhook posts repeated, Slack events retried 3x — each handled once.

Every update is delivered several times, some copies at the same moment as the original
(racing it), some after it was answered, the way the platforms redeliver when they did
not see an acknowledgement. The stand-ins' logs must show one reply per message. The
Slack part runs all chats at once and reports the slowest ack (no time is asserted).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.checks import check_echoes, echo_script
from tests.reliability.conftest import HEAVY, Tally
from tests.reliability.harness import Bot, bot_settings, flows_dir, start_bot
from tests.standins.slack_api import SlackApiStandIn
from tests.standins.telegram_api import TelegramApiStandIn, text_update, user_json

CHATS = 60 if HEAVY else 20
MESSAGES = 20 if HEAVY else 8
COPIES = 3  # the original and two redeliveries (Telegram); Slack: original + 3 retries


@pytest.fixture
async def webhook_bot(tmp_path: Path) -> AsyncIterator[Bot]:
    async with TelegramApiStandIn() as api:
        settings = bot_settings(
            tmp_path, telegram=api, webhook=True, flows=flows_dir(tmp_path, shipped=False)
        )
        bot = await start_bot(settings, telegram=api)
        try:
            yield bot
        finally:
            await bot.stop()


async def test_repeated_telegram_webhook_posts_are_answered_once(
    webhook_bot: Bot, tally: Tally
) -> None:
    api = webhook_bot.telegram
    assert api is not None
    statuses: list[int] = []

    async def deliver(client: httpx.AsyncClient, update: dict[str, object]) -> None:
        """Like Telegram: anything but 2xx is delivered again, a little later."""
        for _ in range(30):
            status = await webhook_bot.post_update(client, update)
            statuses.append(status)
            if status == 200:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"update {update['update_id']} never accepted")

    async def customer(client: httpx.AsyncClient, index: int) -> None:
        chat_id = 10_000 + index
        user = user_json(chat_id, f"C{index}")
        for n, text in enumerate(["echo", *echo_script(str(chat_id), MESSAGES)]):
            update = {"update_id": chat_id * 1000 + n, **text_update(user, text)}
            if n % 2:  # copies race the original
                await asyncio.gather(*(deliver(client, update) for _ in range(COPIES)))
            else:  # copies after the original was answered
                for _ in range(COPIES):
                    await deliver(client, update)

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(customer(client, i) for i in range(CHATS)))
    await webhook_bot.settle()
    refused = [s for s in statuses if s != 200]
    assert set(refused) <= {500}, sorted(set(statuses))  # 500: a retry is wanted
    tally.note(
        "telegram webhook answers that asked for a redelivery (500)",
        f"{len(refused)} of {len(statuses)} posts ({CHATS} chats x {COPIES} copies at once;"
        " SQLite 'database is locked' after busy_timeout)",
    )
    for index in range(CHATS):
        chat_id = 10_000 + index
        texts = [m["text"] for m in api.messages_to(chat_id)]
        check_echoes(str(chat_id), texts, echo_script(str(chat_id), MESSAGES))
    tally.count("telegram webhook redeliveries", COPIES * CHATS * (MESSAGES + 1))


async def test_slack_retries_are_answered_once_and_acks_measured(
    tmp_path: Path, tally: Tally
) -> None:
    api = SlackApiStandIn()
    await api.start()
    settings = bot_settings(tmp_path, slack=api, flows=flows_dir(tmp_path, shipped=False))
    bot = await start_bot(settings, slack=api)
    send = bot.slack_sender()
    acks: list[float] = []
    statuses: list[int] = []

    async def post(user: str, text: str, event_id: str, retry: int | None) -> None:
        event = send.dm_event(user, text, f"D{user}")
        started = time.perf_counter()
        reply = await send.event(event, event_id=event_id, retry_num=retry)
        acks.append(time.perf_counter() - started)
        statuses.append(reply.status)

    async def customer(index: int) -> None:
        user = f"U{index:04d}"
        for n, text in enumerate(["echo", *echo_script(user, MESSAGES)]):
            event_id = f"Ev{index:04d}{n:04d}"
            if n % 2:  # Slack gave up waiting: retries 1..3 race the original
                copies = [post(user, text, event_id, r) for r in (None, 1, 2, 3)]
                await asyncio.gather(*copies)
            else:
                for retry in (None, 1, 2, 3):
                    await post(user, text, event_id, retry)

    try:
        await asyncio.gather(*(customer(i) for i in range(CHATS)))
        await bot.settle()
    finally:
        await bot.stop()
        await api.stop()
    assert set(statuses) == {200}, sorted(set(statuses))
    for index in range(CHATS):
        user = f"U{index:04d}"
        texts = [m["text"] for m in api.posted if m["channel"] == f"D{user}"]
        check_echoes(user, texts, echo_script(user, MESSAGES))
    tally.count("slack event retries (X-Slack-Retry-Num 1-3)", 3 * CHATS * (MESSAGES + 1))
    acks.sort()
    p99 = acks[int(len(acks) * 0.99) - 1]
    tally.note(
        "slack ack time",
        f"max {max(acks) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, median "
        f"{statistics.median(acks) * 1000:.0f} ms over {len(acks)} requests from "
        f"{CHATS} chats at once (up to {4 * CHATS} requests in flight)",
    )
