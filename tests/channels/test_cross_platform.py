"""Routing is by ticket, not by platform: a customer on Telegram, an agent in Slack.

Both real libraries run in one `supportbot run`-like process against their stand-ins;
the Slack desk feed runs as the runner starts it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import build_app
from bot.channel_setup import build_channels, build_desks
from bot.channels.base import InboundGate
from bot.handoff import desk_feed
from bot.runner import Runner
from tests.channels.test_slack import SECRET, _wait_healthy, slack_settings
from tests.standins import free_port
from tests.standins.slack_api import SlackApiStandIn, SlackSender
from tests.standins.telegram_api import PrivateChat, TelegramApiStandIn, wait_until

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2:DeprecationWarning")
DESK = "CDESK"


async def test_telegram_customer_served_from_the_slack_desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desk_feed, "FEED_SECONDS", 0.05)
    slack_api = SlackApiStandIn()
    slack_api.add_user("UALICE", display_name="alice")
    await slack_api.start()
    async with TelegramApiStandIn() as telegram_api:
        port = free_port()
        settings = slack_settings(
            tmp_path,
            slack_api,
            port,
            SLACK_AGENT_CHANNEL=DESK,
            TELEGRAM_BOT_TOKEN=telegram_api.token,
            TELEGRAM_API_BASE_URL=telegram_api.url,
        )
        app = await build_app(settings)
        gate = InboundGate(app.manager.handle)
        channels = build_channels(settings, gate, app)
        runner = Runner(app, gate, channels)
        runner.desks.extend(build_desks(settings, app, runner.handoff, channels))
        assert [d.name for d in runner.desks] == ["slack"]
        task = asyncio.create_task(runner.serve("127.0.0.1", port))
        agent = SlackSender(f"http://127.0.0.1:{port}/slack/events", SECRET)
        try:
            await _wait_healthy(port, task)
            ann = PrivateChat(telegram_api, 801, "Ann")
            await ann.say("/start")
            await ann.expect("Ann")
            await ann.say("I want to talk to a human")
            await ann.expect("number 1 in line")

            def card() -> dict[str, object] | None:
                posts = [m for m in slack_api.posted if m["channel"] == DESK]
                return next((m for m in posts if "thread_ts" not in m), None)

            await wait_until(lambda: card() is not None)
            the_card = card()
            assert the_card is not None and "(telegram)" in str(the_card["blocks"])
            assert (await agent.press("UALICE", DESK, the_card, "Take")).status == 200
            await ann.expect("alice from our team has joined")

            reply = agent.channel_message("UALICE", "Hi Ann, checking now.", DESK,
                                          thread_ts=str(the_card["ts"]))  # fmt: skip
            assert (await agent.event(reply)).status == 200
            await ann.expect("Hi Ann, checking now.")

            await ann.say("thanks, it's order WS-10001")
            await wait_until(
                lambda: any(
                    "WS-10001" in str(m["text"])
                    for m in slack_api.posted
                    if m["channel"] == DESK and m.get("thread_ts") == the_card["ts"]
                )
            )
            latest = {**the_card, **[u for u in slack_api.updated if u["ts"] == the_card["ts"]][-1]}
            assert (await agent.press("UALICE", DESK, latest, "Close")).status == 200
            await ann.expect("back with the bot", "How did we do?")
        finally:
            runner.stop.set()
            await asyncio.wait_for(task, 30)
            await slack_api.stop()
