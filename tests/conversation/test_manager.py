"""The conversation manager through its one entry point, ``handle()``, on a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.actions import ActionCall, LocalActionRunner
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.engine.effects import ActionResultEvent
from storage.sql import SqlStore, open_store
from tests.conftest import Customer, example_actions


async def resolve_order_question(customer: Customer) -> None:
    """Self-serve "where is my order" to its resolution (the rating question follows)."""
    await customer.say("where is my order")
    await customer.tap("Quick answers")
    await customer.say("WS-10001")
    await customer.tap("Thanks, that's all")


async def test_greets_by_name_and_offers_the_menu(customer: Customer) -> None:
    text = await customer.say("hi")
    assert "Hi Ann!" in text
    assert "Where is my order?" in customer.labels
    assert "Talk to a person" in customer.labels


async def test_free_text_goes_straight_to_the_flow_after_one_persona_question(
    customer: Customer,
) -> None:
    await customer.say("I was charged twice")
    assert "how do you like to be helped" in customer.text
    await customer.tap("Step by step")
    assert "Step 1" in customer.text
    await customer.say("menu")
    await customer.say("reset my password")
    assert "how do you like to be helped" not in customer.text  # asked once, remembered
    assert "Step 1 of 3" in customer.text


async def test_persona_is_remembered_across_conversations_and_returning_customer_welcomed(
    customer: Customer, store: SqlStore
) -> None:
    await resolve_order_question(customer)
    assert "Happy to help" in customer.text
    await customer.tap("😀 5")
    await customer.tap("Skip")

    text = await customer.say("hello again")
    assert "Welcome back, Ann!" in text
    assert "Where is my order?" in text  # last topic remembered
    customer_record = await store.get_customer("test:u1")
    assert customer_record is not None and customer_record.persona == "self_serve"
    conversations = await store.conversations_of("test:u1")
    assert len(conversations) == 2
    assert conversations[1].outcome == "resolved"


async def test_transcript_records_every_message_and_step(
    customer: Customer, store: SqlStore
) -> None:
    await customer.say("where is my order")
    await customer.tap("Quick answers")
    await customer.say("WS-10002")
    conversations = await store.conversations_of("test:u1")
    entries = await store.transcript(conversations[0].id)
    said = [e.text for e in entries if e.direction == "in"]
    assert said == ["where is my order", "", "WS-10002"]
    kinds = [e.kind for e in entries if e.direction == "event"]
    assert "flow_started" in kinds and "action" in kinds and "action_result" in kinds
    steps = [e.data["step"] for e in entries if e.kind == "step"]
    assert steps[:3] == ["have_number", "ask_number", "lookup"]
    assert "report" in steps
    assert any("WS-10002" in e.text for e in entries if e.direction == "out")


async def test_state_survives_a_restart(tmp_path: Path, shipped_catalog: Catalog) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    actions = example_actions()
    store = await open_store(url)
    first = Customer(ConversationManager(store, FixedCatalog(shipped_catalog), actions))
    await first.say("where is my order")
    await first.tap("Quick answers")
    await store.close()

    store = await open_store(url)
    again = Customer(ConversationManager(store, FixedCatalog(shipped_catalog), actions))
    text = await again.say("WS-10001")  # the bot still waits for the order number
    assert "shipped" in text
    await store.close()


async def test_misunderstood_twice_offers_a_person(customer: Customer) -> None:
    await customer.say("hi")
    first = await customer.say("blorp")
    assert "didn't understand" in first
    await customer.say("zzzz qqq")
    assert "talk to a person" in customer.text.casefold()
    await customer.tap("Talk to a person")
    assert "connecting you with a person" in customer.text


async def test_invalid_answer_is_reprompted_with_the_reason(customer: Customer) -> None:
    await customer.say("where is my order")
    await customer.tap("Quick answers")
    text = await customer.say("its 1234")
    assert "five digits" in text
    assert "What's your order number?" in text


async def test_a_customer_without_the_answer_is_offered_other_help(customer: Customer) -> None:
    """Telling the format again helps no one who does not have the number."""
    await customer.say("where is my order")
    await customer.tap("Quick answers")
    text = await customer.say("I don't know")
    assert "five digits" not in text
    assert "walk you through it differently" in text
    assert customer.labels[:2] == ["Step by step", "Talk to a person"]


async def test_stale_button_gets_a_helpful_reply(customer: Customer) -> None:
    await customer.say("return an item")
    await customer.tap("Step by step")
    old_buttons = customer.last
    await customer.tap("Changed my mind")
    assert "Step 1 of 3" in customer.text
    customer.last = old_buttons  # the customer scrolls up and taps an old button
    text = await customer.tap("Damaged or wrong")
    assert "earlier message" in text
    assert "Step 1 of 3" in text  # and is shown where we are


async def test_unknown_payload_is_treated_as_stale(customer: Customer) -> None:
    await customer.say("hi")
    text = await customer.press("b:999:7")
    assert "earlier message" in text
    assert customer.labels  # a way forward


async def test_non_text_gets_a_polite_answer(customer: Customer) -> None:
    text = await customer.send_photo()
    assert "only read text" in text
    assert "Where is my order?" in customer.labels


async def test_empty_and_huge_messages(customer: Customer, store: SqlStore) -> None:
    assert "empty" in await customer.say("   ")
    huge = "я" * 100_000
    text = await customer.say(huge)
    assert text  # a sensible reply, not a crash
    conversations = await store.conversations_of("test:u1")
    entries = await store.transcript(conversations[0].id)
    assert any(e.text == huge for e in entries)  # nothing lost


async def test_huge_answer_to_a_question_is_refused_politely(customer: Customer) -> None:
    await customer.say("step by step please")
    await customer.tap("Talk to a person")
    assert "what would you like help with" in customer.text
    text = await customer.say("x" * 5000)
    assert "1000 characters" in text


async def test_action_failure_follows_on_error(store: SqlStore, shipped_catalog: Catalog) -> None:
    async def broken(call: ActionCall) -> ActionResultEvent:
        raise RuntimeError("order system down")

    manager = ConversationManager(
        store, FixedCatalog(shipped_catalog), LocalActionRunner({"order_status": broken})
    )
    customer = Customer(manager)
    await customer.say("where is my order")
    await customer.tap("Quick answers")
    text = await customer.say("WS-10001")
    assert "can't reach our order system" in text


async def test_slow_action_does_not_block_other_conversations(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    release = asyncio.Event()

    async def slow(call: ActionCall) -> ActionResultEvent:
        await release.wait()
        return await example_actions().run(call)

    manager = ConversationManager(
        store, FixedCatalog(shipped_catalog), LocalActionRunner({"order_status": slow})
    )
    waiting = Customer(manager, "slow")
    other = Customer(manager, "other")
    await waiting.say("where is my order")
    await waiting.tap("Quick answers")
    lookup = asyncio.create_task(waiting.say("WS-10001"))
    await asyncio.sleep(0.05)
    # The action holds no database transaction: another customer is served meanwhile.
    assert "Pick a topic" in await asyncio.wait_for(other.say("hi"), timeout=10)
    assert not lookup.done()
    release.set()
    assert "shipped" in await lookup


async def test_turns_of_one_chat_run_in_arrival_order(customer: Customer, store: SqlStore) -> None:
    await customer.say("hi")
    messages = [f"message {i}" for i in range(15)]
    await asyncio.gather(*(customer.say(m) for m in messages))
    conversations = await store.conversations_of("test:u1")
    entries = await store.transcript(conversations[0].id)
    inbound = [e.text for e in entries if e.direction == "in"]
    assert inbound == ["hi", *messages]


async def test_handoff_keeps_bot_quiet_until_menu(customer: Customer) -> None:
    await customer.say("where is my order")
    await customer.say("talk to a human please")
    assert "connecting you with a person" in customer.text
    again = await customer.say("human")
    assert "already in line" in again
    waiting = await customer.say("I was charged twice")  # not interpreted by flows
    assert "reply here soon" in waiting
    await customer.say("menu")
    assert "cancelled" in customer.text
    assert "Where is my order?" in customer.labels


async def test_deep_link_start_opens_flow_with_slot(customer: Customer) -> None:
    from bot.messages import Inbound, InboundKind

    text = await customer.send(
        Inbound(customer.key, customer.sender, InboundKind.START, payload="order_WS-10003")
    )
    assert "Hi Ann!" in text
    # The persona question comes first for a new customer; the slot waits for it.
    await customer.tap("Quick answers")
    assert "being packed" in customer.text


async def test_text_with_broken_unicode_is_stored_not_crashing(customer: Customer) -> None:
    text = await customer.say("hello \udcc3 there")
    assert text


async def test_thanks_after_a_resolution_is_answered_without_a_new_greeting(
    customer: Customer,
) -> None:
    await customer.say("reset my password")
    await customer.tap("Quick answers")
    await customer.tap("That worked")
    text = await customer.say("thanks!")
    assert "You're welcome! Before you go — how did we do?" in text  # asked once more
    assert "Welcome back" not in text
    await customer.tap("🙂 4")
    await customer.tap("Skip")
    text = await customer.say("bye")
    assert "You're welcome" in text and "Welcome back" not in text
    assert "Main menu" in customer.labels


async def test_asking_for_a_person_opens_one_ticket_and_menu_cancels_it(
    customer: Customer, store: SqlStore
) -> None:
    await customer.say("where is my order")
    await customer.tap("Quick answers")
    text = await customer.say("I want to talk to a human")
    assert "number 1 in line" in text
    await customer.say("agent please")  # asking again ...
    [ticket] = await store.tickets.open_tickets()  # ... does not open another
    assert (ticket.queue, ticket.flow_id, ticket.customer_id) == (
        "general",
        "where_is_my_order",
        "test:u1",
    )
    other = Customer(customer.manager, "u2")
    await other.say("talk to a person")
    assert "number 2 in line" in other.text

    await customer.say("menu")
    assert "cancelled" in customer.text
    closed = await store.tickets.get(ticket.id)
    assert closed is not None and closed.status == "closed" and closed.resolution == "cancelled"
    await other.say("hello?")
    assert [t.customer_id for t in await store.tickets.open_tickets()] == ["test:u2"]


async def test_rating_is_stored_with_its_attribution_and_late_answers_do_not_count(
    customer: Customer, store: SqlStore
) -> None:
    await resolve_order_question(customer)
    assert "How did we do?" in customer.text
    await customer.say("4/5")
    await customer.say("Could be faster")
    [conversation] = await store.conversations_of("test:u1")
    assert conversation.outcome == "resolved"
    assert await store.rating_of(conversation.id) == (4, "Could be faster")
    kinds = [e.kind for e in await store.transcript(conversation.id)]
    assert kinds.count("rating_asked") == 1 and "rating" in kinds


async def test_a_new_request_instead_of_a_rating_is_served(customer: Customer) -> None:
    await customer.say("reset my password")
    await customer.tap("Quick answers")
    await customer.tap("That worked")
    text = await customer.say("I was charged twice")
    assert "pending" in text  # no nagging: the new problem is handled


async def test_an_agent_closing_asks_for_the_rating(
    customer: Customer, store: SqlStore, manager: ConversationManager
) -> None:
    from bot.handoff.service import Agent, HandoffService

    desk = HandoffService(store, manager)
    await customer.say("talk to a person")
    [ticket] = await desk.inbox()
    alice = Agent("console:alice", "Alice")
    await desk.take(ticket.id, alice)
    await desk.close(ticket.id, alice, "solved")
    await customer.say("5")
    await customer.say("Alice was great")
    conversation = (await store.conversations_of("test:u1"))[0]
    assert await store.rating_of(conversation.id) == (5, "Alice was great")
