"""Business hours, timeouts and place-in-line updates, with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.conversation.queues import QueueHours, QueuesFile, load_queues
from bot.engine.catalog import Catalog
from bot.errors import ConfigError
from bot.handoff.service import Agent, HandoffService
from bot.handoff.watcher import update_waiting_customers
from storage.records import utcnow
from storage.sql import SqlStore
from tests.conftest import Customer, example_actions

BERLIN_HOURS = QueueHours(
    timezone="Europe/Berlin",
    hours={"mon-fri": "09:00-18:00"},
    holidays=["2026-12-25"],  # type: ignore[list-item]
    timeout_minutes=10,
)
# Monday 2026-11-23 10:00 in Berlin = 09:00 UTC.
MONDAY_MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_hours_open_closed_holiday_and_next_opening() -> None:
    assert BERLIN_HOURS.is_open(MONDAY_MORNING)
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert not BERLIN_HOURS.is_open(saturday)
    back = BERLIN_HOURS.next_opening(saturday)
    assert back is not None and (back.strftime("%A %H:%M"), str(back.tzinfo)) == (
        "Monday 09:00",
        "Europe/Berlin",
    )
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)  # a Friday, but a holiday
    assert not BERLIN_HOURS.is_open(christmas)
    assert QueueHours().is_open(saturday)  # no hours = always open


def test_bad_queues_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "queues.yaml"
    path.write_text("queues:\n  general:\n    timezone: Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        load_queues(path)
    path.write_text("queues:\n  general:\n    hours: {someday: '09:00-10:00'}\n", "utf-8")
    with pytest.raises(ConfigError, match="unknown day"):
        load_queues(path)
    assert load_queues(tmp_path / "missing.yaml") == QueuesFile()


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_MORNING)


@pytest.fixture
def queued_manager(store: SqlStore, shipped_catalog: Catalog, clock: Clock) -> ConversationManager:
    return ConversationManager(
        store,
        FixedCatalog(shipped_catalog),
        example_actions(),
        queues=QueuesFile(queues={"general": BERLIN_HOURS}),
        clock=clock,
    )


async def test_out_of_hours_says_when_a_person_is_back_and_takes_a_message(
    queued_manager: ConversationManager, clock: Clock, store: SqlStore
) -> None:
    clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # Saturday
    customer = Customer(queued_manager, "sat")
    text = await customer.say("talk to a person")
    assert "offline right now" in text and "Monday 09:00 (Europe/Berlin)" in text
    assert "in this chat" in text
    await customer.say("My voucher WS-VOUCH doesn't work")
    [ticket] = await store.tickets.open_tickets()
    conversation = await store.get_conversation(ticket.conversation_id)
    assert conversation is not None
    said = [e.text for e in await store.transcript(conversation.id) if e.direction == "in"]
    assert "My voucher WS-VOUCH doesn't work" in said  # the message is on the ticket
    assert await update_waiting_customers(store, queued_manager) == 0  # no apology on Saturday


@pytest.fixture
def live_clock() -> Clock:
    return Clock(utcnow())  # tickets are stamped with the real time; tests move it on


@pytest.fixture
def open_manager(
    store: SqlStore, shipped_catalog: Catalog, live_clock: Clock
) -> ConversationManager:
    """A queue that is always open, with a 10-minute timeout."""
    return ConversationManager(
        store,
        FixedCatalog(shipped_catalog),
        example_actions(),
        queues=QueuesFile(queues={"general": QueueHours(timeout_minutes=10)}),
        clock=live_clock,
    )


async def test_timeout_apologises_once_and_keeps_the_ticket_open(
    open_manager: ConversationManager, live_clock: Clock, store: SqlStore
) -> None:
    queued_manager, clock = open_manager, live_clock
    customer = Customer(queued_manager, "late")
    assert "number 1 in line" in await customer.say("talk to a person")
    assert await update_waiting_customers(store, queued_manager) == 0
    clock.now += timedelta(minutes=11)
    assert await update_waiting_customers(store, queued_manager) == 1
    assert await update_waiting_customers(store, queued_manager) == 0  # once only
    [ticket] = await store.tickets.open_tickets()
    assert ticket.status == "queued" and ticket.timeout_notified_at is not None
    items = await store.outbox.claim("test", "r", limit=100, chat_id="late")
    assert "Sorry for the wait" in items[-1].payload["text"]


async def test_customers_hear_when_they_move_up(
    open_manager: ConversationManager, store: SqlStore
) -> None:
    queued_manager = open_manager
    first, second = Customer(queued_manager, "a"), Customer(queued_manager, "b")
    await first.say("talk to a person")
    assert "number 2 in line" in await second.say("talk to a person")
    await update_waiting_customers(store, queued_manager)  # remembers what each was told
    desk = HandoffService(store, queued_manager)
    [ticket_a, _] = await desk.inbox()
    await desk.take(ticket_a.id, Agent("console:al", "Al"))
    assert await update_waiting_customers(store, queued_manager) == 1
    items = await store.outbox.claim("test", "r", limit=100, chat_id="b")
    assert items[-1].payload["text"] == "You're now number 1 in line."
