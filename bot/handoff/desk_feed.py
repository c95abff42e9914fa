"""Feeds agent desks (Slack channel, Telegram group) from the tickets in the store.

A desk shows each open ticket as a card, keeps it up to date, and relays what the
customer says into the ticket's thread/topic (what came since the last pass, as one
message). The feed finds what changed by polling
the store (cheap: open tickets only) and remembers per desk, in the ticket's
``desk_refs[desk]``, where the card is and what was already relayed — so a restart
neither loses nor repeats anything, and several desks can show the same ticket.

Agents' actions (Take, Close, replies…) go the other way, through
:class:`bot.handoff.service.HandoffService`; desks call it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol

from bot.errors import log_failure
from bot.handoff.service import HandoffService, TicketView
from storage.records import TicketRecord, TranscriptEntry, utcnow
from storage.sql import SqlStore

log = logging.getLogger("supportbot.desk")

FEED_SECONDS = 1.0


class Desk(Protocol):
    """Where agents work. ``name`` keys its entry in ``ticket.desk_refs``."""

    name: str

    async def post_card(self, view: TicketView) -> dict[str, Any]:
        """Show a new ticket; return what identifies the card (message ts, topic id…)."""
        ...

    async def update_card(self, view: TicketView, ref: dict[str, Any]) -> None:
        """The ticket changed (taken, closed…): redraw its card."""
        ...

    async def relay(self, view: TicketView, ref: dict[str, Any], entry: TranscriptEntry) -> None:
        """Show one customer message (or non-text note) in the ticket's thread/topic."""
        ...


class DeskFeed:
    def __init__(self, store: SqlStore, service: HandoffService, desk: Desk) -> None:
        self._store = store
        self._service = service
        self._desk = desk
        self._closed_seen: set[int] = set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sync()
            except Exception:
                log_failure(log, "desk %s: feed pass failed; retrying", self._desk.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FEED_SECONDS)

    async def sync(self) -> None:
        """One pass: new cards, changed cards, new customer messages."""
        for ticket in await self._store.tickets.open_tickets():
            await self._sync_ticket(ticket)
        for ticket in await self._recently_closed():
            await self._sync_ticket(ticket)

    async def _recently_closed(self) -> list[TicketRecord]:
        """Closed tickets whose card still shows them open."""
        since = utcnow() - timedelta(days=1)
        return [
            t
            for t in await self._store.tickets.closed_since(since)
            if t.id not in self._closed_seen
            and (t.desk_refs.get(self._desk.name) or {}).get("version") != t.version
        ]

    async def _sync_ticket(self, ticket: TicketRecord) -> None:
        """Only what changed is read: the card's view when it must be drawn, and the
        transcript after the last relayed entry — each pass is cheap per ticket."""
        ref = dict(ticket.desk_refs.get(self._desk.name) or {})
        if not ref:
            if ticket.status == "closed":
                return
            view = await self._service.view(ticket.id, last=50)
            if view is None:
                return
            ref = await self._desk.post_card(view)
            ref.update(version=ticket.version, last_entry=_newest_id(view.last_messages))
            await self._store.tickets.set_desk_ref(ticket.id, self._desk.name, ref)
            return
        last = int(ref.get("last_entry") or 0)
        fresh = await self._store.transcript_since(ticket.conversation_id, last)
        said = [e for e in fresh if e.direction == "in"]
        if ref.get("version") == ticket.version and not said:
            return
        view = await self._service.view(ticket.id, last=50)
        if view is None:
            return
        if ref.get("version") != ticket.version:
            await self._desk.update_card(view, ref)
            ref["version"] = ticket.version
        if said:
            await self._desk.relay(view, ref, _together(said))
            ref["last_entry"] = said[-1].id
        await self._store.tickets.set_desk_ref(ticket.id, self._desk.name, ref)
        if ticket.status == "closed":
            self._closed_seen.add(ticket.id)


def _together(said: list[TranscriptEntry]) -> TranscriptEntry:
    """What the customer said since the last pass, relayed as one message: a chat that
    sends many messages at once (a burst, a flood) reaches the agent as one batch."""
    if len(said) == 1:
        return said[0]
    lines = [e.text or f"({e.data.get('non_text_kind') or e.kind})" for e in said]
    last = said[-1]
    return replace(last, kind="text", text="\n".join(lines), data={"messages": len(said)})


def _newest_id(entries: list[TranscriptEntry]) -> int:
    ids = [e.id for e in entries if e.id is not None]
    return max(ids) if ids else 0
