"""Floods, bursts and pacing end to end: the real python-telegram-bot (long polling and
webhook) and slack-bolt against the platform stand-ins.

A 300-message flood beside a calm customer: the flooder is told once and answered at
its latest, the transcript keeps all 300, and the calm customer's reply latency is
measured before and during the flood (printed; asserted only against a generous bound).
A three-message burst gets one answer that uses all of it. Replies to one chat are
spaced by the pacing setting (checked from the stand-in's own clock), and a 429's
``retry_after`` still holds.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from storage.records import TranscriptEntry
from tests.channels.test_slack import Slack, slack_bot
from tests.channels.test_telegram import SECRET, Running, make_settings, running
from tests.standins.action_server import SlowActionServer
from tests.standins.slack_api import SlackApiStandIn
from tests.standins.telegram_api import PrivateChat, TelegramApiStandIn, text_update, wait_until

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2:DeprecationWarning")

FLOOD = 300
NOTICE = "I've read all your messages"
LIMITS: dict[str, Any] = {
    "flood_messages": 8,
    "flood_window_seconds": 10,
    "flood_calm_seconds": 1.0,
    "pacing": True,
    "pace_telegram_chat_per_second": 5,  # faster than Telegram's 1/s: a quicker test
    "pace_slack_channel_per_second": 5,
}
GENEROUS = 10.0
"""Seconds: the calm customer must never wait behind the flood (typically ~0.1 s)."""


@pytest.fixture
async def api() -> Any:
    async with TelegramApiStandIn() as api:
        yield api


async def inbound_of(app: App, customer_id: str) -> list[TranscriptEntry]:
    entries: list[TranscriptEntry] = []
    for conversation in await app.store.conversations_of(customer_id):
        entries += [e for e in await app.store.transcript(conversation.id) if e.direction == "in"]
    return entries


def report(what: str, before: list[float], during: list[float], replies: int) -> None:
    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"

    print(
        f"\n{what}: calm customer's reply latency without a flood {ms(before)}; "
        f"during a {FLOOD}-message flood {ms(during)}; the flooder got {replies} replies"
    )


# ---- Telegram -----------------------------------------------------------------------

CALM_SCRIPT = (
    ("hi", "How can I help"),
    ("where is my order", "how do you like to be helped"),
    ("menu", "Pick a topic"),
    ("help", "menu"),
)


async def timed(chat: PrivateChat, words: str, expect: str) -> float:
    started = time.monotonic()
    await chat.say(words)
    await chat.expect(expect)
    return time.monotonic() - started


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_telegram_flood_beside_a_calm_customer(
    tmp_path: Path, api: TelegramApiStandIn, mode: str
) -> None:
    webhook = mode == "webhook"
    hook = {"TELEGRAM_WEBHOOK_URL": "https://bot.example/tg", "TELEGRAM_WEBHOOK_SECRET": SECRET}
    settings = make_settings(tmp_path, api, **LIMITS, **(hook if webhook else {}))
    async with running(settings, api) as bot:

        def customer(user_id: int, name: str) -> PrivateChat:
            return PrivateChat(api, user_id, name, deliver=_posting(bot) if webhook else None)

        before = [await timed(customer(7001, "Cal"), *step) for step in CALM_SCRIPT]

        flooder = customer(7002, "Flo")
        flood = [text_update(flooder.user, f"spam {n}") for n in range(1, FLOOD)]
        flood.append(text_update(flooder.user, "talk to a person"))  # the real question
        if webhook:  # Telegram sends a chat's updates one at a time, each after our answer
            flooding = asyncio.create_task(_post_each(bot, api, flood))
        else:  # a poll hands over what is pending: a chat's backlog comes in batches of 100
            for update in flood:
                api.queue_update(update)
            flooding = asyncio.create_task(asyncio.sleep(0))
        calm = customer(7003, "Cat")
        during = [await timed(calm, *step) for step in CALM_SCRIPT]
        await flooding

        await flooder.expect("in line", timeout=30)  # the latest, answered once it calmed
        said = await inbound_of(bot.app, "telegram:7002")
        assert [e.text for e in said] == [u["message"]["text"] for u in flood]  # all 300
        replies = [m["text"] for m in flooder.messages()]
        assert sum(NOTICE in t for t in replies) == 1
        # Long polling: the notice and the answer to the latest. Webhook: the first eight
        # messages arrive one by one and are answered before the flood shows, then the same.
        assert len(replies) <= (4 if not webhook else 2 * 8 + 4), replies
        assert not any("spam" in t for t in replies)
        assert max(during) < GENEROUS
        report(f"telegram {mode}", before, during, len(replies))


def _posting(bot: Running) -> Callable[[dict[str, Any]], Awaitable[object]]:
    async def post(update: dict[str, Any]) -> object:
        assert await bot.post(update) == 200
        return None

    return post


async def _post_each(bot: Running, api: TelegramApiStandIn, updates: list[dict[str, Any]]) -> None:
    for update in updates:
        update.setdefault("update_id", api.next_update_id())
        assert await bot.post(update) == 200


async def test_telegram_burst_is_answered_as_one_message(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    async with running(make_settings(tmp_path, api), api) as bot:
        ann = PrivateChat(api, 8001, "Ann")
        for words in ("hi", "my order hasn't arrived", "it's ws10001"):  # typed in a burst
            api.queue_update(text_update(ann.user, words))
        await ann.expect("how do you like to be helped")
        await ann.tap("Quick answers")
        await ann.expect("WS-10001", "shipped")  # the flow of one message, the number of another
        texts = [m["text"] for m in ann.messages()]
        assert not any("order number?" in t or "Pick a topic" in t for t in texts), texts
        said = await inbound_of(bot.app, "telegram:8001")
        assert [e.text for e in said][:3] == ["hi", "my order hasn't arrived", "it's ws10001"]
        assert [bool(e.data.get("with_previous")) for e in said][:3] == [False, True, True]


async def test_telegram_webhook_burst_during_a_slow_turn_is_answered_as_one_message(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    # Telegram sends a chat's next update only after our answer to the previous one. The
    # order lookup is slow here: its update is answered once kept in the inbox, so the
    # customer's impatient follow-ups reach the bot while it runs and are taken together.
    async with SlowActionServer() as shop:
        hook = {"TELEGRAM_WEBHOOK_URL": "https://bot.example/tg", "TELEGRAM_WEBHOOK_SECRET": SECRET}
        settings = make_settings(tmp_path, api, action_endpoint=shop.url, **hook)
        async with running(settings, api) as bot:
            ann = PrivateChat(api, 8101, "Ann", deliver=_posting(bot))
            await ann.say("where is my order")
            await ann.expect("how do you like to be helped")
            await ann.tap("Quick answers")
            await ann.expect("order number")

            await ann.say("its ws10001")  # 200 although the lookup has not answered
            await wait_until(lambda: shop.calls == ["order_status"])
            await ann.say("hello??")
            await ann.say("are you even there")
            assert not shop.release.is_set() and await bot.app.store.inbox.count() == 3
            shop.release.set()
            await ann.expect("WS-10001", "shipped")

            await wait_until(lambda: not bot.app.receipts.running)
            said = await inbound_of(bot.app, "telegram:8101")
            assert [e.text for e in said][-3:] == ["its ws10001", "hello??", "are you even there"]
            assert [bool(e.data.get("with_previous")) for e in said][-3:] == [False, False, True]
            assert await bot.app.store.inbox.count() == 0  # each turn done: nothing kept


async def test_telegram_replies_to_one_chat_are_paced_and_a_429_is_honoured(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    interval = 0.25
    settings = make_settings(
        tmp_path,
        api,
        TELEGRAM_WEBHOOK_URL="https://bot.example/tg",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        pacing=True,
        pace_telegram_chat_per_second=1 / interval,
        pace_burst=1,
    )
    async with running(settings, api) as bot:
        ann = PrivateChat(api, 9001, "Ann", deliver=_posting(bot))
        ben = PrivateChat(api, 9002, "Ben", deliver=_posting(bot))
        for words in ("hi", "menu", "help", "menu", "help"):
            await ann.say(words)  # answered (committed) at once; the replies queue up
        await ben.say("hi")
        await wait_until(lambda: len(ann.messages()) >= 6 and ben.messages(), 20)

        def sends_to(chat: int) -> list[float]:
            calls = api.calls_of("sendMessage")
            return [c.at for c in calls if int(c.params["chat_id"]) == chat]

        gaps = [b - a for a, b in itertools.pairwise(sends_to(9001))]
        assert all(gap >= interval * 0.8 for gap in gaps), gaps
        assert sends_to(9002)[0] < sends_to(9001)[-1]  # Ben was not queued behind Ann
        print(f"\ntelegram pacing: gaps {[round(g, 3) for g in gaps]} s at {interval} s")

        before = len(ann.messages())
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        await ann.say("menu")
        await wait_until(lambda: len(ann.messages()) > before, 20)
        [failed] = [c for c in api.calls_of("sendMessage", failed=True)]
        assert sends_to(9001)[-1] - failed.at >= 0.95  # never before retry_after


# ---- Slack --------------------------------------------------------------------------


@pytest.fixture
async def slack(tmp_path: Path) -> Any:
    api = SlackApiStandIn()
    for user, name in (("U1", "Ann"), ("U7", "Cal"), ("U8", "Cat"), ("U9", "Flo")):
        api.add_user(user, first_name=name)
    async with slack_bot(tmp_path, api, **LIMITS) as bot:
        yield bot


async def test_slack_burst_is_answered_as_one_message(slack: Slack) -> None:
    # Slack sends events side by side; they are read in the order they came, and what
    # came while the first was being prepared (the name lookup) is one turn.
    slow_lookup = slack.api.holds["users.info"] = asyncio.Event()
    posts = []
    for words in ("hi", "where is my order", "it's ws10001"):
        posts.append(asyncio.create_task(slack.send.event(slack.send.dm_event("U1", words, "D1"))))
        await asyncio.sleep(0.05)  # in this order
    await asyncio.sleep(0.2)
    slow_lookup.set()
    assert [reply.status for reply in await asyncio.gather(*posts)] == [200, 200, 200]
    await slack.settle()
    assert "how do you like to be helped" in slack.text(slack.posted_to("D1"))
    text = await slack.press("Quick answers")
    assert "WS-10001" in text and "shipped" in text
    everything = slack.text(slack.posted_to("D1"))
    assert "order number?" not in everything and "Pick a topic" not in everything
    said = await inbound_of(slack.app, "slack:U1")
    assert [e.text for e in said][:3] == ["hi", "where is my order", "it's ws10001"]
    assert len(slack.api.of("users.info")) == 1  # one lookup for the three


async def test_slack_flood_beside_a_calm_customer(slack: Slack) -> None:
    async def timed_dm(user: str, channel: str, words: str, expect: str) -> float:
        started = time.monotonic()
        before = len(slack.posted_to(channel))
        reply = await slack.send.event(slack.send.dm_event(user, words, channel))
        assert reply.status == 200
        await wait_until(lambda: expect in slack.text(slack.posted_to(channel)[before:]), 20)
        return time.monotonic() - started

    before = [await timed_dm("U7", "D7", w, e) for w, e in CALM_SCRIPT]

    texts = [f"spam {n}" for n in range(1, FLOOD)] + ["talk to a person"]
    in_flight = asyncio.Semaphore(10)  # Slack sends events side by side

    async def flood_one(words: str) -> None:
        async with in_flight:
            event = slack.send.dm_event("U9", words, "D9")
            assert (await slack.send.event(event)).status == 200
        await asyncio.sleep(0)

    flooding = asyncio.gather(*(flood_one(w) for w in texts))
    during = [await timed_dm("U8", "D8", w, e) for w, e in CALM_SCRIPT]
    await flooding
    await wait_until(lambda: "in line" in slack.text(slack.posted_to("D9")), 30)

    said = await inbound_of(slack.app, "slack:U9")
    assert sorted(e.text for e in said) == sorted(texts)  # nothing lost (sent side by side)
    replies = [m["text"] for m in slack.posted_to("D9")]
    assert sum(NOTICE in t for t in replies) == 1
    assert len(replies) <= 2 * 8 + 4, replies
    assert max(during) < GENEROUS
    report("slack", before, during, len(replies))
