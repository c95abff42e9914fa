"""The Slack channel end to end: real slack-bolt + the real app + a Slack Web API stand-in.

Requests are signed like Slack signs them and POSTed to the bot's ``/slack/events``;
assertions are on what the stand-in received (``chat.postMessage``, ``chat.update``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import App, build_app
from bot.channels.base import InboundGate
from bot.channels.slack import SlackChannel
from bot.channels.slack_blocks import render, split_text
from bot.delivery import DeliveryError
from bot.errors import ConfigError
from bot.messages import Button, ConversationKey, Outbound
from bot.runner import Runner
from bot.settings import Settings
from tests.conftest import FLOWS, PERSONAS, settle
from tests.standins import free_port
from tests.standins.slack_api import (
    BOT_ID,
    BOT_USER_ID,
    Failure,
    Reply,
    SlackApiStandIn,
    SlackSender,
    buttons_of,
    labels_of,
    wait_for,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def slack_settings(tmp_path: Path, api: SlackApiStandIn, port: int, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "flows_dir": FLOWS,
        "personas_dir": PERSONAS,
        "hot_reload": False,
        "http_port": port,
        "SLACK_BOT_TOKEN": api.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_APP_TOKEN": None,
        "SLACK_API_URL": api.url,
        "TELEGRAM_BOT_TOKEN": None,
        "pacing": False,  # test customers answer at once; pacing has its own tests
    }
    values.update(extra)
    return Settings(_env_file=None, **values)


@dataclass
class Slack:
    """The running bot, the Web API stand-in, and Slack's side of the conversation."""

    api: SlackApiStandIn
    send: SlackSender
    app: App
    channel: SlackChannel
    runner: Runner

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until no turn runs and every queued reply has been delivered."""
        await settle(self.app.store, self.runner.gate, timeout)

    def posted_to(self, channel: str, thread: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.api.posted
            if m["channel"] == channel and (thread is None or m.get("thread_ts") == thread)
        ]

    def text(self, messages: list[dict[str, Any]]) -> str:
        return "\n".join(m["text"] for m in messages)

    async def dm(self, text: str, user: str = "U1", channel: str = "D1") -> str:
        """Send a DM; return the text of the bot's replies to it."""
        before = len(self.posted_to(channel))
        reply = await self.send.event(self.send.dm_event(user, text, channel))
        assert reply.status == 200, reply
        await self.settle()
        return self.text(self.posted_to(channel)[before:])

    async def press(
        self, label: str, user: str = "U1", channel: str = "D1", thread: str | None = None
    ) -> str:
        """Press ``label`` on the newest message offering it; return the replies' text."""
        messages = self.posted_to(channel, thread)
        message = next(m for m in reversed(messages) if label in labels_of(m))
        reply = await self.send.press(user, channel, message, label)
        assert reply.status == 200, reply
        await self.settle()
        return self.text(self.posted_to(channel, thread)[len(messages) :])


@asynccontextmanager
async def slack_bot(tmp_path: Path, api: SlackApiStandIn, **extra: Any) -> AsyncIterator[Slack]:
    """The bot serving Slack events on a free port, against the (not yet started) stand-in;
    ``extra`` are settings."""
    await api.start()
    port = free_port()
    settings = slack_settings(tmp_path, api, port, **extra)
    app = await build_app(settings)
    gate = InboundGate(app.manager.handle)
    channel = SlackChannel(settings, gate, app.store)
    runner = Runner(app, gate, [channel])
    task = asyncio.create_task(runner.serve("127.0.0.1", port))
    sender = SlackSender(f"http://127.0.0.1:{port}/slack/events", SECRET)
    try:
        await _wait_healthy(port, task)
        yield Slack(api, sender, app, channel, runner)
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 30)
        await api.stop()


@pytest.fixture
async def slack(tmp_path: Path) -> AsyncIterator[Slack]:
    api = SlackApiStandIn()
    api.add_user("U1", first_name="Ann")
    api.add_user("U2", display_name="Ben")
    async with slack_bot(tmp_path, api) as bot:
        yield bot


