"""Keeps waiting customers informed: a new place in line, or an apology at the timeout.

Runs periodically in the app (every ``WATCH_SECONDS``). Each notice goes through the
customer's conversation (transcript + outbox) like any other message, and is recorded
on the ticket so it is sent once.
"""

from __future__ import annotations

from bot.conversation.manager import ConversationManager, customer_view, outbox_message
from bot.engine.effects import Reply
from bot.engine.wording import say
from bot.messages import ConversationKey
from storage.records import TicketRecord, TranscriptEntry
from storage.sql import SqlStore
from storage.tickets import QUEUED

WATCH_SECONDS = 30.0


async def update_waiting_customers(store: SqlStore, manager: ConversationManager) -> int:
    """Send due position updates and timeout apologies; returns how many were sent."""
    sent = 0
    now = manager.clock()
    for ticket in await store.tickets.open_tickets():
        if ticket.status != QUEUED:
            continue
        hours = manager.queues.for_queue(ticket.queue)
        if not hours.is_open(now):
            continue  # the out-of-hours promise stands; nobody could answer anyway
        waited_minutes = (now - ticket.created_at).total_seconds() / 60
        if ticket.timeout_notified_at is None and waited_minutes >= hours.timeout_minutes:
            await _notify(store, manager, ticket, "handoff_timeout")
            sent += 1
            continue
        place = await store.tickets.place_in_queue(ticket)
        if ticket.told_position is not None and place.position < ticket.told_position:
            await _notify(store, manager, ticket, "handoff_position", position=place.position)
            sent += 1
        elif ticket.told_position is None:
            await store.tickets.record_notice(ticket.id, told_position=place.position)
    return sent


async def _notify(
    store: SqlStore,
    manager: ConversationManager,
    ticket: TicketRecord,
    wording: str,
    *,
    position: int | None = None,
) -> None:
    channel, _, chat_id = ticket.chat_key.partition(":")
    async with manager.chat_turn(ticket.chat_key, ticket.customer_id) as turn:
        if turn.ticket is None or turn.ticket.id != ticket.id or turn.ticket.status != QUEUED:
            return  # taken or cancelled meanwhile
        persona = manager.catalog.personas.get(turn.customer.persona or "")
        text = say(
            wording, persona.messages if persona else {}, customer_view(turn.customer),
            position=position,
        )  # fmt: skip
        turn.append(TranscriptEntry("out", wording, text, {"ticket": ticket.id}))
        turn.enqueue(outbox_message(ConversationKey(channel, chat_id), Reply(text)))
    if position is None:
        await store.tickets.record_notice(ticket.id, timeout_notified_at=manager.clock())
    else:
        await store.tickets.record_notice(ticket.id, told_position=position)
