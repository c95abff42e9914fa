"""The Slack agent desk end to end: real slack-bolt + the real app + the Web API stand-in.

A customer talks to the bot in a DM; agents work in ``SLACK_AGENT_CHANNEL`` (``CDESK``)
with signed block_actions and thread replies. The desk feed runs by explicit ``sync()``
calls so every step is deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_app
from bot.channels.base import InboundGate
from bot.channels.slack import SlackChannel
from bot.handoff.desk_feed import DeskFeed
from bot.handoff.service import TicketView
from bot.handoff.slack_desk import SlackDesk, build_slack_desk, card_blocks, status_line
from bot.runner import Runner
from storage.records import TicketRecord, TranscriptEntry, utcnow
from tests.channels.test_slack import Slack, _wait_healthy, slack_settings
from tests.standins import free_port
from tests.standins.slack_api import SlackApiStandIn, SlackSender, labels_of

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DESK = "CDESK"
ALICE, BOB = "UALICE", "UBOB"


@dataclass
class Desk:
    """The running bot with its Slack desk, and helpers to act as agents."""

    slack: Slack
    desk: SlackDesk
    feed: DeskFeed

    async def sync(self) -> None:
        await self.slack.settle()
        await self.feed.sync()

    def card(self) -> dict[str, Any]:
        """The newest card as agents see it now (the post, with its latest update)."""
        api = self.slack.api
        post = next(
            m for m in reversed(api.posted) if m["channel"] == DESK and "thread_ts" not in m
        )
        updates = [u for u in api.updated if u["ts"] == post["ts"]]
        return {**post, **updates[-1]} if updates else post

    def card_text(self) -> str:
        return str(self.card()["blocks"])

    def thread(self) -> list[str]:
        return [m["text"] for m in self.slack.posted_to(DESK, self.card()["ts"])]

    async def press(self, label: str, user: str) -> None:
        reply = await self.slack.send.press(user, DESK, self.card(), label)
        assert reply.status == 200, reply

    async def reply(self, user: str, text: str, thread: str | None = None) -> None:
        event = self.slack.send.channel_message(user, text, DESK, thread_ts=thread)
        assert (await self.slack.send.event(event)).status == 200
        await self.slack.settle()

    def told(self, user: str) -> str:
        return "\n".join(e["text"] for e in self.slack.api.ephemeral if e["user"] == user)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    api = SlackApiStandIn()
    api.add_user("U1", first_name="Ann")
    api.add_user(ALICE, display_name="ualice")
    api.add_user(BOB, display_name="ubob")
    await api.start()
    port = free_port()
    settings = slack_settings(tmp_path, api, port, SLACK_AGENT_CHANNEL=DESK)
    app = await build_app(settings)
    gate = InboundGate(app.manager.handle)
    channel = SlackChannel(settings, gate, app.store)
    runner = Runner(app, gate, [channel])  # no desks: the test drives the feed itself
    slack_desk = build_slack_desk(settings, app.store, runner.handoff, channel)
    assert slack_desk is not None
    task = asyncio.create_task(runner.serve("127.0.0.1", port))
    sender = SlackSender(f"http://127.0.0.1:{port}/slack/events", SECRET)
    try:
        await _wait_healthy(port, task)
        slack = Slack(api, sender, app, channel, runner)
        yield Desk(slack, slack_desk, DeskFeed(app.store, runner.handoff, slack_desk))
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 30)
        await api.stop()


async def ask_for_a_person(desk: Desk) -> TicketRecord:
    await desk.slack.dm("where is my order")
    await desk.slack.press("Quick answers")
    await desk.slack.dm("talk to a person")
    await desk.sync()
    [ticket] = await desk.slack.app.store.tickets.open_tickets()
    return ticket


async def test_an_agent_takes_talks_notes_and_closes(desk: Desk) -> None:
    slack = desk.slack
    ticket = await ask_for_a_person(desk)
    card = desk.card()
    text = str(card["blocks"])
    assert "Ann" in text and "(slack)" in text and ticket.queue in text
    assert (ticket.flow_id or "-") in text and "talk to a person" in text
    assert labels_of(card) == ["Take", "Close"]
    assert ticket.desk_refs["slack"] == {
        **ticket.desk_refs["slack"],
        "channel": DESK,
        "ts": card["ts"],
    }

    await desk.press("Take", ALICE)
    await desk.sync()
    assert "Taken by @ualice" in desk.card_text()
    assert labels_of(desk.card()) == ["Close", "Return to bot"]
    assert "@ualice from our team has joined" in slack.text(slack.posted_to("D1"))

    await desk.reply(ALICE, "Hi Ann, let me check.", desk.card()["ts"])
    assert slack.posted_to("D1")[-1]["text"] == "Hi Ann, let me check."

    assert await slack.dm("my order is WS-10001") == ""  # the bot stays quiet
    await desk.sync()
    assert desk.thread()[-1] == "Customer: my order is WS-10001"

    before = len(slack.posted_to("D1"))
    await desk.reply(ALICE, "// carrier says Tuesday", desk.card()["ts"])
    assert len(slack.posted_to("D1")) == before  # notes stay internal
    conversation = (await slack.app.store.conversations_of("slack:U1"))[-1]
    notes = [e.text for e in await slack.app.store.transcript(conversation.id)]
    assert "carrier says Tuesday" in notes

    await desk.press("Close", ALICE)
    await desk.sync()
    assert "Closed by @ualice after 0 min" in desk.card_text()
    assert labels_of(desk.card()) == []
    assert "back with the bot. How did we do?" in slack.text(slack.posted_to("D1")[before:])
    assert slack.api.ephemeral == []


async def test_two_agents_take_at_once_and_one_is_told(desk: Desk) -> None:
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
    assert ticket.status == "assigned"
    assert f"Taken by @{winner.lower()}" in desk.card_text()
    assert f"handled by @{winner.lower()}" in desk.told(loser)
    assert desk.told(winner) == ""
    joined = [m for m in desk.slack.posted_to("D1") if "has joined" in m["text"]]
    assert len(joined) == 1


async def test_only_the_owner_replies_and_chatter_is_ignored(desk: Desk) -> None:
    slack = desk.slack
    await ask_for_a_person(desk)
    root = desk.card()["ts"]
    before = len(slack.posted_to("D1"))

    await desk.reply(ALICE, "hello?", root)  # nobody took it yet
    assert "press Take first" in desk.told(ALICE)
    await desk.press("Take", ALICE)
    await desk.sync()
    joined = len(slack.posted_to("D1"))
    assert joined == before + 1

    await desk.reply(BOB, "I can help too", root)  # not the owner
    assert "handled by @ualice" in desk.told(BOB)
    await desk.reply(BOB, "lunch anyone?")  # outside any card thread
    await desk.reply(BOB, "where is my order", "1.000001")  # a thread that is no card
    mention = slack.send.mention_event(BOB, "talk to a person", DESK)
    assert (await slack.send.event(mention)).status == 200
    await slack.settle()
    assert len(slack.posted_to("D1")) == joined  # nothing reached the customer
    assert all(
        m["channel"] != DESK or m["ts"] == root for m in slack.api.posted if "thread_ts" not in m
    )
    assert await slack.app.store.conversations_of(f"slack:{BOB}") == []  # never a customer
    assert len(await slack.app.store.tickets.open_tickets()) == 1


async def test_return_to_bot_resumes_the_flow(desk: Desk) -> None:
    await ask_for_a_person(desk)
    await desk.press("Take", ALICE)
    await desk.sync()
    await desk.press("Return to bot", ALICE)
    await desk.sync()
    assert "Returned to the bot by @ualice" in desk.card_text()
    assert "continue where we left off" in desk.slack.text(desk.slack.posted_to("D1"))


async def test_without_an_agent_channel_there_is_no_desk(tmp_path: Path) -> None:
    api = SlackApiStandIn()
    settings = slack_settings(tmp_path, api, free_port())
    app = await build_app(settings)
    try:
        channel = SlackChannel(settings, InboundGate(app.manager.handle), app.store)
        runner = Runner(app, InboundGate(app.manager.handle), [channel])
        assert build_slack_desk(settings, app.store, runner.handoff, channel) is None
    finally:
        await app.close()


def test_the_card_escapes_and_truncates() -> None:
    created = utcnow() - timedelta(minutes=12)
    ticket = TicketRecord(
        id=7,
        conversation_id=1,
        customer_id="telegram:42",
        chat_key="telegram:42",
        queue="billing",
        status="closed",
        reason="<!channel> help",
        flow_id="refund",
        step_id="amount",
        owner_name="@bob",
        created_at=created,
        closed_at=created + timedelta(minutes=12),
    )
    entries = [TranscriptEntry("in", "text", f"message {i}") for i in range(8)]
    entries.append(TranscriptEntry("in", "text", "<@U1> " + "x" * 1000))
    view = TicketView(ticket, "Ann & Co", "guided", {"order": "<WS>"}, entries, created)
    blocks = card_blocks(view)
    text = str(blocks)
    assert "Ann &amp; Co" in text and "(telegram)" in text and "&lt;!channel&gt;" in text
    assert "&lt;WS&gt;" in text and "&lt;@U1&gt;" in text and "<@U1>" not in text
    assert "message 3" not in text and "message 4" in text  # the last five only
    assert "…" in text and all(b["type"] != "actions" for b in blocks)
    assert status_line(ticket) == "Closed by @bob after 12 min"

    many = {f"slot{i}": "&" * 300 for i in range(40)}  # far more than one section holds
    [slots] = [b for b in card_blocks(TicketView(ticket, "Ann", None, many, [], created))
               if "*Slots*" in b.get("text", {}).get("text", "")]  # fmt: skip
    section = slots["text"]["text"]
    assert len(section) <= 3000 and section.endswith("…")
    assert section.replace("&amp;", "").count("&") == 0  # no entity cut in half


async def test_thread_commands_reassign_and_close_with_a_tag(desk: Desk) -> None:
    ticket = await ask_for_a_person(desk)
    await desk.press("Take", ALICE)
    await desk.sync()
    thread = str(desk.card()["ts"])
    await desk.reply(ALICE, f"!reassign <@{BOB}>", thread=thread)
    assert "now @ubob's" in desk.told(ALICE)
    assert "@ubob from our team has joined" in desk.slack.text(desk.slack.posted_to("D1"))
    await desk.reply(BOB, "!close refund_done", thread=thread)
    closed = await desk.slack.app.store.tickets.get(ticket.id)
    assert closed is not None and (closed.status, closed.resolution, closed.owner_name) == (
        "closed",
        "refund_done",
        "@ubob",
    )
    await desk.sync()
    assert "Closed by @ubob" in desk.card_text()
