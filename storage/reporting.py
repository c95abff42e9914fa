"""The facts reports are computed from, read in one snapshot for a period.

Reports (``bot.reports``) need, per conversation started in the period: where it ran
(channel, persona), what it went through (the anonymous ``event`` entries of its
transcript: flows started, steps reached, handoffs, resolutions, the rating asked,
abandonment), its tickets and its rating. Those event entries carry no customer text,
which is why ``customer forget`` keeps them (see :data:`REPORT_EVENT_KINDS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from storage.sql import SqlStore
from storage.tables import metadata

REPORT_EVENT_KINDS = (
    "flow_started",
    "step",
    "persona",
    "handoff",
    "resolved",
    "rating_asked",
    "abandoned",
)
"""Transcript event kinds reports read. They hold flow/step ids and operator-written
reasons only — never what a customer said — so forgetting a customer keeps them."""

_CUSTOMER = metadata.tables["customer"]
_CONVERSATION = metadata.tables["conversation"]
_TRANSCRIPT = metadata.tables["transcript_entry"]
_RATING = metadata.tables["rating"]
_TICKET = metadata.tables["ticket"]


@dataclass(frozen=True, slots=True)
class ConversationFact:
    id: int
    channel: str
    customer_persona: str | None
    started_at: datetime
    ended_at: datetime | None
    status: str
    outcome: str | None
    flow_id: str | None
    step_id: str | None


@dataclass(frozen=True, slots=True)
class EventFact:
    conversation_id: int
    kind: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TicketFact:
    id: int
    conversation_id: int
    queue: str
    status: str
    reason: str
    flow_id: str | None
    step_id: str | None
    owner_id: str | None
    owner_name: str | None
    resolution: str | None
    created_at: datetime
    taken_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class RatingFact:
    conversation_id: int
    channel: str
    persona: str | None
    flow_id: str | None
    step_id: str | None
    agent_id: str | None
    queue: str | None
    resolution: str | None
    score: int
    comment: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """Everything about the conversations that started in ``[since, until)``."""

    since: datetime | None
    until: datetime | None
    conversations: list[ConversationFact]
    events: list[EventFact]
    """In write order."""
    tickets: list[TicketFact]
    ratings: list[RatingFact]


async def load_report_facts(
    store: SqlStore, since: datetime | None = None, until: datetime | None = None
) -> ReportFacts:
    """Read the period's facts in one read transaction (a consistent snapshot)."""
    in_period: sa.ColumnElement[bool] = sa.true()
    if since is not None:
        in_period = sa.and_(in_period, _CONVERSATION.c.started_at >= since)
    if until is not None:
        in_period = sa.and_(in_period, _CONVERSATION.c.started_at < until)
    ids = sa.select(_CONVERSATION.c.id).where(in_period)
    conversations = (
        sa.select(
            _CONVERSATION.c.id,
            _CUSTOMER.c.channel,
            _CUSTOMER.c.persona.label("customer_persona"),
            _CONVERSATION.c.started_at,
            _CONVERSATION.c.ended_at,
            _CONVERSATION.c.status,
            _CONVERSATION.c.outcome,
            _CONVERSATION.c.flow_id,
            _CONVERSATION.c.step_id,
        )
        .join(_CUSTOMER, _CUSTOMER.c.id == _CONVERSATION.c.customer_id)
        .where(in_period)
        .order_by(_CONVERSATION.c.id)
    )
    events = (
        sa.select(
            _TRANSCRIPT.c.conversation_id,
            _TRANSCRIPT.c.kind,
            _TRANSCRIPT.c.data,
            _TRANSCRIPT.c.created_at,
        )
        .where(
            _TRANSCRIPT.c.conversation_id.in_(ids),
            _TRANSCRIPT.c.direction == "event",
            _TRANSCRIPT.c.kind.in_(REPORT_EVENT_KINDS),
        )
        .order_by(_TRANSCRIPT.c.id)
    )
    tickets = (
        sa.select(*(_TICKET.c[name] for name in TicketFact.__dataclass_fields__))
        .where(_TICKET.c.conversation_id.in_(ids))
        .order_by(_TICKET.c.id)
    )
    ratings = (
        sa.select(*(_RATING.c[name] for name in RatingFact.__dataclass_fields__))
        .where(_RATING.c.conversation_id.in_(ids))
        .order_by(_RATING.c.id)
    )
    read, _ = store.engines
    async with read.connect() as conn, conn.begin():
        return ReportFacts(
            since=since,
            until=until,
            conversations=[
                ConversationFact(**row) for row in (await conn.execute(conversations)).mappings()
            ],
            events=[EventFact(**row) for row in (await conn.execute(events)).mappings()],
            tickets=[TicketFact(**row) for row in (await conn.execute(tickets)).mappings()],
            ratings=[RatingFact(**row) for row in (await conn.execute(ratings)).mappings()],
        )
