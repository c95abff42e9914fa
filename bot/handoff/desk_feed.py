"""Feeds agent desks (Slack channel, Telegram group) from the tickets in the store.

A desk shows each open ticket as a card, keeps it up to date, and relays what the
customer says into the ticket's thread/topic (what came since the last pass, as one
message). The feed finds what changed by polling
the store (cheap: open tickets only) and remembers per desk, in the ticket's
``desk_refs[desk]``, where the card is and what was already relayed — so a restart
neither loses nor repeats anything, and several desks can show the same ticket.

Files: a customer message with files is relayed *as* files (the desk fetches them from
the customer's platform and uploads them, or re-sends a Telegram file by id). What was
relayed is recorded after each message, so a failure retries only the message that
failed; one that keeps failing (:data:`RELAY_ATTEMPTS` passes) is shown as text with
the reason instead of blocking the ticket. Files the customer sent *before* the ticket
(a photo at a flow step) are relayed right after the card (``ref["backlog"]``).

Agents' actions (Take, Close, replies…) go the other way, through
:class:`bot.handoff.service.HandoffService`; desks call it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from bot.delivery import DeliveryError
from bot.errors import log_failure
from bot.handoff.service import HandoffService, TicketView
from bot.messages import Attachment, attachments_in
from storage.records import TicketRecord, TranscriptEntry, utcnow
from storage.sql import SqlStore

log = logging.getLogger("supportbot.desk")

FEED_SECONDS = 1.0
RELAY_ATTEMPTS = 5
"""Passes a message may fail to relay before it is shown as text with the reason."""

T = TypeVar("T")


class _Abandoned(Exception):
    """A desk call cut by :meth:`DeskFeed.abandon` (shutdown's deadline)."""


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
        """Show one customer message in the ticket's thread/topic, its files as files
        (``entry.data["attachments"]``; a file that cannot be passed on as a note)."""
        ...


class DeskFeed:
    def __init__(self, store: SqlStore, service: HandoffService, desk: Desk) -> None:
        self._store = store
        self._service = service
        self._desk = desk
        self._closed_seen: set[int] = set()
        self._failures: dict[tuple[int, int], int] = {}
        """(ticket, entry) → failed relay passes (in memory: a restart tries afresh)."""
        self._calling: asyncio.Timeout | None = None
        self._abandoned = False

    @property
    def desk(self) -> str:
        return self._desk.name

    def abandon(self) -> bool:
        """Shutdown's deadline: cut the desk call waiting on the platform, make no more;
        True if one was cut. Nothing is lost: what it was showing is not yet recorded in
        the ticket's ``desk_refs``, so the next process shows it."""
        self._abandoned = True
        if self._calling is None:
            return False
        self._calling.reschedule(asyncio.get_running_loop().time())
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sync()
            except _Abandoned:
                return
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
            ref = await self._call(self._desk.post_card(view))
            ref.update(version=ticket.version, last_entry=_newest_id(view.last_messages))
            earlier_files = [e.id for e in view.last_messages if _customer_files(e)]
            if earlier_files:
                ref["backlog"] = earlier_files
            await self._store.tickets.set_desk_ref(ticket.id, self._desk.name, ref)
            return
        last = int(ref.get("last_entry") or 0)
        fresh = await self._store.transcript_since(ticket.conversation_id, last)
        said = [e for e in fresh if e.direction == "in"]
        backlog = [int(i) for i in ref.get("backlog") or ()]
        if ref.get("version") == ticket.version and not said and not backlog:
            return
        view = await self._service.view(ticket.id, last=50)
        if view is None:
            return
        if ref.get("version") != ticket.version:
            await self._call(self._desk.update_card(view, ref))
            ref["version"] = ticket.version
            await self._store.tickets.set_desk_ref(ticket.id, self._desk.name, ref)
        earlier = {e.id: e for e in view.last_messages}
        while backlog:  # files sent before the ticket, oldest first
            if backlog[0] in earlier:
                await self._relay(ticket, view, ref, earlier[backlog[0]])
            backlog = backlog[1:]
            ref["backlog"] = backlog
            await self._store.tickets.set_desk_ref(ticket.id, self._desk.name, ref)
        for batch in _batches(said):
            await self._relay(ticket, view, ref, _together(batch))
            ref["last_entry"] = batch[-1].id
            await self._store.tickets.set_desk_ref(ticket.id, self._desk.name, ref)
        if ticket.status == "closed":
            self._closed_seen.add(ticket.id)

    async def _relay(
        self, ticket: TicketRecord, view: TicketView, ref: dict[str, Any], entry: TranscriptEntry
    ) -> None:
        """Relay one entry (recorded by the caller once it is through); after
        :data:`RELAY_ATTEMPTS` failed passes, its text with the reason instead."""
        key = (ticket.id, entry.id or 0)
        try:
            await self._call(self._desk.relay(view, ref, entry))
        except _Abandoned:
            raise
        except Exception as exc:
            failures = self._failures.get(key, 0) + 1
            if failures < RELAY_ATTEMPTS or not _customer_files(entry):
                self._failures[key] = failures
                raise
            log.error("desk %s: gave up relaying the files of ticket #%d: %s",
                      self._desk.name, ticket.id, type(exc).__name__)  # fmt: skip
            why = str(exc) if isinstance(exc, DeliveryError) else type(exc).__name__
            reason = f"[{len(_customer_files(entry))} file(s) not passed on: {why}]"
            data = {k: v for k, v in entry.data.items() if k != "attachments"}
            text = f"{entry.text}\n{reason}".strip()
            await self._call(self._desk.relay(view, ref, replace(entry, text=text, data=data)))
        self._failures.pop(key, None)

    async def _call(self, call: Coroutine[Any, Any, T]) -> T:
        """One call to the desk's platform, inside a scope :meth:`abandon` can expire."""
        if self._abandoned:
            call.close()  # never started
            raise _Abandoned()
        try:
            async with asyncio.timeout(None) as scope:
                self._calling = scope
                try:
                    return await call
                finally:
                    self._calling = None
        except TimeoutError:
            if scope.expired():
                raise _Abandoned() from None
            raise


def _customer_files(entry: TranscriptEntry) -> tuple[Attachment, ...]:
    return attachments_in(entry.data) if entry.direction == "in" else ()


def _batches(said: list[TranscriptEntry]) -> list[list[TranscriptEntry]]:
    """Consecutive text messages go together; a message with files goes on its own (its
    files are relayed, and retried, one message at a time)."""
    batches: list[list[TranscriptEntry]] = []
    for entry in said:
        alone = bool(_customer_files(entry))
        if batches and not alone and not _customer_files(batches[-1][-1]):
            batches[-1].append(entry)
        else:
            batches.append([entry])
    return batches


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
