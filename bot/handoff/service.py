"""What an agent can do with a ticket, whatever desk they use (terminal, Slack, Telegram).

Every action that the customer should see is written into the customer's conversation —
transcript and outbox — in one transaction, serialised with the customer's own turns,
so agent replies are never lost, never sent twice, and always in order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.conversation.manager import (
    ConversationManager,
    customer_view,
    outbox_message,
    save_state,
)
from bot.engine.dialogue import resume_after_person
from bot.engine.effects import Reply
from bot.engine.state import ConversationState, Status
from bot.engine.wording import say
from bot.messages import Attachment, ConversationKey
from storage.records import OutboxMessage, TicketRecord, TranscriptEntry
from storage.sql import SqlStore
from storage.tickets import ASSIGNED, Move, TicketConflict

__all__ = [
    "Agent",
    "AgentCommand",
    "AgentNotAllowed",
    "HandoffService",
    "TicketConflict",
    "TicketView",
    "parse_command",
]

log = logging.getLogger("supportbot.handoff")

COMMAND_PREFIX = "!"
COMMAND_HELP = (
    "Commands in a ticket's thread: !close [resolution], !return, !transfer QUEUE, "
    "!reassign @colleague; // starts an internal note."
)


@dataclass(frozen=True, slots=True)
class AgentCommand:
    name: str
    argument: str | None = None


def parse_command(text: str) -> AgentCommand | None:
    """``!close refund_done`` → AgentCommand("close", "refund_done"); not a command → None."""
    if not text.startswith(COMMAND_PREFIX):
        return None
    name, _, rest = text[len(COMMAND_PREFIX) :].strip().partition(" ")
    return AgentCommand(name.lower(), rest.strip() or None)


@dataclass(frozen=True, slots=True)
class Agent:
    id: str  # "console:alice", "slack:U123", "telegram:42"
    name: str  # shown to customers and other agents


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket with what an agent needs to pick it up (the desk's card)."""

    ticket: TicketRecord
    customer_name: str
    persona: str | None
    slots: dict[str, Any]
    last_messages: list[TranscriptEntry]
    waiting_since: datetime


class AgentNotAllowed(TicketConflict):
    """Someone outside the agents' allowlist tried to act on a ticket."""

    def __init__(self, agent: Agent) -> None:
        Exception.__init__(self, f"{agent.name} is not on the agents' allowlist")
        self.ticket = None
        self.move = Move.TAKE


