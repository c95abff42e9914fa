"""The Slack channel over Socket Mode: real slack-bolt/slack-sdk + the real app + stand-ins.

The bot runs as a self-hosted team would run it behind a firewall: ``SLACK_APP_TOKEN``
and no signing secret, so no public ``/slack/events`` at all. It opens Socket Mode via
``apps.connections.open`` on the Web API stand-in and receives the same events and
presses as the HTTP tests (``tests/channels/test_slack.py``, ``test_slack_desk.py``,
whose helpers are reused) as envelopes from :mod:`tests.standins.slack_socket`; a
``Reply(200)`` there means "acknowledged by ``envelope_id``".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import build_app
from bot.channels.base import InboundGate
from bot.channels.slack import SlackChannel
from bot.channels.slack_socket import SlackSocket
from bot.errors import ConfigError
from bot.handoff.desk_feed import DeskFeed
from bot.handoff.slack_desk import build_slack_desk
from bot.messages import Outbound
from bot.runner import Runner
from tests.channels.test_slack import Slack, _wait_healthy, slack_settings
from tests.channels.test_slack_desk import ALICE, BOB, DESK, Desk, ask_for_a_person
from tests.standins import free_port
from tests.standins.slack_api import SlackApiStandIn, labels_of, wait_for
from tests.standins.slack_socket import SlackSocketStandIn, SocketSender

PING_INTERVAL = 2.0
"""Socket Mode pings in the tests that cut connections (``fast_bot``; the others run with
the production 10 s): a cut connection is replaced after about one of these, a silent
one after about two."""


@dataclass
class SocketBot:
    """The running bot on Socket Mode, the stand-ins, and (with an agents' channel) the desk."""

    slack: Slack
    socket: SlackSocketStandIn
    desk: Desk | None
    port: int

    @property
    def send(self) -> SocketSender:
        assert isinstance(self.slack.send, SocketSender)
        return self.slack.send


def _api() -> SlackApiStandIn:
    api = SlackApiStandIn()
    api.add_user("U1", first_name="Ann")
    api.add_user("U2", display_name="Ben")
    api.add_user(ALICE, display_name="ualice")
    api.add_user(BOB, display_name="ubob")
    return api


@asynccontextmanager
async def socket_bot(
    tmp_path: Path, ping_interval: float = SlackSocket.ping_interval, **extra: Any
) -> AsyncIterator[SocketBot]:
    """The bot connected over Socket Mode; ``extra`` are settings."""
    api = _api()
    socket = SlackSocketStandIn(api)
    await api.start()
    await socket.start()
    port = free_port()
    values = {"SLACK_SIGNING_SECRET": None, "SLACK_APP_TOKEN": api.app_token, **extra}
    settings = slack_settings(tmp_path, api, port, **values)
    app = await build_app(settings)
    gate = InboundGate(app.manager.handle)
    channel = SlackChannel(settings, gate, app.store)
    assert channel.socket is not None
    channel.socket.ping_interval = ping_interval
    runner = Runner(app, gate, [channel])  # no desks: a desk test drives the feed itself
    slack_desk = build_slack_desk(settings, app.store, runner.handoff, channel)
    task = asyncio.create_task(runner.serve("127.0.0.1", port))
    try:
        await _wait_healthy(port, task)
        await socket.wait_connected()
        slack = Slack(api, SocketSender(socket), app, channel, runner)
        desk = None
        if slack_desk is not None:
            desk = Desk(slack, slack_desk, DeskFeed(app.store, runner.handoff, slack_desk))
        yield SocketBot(slack, socket, desk, port)
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 30)
        await socket.stop()
        await api.stop()


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[SocketBot]:
    async with socket_bot(tmp_path) as running:
        yield running


@pytest.fixture
async def fast_bot(tmp_path: Path) -> AsyncIterator[SocketBot]:
    """The bot with quick pings, for the tests that cut its connection."""
    async with socket_bot(tmp_path, PING_INTERVAL) as running:
        yield running


@pytest.fixture
async def desk_bot(tmp_path: Path) -> AsyncIterator[SocketBot]:
    async with socket_bot(tmp_path, SLACK_AGENT_CHANNEL=DESK) as running:
        yield running


# -- the journeys of the HTTP tests, over the socket ----------------------------------------


async def test_a_customer_tracks_an_order_in_a_dm(bot: SocketBot) -> None:
    slack, socket = bot.slack, bot.socket
    assert "Hi Ann!" in await slack.dm("hi")
    assert "how do you like to be helped" in await slack.dm("where is my order")
    assert "order number" in await slack.press("Quick answers")  # an interactive envelope
    update = slack.api.updated[-1]
    assert update["blocks"][-1]["elements"][0]["text"] == "✔ Quick answers"
    text = await slack.dm("ws-10001")
    assert "WS-10001" in text and "shipped" in text
    assert "Happy to help" in await slack.press("Thanks, that's all")

    kinds = [e["type"] for e in socket.envelopes]
    assert kinds == ["events_api", "events_api", "interactive", "events_api", "interactive"]
    assert socket.unacked == []  # every envelope acknowledged, by its envelope_id
    assert all(set(ack) == {"envelope_id"} for ack in socket.acks.values())
    assert len(socket.connections) == 1 and socket.refused == 0
    opened = [c for c in slack.api.calls if c.method == "apps.connections.open"]
    assert [c.token for c in opened] == [slack.api.app_token]  # the app-level token
    conversations = await slack.app.store.conversations_of("slack:U1")
    assert conversations[0].chat_key == "slack:D1" and conversations[0].status == "rating"

    # No signing secret, no public URL: the HTTP route is not served at all.
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{bot.port}/slack/events", data=b"{}") as reply,
    ):
        assert reply.status == 404


