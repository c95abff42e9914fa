"""A person takes over and hands back, through the desk-independent HandoffService."""

from __future__ import annotations

import asyncio

import pytest

from bot.conversation.manager import ConversationManager
from bot.handoff.service import Agent, HandoffService, TicketConflict
from storage.sql import SqlStore
from tests.conftest import Customer

ALICE = Agent("console:alice", "Alice")
BOB = Agent("console:bob", "Bob")


async def outbox_texts(store: SqlStore, chat: str) -> list[str]:
    items = await store.outbox.claim("test", "reader", limit=500, chat_id=chat)
    await store.outbox.release([i.id for i in items])
    return [i.payload["text"] for i in items]


@pytest.fixture
def desk(store: SqlStore, manager: ConversationManager) -> HandoffService:
    return HandoffService(store, manager)


async def start_handoff(customer: Customer) -> None:
    await customer.say("where is my order")
    await customer.tap("Quick answers")
    await customer.say("talk to a person")


async def test_the_customer_is_told_a_person_is_coming_before_their_place_in_line(
    customer: Customer, store: SqlStore
) -> None:
    """Why they wait first, then for how long: the place in line answers "how long?",
    a question the customer only has once told they are being passed to a person."""
    await start_handoff(customer)
    texts = await outbox_texts(store, "u1")
    assert "connecting you with a person" in texts[-2]
    assert "number 1 in line" in texts[-1]


async def test_agent_takes_talks_and_closes(
    customer: Customer, desk: HandoffService, store: SqlStore
) -> None:
    await start_handoff(customer)
    [ticket] = await desk.inbox()
    view = await desk.view(ticket.id)
    assert view is not None and view.customer_name == "Ann" and view.persona == "self_serve"
    assert any("order number" in e.text for e in view.last_messages)

    await desk.take(ticket.id, ALICE)
    assert "Alice from our team has joined" in (await outbox_texts(store, "u1"))[-1]

    assert await customer.say("my order WS-10001 is late") == ""  # the bot stays quiet
    await desk.reply(ticket.id, ALICE, "Let me check that for you.")
    await desk.note(ticket.id, ALICE, "carrier says Tuesday")
    texts = await outbox_texts(store, "u1")
    assert texts[-1] == "Let me check that for you."
    assert "carrier says Tuesday" not in texts  # notes stay internal

    await desk.close(ticket.id, ALICE, "delivery_delay")
    assert "back with the bot" in (await outbox_texts(store, "u1"))[-1]
    closed = await store.tickets.get(ticket.id)
    assert closed is not None and closed.resolution == "delivery_delay"
    assert closed.first_reply_at is not None
    text = await customer.say("where is my order")
    assert "order number" in text  # the bot is back

    conversation = (await store.conversations_of("test:u1"))[-1]
    kinds = [e.kind for e in await store.transcript(conversation.id)]
    for kind in ("ticket_opened", "agent_joined", "agent", "agent_note", "ticket_closed"):
        assert kind in kinds  # everything in the one transcript


async def test_return_to_bot_resumes_the_flow_where_it_stopped(
    customer: Customer, desk: HandoffService, store: SqlStore
) -> None:
    await start_handoff(customer)
    [ticket] = await desk.inbox()
    await desk.take(ticket.id, ALICE)
    await desk.return_to_bot(ticket.id, ALICE)
    texts = await outbox_texts(store, "u1")
    assert "continue where we left off" in texts[-2]
    assert "What's your order number?" in texts[-1]
    assert "shipped" in await customer.say("WS-10001")


