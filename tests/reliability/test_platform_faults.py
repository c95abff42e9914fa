"""Platform faults: the stand-ins answer ~10% of sends with 429 + retry_after, ~5% with
500 and drop ~1% of connections. Every reply must still arrive exactly once, in order
per chat, and no chat may be sent to again before the retry_after it was given passed —
checked from the stand-ins' own call logs (arrival times, ``time.monotonic()``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.checks import check_echoes, echo_script
from tests.reliability.conftest import HEAVY, Tally
from tests.reliability.harness import bot_settings, flows_dir, start_bot
from tests.standins import RandomFaults
from tests.standins.slack_api import SlackApiStandIn
from tests.standins.telegram_api import TelegramApiStandIn, text_update, user_json

# ptb 22 warns about RetryAfter's int form from inside its own constructor
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2:DeprecationWarning")

CHATS = 40 if HEAVY else 12
MESSAGES = 25 if HEAVY else 10
RETRY_AFTER = 1
DELIVERY_TIMEOUT = 300.0


def faults(method: str, seed: int) -> RandomFaults:
    return RandomFaults(
        rate_429=0.10,
        rate_500=0.05,
        rate_drop=0.01,
        retry_after=RETRY_AFTER,
        methods=frozenset({method}),
        seed=seed,
    )


def check_retry_after(calls: list[tuple[str, float, str | None]]) -> int:
    """``calls``: (chat, arrival, fault) in arrival order. After a 429 at ``t`` the next
    call to that chat arrives no earlier than ``t + retry_after``. Returns the 429s seen."""
    last_429: dict[str, float] = {}
    seen = 0
    for chat, at, fault in calls:
        if chat in last_429:
            waited = at - last_429.pop(chat)
            assert waited >= RETRY_AFTER, f"{chat}: sent again {waited:.3f}s after a 429"
        if fault == "429":
            last_429[chat] = at
            seen += 1
    return seen


async def wait_until(done: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "replies still missing"
        await asyncio.sleep(0.1)


async def test_telegram_sends_survive_429_500_and_dropped_connections(
    tmp_path: Path, tally: Tally
) -> None:
    async with TelegramApiStandIn(faults=faults("sendMessage", 8)) as api:
        settings = bot_settings(tmp_path, telegram=api, flows=flows_dir(tmp_path, shipped=False))
        bot = await start_bot(settings, telegram=api)
        try:
            users = [user_json(20_000 + i, f"C{i}") for i in range(CHATS)]
            for n in range(MESSAGES + 1):  # everyone writes without waiting for answers
                for user in users:
                    said = echo_script(str(user["id"]), MESSAGES)
                    api.queue_update(text_update(user, "echo" if n == 0 else said[n - 1]))
                await asyncio.sleep(0.05)

            def complete() -> bool:
                return len(api.calls_of("sendMessage")) >= CHATS * (MESSAGES + 2)

            await wait_until(complete, DELIVERY_TIMEOUT)
            await bot.settle()
        finally:
            await bot.stop()
    for user in users:
        chat = str(user["id"])
        received = [
            c.params["text"] for c in api.calls_of("sendMessage") if c.params["chat_id"] == chat
        ]
        check_echoes(chat, received, echo_script(chat, MESSAGES))
    sends = [c for c in api.calls if c.method == "sendMessage"]
    seen_429 = check_retry_after([(str(c.params.get("chat_id")), c.at, c.fault) for c in sends])
    drawn = Counter(c.fault or "ok" for c in sends)
    assert drawn["429"] and drawn["500"], drawn  # the faults really happened
    assert seen_429 == drawn["429"]
    tally.count("telegram sends with faults injected", len(sends))
    tally.note("telegram fault outcomes", ", ".join(f"{k} {v}" for k, v in sorted(drawn.items())))


async def test_slack_posts_survive_429_500_and_dropped_connections(
    tmp_path: Path, tally: Tally
) -> None:
    api = SlackApiStandIn(faults=faults("chat.postMessage", 9))
    await api.start()
    settings = bot_settings(tmp_path, slack=api, flows=flows_dir(tmp_path, shipped=False))
    bot = await start_bot(settings, slack=api)
    send = bot.slack_sender()
    statuses: list[int] = []
    try:

        async def customer(index: int) -> None:
            user = f"UF{index:03d}"
            for text in ["echo", *echo_script(user, MESSAGES)]:
                reply = await send.event(send.dm_event(user, text, f"D{user}"))
                statuses.append(reply.status)

        await asyncio.gather(*(customer(i) for i in range(CHATS)))
        await wait_until(lambda: len(api.posted) >= CHATS * (MESSAGES + 2), DELIVERY_TIMEOUT)
        await bot.settle()
    finally:
        await bot.stop()
        await api.stop()
    assert set(statuses) == {200}
    for index in range(CHATS):
        user = f"UF{index:03d}"
        received = [m["text"] for m in api.posted if m["channel"] == f"D{user}"]
        check_echoes(user, received, echo_script(user, MESSAGES))
    posts = [c for c in api.calls if c.method.startswith("chat.postMessage")]
    outcome = {"chat.postMessage": None, "chat.postMessage!429": "429"}
    calls = [(str(c.args.get("channel")), c.at, outcome.get(c.method, "other")) for c in posts]
    seen_429 = check_retry_after(calls)
    assert api.faults is not None
    drawn = dict(api.faults.drawn)
    assert drawn.get("429") and drawn.get("500"), drawn  # the faults really happened
    assert seen_429 == drawn["429"]
    tally.count("slack posts with faults injected", len(posts))
    tally.note("slack fault outcomes", ", ".join(f"{k} {v}" for k, v in sorted(drawn.items())))
