"""The rating's rules through ``handle()`` on a real SQLite file, with a frozen clock.

Asked once per conversation; late answers thanked but not counted; a low score alerts
the agents' desks and can open a recovery ticket; switched off globally or per flow;
customers who walk away mid-flow are recorded as abandoned, never asked.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.conversation.abandonment import end_abandoned
from bot.conversation.manager import ConversationManager, FixedCatalog, RatingPolicy
from bot.engine.catalog import Catalog
from bot.engine.loader import load_catalog
from bot.handoff.service import Agent, HandoffService
from bot.messages import ConversationKey
from storage.records import utcnow
from storage.sql import SqlStore
from storage.tables import metadata
from tests.conftest import FLOWS, PERSONAS, Customer, example_actions

DESK = ConversationKey("slack", "CDESK")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make_manager(
    store: SqlStore, catalog: Catalog, clock: Clock, policy: RatingPolicy | None = None
) -> ConversationManager:
    return ConversationManager(
        store,
        FixedCatalog(catalog),
        example_actions(),
        clock=clock,
        rating=policy or RatingPolicy(window_seconds=3600, alert_desks=(DESK,)),
    )


async def resolve_order(customer: Customer) -> None:
    await customer.say("where is my order")
    await customer.tap("Quick answers")
    await customer.say("WS-10001")
    await customer.tap("Thanks, that's all")


async def desk_messages(store: SqlStore) -> list[str]:
    outbox = metadata.tables["outbox"]
    read, _ = store.engines
    async with read.connect() as conn:
        rows = await conn.execute(sa.select(outbox.c.payload).where(outbox.c.chat_key == str(DESK)))
        return [payload["text"] for (payload,) in rows]


async def test_an_answer_after_the_window_is_thanked_but_not_counted(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    clock = Clock()
    customer = Customer(make_manager(store, shipped_catalog, clock))
    await resolve_order(customer)
    assert "How did we do?" in customer.text
    clock.now += timedelta(hours=1, seconds=1)  # the window is one hour
    await customer.tap("😀 5")
    assert "Thanks for the feedback" in customer.text
    [conversation] = await store.conversations_of("test:u1")
    assert await store.rating_of(conversation.id) is None
    assert conversation.ended_at is not None


async def test_an_answer_inside_the_window_counts(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    clock = Clock()
    customer = Customer(make_manager(store, shipped_catalog, clock))
    await resolve_order(customer)
    clock.now += timedelta(minutes=59)
    await customer.say("5 stars")
    [conversation] = await store.conversations_of("test:u1")
    assert await store.rating_of(conversation.id) == (5, None)


async def test_low_score_alerts_the_desk_and_a_person_follows_up_in_the_recovery_queue(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    clock = Clock()
    manager = make_manager(store, shipped_catalog, clock)
    customer = Customer(manager, first_name="Ann")
    await resolve_order(customer)
    await customer.tap("🙁 2")
    assert "sorry" in customer.text.lower()
    [alert] = await desk_messages(store)
    assert "Low rating 2/5 from Ann" in alert and "where_is_my_order" in alert
    [conversation] = await store.conversations_of("test:u1")
    assert f"supportbot transcript {conversation.id}" in alert

    await customer.tap("Talk to a person")
    [ticket] = await store.tickets.open_tickets()
    assert ticket.queue == "recovery" and "(2/5)" in ticket.reason
    assert ticket.conversation_id == conversation.id  # the agent sees the whole transcript

    desk = HandoffService(store, manager)
    alice = Agent("console:alice", "Alice")
    await desk.take(ticket.id, alice)
    await desk.close(ticket.id, alice)
    transcript = await store.transcript(conversation.id)
    assert [e.kind for e in transcript].count("rating_asked") == 1
    assert "How did we do?" not in transcript[-1].text  # already rated: not asked again
    assert await store.rating_of(conversation.id) == (2, None)


async def test_a_comment_after_a_low_score_reaches_the_desk_too(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    customer = Customer(make_manager(store, shipped_catalog, Clock()), first_name="Ann")
    await resolve_order(customer)
    await customer.tap("😞 1")
    await customer.say("The parcel never came")
    alerts = await desk_messages(store)
    assert len(alerts) == 2 and "The parcel never came" in alerts[1]
    [conversation] = await store.conversations_of("test:u1")
    assert await store.rating_of(conversation.id) == (1, "The parcel never came")


async def test_a_good_score_alerts_nobody_and_five_stars_invite_a_recommendation(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    policy = RatingPolicy(recommend_url="https://reviews.example/shop", alert_desks=(DESK,))
    customer = Customer(make_manager(store, shipped_catalog, Clock(), policy))
    await resolve_order(customer)
    await customer.tap("😀 5")
    assert "https://reviews.example/shop" in customer.text
    assert await desk_messages(store) == []


async def test_rating_switched_off_globally_or_for_one_flow(
    store: SqlStore, shipped_catalog: Catalog, tmp_path: Path
) -> None:
    off = RatingPolicy(enabled=False)
    customer = Customer(make_manager(store, shipped_catalog, Clock(), off))
    await resolve_order(customer)
    assert "How did we do?" not in customer.text

    flows = tmp_path / "flows"
    shutil.copytree(FLOWS, flows)
    wimo = flows / "where_is_my_order.yaml"
    wimo.write_text(wimo.read_text().replace("\nvariants:", "\nrating: false\nvariants:", 1))
    no_rating, problems = load_catalog(flows, PERSONAS)
    assert no_rating is not None, problems
    other = Customer(make_manager(store, no_rating, Clock()), user_id="u2")
    await resolve_order(other)
    assert "How did we do?" not in other.text and "Anything else" in other.text


async def test_a_customer_who_walks_away_mid_flow_is_abandoned_not_asked(
    store: SqlStore, shipped_catalog: Catalog
) -> None:
    manager = make_manager(store, shipped_catalog, Clock())
    walker = Customer(manager, user_id="walker", first_name="Wes")
    await walker.say("where is my order")
    await walker.tap("Quick answers")  # asked for the order number; never answers
    waiting = Customer(manager, user_id="waiting")
    await waiting.say("talk to a person")  # waiting for a person: never abandoned
    rating = Customer(manager, user_id="rating")
    await resolve_order(rating)  # asked to rate: left open for a late answer

    ended = await end_abandoned(store, timedelta(minutes=30), now=utcnow() + timedelta(hours=1))

    assert ended == 1
    [gone] = await store.conversations_of("test:walker")
    assert (gone.outcome, gone.status) == ("abandoned", "closed") and gone.ended_at is not None
    [event] = [e for e in await store.transcript(gone.id) if e.kind == "abandoned"]
    assert event.data["flow"] == "where_is_my_order" and event.data["step"] == "ask_number"
    assert "rating_asked" not in [e.kind for e in await store.transcript(gone.id)]
    for other in ("test:waiting", "test:rating"):
        [still] = await store.conversations_of(other)
        assert still.ended_at is None

    text = await walker.say("hi")  # coming back opens a new conversation
    assert "Welcome back, Wes" in text
    assert len(await store.conversations_of("test:walker")) == 2


async def test_recent_activity_is_not_abandoned(store: SqlStore, shipped_catalog: Catalog) -> None:
    customer = Customer(make_manager(store, shipped_catalog, Clock()))
    await customer.say("where is my order")
    assert await end_abandoned(store, timedelta(minutes=30)) == 0
    [conversation] = await store.conversations_of("test:u1")
    assert conversation.ended_at is None
