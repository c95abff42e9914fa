"""The Telegram agent desk end to end: real python-telegram-bot, real Runner, store and
DeskFeed, against the Bot API stand-in. A customer in a private chat, agents in a
supergroup (with topics, or without); assertions are on what "Telegram" received."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.channels.base import InboundGate
from bot.channels.telegram import TelegramChannel
from bot.handoff import desk_feed
from bot.handoff.service import TicketView
from bot.handoff.telegram_desk import TelegramDesk, build_telegram_desk, card_buttons, card_text
from bot.runner import Runner
from bot.settings import Settings
from storage.records import TicketRecord, TranscriptEntry, utcnow
from tests.channels.test_telegram import make_settings as telegram_settings
from tests.standins import free_port
from tests.standins.telegram_api import (
    AgentGroup,
    PrivateChat,
    TelegramApiStandIn,
    wait_until,
)

AGENTS = -1001500

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2:DeprecationWarning")


@pytest.fixture
async def api() -> AsyncIterator[TelegramApiStandIn]:
    async with TelegramApiStandIn() as api:
        yield api


@pytest.fixture(autouse=True)
def quick_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desk_feed, "FEED_SECONDS", 0.05)


def make_settings(tmp_path: Path, api: TelegramApiStandIn, **extra: Any) -> Settings:
    """The Telegram channel's test settings, with the agents' group."""
    return telegram_settings(tmp_path, api, TELEGRAM_AGENT_CHAT_ID=str(AGENTS), **extra)


@dataclass
class Desked:
    app: App
    runner: Runner
    desk: TelegramDesk


@contextlib.asynccontextmanager
async def running(settings: Settings, api: TelegramApiStandIn) -> AsyncIterator[Desked]:
    """The bot as `supportbot run` would start it with the Telegram desk wired in."""
    app = await build_app(settings)
    gate = InboundGate(app.manager.handle)
    channel = TelegramChannel(settings, gate, poll_timeout=5, retry_delay=0.05)
    runner = Runner(app, gate, [channel])
    desk = build_telegram_desk(settings, runner.handoff, channel)
    assert desk is not None and channel.group_handler is not None
    runner.desks.append(desk)
    task = asyncio.create_task(runner.serve("127.0.0.1", free_port()))
    try:
        await wait_until(lambda: task.done() or api.calls_of("getUpdates"), 10)
        if task.done():
            task.result()
        yield Desked(app, runner, desk)
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 30)
        await channel.close()


async def ask_for_a_person(customer: PrivateChat) -> None:
    await customer.say("/start")
    await customer.expect(customer.user["first_name"])
    await customer.tap("Where is my order?")
    await customer.expect("how do you like to be helped")
    await customer.tap("Quick answers")
    await customer.expect("order number")
    await customer.say("talk to a person")


async def card_in(group: AgentGroup, ticket_id: int) -> dict[str, Any]:
    """Wait for the card of ticket ``ticket_id`` in the group."""
    found: list[dict[str, Any]] = []

    def posted() -> bool:
        found[:] = [m for m in group.messages() if m["text"].startswith(f"#{ticket_id} ·")]
        return bool(found)

    await wait_until(posted)
    return found[0]


def labels(message: dict[str, Any]) -> list[str]:
    return [
        b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row
    ]


async def text_shows(message: dict[str, Any], fragment: str) -> None:
    await wait_until(lambda: fragment in message["text"])


# ---- the whole loop ----------------------------------------------------------------


async def test_a_ticket_becomes_a_topic_and_the_agent_talks_through_it(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    async with running(make_settings(tmp_path, api), api):
        ann = PrivateChat(api, 501, "Ann")
        group = AgentGroup(api, AGENTS)
        alice = group.agent(7001, "Alice", "alice")

        await ask_for_a_person(ann)
        card = await card_in(group, 1)
        [created] = api.calls_of("createForumTopic")
        assert created.params["name"] == "#1 Ann" and created.params["chat_id"] == str(AGENTS)
        topic = card["message_thread_id"]
        assert api.topics[topic]["name"] == "#1 Ann"
        assert "Ann (telegram)" in card["text"] and "where_is_my_order" in card["text"]
        assert "Waiting for an agent" in card["text"] and "talk to a person" in card["text"]
        assert labels(card) == ["Take", "Close", "Return to bot"]
        data = [b["callback_data"] for b in card["reply_markup"]["inline_keyboard"][0]]
        assert data == ["desk:take:1", "desk:close:1", "desk:return:1"]

        take = group.tap(alice, card, "Take")
        await text_shows(card, "Taken by @alice")
        assert labels(card) == ["Close", "Return to bot"]
        await wait_until(lambda: group.answers(take))
        assert "took ticket #1" in group.answers(take)[0]["text"]
        await ann.expect("@alice", "joined")

        group.say(alice, "Hi Ann, let me check that.", topic=topic)
        await ann.expect("let me check that")

        await ann.say("thanks, it's order WS-10001")
        await wait_until(
            lambda: any(
                m["text"] == "Customer: thanks, it's order WS-10001" for m in group.messages(topic)
            )
        )

        group.say(alice, "// carrier says Tuesday", topic=topic)
        group.say(alice, "It arrives Tuesday.", topic=topic)
        await ann.expect("arrives Tuesday")
        assert not any("carrier" in m["text"] for m in ann.messages())  # notes stay internal

        close = group.tap(alice, card, "Close")
        await text_shows(card, "Closed by @alice after 0 min")
        assert labels(card) == []
        await ann.expect("back with the bot", "How did we do?")
        await wait_until(lambda: api.calls_of("closeForumTopic"))
        assert api.calls_of("closeForumTopic")[0].params["message_thread_id"] == str(topic)
        await wait_until(lambda: group.answers(close))

        sends = api.calls_of("sendMessage")
        assert all("parse_mode" not in c.params for c in sends)
        assert all("parse_mode" not in c.params for c in api.calls_of("editMessageText"))


async def test_two_agents_take_at_once_and_the_other_is_told_who_has_it(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    async with running(make_settings(tmp_path, api), api):
        ben = PrivateChat(api, 502, "Ben")
        group = AgentGroup(api, AGENTS)
        alice = group.agent(7001, "Alice", "alice")
        bob = group.agent(7002, "Bob")  # no username: named by first name

        await ask_for_a_person(ben)
        card = await card_in(group, 1)
        topic = card["message_thread_id"]
        first, second = group.tap(alice, card, "Take"), group.tap(bob, card, "Take")
        await wait_until(lambda: group.answers(first) and group.answers(second))
        [won], [lost] = group.answers(first), group.answers(second)
        assert "took ticket #1" in won["text"] and won.get("show_alert") in (None, False, "false")
        assert "taken by @alice" in lost["text"] and lost["show_alert"] in (True, "true")
        await text_shows(card, "Taken by @alice")

        group.say(bob, "Hello from Bob", topic=topic)  # not the owner: told, not relayed
        await wait_until(lambda: any("taken by @alice" in m["text"] for m in group.messages(topic)))
        close = group.tap(bob, card, "Close")  # nor may he close it
        await wait_until(lambda: group.answers(close))
        assert "taken by @alice" in group.answers(close)[0]["text"]
        group.say(alice, "Alice here.", topic=topic)
        await ben.expect("Alice here.")
        assert not any("Bob" in m["text"] for m in ben.messages())


async def test_other_groups_are_ignored(
    tmp_path: Path, api: TelegramApiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "supportbot.telegram.desk")
    async with running(make_settings(tmp_path, api), api) as bot:
        cy = PrivateChat(api, 503, "Cy")
        group = AgentGroup(api, AGENTS)
        elsewhere = AgentGroup(api, -1009999)
        mallory = group.agent(7666, "Mallory", "mallory")

        await ask_for_a_person(cy)
        card = await card_in(group, 1)
        topic = card["message_thread_id"]
        tap = elsewhere.tap(mallory, card, "Take")  # a copy of the card in another group
        elsewhere.say(mallory, "hi from elsewhere", topic=topic)
        await wait_until(lambda: elsewhere.answers(tap))  # answered all the same
        await wait_until(lambda: caplog.text.count("not TELEGRAM_AGENT_CHAT_ID") >= 2)
        [ticket] = await bot.runner.handoff.inbox()
        assert ticket.status == "queued"
        assert not elsewhere.messages() and "Waiting for an agent" in card["text"]
        assert not any("elsewhere" in m["text"] for m in cy.messages())


async def test_without_topics_the_card_replies_thread_the_ticket(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    api.fail_next("createForumTopic", 400, "Bad Request: the chat is not a forum")
    async with running(make_settings(tmp_path, api), api):
        dee = PrivateChat(api, 504, "Dee")
        group = AgentGroup(api, AGENTS, forum=False)
        alice = group.agent(7001, "Alice", "alice")

        await ask_for_a_person(dee)
        card = await card_in(group, 1)
        assert "message_thread_id" not in card and not api.topics
        group.tap(alice, card, "Take")
        await text_shows(card, "Taken by @alice")
        await dee.expect("@alice", "joined")

        group.say(alice, "Hi Dee, Alice here.", reply_to=card)
        await dee.expect("Alice here")
        await dee.say("my parcel is late")
        relayed: list[dict[str, Any]] = []

        def arrived() -> bool:
            relayed[:] = [m for m in group.messages() if m["text"] == "Customer: my parcel is late"]
            return bool(relayed)

        await wait_until(arrived)
        assert relayed[0]["reply_to_message"]["message_id"] == card["message_id"]
        group.say(alice, "Checking now.", reply_to=relayed[0])  # same reply thread
        await dee.expect("Checking now")
        group.say(alice, "unrelated chatter")  # not in a ticket's thread: ignored
        group.tap(alice, card, "Return to bot")
        await text_shows(card, "Returned to the bot by @alice")
        await dee.expect("continue where we left off")
        assert not api.calls_of("closeForumTopic")
        assert not any("chatter" in m["text"] for m in dee.messages())


def test_no_desk_without_an_agent_chat(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, TELEGRAM_AGENT_CHAT_ID=None)
    assert build_telegram_desk(settings, None, None) is None  # type: ignore[arg-type]


def test_the_card_is_plain_text_within_telegrams_limit_and_says_how_it_ended() -> None:
    now = utcnow()
    ticket = TicketRecord(
        id=12, conversation_id=1, customer_id="telegram:9", chat_key="telegram:9",
        queue="billing", status="closed", reason="asked for a person", flow_id="refund",
        step_id="ask_amount", resolution="cancelled", created_at=now, closed_at=now,
    )  # fmt: skip
    said = [TranscriptEntry("in", "text", "*not bold* " + "x" * 5000, created_at=now)]
    said.append(TranscriptEntry("in", "non_text", "", {"non_text_kind": "photo"}))
    view = TicketView(ticket, "Zoë <b>", "guided", {"amount": "12 €"}, said, now)
    text = card_text(view)
    assert text.startswith("#12 · Zoë <b> (telegram)") and "Cancelled by the customer" in text
    assert "refund / ask_amount" in text and "amount=12 €" in text and "(photo)" in text
    assert len(text) < 4096 and card_buttons(ticket) is None


async def test_reassign_by_replying_to_a_colleague_and_close_with_a_tag(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    async with running(make_settings(tmp_path, api), api) as bot:
        ann = PrivateChat(api, 511, "Ann")
        group = AgentGroup(api, AGENTS)
        alice, bob = group.agent(7101, "Alice", "alice"), group.agent(7102, "Bob", "bob")
        await ask_for_a_person(ann)
        card = await card_in(group, 1)
        topic = card["message_thread_id"]
        group.tap(alice, card, "Take")
        await text_shows(card, "Taken by @alice")
        bobs = group.say(bob, "I can take this one", topic=topic)
        await wait_until(lambda: any("owner" in m["text"] or "@alice" in m["text"]
                                     for m in group.messages(topic)[1:]))  # fmt: skip
        group.say(alice, "!reassign", topic=topic, reply_to=bobs["message"])
        await ann.expect("@bob", "joined")
        group.say(bob, "!close refund_done", topic=topic)
        await ann.expect("back with the bot")
        ticket = await bot.app.store.tickets.get(1)
        assert ticket is not None and (ticket.resolution, ticket.owner_name) == (
            "refund_done",
            "@bob",
        )