async def test_reset_password_in_a_channel_thread(bot: SocketBot) -> None:
    slack = bot.slack
    mention = slack.send.mention_event("U1", "I forgot my password", "C1")
    root = mention["ts"]
    assert (await slack.send.event(mention)).status == 200
    await slack.settle()
    assert "how do you like to be helped" in slack.text(slack.posted_to("C1", root))
    assert "shop.example/reset" in await slack.press("Quick answers", channel="C1", thread=root)

    before = len(slack.posted_to("C1"))
    reply = slack.send.channel_message("U1", "that worked", "C1", thread_ts=root)
    chatter = slack.send.channel_message("U1", "lunch anyone?", "C1")
    for event in (reply, chatter):
        assert (await slack.send.event(event)).status == 200  # chatter is acked too
    await slack.settle()
    assert "back in" in slack.text(slack.posted_to("C1")[before:])
    assert all(m["thread_ts"] == root for m in slack.api.posted)
    assert bot.socket.unacked == []


async def test_an_agent_takes_talks_and_closes_in_the_agents_channel(desk_bot: SocketBot) -> None:
    desk = desk_bot.desk
    assert desk is not None
    slack = desk.slack
    await ask_for_a_person(desk)
    assert labels_of(desk.card()) == ["Take", "Close"]

    await desk.press("Take", ALICE)
    await desk.sync()
    assert "Taken by @ualice" in desk.card_text()
    assert "@ualice from our team has joined" in slack.text(slack.posted_to("D1"))

    await desk.reply(ALICE, "Hi Ann, let me check.", desk.card()["ts"])
    assert slack.posted_to("D1")[-1]["text"] == "Hi Ann, let me check."
    assert await slack.dm("my order is WS-10001") == ""  # the bot stays quiet
    await desk.sync()
    assert desk.thread()[-1] == "Customer: my order is WS-10001"

    before = len(slack.posted_to("D1"))
    await desk.press("Close", ALICE)
    await desk.sync()
    assert "Closed by @ualice" in desk.card_text() and labels_of(desk.card()) == []
    assert "back with the bot. How did we do?" in slack.text(slack.posted_to("D1")[before:])
    assert desk_bot.socket.unacked == []


async def test_two_agents_take_at_once_over_the_socket_and_one_wins(desk_bot: SocketBot) -> None:
    desk = desk_bot.desk
    assert desk is not None
    await ask_for_a_person(desk)
    card = desk.card()
    replies = await asyncio.gather(
        desk.slack.send.press(ALICE, DESK, card, "Take"),
        desk.slack.send.press(BOB, DESK, card, "Take"),
    )
    assert [r.status for r in replies] == [200, 200]
    await desk.sync()
    [ticket] = await desk.slack.app.store.tickets.open_tickets()
    winner, loser = (ALICE, BOB) if ticket.owner_id == f"slack:{ALICE}" else (BOB, ALICE)
    assert f"Taken by @{winner.lower()}" in desk.card_text()
    assert f"handled by @{winner.lower()}" in desk.told(loser)
    assert len([m for m in desk.slack.posted_to("D1") if "has joined" in m["text"]]) == 1


# -- redelivery, reconnects -----------------------------------------------------------------


async def test_a_retried_envelope_is_acked_and_answered_once(bot: SocketBot) -> None:
    slack = bot.slack
    event = slack.send.dm_event("U1", "hi", "D1")
    assert (await slack.send.event(event, event_id="Ev0RETRY")).status == 200
    await slack.settle()
    replies = len(slack.api.posted)
    assert replies >= 1
    again = await slack.send.event(event, event_id="Ev0RETRY", retry_num=1)
    assert again.status == 200  # acknowledged, so Slack stops retrying
    await slack.settle()
    assert len(slack.api.posted) == replies
    retried = bot.socket.envelopes[-1]
    assert (retried["retry_attempt"], retried["retry_reason"]) == (1, "timeout")
    assert bot.socket.unacked == []


async def test_the_socket_drops_and_the_bot_reconnects(fast_bot: SocketBot) -> None:
    slack, socket = fast_bot.slack, fast_bot.socket
    assert "Hi Ann!" in await slack.dm("hi")
    first = await socket.drop()  # no close frame: a network failure
    second = await socket.wait_connected(count=2)
    assert second is not first and len(slack.api.of("apps.connections.open")) == 2
    assert "how do you like to be helped" in await slack.dm("where is my order")
    assert socket.envelopes[-1]["envelope_id"] in {m.get("envelope_id") for m in second.received}


