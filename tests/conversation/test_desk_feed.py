"""The desk feed: cards appear once, follow the ticket, and relay customer messages once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.conversation.manager import ConversationManager
from bot.delivery import DeliveryError
from bot.handoff.desk_feed import RELAY_ATTEMPTS, DeskFeed
from bot.handoff.service import Agent, HandoffService, TicketView
from bot.messages import Attachment, Inbound, InboundKind, attachments_in
from storage.records import TranscriptEntry
from storage.sql import SqlStore
from tests.conftest import Customer


@dataclass
class RecordingDesk:
    name: str = "test-desk"
    cards: list[tuple[int, str]] = field(default_factory=list)
    updates: list[tuple[int, str, str | None]] = field(default_factory=list)
    relayed: list[tuple[int, str]] = field(default_factory=list)

    async def post_card(self, view: TicketView) -> dict[str, Any]:
        self.cards.append((view.ticket.id, view.customer_name))
        return {"card": f"c{view.ticket.id}"}

    async def update_card(self, view: TicketView, ref: dict[str, Any]) -> None:
        self.updates.append((view.ticket.id, view.ticket.status, view.ticket.owner_name))

    async def relay(self, view: TicketView, ref: dict[str, Any], entry: TranscriptEntry) -> None:
        assert ref["card"] == f"c{view.ticket.id}"
        self.relayed.append((view.ticket.id, entry.text))


async def test_cards_follow_tickets_and_messages_are_relayed_once(
    store: SqlStore, manager: ConversationManager, customer: Customer
) -> None:
    service = HandoffService(store, manager)
    desk = RecordingDesk()
    feed = DeskFeed(store, service, desk)

    await customer.say("talk to a person")
    await feed.sync()
    await feed.sync()
    [ticket] = await service.inbox()
    assert desk.cards == [(ticket.id, "Ann")]  # one card, however often the feed runs

    await customer.say("it's about order WS-10001")
    await service.take(ticket.id, Agent("slack:U1", "@alice"))
    await feed.sync()
    assert desk.relayed == [(ticket.id, "it's about order WS-10001")]
    assert desk.updates == [(ticket.id, "assigned", "@alice")]

    await customer.say("are you there?")
    await service.close(ticket.id, Agent("slack:U1", "@alice"))
    restarted = DeskFeed(store, service, desk)  # a restart: state is in the store
    await restarted.sync()
    await restarted.sync()
    assert desk.relayed[-1] == (ticket.id, "are you there?")
    assert len(desk.relayed) == 2
    assert desk.updates[-1] == (ticket.id, "closed", "@alice")
    assert len(desk.updates) == 2


@dataclass
class FailingFilesDesk(RecordingDesk):
    """Relays text; every message with a file fails (a platform refusing uploads)."""

    attempts: int = 0

    async def relay(self, view: TicketView, ref: dict[str, Any], entry: TranscriptEntry) -> None:
        if attachments_in(entry.data):
            self.attempts += 1
            raise DeliveryError("upload refused")
        await super().relay(view, ref, entry)


async def test_a_file_that_keeps_failing_becomes_a_note_and_the_ticket_goes_on(
    store: SqlStore, manager: ConversationManager, customer: Customer
) -> None:
    service = HandoffService(store, manager)
    desk = FailingFilesDesk()
    feed = DeskFeed(store, service, desk)
    await customer.say("talk to a person")
    await feed.sync()
    photo = Attachment("photo", "test", "AgAD-box", size=2048)
    await customer.send(Inbound(customer.key, customer.sender, InboundKind.NON_TEXT, "the box",
                                non_text_kind="photo", attachments=(photo,)))  # fmt: skip
    await customer.say("hello?")

    for _ in range(RELAY_ATTEMPTS - 1):
        with pytest.raises(DeliveryError):
            await feed.sync()
    assert [text for _, text in desk.relayed] == []  # the later message waits its turn
    await feed.sync()

    assert desk.attempts == RELAY_ATTEMPTS
    assert [text for _, text in desk.relayed] == [
        "the box\n[1 file(s) not passed on: upload refused]",
        "hello?",
    ]
    await feed.sync()
    assert len(desk.relayed) == 2  # recorded: never again