async def test_two_agents_take_at_once_and_only_the_owner_may_reply(
    customer: Customer, desk: HandoffService
) -> None:
    await start_handoff(customer)
    [ticket] = await desk.inbox()
    results = await asyncio.gather(
        desk.take(ticket.id, ALICE), desk.take(ticket.id, BOB), return_exceptions=True
    )
    assert sum(isinstance(r, TicketConflict) for r in results) == 1
    owner = ALICE if not isinstance(results[0], BaseException) else BOB
    other = BOB if owner is ALICE else ALICE
    with pytest.raises(TicketConflict):
        await desk.reply(ticket.id, other, "hi, I'm also here")
    with pytest.raises(TicketConflict, match=f"already taken by {owner.name}"):
        await desk.close(ticket.id, other)
    await desk.reply(ticket.id, owner, "hello!")
    await desk.close(ticket.id, owner)


async def test_menu_while_with_a_person_asks_for_confirmation(
    customer: Customer, desk: HandoffService, store: SqlStore
) -> None:
    await start_handoff(customer)
    [ticket] = await desk.inbox()
    await desk.take(ticket.id, ALICE)
    await customer.say("menu")
    assert "Leave and go back to the bot?" in customer.text
    await customer.tap("No, stay")
    assert "still with the person" in customer.text
    await customer.say("menu")
    await customer.tap("Yes, back to the bot")
    assert "cancelled" in customer.text
    assert await store.tickets.open_tickets() == []


async def test_only_allowlisted_agents_may_act(
    customer: Customer, store: SqlStore, manager: ConversationManager
) -> None:
    from bot.handoff.service import AgentNotAllowed

    desk = HandoffService(store, manager, allowed_agents=frozenset({"console:alice"}))
    await start_handoff(customer)
    [ticket] = await desk.inbox()
    with pytest.raises(AgentNotAllowed, match="Bob is not on the agents' allowlist"):
        await desk.take(ticket.id, BOB)
    still = await store.tickets.get(ticket.id)
    assert still is not None and still.status == "queued"
    await desk.take(ticket.id, ALICE)


async def test_a_redelivered_agent_message_reaches_the_customer_once(
    customer: Customer, desk: HandoffService, store: SqlStore
) -> None:
    await start_handoff(customer)
    [ticket] = await desk.inbox()
    await desk.take(ticket.id, ALICE)
    await desk.reply(ticket.id, ALICE, "On it!", "slack:CDESK:1700000000.1")
    await desk.reply(ticket.id, ALICE, "On it!", "slack:CDESK:1700000000.1")  # redelivery
    await desk.reply(ticket.id, ALICE, "On it!", "slack:CDESK:1700000000.2")  # said again
    assert (await outbox_texts(store, "u1")).count("On it!") == 2


async def test_reassign_transfer_and_close_with_a_tag_by_text_command(
    customer: Customer, desk: HandoffService, store: SqlStore
) -> None:
    from bot.handoff.service import parse_command

    assert parse_command("!close refund_done") is not None
    assert parse_command("hello") is None
    await start_handoff(customer)
    [ticket] = await desk.inbox()
    await desk.take(ticket.id, ALICE)

    told = await desk.command(ticket.id, ALICE, parse_command("!reassign @bob"), BOB)  # type: ignore[arg-type]
    assert "now Bob's" in told
    assert "Bob from our team has joined" in (await outbox_texts(store, "u1"))[-1]
    with pytest.raises(TicketConflict):  # Alice no longer owns it
        await desk.reply(ticket.id, ALICE, "still me")

    told = await desk.command(ticket.id, BOB, parse_command("!transfer billing"))  # type: ignore[arg-type]
    moved = await store.tickets.get(ticket.id)
    assert moved is not None and (moved.queue, moved.status, moved.owner_id) == (
        "billing",
        "queued",
        None,
    )
    await desk.take(ticket.id, ALICE)
    await desk.command(ticket.id, ALICE, parse_command("!close refund_done"))  # type: ignore[arg-type]
    closed = await store.tickets.get(ticket.id)
    assert closed is not None and closed.resolution == "refund_done"
    assert "!close" in await desk.command(ticket.id, ALICE, parse_command("!nonsense"))  # type: ignore[arg-type]