async def _wait_healthy(port: int, task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + 10
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if task.done():
                task.result()
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the bot did not come up")


# -- whole conversations ------------------------------------------------------------------


async def test_self_serve_customer_tracks_an_order_in_a_dm(slack: Slack) -> None:
    assert "Hi Ann!" in await slack.dm("hi")  # first name from users.info
    assert "how do you like to be helped" in await slack.dm("where is my order")
    assert "order number" in await slack.press("Quick answers")

    # The pressed message lost its buttons and shows the choice instead.
    update = slack.api.updated[-1]
    question = next(m for m in slack.api.posted if "Quick answers" in labels_of(m))
    assert update["channel"] == "D1" and update["ts"] == question["ts"]
    types = [b["type"] for b in update["blocks"]]
    assert "actions" not in types and types[0] == "section"
    assert update["blocks"][-1]["elements"][0]["text"] == "✔ Quick answers"

    text = await slack.dm("ws-10001")
    assert "WS-10001" in text and "shipped" in text
    report = slack.posted_to("D1")[-1]
    track = next(b for b in buttons_of(report) if b["text"]["text"] == "Track it")
    assert track["url"].startswith("http") and "value" not in track
    assert "Happy to help" in await slack.press("Thanks, that's all")

    assert all("thread_ts" not in m for m in slack.api.posted)  # DMs are not threaded
    assert len(slack.api.of("users.info")) == 1  # the name is cached
    conversations = await slack.app.store.conversations_of("slack:U1")
    assert conversations[0].chat_key == "slack:D1" and conversations[0].status == "rating"


async def test_guided_customer_is_walked_through_and_a_stale_button_is_recognised(
    slack: Slack,
) -> None:
    chat = {"user": "U2", "channel": "D2"}
    assert "how do you like to be helped" in await slack.dm("track my order", **chat)
    assert "confirmation email" in await slack.press("Step by step", **chat)
    assert "type it here" in await slack.press("Found it", **chat)
    # The same button again (a stale copy of the message): the engine says so.
    assert "earlier message" in await slack.press("Found it", **chat)
    text = await slack.dm("WS-10003", **chat)
    assert "Thanks, Ben" in text and "tracking page" in text  # display name as first name
    assert "Does everything look right" in await slack.press("Yes, I see it", **chat)
    assert "on its way" in await slack.press("Yes, all good", **chat)


async def test_reset_password_in_a_channel_thread(slack: Slack) -> None:
    mention = slack.send.mention_event("U1", "I forgot my password", "C1")
    root = mention["ts"]
    assert (await slack.send.event(mention)).status == 200
    await slack.settle()
    assert "how do you like to be helped" in slack.text(slack.posted_to("C1", root))

    text = await slack.press("Quick answers", channel="C1", thread=root)
    assert "shop.example/reset" in text

    # A plain reply in the thread continues the conversation — no mention needed.
    before = len(slack.posted_to("C1"))
    reply = slack.send.channel_message("U1", "that worked", "C1", thread_ts=root)
    assert (await slack.send.event(reply)).status == 200
    # Chatter elsewhere in the channel is not for the bot.
    chatter = slack.send.channel_message("U1", "lunch anyone?", "C1")
    other = slack.send.channel_message("U1", "where is my order", "C1", thread_ts="1.000001")
    for event in (chatter, other):
        assert (await slack.send.event(event)).status == 200
    await slack.settle()
    answers = slack.posted_to("C1")[before:]
    assert "back in" in slack.text(answers)
    assert all(m["thread_ts"] == root for m in slack.api.posted)
    conversations = await slack.app.store.conversations_of("slack:U1")
    assert [c.chat_key for c in conversations] == [f"slack:C1:{root}"]


# -- the edge: verification, redelivery, what is ignored -------------------------------------


async def test_forged_and_stale_signatures_are_refused_and_not_processed(slack: Slack) -> None:
    event = slack.send.dm_event("U1", "hi", "D1")
    forged = await slack.send.event(event, secret="not-the-secret")
    stale = await slack.send.event(event, timestamp=int(time.time()) - 6 * 60)
    assert (forged.status, stale.status) == (401, 401)
    await slack.settle()
    assert slack.api.posted == []
    assert await slack.app.store.conversations_of("slack:U1") == []


async def test_a_redelivered_event_is_answered_once(slack: Slack) -> None:
    event = slack.send.dm_event("U1", "hi", "D1")
    assert (await slack.send.event(event, event_id="Ev0RETRY")).status == 200
    await slack.settle()
    replies = len(slack.api.posted)
    assert replies >= 1
    again = await slack.send.event(event, event_id="Ev0RETRY", retry_num=1)
    assert again.status == 200
    await slack.settle()
    assert len(slack.api.posted) == replies


async def test_bot_messages_and_edits_are_ignored(slack: Slack) -> None:
    send = slack.send
    events = [
        send.dm_event(BOT_USER_ID, "Hi Ann!", "D1", bot_id=BOT_ID),  # our own
        send.dm_event("U9", "beep", "D1", bot_id="B999", subtype="bot_message"),  # another bot
        {**send.dm_event("U1", "", "D1"), "subtype": "message_changed"},
        {**send.dm_event("U1", "", "D1"), "subtype": "message_deleted"},
    ]
    for event in events:
        assert (await send.event(event)).status == 200
    await slack.settle()
    assert slack.api.posted == []
    for user in ("U1", "U9", BOT_USER_ID):
        assert await slack.app.store.conversations_of(f"slack:{user}") == []


async def test_url_verification_challenge(slack: Slack) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})
    reply = await slack.send.post(body.encode(), "application/json")
    assert reply.status == 200 and "c-123" in reply.text


async def test_a_file_gets_the_text_only_reply(slack: Slack) -> None:
    files = [{"id": "F1", "name": "photo.png", "mimetype": "image/png"}]
    event = slack.send.dm_event("U1", "", "D1", subtype="file_share", files=files)
    assert (await slack.send.event(event)).status == 200
    await slack.settle()
    assert "only read text" in slack.text(slack.posted_to("D1"))


