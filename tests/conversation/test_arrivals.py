"""Bursts and floods through ``handle()`` on a real SQLite file: messages that arrive while
a chat's turn is queued or running are answered as one turn; a flooding chat is told
once, stored, and answered at its latest when it calms."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from bot.actions import ActionCall, LocalActionRunner
from bot.conversation.flood import FloodPolicy
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.engine.effects import ActionResultEvent
from bot.handoff.desk_feed import DeskFeed
from bot.handoff.service import Agent, HandoffService
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind, Outbound
from storage.records import TranscriptEntry
from storage.sql import SqlStore
from tests.conftest import Customer, example_actions
from tests.conversation.test_desk_feed import RecordingDesk

KEY = ConversationKey("test", "u1")
ANN = CustomerInfo("u1", first_name="Ann")
NOTICE = "I've read all your messages"


def text(words: str, update_id: str | None = None) -> Inbound:
    return Inbound(KEY, ANN, InboundKind.TEXT, words, update_id=update_id)


async def sent_together(manager: ConversationManager, *inbounds: Inbound) -> list[list[Outbound]]:
    """The messages handed over at once, in order (a chat's backlog, a Slack burst)."""
    return list(await asyncio.gather(*(manager.handle(i) for i in inbounds)))


async def transcript(store: SqlStore) -> list[TranscriptEntry]:
    [conversation, *_] = await store.conversations_of("test:u1")
    return list(await store.transcript(conversation.id))


def said(entries: Sequence[TranscriptEntry]) -> list[str]:
    return [e.text for e in entries if e.direction == "in"]


def answers(entries: Sequence[TranscriptEntry]) -> list[str]:
    return [e.text for e in entries if e.direction == "out"]


async def set_persona(store: SqlStore) -> None:
    async with store.turn(str(KEY), KEY.channel, ANN.user_id) as turn:
        turn.customer.persona = "self_serve"


# ---- bursts --------------------------------------------------------------------------


async def test_a_burst_is_one_turn_that_uses_every_message(
    manager: ConversationManager, store: SqlStore
) -> None:
    await set_persona(store)
    hi, late, number = await sent_together(
        manager, text("hi", "1"), text("my order hasn't arrived", "2"), text("it's ws10001", "3")
    )
    assert hi == [] and late == []  # answered together, with the last one
    reply = "\n".join(r.text for r in number)
    assert "WS-10001" in reply and "shipped" in reply
    assert "What's your order number" not in reply and "Pick a topic" not in reply

    entries = await transcript(store)
    assert said(entries) == ["hi", "my order hasn't arrived", "it's ws10001"]  # each stored
    ins = [e for e in entries if e.direction == "in"]
    assert [e.data.get("with_previous", False) for e in ins] == [False, True, True]
    assert [e.data["update_id"] for e in ins] == ["1", "2", "3"]
    assert sum(e.kind == "flow_started" for e in entries) == 1


async def test_a_single_message_is_its_own_turn_at_once(
    manager: ConversationManager, customer: Customer
) -> None:
    assert "Hi Ann!" in await customer.say("hi")
    assert len(manager.arrivals) <= 1  # nothing queued behind it


async def test_messages_sent_while_a_turn_runs_wait_and_are_answered_as_one(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_order_status(call: ActionCall) -> ActionResultEvent:
        started.set()
        await release.wait()
        return await example_actions().run(call)

    actions = LocalActionRunner({"order_status": slow_order_status})
    manager = ConversationManager(store, FixedCatalog(shipped_catalog), actions)
    await set_persona(store)
    await manager.handle(text("where is my order", "1"))
    lookup = asyncio.create_task(manager.handle(text("WS-10004", "2")))
    await asyncio.wait_for(started.wait(), 10)
    later = [
        asyncio.create_task(manager.handle(text(words, uid)))
        for words, uid in (("menu", "3"), ("actually i was charged twice", "4"))
    ]
    await asyncio.sleep(0.2)
    assert not any(t.done() for t in later)  # nothing is acknowledged before it is stored
    release.set()
    assert "WS-10004" in "\n".join(r.text for r in await lookup)
    first, last = [await t for t in later]
    assert first == []
    offered = " ".join([r.text for r in last] + [b.label for r in last for b in r.buttons])
    assert "charged twice" in offered.lower()  # one answer, to both
    entries = await transcript(store)
    assert said(entries)[-2:] == ["menu", "actually i was charged twice"]


async def test_a_redelivery_inside_a_burst_is_stored_once(
    manager: ConversationManager, store: SqlStore
) -> None:
    await manager.handle(text("hi", "1"))
    replies = await sent_together(
        manager, text("hi", "1"), text("where is my order", "2"), text("where is my order", "2")
    )
    assert replies[0] == [] and replies[2] == []  # redeliveries: nothing to answer
    assert "how do you like to be helped" in "\n".join(r.text for r in replies[1])
    assert said(await transcript(store)) == ["hi", "where is my order"]


async def test_a_tap_is_never_merged_into_text(
    manager: ConversationManager, store: SqlStore
) -> None:
    await set_persona(store)
    menu = await manager.handle(text("hi"))
    [payload] = [b.payload for r in menu for b in r.buttons if b.label == "Where is my order?"]
    tap = Inbound(KEY, ANN, InboundKind.BUTTON, payload=payload)
    _, tapped, number = await sent_together(manager, text("hello"), tap, text("WS-10001"))
    assert "order number" in "\n".join(r.text for r in tapped)  # the tap: a turn of its own
    assert "shipped" in "\n".join(r.text for r in number)


# ---- floods --------------------------------------------------------------------------


def flooding_manager(
    store: SqlStore, catalog: Catalog, calm_seconds: float = 0.5
) -> ConversationManager:
    policy = FloodPolicy(messages=4, window_seconds=30, calm_seconds=calm_seconds)
    return ConversationManager(store, FixedCatalog(catalog), example_actions(), flood=policy)


async def test_a_flood_in_one_go_gets_the_notice_and_one_answer_to_its_latest(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    manager = flooding_manager(store, shipped_catalog)
    await set_persona(store)
    await manager.handle(text("hi", "0"))
    greeted = len(answers(await transcript(store)))
    flood = [text(f"spam {n}", str(n)) for n in range(1, 61)]
    flood[-1] = text("where is my order WS-10001", "60")
    replies = await sent_together(manager, *flood)
    assert [r.text for batch in replies for r in batch] == [
        "I've read all your messages — I'll answer the latest one in a moment."
    ]
    entries = await transcript(store)
    assert len(said(entries)) == 61  # nothing lost
    assert all(e.data.get("held") for e in entries if e.direction == "in" and e.text != "hi")

    await asyncio.wait_for(until_answered(store, greeted + 2), 10)
    await manager.arrivals.close()
    entries = await transcript(store)
    assert answers(entries)[greeted:] == [
        "I've read all your messages — I'll answer the latest one in a moment.",
        "Order WS-10001: shipped, expected tomorrow.",
    ]
    assert len(said(entries)) == 61  # the answer stored nothing twice


async def test_a_tap_that_ends_a_flood_is_answered_when_it_calms(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    manager = flooding_manager(store, shipped_catalog)
    await set_persona(store)
    replies = await manager.handle(text("where is my order WS-10001", "0"))
    [done] = [b.payload for r in replies for b in r.buttons if b.label == "Thanks, that's all"]
    greeted = len(answers(await transcript(store)))
    flood = [text(f"?? {n}", str(n)) for n in range(1, 8)]
    tap = Inbound(KEY, ANN, InboundKind.BUTTON, payload=done, update_id="8")
    await sent_together(manager, *flood, tap)

    await asyncio.wait_for(until_answered(store, greeted + 2), 10)
    await manager.arrivals.close()
    after = answers(await transcript(store))[greeted:]
    assert NOTICE in after[0]
    assert "How did we do" in after[-1]  # the tap was answered: the conversation ended


async def until_answered(store: SqlStore, count: int) -> None:
    while len(answers(await transcript(store))) < count:
        await asyncio.sleep(0.02)


async def test_a_flood_one_message_at_a_time_is_answered_until_it_trips_then_held(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    """Telegram's webhook hands over a chat's messages one after the other."""
    manager = flooding_manager(store, shipped_catalog, calm_seconds=1.0)
    await set_persona(store)
    replied = [bool(await manager.handle(text(f"blorp {n}", str(n)))) for n in range(1, 31)]
    assert replied[:4] == [True] * 4  # a person may type four messages quickly
    assert replied[4:] == [True] + [False] * 25  # the fifth trips it: the notice, once
    before_calm = len(answers(await transcript(store)))
    await asyncio.wait_for(until_answered(store, before_calm + 1), 10)  # the latest, answered
    entries = await transcript(store)
    assert sum(NOTICE in a for a in answers(entries)) == 1
    assert len(said(entries)) == 30
    # calmed: the chat is answered message by message again, without a new notice
    assert await manager.handle(text("hi again", "31"))
    assert sum(NOTICE in a for a in answers(await transcript(store))) == 1


async def test_other_chats_are_answered_during_a_flood(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    manager = flooding_manager(store, shipped_catalog)
    flood = asyncio.gather(*(manager.handle(text(f"x{n}", str(n))) for n in range(200)))
    calm = Customer(manager, "calm", first_name="Cal")
    started = time.monotonic()
    assert "Hi Cal!" in await calm.say("hi")
    assert "how do you like to be helped" in await calm.say("where is my order")
    elapsed = time.monotonic() - started
    await flood
    assert elapsed < 10  # generous: only that the calm customer is not queued behind it


async def test_while_a_person_owns_the_chat_a_flood_is_relayed_as_one_batch_without_notice(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    manager = flooding_manager(store, shipped_catalog, calm_seconds=0.3)
    service = HandoffService(store, manager)
    desk = RecordingDesk()
    feed = DeskFeed(store, service, desk)
    await manager.handle(text("talk to a person"))
    [ticket] = await service.inbox()
    await service.take(ticket.id, Agent("slack:U1", "@alice"))
    await feed.sync()
    replies = await sent_together(manager, *(text(f"line {n}") for n in range(1, 21)))
    assert [r for batch in replies for r in batch] == []  # the person answers, not the bot
    await feed.sync()
    assert desk.relayed == [(ticket.id, "\n".join(f"line {n}" for n in range(1, 21)))]
    await asyncio.sleep(0.6)  # calmed: the latest goes to the engine, which stays quiet
    await manager.arrivals.close()
    entries = await transcript(store)
    assert NOTICE not in "\n".join(answers(entries))
    assert len(said(entries)) == 21


async def test_shutdown_answers_a_flood_at_once(store: SqlStore, shipped_catalog: Catalog) -> None:
    manager = flooding_manager(store, shipped_catalog, calm_seconds=30)
    await sent_together(manager, *(text(f"help {n}") for n in range(10)))
    await manager.arrivals.close()  # what App.close does, long before the chat calmed
    entries = await transcript(store)
    assert answers(entries)[0].startswith(NOTICE)
    assert "Pick a topic" in answers(entries)[-1]  # "help 9" answered: greeting + menu
    assert len(manager.arrivals) == 0


async def test_with_bursts_off_every_message_is_answered_on_its_own(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    manager = ConversationManager(
        store, FixedCatalog(shipped_catalog), example_actions(), bursts=False
    )
    replies = await sent_together(manager, text("hi", "1"), text("menu", "2"), text("help", "3"))
    assert all(replies)  # three turns, three answers
    entries = await transcript(store)
    assert not any(e.data.get("with_previous") for e in entries)