async def test_a_silent_connection_is_noticed_and_replaced(fast_bot: SocketBot) -> None:
    slack, socket = fast_bot.slack, fast_bot.socket
    first = await socket.silence()  # open, but nothing comes back: no pongs, no acks
    second = await socket.wait_connected(count=2)  # the client's pings found out
    assert second is not first
    assert "Hi Ann!" in await slack.dm("hi")


async def test_an_envelope_lost_with_the_socket_is_redelivered_and_answered_once(
    fast_bot: SocketBot, caplog: pytest.LogCaptureFixture
) -> None:
    slack, socket = fast_bot.slack, fast_bot.socket
    slack.api.delays["users.info"] = 1.0  # the turn is still running when the socket drops
    delivery = asyncio.create_task(slack.send.event(slack.send.dm_event("U1", "hi", "D1")))
    await wait_for(lambda: len(socket.envelopes) == 1)
    await socket.drop()
    assert (await delivery).status == 200  # acknowledged on the new connection
    await slack.settle()
    first, again = socket.envelopes
    assert first["payload"]["event_id"] == again["payload"]["event_id"]
    assert again["retry_attempt"] == 1 and len(socket.connections) == 2
    assert slack.text(slack.posted_to("D1")).count("Hi Ann") == 1
    # The lost ack is a warning, not an error with a traceback.
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
async def test_a_disconnect_message_moves_the_bot_to_a_new_connection(
    bot: SocketBot, reason: str
) -> None:
    slack, socket = bot.slack, bot.socket
    first = await socket.disconnect(reason)
    second = await socket.wait_connected(count=2)
    await wait_for(lambda: first.ws.closed)  # the bot let the old connection go itself
    assert len(slack.api.of("apps.connections.open")) == 2
    assert "Hi Ann!" in await slack.dm("hi")
    assert socket.envelopes[-1]["envelope_id"] in {m.get("envelope_id") for m in second.received}


# -- what is not a turn; start and stop -----------------------------------------------------


async def test_a_slash_command_is_acked_and_ignored(bot: SocketBot) -> None:
    reply = await bot.send.command("U1", "D1", "/support", "where is my order")
    assert reply.status == 200
    assert set(json.loads(reply.text)) == {"envelope_id"}  # no response text for the user
    await bot.slack.settle()
    assert bot.slack.api.posted == []
    assert await bot.slack.app.store.conversations_of("slack:U1") == []


async def test_during_shutdown_envelopes_are_not_acked_so_slack_redelivers(
    bot: SocketBot,
) -> None:
    bot.slack.runner.gate.close()
    refused = SocketSender(bot.socket, timeout=3.0)
    reply = await refused.event(refused.dm_event("U1", "hi", "D1"))
    assert reply.status == 504 and len(bot.socket.unacked) == 1
    assert await bot.slack.app.store.conversations_of("slack:U1") == []


async def test_stop_closes_the_socket_for_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with socket_bot(tmp_path, PING_INTERVAL) as running:
        socket = running.socket
        assert "Hi Ann!" in await running.slack.dm("hi")
    assert all(c.ws.closed for c in socket.connections)
    await asyncio.sleep(2 * PING_INTERVAL)  # a reconnect would come within this
    assert len(socket.connections) == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.mark.parametrize(
    ("app_token", "error"),
    [("xapp-1-A0001-1-revoked", "invalid_auth"), ("xoxb-test-token", "not_allowed_token_type")],
)
async def test_a_refused_app_token_is_one_config_error(
    tmp_path: Path, app_token: str, error: str
) -> None:
    api = _api()
    socket = SlackSocketStandIn(api)
    await api.start()
    await socket.start()
    try:
        settings = slack_settings(
            tmp_path, api, free_port(), SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN=app_token
        )
        channel = SlackChannel(settings, InboundGate(_never))
        with pytest.raises(ConfigError) as caught:
            await asyncio.wait_for(channel.start(), 20)  # not retried forever
        message = str(caught.value)
        assert error in message and api.url in message and app_token not in message
        assert socket.connections == []
        await channel.stop()
        await channel.close()
    finally:
        await socket.stop()
        await api.stop()


async def test_a_socket_that_cannot_be_opened_is_one_config_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = _api()
    closed_port = free_port()
    api.socket_url = lambda: f"ws://127.0.0.1:{closed_port}/link/?ticket=x"
    await api.start()
    try:
        settings = slack_settings(
            tmp_path, api, free_port(), SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN=api.app_token
        )
        channel = SlackChannel(settings, InboundGate(_never))
        assert channel.socket is not None
        channel.socket.ping_interval, channel.socket.connect_timeout = 0.2, 1.0
        with pytest.raises(ConfigError, match="Socket Mode WebSocket"):
            await asyncio.wait_for(channel.start(), 20)
        await channel.close()
        retries = [r for r in caplog.records if r.name == "supportbot.slack.socket"]
        assert retries and all(r.exc_info is None for r in retries)  # one line each
    finally:
        await api.stop()


async def _never(_: Any) -> list[Outbound]:
    raise AssertionError("no update expected")