class HandoffService:
    def __init__(
        self,
        store: SqlStore,
        manager: ConversationManager,
        allowed_agents: frozenset[str] | None = None,
    ) -> None:
        """``allowed_agents``: agent ids (``slack:U123``, ``telegram:42``) who may act;
        None = everyone the desk accepts (members of the agents' channel/group)."""
        self._store = store
        self._manager = manager
        self._allowed = allowed_agents

    def _check(self, agent: Agent) -> None:
        if self._allowed is not None and agent.id not in self._allowed:
            log.warning("refused ticket action by %s: not on the allowlist", agent.id)
            raise AgentNotAllowed(agent)

    async def inbox(self) -> list[TicketRecord]:
        return await self._store.tickets.open_tickets()

    async def view(self, ticket_id: int, last: int = 10) -> TicketView | None:
        ticket = await self._store.tickets.get(ticket_id)
        if ticket is None:
            return None
        customer = await self._store.get_customer(ticket.customer_id)
        conversation = await self._store.get_conversation(ticket.conversation_id)
        state = ConversationState.from_json(conversation.state if conversation else {})
        name = (
            " ".join(p for p in (customer.first_name, customer.last_name) if p) if customer else ""
        )
        entries = await self._store.recent_transcript(ticket.conversation_id, last)
        return TicketView(
            ticket=ticket,
            customer_name=name or ticket.customer_id,
            persona=customer.persona if customer else None,
            slots=dict(state.slots),
            last_messages=[e for e in entries if e.direction != "event"],
            waiting_since=ticket.created_at,
        )

    async def take(self, ticket_id: int, agent: Agent) -> TicketRecord:
        """Claim the ticket (exactly one agent wins) and tell the customer who joined."""
        self._check(agent)
        ticket = await self._store.tickets.move(
            ticket_id, Move.TAKE, agent_id=agent.id, agent_name=agent.name
        )
        await self._tell_customer(ticket, "agent_joined", agent, kind="agent_joined")
        return ticket

    async def reply(
        self,
        ticket_id: int,
        agent: Agent,
        text: str,
        message_id: str | None = None,
        files: Sequence[Attachment] = (),
    ) -> None:
        """Relay the agent's message to the customer (only the owner may).

        ``message_id``: the desk platform's id of the agent's message (e.g. "slack:C1:17.2");
        a redelivery of the same message is then sent to the customer once only. ``files``
        go as one outbox row each (the text is the first one's caption), so each is
        retried on its own and sent once."""
        self._check(agent)
        ticket = await self._owned(ticket_id, agent)
        key = f"agent:{message_id}" if message_id else None
        async with self._manager.chat_turn(ticket.chat_key, ticket.customer_id, key) as turn:
            if turn.duplicate:
                return
            data: dict[str, Any] = {"agent": agent.id}
            if files:
                data["attachments"] = [file.to_json() for file in files]
            turn.append(TranscriptEntry("out", "agent", text, data))
            for message in _agent_messages(_key(ticket), text, files):
                turn.enqueue(message)
        await self._store.tickets.note_agent_reply(ticket_id)

    async def note(
        self, ticket_id: int, agent: Agent, text: str, message_id: str | None = None
    ) -> None:
        """An internal note: in the transcript for agents, never sent to the customer."""
        self._check(agent)
        ticket = await self._store.tickets.get(ticket_id)
        if ticket is None:
            raise TicketConflict(None, Move.CLOSE)
        key = f"agent:{message_id}" if message_id else None
        async with self._manager.chat_turn(ticket.chat_key, ticket.customer_id, key) as turn:
            if turn.duplicate:
                return
            turn.append(TranscriptEntry("event", "agent_note", text, {"agent": agent.id}))

    async def close(self, ticket_id: int, agent: Agent, resolution: str | None = None) -> None:
        """Done: the bot takes the conversation back and offers the menu."""
        self._check(agent)
        await self._not_someone_elses(ticket_id, agent)
        ticket = await self._store.tickets.move(
            ticket_id, Move.CLOSE, agent_id=agent.id, resolution=resolution or "solved"
        )
        await self._resume(ticket, agent, back_to_flow=False)

    async def return_to_bot(self, ticket_id: int, agent: Agent) -> None:
        """Hand back to the bot: the flow resumes where it stopped (or the menu)."""
        self._check(agent)
        await self._not_someone_elses(ticket_id, agent)
        ticket = await self._store.tickets.move(
            ticket_id, Move.RETURN, agent_id=agent.id, resolution="returned_to_bot"
        )
        await self._resume(ticket, agent, back_to_flow=True)

    async def transfer(
        self, ticket_id: int, queue: str, agent: Agent | None = None
    ) -> TicketRecord:
        """Back into the line of another queue (the owner, if any, lets go)."""
        if agent is not None:
            self._check(agent)
            await self._not_someone_elses(ticket_id, agent)
        return await self._store.tickets.move(ticket_id, Move.TRANSFER, queue=queue)

    async def reassign(self, ticket_id: int, agent: Agent, to: Agent) -> TicketRecord:
        """The owner hands the ticket to a colleague; the customer is told who took over."""
        self._check(agent)
        self._check(to)
        await self._owned(ticket_id, agent)
        ticket = await self._store.tickets.move(
            ticket_id, Move.REASSIGN, agent_id=to.id, agent_name=to.name
        )
        await self._tell_customer(ticket, "agent_joined", to, kind="agent_joined")
        return ticket

    async def command(
        self, ticket_id: int, agent: Agent, command: AgentCommand, to: Agent | None = None
    ) -> str:
        """Run a desk text command (``!close tag``, ``!return``, ``!transfer q``,
        ``!reassign @x``); returns what to tell the agent."""
        if command.name == "close":
            await self.close(ticket_id, agent, command.argument)
            return f"Closed ticket #{ticket_id}."
        if command.name == "return":
            await self.return_to_bot(ticket_id, agent)
            return f"Ticket #{ticket_id} is back with the bot."
        if command.name == "transfer" and command.argument:
            await self.transfer(ticket_id, command.argument, agent)
            return f"Ticket #{ticket_id} moved to queue {command.argument}."
        if command.name == "reassign" and to is not None:
            await self.reassign(ticket_id, agent, to)
            return f"Ticket #{ticket_id} is now {to.name}'s."
        return COMMAND_HELP

    async def _not_someone_elses(self, ticket_id: int, agent: Agent) -> None:
        """A taken ticket is closed or handed back by its owner only (queued: anyone)."""
        ticket = await self._store.tickets.get(ticket_id)
        if ticket is not None and ticket.status == ASSIGNED and ticket.owner_id != agent.id:
            raise TicketConflict(ticket, Move.CLOSE)

    async def _owned(self, ticket_id: int, agent: Agent) -> TicketRecord:
        ticket = await self._store.tickets.get(ticket_id)
        if ticket is None or ticket.status != ASSIGNED or ticket.owner_id != agent.id:
            raise TicketConflict(ticket, Move.REASSIGN)
        return ticket

    async def _tell_customer(
        self, ticket: TicketRecord, wording: str, agent: Agent, *, kind: str
    ) -> None:
        async with self._manager.chat_turn(ticket.chat_key, ticket.customer_id) as turn:
            persona = self._manager.catalog.personas.get(turn.customer.persona or "")
            overrides = persona.messages if persona else {}
            text = say(wording, overrides, customer_view(turn.customer), agent=agent.name)
            turn.append(TranscriptEntry("out", kind, text, {"agent": agent.id}))
            turn.enqueue(outbox_message(_key(ticket), Reply(text)))

    async def _resume(self, ticket: TicketRecord, agent: Agent, *, back_to_flow: bool) -> None:
        async with self._manager.chat_turn(ticket.chat_key, ticket.customer_id) as turn:
            state = ConversationState.from_json(turn.conversation.state)
            if state.status is not Status.HANDOFF:
                return  # the customer already left the queue
            ctx = self._manager.context(turn)
            state, effects = resume_after_person(ctx, state, back_to_flow=back_to_flow)
            turn.append(
                TranscriptEntry(
                    "event",
                    "ticket_closed",
                    data={"ticket": ticket.id, "agent": agent.id, "resolution": ticket.resolution},
                )
            )
            await self._manager.record(turn, effects, _key(ticket))
            save_state(turn, state)


def _agent_messages(
    key: ConversationKey, text: str, files: Sequence[Attachment]
) -> list[OutboxMessage]:
    """The outbox rows of an agent's message: its text, or each file (the text with the first)."""
    if not files:
        return [outbox_message(key, Reply(text))]
    return [
        OutboxMessage(
            key.channel,
            key.chat_id,
            {"text": text if index == 0 else "", "buttons": [], "attachment": file.to_json()},
        )
        for index, file in enumerate(files)
    ]


def _key(ticket: TicketRecord) -> ConversationKey:
    channel, _, chat_id = ticket.chat_key.partition(":")
    return ConversationKey(channel, chat_id)