# -- timing, shutdown, delivery failures ---------------------------------------------------


async def test_a_slow_turn_is_acked_in_time_and_still_answered(slack: Slack) -> None:
    slack.channel.ack_budget = 0.3
    slack.api.delays["users.info"] = 1.5
    started = time.monotonic()
    reply = await slack.send.event(slack.send.dm_event("U1", "hi", "D1"))
    assert reply.status == 200 and time.monotonic() - started < 1.2
    await wait_for(lambda: "Hi Ann" in slack.text(slack.posted_to("D1")))


async def test_during_shutdown_events_are_refused_so_slack_redelivers(slack: Slack) -> None:
    slack.runner.gate.close()
    reply: Reply = await slack.send.event(slack.send.dm_event("U1", "hi", "D1"))
    assert reply.status == 503
    assert await slack.app.store.conversations_of("slack:U1") == []


async def test_rate_limited_post_is_retried_after_retry_after(slack: Slack) -> None:
    slack.api.fail_next("chat.postMessage", Failure(429, "ratelimited", retry_after=1))
    assert (await slack.send.event(slack.send.dm_event("U1", "hi", "D1"))).status == 200
    await wait_for(lambda: "Hi Ann" in slack.text(slack.posted_to("D1")), timeout=15)
    assert [c.method for c in slack.api.calls].count("chat.postMessage!failed") == 1


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (Failure(200, "account_inactive", None), "unreachable"),
        (Failure(200, "is_archived", None), "unreachable"),
        (Failure(200, "channel_not_found", None), "permanent"),
        (Failure(200, "not_in_channel", None), "permanent"),
        (Failure(503, "service_unavailable", None), "transient"),
        (Failure(429, "ratelimited", 7), "retry_after"),
    ],
)
async def test_send_failures_map_to_delivery_errors(
    slack: Slack, failure: Failure, kind: str
) -> None:
    slack.api.fail_next("chat.postMessage", failure)
    with pytest.raises(DeliveryError) as caught:
        await slack.channel.transport.send(Outbound(ConversationKey("slack", "D1"), "hello"))
    error = caught.value
    outcome = {
        "unreachable": error.unreachable,
        "permanent": error.permanent and not error.unreachable,
        "transient": not error.permanent and error.retry_after is None,
        "retry_after": error.retry_after == 7,
    }
    assert outcome[kind], (error, error.permanent, error.unreachable, error.retry_after)


async def test_send_returns_ts_and_threads_thread_chats(slack: Slack) -> None:
    key = ConversationKey("slack", "C7:1710000000.000042")
    ts = await slack.channel.transport.send(Outbound(key, "hello"))
    posted = slack.api.posted[-1]
    assert ts == posted["ts"] and posted["channel"] == "C7"
    assert posted["thread_ts"] == "1710000000.000042"


async def test_a_bad_token_is_one_config_error_naming_the_url(tmp_path: Path) -> None:
    api = SlackApiStandIn()
    await api.start()
    try:
        settings = slack_settings(tmp_path, api, free_port(), SLACK_BOT_TOKEN="xoxb-wrong")
        channel = SlackChannel(settings, InboundGate(_never))
        with pytest.raises(ConfigError) as caught:
            await channel.start()
        assert api.url in str(caught.value) and "xoxb-wrong" not in str(caught.value)
    finally:
        await api.stop()


async def _never(_: Any) -> list[Outbound]:
    raise AssertionError("no update expected")


# -- Block Kit rendering (pure) --------------------------------------------------------------


def test_text_is_escaped_and_long_text_split_into_sections() -> None:
    key = ConversationKey("slack", "D1")
    text, blocks = render(Outbound(key, "<@U1> & <https://x|y>", (Button("Go", payload="m:x"),)))
    assert text == "&lt;@U1&gt; &amp; &lt;https://x|y&gt;"  # the fallback is mrkdwn too
    assert blocks[0]["text"]["text"] == "&lt;@U1&gt; &amp; &lt;https://x|y&gt;"
    assert blocks[1]["elements"][0] == {
        "type": "button",
        "action_id": "supportbot_0",
        "text": {"type": "plain_text", "text": "Go", "emoji": True},
        "value": "m:x",
    }
    long = ("word " * 1500) + "&" * 2000
    chunks = split_text(long)
    assert len(chunks) > 2 and all(len(c) <= 3000 for c in chunks)
    assert "".join(chunks).replace(" ", "") == ("word" * 1500) + "&amp;" * 2000
    _, many = render(Outbound(key, "x" * 200_000, tuple(Button(f"b{i}" * 40) for i in range(30))))
    assert len(many) == 50 and all(len(b.get("text", {}).get("text", "")) <= 3000 for b in many)
    labels = [e["text"]["text"] for b in many if b["type"] == "actions" for e in b["elements"]]
    assert len(labels) == 30 and all(len(label) <= 75 for label in labels)
    assert (
        len({e["action_id"] for b in many if b["type"] == "actions" for e in b["elements"]}) == 30
    )
