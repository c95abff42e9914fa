"""The journeys that must always work, on every platform and mode, in both personas:
"where is my order" and "reset password" — Telegram (long polling and webhook) and
Slack (DM and channel thread), each driven through the real library and a stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.channels.test_slack import Slack, slack_bot
from tests.channels.test_telegram import SECRET, make_settings, post_ok, running
from tests.standins.slack_api import SlackApiStandIn
from tests.standins.telegram_api import PrivateChat, TelegramApiStandIn

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2:DeprecationWarning")

Step = tuple[str, str, tuple[str, ...]]  # ("say" | "tap", text, expected fragments)

JOURNEYS: dict[str, list[Step]] = {
    "where_is_my_order/self_serve": [
        ("say", "where is my order", ("how do you like to be helped",)),
        ("tap", "Quick answers", ("order number",)),
        ("say", "WS-10001", ("WS-10001", "shipped")),
        ("tap", "Thanks, that's all", ("Happy to help",)),
    ],
    "where_is_my_order/guided": [
        ("say", "where is my order", ("how do you like to be helped",)),
        ("tap", "Step by step", ("confirmation email",)),
        ("tap", "Found it", ("type it here",)),
        ("say", "ws-10002", ("delivered",)),
        ("tap", "Yes, I see it", ("Does everything look right",)),
        ("tap", "Yes, all good", ("on its way",)),
    ],
    "reset_password/self_serve": [
        ("say", "I forgot my password", ("how do you like to be helped",)),
        ("tap", "Quick answers", ("shop.example/reset",)),
        ("tap", "That worked", ("back in",)),
    ],
    "reset_password/guided": [
        ("say", "I forgot my password", ("how do you like to be helped",)),
        ("tap", "Step by step", ("Step 1 of 3",)),
        ("tap", "It's open", ("Step 2 of 3",)),
        ("tap", "Yes, done", ("Could you set a new password?",)),
        ("tap", "Yes, done", ("back in",)),
    ],
}


@pytest.mark.parametrize("journey", sorted(JOURNEYS))
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_telegram(tmp_path: Path, mode: str, journey: str) -> None:
    async with TelegramApiStandIn() as api:
        extra: dict[str, Any] = {}
        if mode == "webhook":
            extra = {
                "TELEGRAM_WEBHOOK_URL": "https://bot.example/telegram/webhook",
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
            }
        async with running(make_settings(tmp_path, api, **extra), api) as bot:
            deliver = (lambda u: post_ok(bot, u)) if mode == "webhook" else None
            customer = PrivateChat(api, 700, "Tess", deliver=deliver)
            for action, text, expected in JOURNEYS[journey]:
                await (customer.say(text) if action == "say" else customer.tap(text))
                await customer.expect(*expected)


@pytest.mark.parametrize("journey", sorted(JOURNEYS))
@pytest.mark.parametrize("place", ["dm", "thread"])
async def test_slack(tmp_path: Path, place: str, journey: str) -> None:
    api = SlackApiStandIn()
    api.add_user("U7", first_name="Sam")
    async with slack_bot(tmp_path, api) as slack:
        await play_slack(slack, place, JOURNEYS[journey])


async def play_slack(slack: Slack, place: str, steps: list[Step]) -> None:
    channel, thread = ("D7", None) if place == "dm" else ("C7", None)
    for index, (action, text, expected) in enumerate(steps):
        if action == "tap":
            reply = await slack.press(text, user="U7", channel=channel, thread=thread)
        elif place == "dm":
            reply = await slack.dm(text, user="U7", channel=channel)
        elif index == 0:  # a channel conversation starts with a mention; it continues in thread
            mention = slack.send.mention_event("U7", text, channel)
            thread = mention["ts"]
            assert (await slack.send.event(mention)).status == 200
            await slack.settle()
            reply = slack.text(slack.posted_to(channel, thread))
        else:
            before = len(slack.posted_to(channel, thread))
            event = slack.send.channel_message("U7", text, channel, thread_ts=thread)
            assert (await slack.send.event(event)).status == 200
            await slack.settle()
            reply = slack.text(slack.posted_to(channel, thread)[before:])
        for fragment in expected:
            assert fragment.lower() in reply.lower(), (
                f"{text!r}: expected {fragment!r} in {reply!r}"
            )
    if thread is not None:
        assert all(m.get("thread_ts") == thread for m in slack.posted_to(channel))
