"""Plain records the store hands to the conversation manager and takes back.

They are dataclasses, not ORM rows, so callers cannot trigger lazy loads or hold a
session open by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class CustomerRecord:
    """A customer on one channel; ``id`` is ``"{channel}:{user_id}"``."""

    id: str
    channel: str
    user_id: str
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    persona: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    last_seen_at: datetime = field(default_factory=utcnow)
    last_conversation_id: int | None = None


@dataclass(slots=True)
class ConversationRecord:
    """One conversation in one chat, from first message until it ends.

    ``state`` is the engine's JSON state; ``status``/``flow_id``/``step_id`` are copies
    kept in columns so reports can query them. ``ended_at`` set = the conversation is over,
    and the chat's next message opens a new one.
    """

    id: int
    chat_key: str
    customer_id: str
    status: str = "new"
    flow_id: str | None = None
    flow_version: str | None = None
    step_id: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    started_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    ended_at: datetime | None = None
    outcome: str | None = None


Direction = Literal["in", "out", "event"]


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One line of a conversation's transcript.

    ``direction`` is ``in`` (customer), ``out`` (bot or agent) or ``event`` (something
    that happened: flow started, step reached, handoff, resolved). ``data`` carries
    structured details (button payload, step id, ...).
    """

    direction: Direction
    kind: str
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None
    conversation_id: int | None = None


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message a turn decided to send; queued with :meth:`Turn.enqueue`.

    ``payload`` is channel-neutral JSON (text, buttons); the channel's sender renders it.
    """

    channel: str
    chat_id: str
    payload: dict[str, Any]
    kind: str = "reply"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An outbox row a sender has leased for delivery."""

    id: int
    channel: str
    chat_id: str
    conversation_id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(slots=True)
class TicketRecord:
    """A request for a person; see :mod:`storage.tickets` for its states and moves."""

    id: int
    conversation_id: int
    customer_id: str
    chat_key: str
    queue: str
    status: str
    reason: str = ""
    flow_id: str | None = None
    step_id: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    resolution: str | None = None
    version: int = 0
    desk_refs: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    taken_at: datetime | None = None
    first_reply_at: datetime | None = None
    closed_at: datetime | None = None
    told_position: int | None = None
    timeout_notified_at: datetime | None = None
