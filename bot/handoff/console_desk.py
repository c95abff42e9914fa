"""``supportbot desk``: an agent's inbox in the terminal, for local use and demos.

The customer chats in ``supportbot chat``, the agent answers here; both share the
database, so the whole loop runs on one machine with no accounts. Plain lines are replies
to the current ticket; ``//`` starts an internal note; commands start with ``/``. A file
the customer sent shows as ``[photo damage.jpg, 1.2 MB · telegram file AgAD…] caption``:
the terminal has no platform to fetch it from, so it names where the file is.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TextIO

from bot.handoff.service import Agent, HandoffService, TicketConflict
from bot.messages import attachments_in, shown
from storage.records import TicketRecord, TranscriptEntry, utcnow
from storage.sql import SqlStore

HELP = """commands:
  /list                 open tickets            /take N       take ticket N
  /show [N]             the ticket's card       /close [TAG]  close (TAG = resolution)
  /return               hand back to the bot    /transfer Q   move to queue Q
  /reassign NAME        give it to a colleague  /quit         leave the desk
  anything else is sent to the customer; lines starting with // are internal notes"""

NOTE_PREFIX = "//"
POLL_SECONDS = 1.0


class ConsoleDesk:
    def __init__(
        self, service: HandoffService, store: SqlStore, agent: Agent, out: TextIO = sys.stdout
    ) -> None:
        self._service = service
        self._store = store
        self._agent = agent
        self._out = out
        self._current: int | None = None
        self._seen_entry = 0
        self._known_tickets: set[int] = set()

    def _write(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    async def run(self, read_line: Callable[[], Awaitable[str | None]]) -> None:
        self._write(f"supportbot desk — you are {self._agent.name}. /help for commands.")
        await self.list_tickets()
        watcher = asyncio.create_task(self._watch())
        try:
            while (line := await read_line()) is not None:
                if line.strip() in ("/quit", "/exit"):
                    break
                try:
                    await self.command(line.strip())
                except TicketConflict as exc:
                    self._write(f"! {exc}")
        finally:
            watcher.cancel()
        self._write("Bye!")

    async def command(self, line: str) -> None:
        if not line:
            return
        if not line.startswith("/") or line.startswith(NOTE_PREFIX):
            if self._current is None:
                self._write("! take a ticket first (/list, then /take N)")
            elif line.startswith(NOTE_PREFIX):
                note = line[len(NOTE_PREFIX) :].strip()
                await self._service.note(self._current, self._agent, note)
                self._write("(note saved)")
            else:
                await self._service.reply(self._current, self._agent, line)
            return
        name, *args = shlex.split(line[1:]) or [""]
        await self._dispatch(name, args)

    async def _dispatch(self, name: str, args: list[str]) -> None:
        if name == "list":
            await self.list_tickets()
        elif name == "take" and args and args[0].isdigit():
            await self._take(int(args[0]))
        elif name == "show":
            target = int(args[0]) if args and args[0].isdigit() else self._current
            if target is not None:
                await self.show(target)
        elif name == "reassign" and args and self._current is not None:
            colleague = Agent(f"console:{args[0]}", args[0])
            await self._service.reassign(self._current, self._agent, colleague)
            self._write(f"ticket #{self._current} is now {args[0]}'s")
            self._current = None
        elif name in ("close", "return", "transfer") and self._current is not None:
            await self._finish(name, args)
        else:
            self._write(HELP)

    async def _take(self, ticket_id: int) -> None:
        """Take a ticket — or pick up again one that is already ours (after a restart)."""
        try:
            ticket = await self._service.take(ticket_id, self._agent)
            self._write(f"you took ticket #{ticket.id}")
        except TicketConflict as exc:
            mine = exc.ticket is not None and exc.ticket.owner_id == self._agent.id
            if not mine or exc.ticket is None or exc.ticket.status != "assigned":
                raise
            ticket = exc.ticket
            self._write(f"you have ticket #{ticket.id}")
        self._current, self._seen_entry = ticket.id, 0
        await self.show(ticket.id)

    async def _finish(self, name: str, args: list[str]) -> None:
        assert self._current is not None
        if name == "close":
            await self._service.close(self._current, self._agent, args[0] if args else None)
            self._write(f"closed ticket #{self._current}")
        elif name == "return":
            await self._service.return_to_bot(self._current, self._agent)
            self._write(f"ticket #{self._current} handed back to the bot")
        elif args:
            await self._service.transfer(self._current, args[0], self._agent)
            self._write(f"ticket #{self._current} moved to queue {args[0]}")
        self._current = None

    async def list_tickets(self) -> None:
        tickets = await self._service.inbox()
        self._known_tickets = {t.id for t in tickets}
        if not tickets:
            self._write("no open tickets")
        for ticket in tickets:
            self._write(_line(ticket))

    async def show(self, ticket_id: int) -> None:
        view = await self._service.view(ticket_id)
        if view is None:
            self._write(f"! no ticket #{ticket_id}")
            return
        t = view.ticket
        self._write(f"── ticket #{t.id} · {view.customer_name} · {t.chat_key.split(':')[0]} ──")
        self._write(f"queue {t.queue} · {t.status} · persona {view.persona or '-'}")
        self._write(f"escalated from {t.flow_id or '-'} / {t.step_id or '-'}: {t.reason}")
        if view.slots:
            self._write("slots: " + ", ".join(f"{k}={shown(v)}" for k, v in view.slots.items()))
        for entry in view.last_messages:
            who = "customer" if entry.direction == "in" else "bot/agent"
            self._write(f"  {who:>9}: {said(entry)[:300]}")

    async def _watch(self) -> None:
        """Print new tickets and the current customer's new messages as they arrive."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self._announce_new_tickets()
                await self._relay_customer_messages()
            except Exception as exc:  # a lost database must not end the desk
                self._write(f"! {type(exc).__name__}: {exc}")

    async def _announce_new_tickets(self) -> None:
        tickets = await self._service.inbox()
        for ticket in tickets:
            if ticket.id not in self._known_tickets and ticket.status == "queued":
                self._write(f"new ticket: {_line(ticket)}")
        self._known_tickets = {t.id for t in tickets}

    async def _relay_customer_messages(self) -> None:
        if self._current is None:
            return
        ticket = await self._store.tickets.get(self._current)
        if ticket is None:
            return
        for entry in await self._store.transcript_since(ticket.conversation_id, self._seen_entry):
            self._seen_entry = entry.id or self._seen_entry
            taken = ticket.taken_at or utcnow()
            if entry.direction == "in" and entry.created_at >= taken:
                self._write(f"customer: {said(entry) or '(' + entry.kind + ')'}")


def said(entry: TranscriptEntry) -> str:
    """An entry's words, its files first as ``[label · platform file id]``."""
    files = [file.reference() for file in attachments_in(entry.data)]
    return " ".join([*files, entry.text]).strip()


def _line(ticket: TicketRecord) -> str:
    waited = _minutes_since(ticket.created_at)
    owner = f" · {ticket.owner_name}" if ticket.owner_name else ""
    return (
        f"#{ticket.id} [{ticket.queue}] {ticket.status}{owner} · {ticket.customer_id} · "
        f"waiting {waited} min · {ticket.reason}"
    )


def _minutes_since(moment: datetime) -> int:
    return int((utcnow() - moment).total_seconds() // 60)
