"""Where it hurts: satisfaction, containment, handoffs and drop-off, from stored facts.

:func:`build_report` turns the period's :class:`~storage.reporting.ReportFacts` into a
:class:`Report` — pure computation, no I/O, so the figures are tested against a
hand-computed fixture. Definitions (also in the README):

- **CSAT**: share of ratings that are 4 or 5; **average** score; **response rate**:
  ratings / conversations in which the rating was asked.
- **Containment**: conversations resolved by a flow with no ticket for a person, over
  all conversations. **Handoff rate**: conversations with a ticket, over all.
- **Wait**: ticket opened → taken by an agent; **handling**: taken → closed. Medians
  (the mean of the two middle values for an even count) and p90 (nearest rank).
- **Drop-off**: per flow, persona variant and step — conversations that reached the
  step, abandoned there, asked for a person there, or gave a low score (1–2) there; steps
  in the order customers meet them (their mean place in the conversations).

Apart from the formats (:mod:`bot.reports.formats`, :mod:`bot.reports.html`) so the
numbers are computed, and tested, once, whatever shows them.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.engine.rating import LOW_SCORES
from storage.reporting import ConversationFact, RatingFact, ReportFacts, TicketFact

GroupBy = Literal["flow", "persona", "channel", "agent", "queue", "day"]
GROUPINGS: tuple[GroupBy, ...] = ("flow", "persona", "channel", "agent", "queue", "day")
NO_FLOW = "(no flow)"
NO_PERSONA = "(none)"
NO_PERSON = "(no person)"
NO_QUEUE = "(no handoff)"
COMMENTS_SHOWN = 10

StepKey = tuple[str, str, str]
"""(flow, variant, step)."""


@dataclass(slots=True)
class Journey:
    """One conversation as the reports see it."""

    id: int
    channel: str
    persona: str
    day: str
    started_at: datetime
    flow: str
    steps: list[StepKey] = field(default_factory=list)
    started_flows: list[tuple[str, str]] = field(default_factory=list)
    resolved: bool = False
    abandoned_at: StepKey | None = None
    handoffs_at: list[StepKey] = field(default_factory=list)
    ticket: TicketFact | None = None
    tickets: list[TicketFact] = field(default_factory=list)
    rating_asked: bool = False
    rating: RatingFact | None = None
    low_score_at: StepKey | None = None

    @property
    def contained(self) -> bool:
        """Resolved by the bot alone: a flow resolved and no person was asked for."""
        return self.resolved and not self.tickets

    @property
    def handed_off(self) -> bool:
        return bool(self.tickets)

    @property
    def agent(self) -> str:
        ticket = self.ticket
        if ticket is None or ticket.taken_at is None:
            return NO_PERSON
        return ticket.owner_name or ticket.owner_id or NO_PERSON

    @property
    def queue(self) -> str:
        return self.ticket.queue if self.ticket else NO_QUEUE

    @property
    def outcome(self) -> str:
        if self.handed_off:
            return "person"
        if self.resolved:
            return "resolved"
        return "abandoned" if self.abandoned_at is not None else "open"


@dataclass(frozen=True, slots=True)
class Figures:
    """The headline numbers of a set of conversations (None where nothing to measure)."""

    conversations: int
    rating_asked: int
    ratings: int
    csat: float | None
    average_score: float | None
    response_rate: float | None
    contained: int
    containment: float | None
    handoffs: int
    handoff_rate: float | None
    abandoned: int
    median_wait_seconds: float | None
    p90_wait_seconds: float | None
    median_handling_seconds: float | None


@dataclass(frozen=True, slots=True)
class DropOffRow:
    flow: str
    variant: str
    step: str
    reached: int
    abandoned: int
    asked_for_person: int
    low_score: int


@dataclass(frozen=True, slots=True)
class LowComment:
    conversation_id: int
    score: int
    comment: str
    flow: str
    persona: str
    channel: str
    rated_at: datetime


@dataclass(frozen=True, slots=True)
class Report:
    since: datetime | None
    until: datetime | None
    by: GroupBy
    summary: Figures
    breakdown: list[tuple[str, Figures]]
    handoff_reasons: list[tuple[str, int]]
    dropoff: list[DropOffRow]
    low_comments: list[LowComment]
    journeys: list[Journey]


def build_report(facts: ReportFacts, by: GroupBy = "flow") -> Report:
    journeys = journeys_of(facts)
    reasons = Counter(t.reason or "(no reason)" for j in journeys for t in j.tickets)
    return Report(
        since=facts.since,
        until=facts.until,
        by=by,
        summary=figures(journeys),
        breakdown=breakdown(journeys, by),
        handoff_reasons=sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        dropoff=dropoff(journeys),
        low_comments=low_comments(journeys),
        journeys=journeys,
    )


def journeys_of(facts: ReportFacts) -> list[Journey]:
    """Fold each conversation's events, tickets and rating into a :class:`Journey`."""
    events = defaultdict(list)
    for event in facts.events:
        events[event.conversation_id].append(event)
    tickets: dict[int, list[TicketFact]] = defaultdict(list)
    for ticket in facts.tickets:
        tickets[ticket.conversation_id].append(ticket)
    ratings = {r.conversation_id: r for r in facts.ratings}
    journeys = []
    for conversation in facts.conversations:
        journey = _journey(conversation, tickets[conversation.id], ratings.get(conversation.id))
        variants: dict[str, str] = {}  # flow -> the variant it last ran in
        persona: str | None = None
        for event in events[conversation.id]:
            data = event.data
            flow = str(data.get("flow") or NO_FLOW)
            if event.kind == "flow_started":
                variants[flow] = str(data.get("variant") or "default")
                journey.started_flows.append((flow, variants[flow]))
                journey.flow = flow
                persona = data.get("persona") or persona
            elif event.kind == "step":
                variants[flow] = str(data.get("variant") or variants.get(flow, "default"))
                journey.steps.append((flow, variants[flow], str(data.get("step"))))
            elif event.kind == "resolved":
                journey.resolved = True
            elif event.kind == "rating_asked":
                journey.rating_asked = True
            elif event.kind == "handoff" and data.get("flow"):
                journey.handoffs_at.append((flow, variants.get(flow, "default"), _step(data)))
            elif event.kind == "abandoned" and data.get("flow"):
                journey.abandoned_at = (flow, variants.get(flow, "default"), _step(data))
            elif event.kind == "abandoned":
                journey.abandoned_at = (NO_FLOW, "default", str(data.get("status") or "menu"))
        rating = journey.rating
        if rating is not None:
            persona = persona or rating.persona
            if rating.score in LOW_SCORES and rating.flow_id:
                variant = variants.get(rating.flow_id, "default")
                journey.low_score_at = (rating.flow_id, variant, rating.step_id or "?")
        journey.persona = persona or conversation.customer_persona or NO_PERSONA
        journeys.append(journey)
    return journeys


def _journey(
    conversation: ConversationFact, tickets: list[TicketFact], rating: RatingFact | None
) -> Journey:
    last_ticket = tickets[-1] if tickets else None
    flow = conversation.flow_id or (last_ticket.flow_id if last_ticket else None)
    return Journey(
        id=conversation.id,
        channel=conversation.channel,
        persona=NO_PERSONA,
        day=conversation.started_at.date().isoformat(),
        started_at=conversation.started_at,
        flow=flow or NO_FLOW,
        ticket=last_ticket,
        tickets=tickets,
        rating=rating,
    )


def _step(data: dict[str, object]) -> str:
    return str(data.get("step") or "?")


def figures(journeys: Sequence[Journey]) -> Figures:
    scores = [j.rating.score for j in journeys if j.rating is not None]
    asked = sum(1 for j in journeys if j.rating_asked or j.rating is not None)
    tickets = [t for j in journeys for t in j.tickets]
    waits = [(t.taken_at - t.created_at).total_seconds() for t in tickets if t.taken_at]
    handling = [
        (t.closed_at - t.taken_at).total_seconds() for t in tickets if t.taken_at and t.closed_at
    ]
    n = len(journeys)
    contained = sum(1 for j in journeys if j.contained)
    handoffs = sum(1 for j in journeys if j.handed_off)
    return Figures(
        conversations=n,
        rating_asked=asked,
        ratings=len(scores),
        csat=_share(sum(1 for s in scores if s >= 4), len(scores)),
        average_score=statistics.fmean(scores) if scores else None,
        response_rate=_share(len(scores), asked),
        contained=contained,
        containment=_share(contained, n),
        handoffs=handoffs,
        handoff_rate=_share(handoffs, n),
        abandoned=sum(1 for j in journeys if j.outcome == "abandoned"),
        median_wait_seconds=statistics.median(waits) if waits else None,
        p90_wait_seconds=percentile(waits, 90),
        median_handling_seconds=statistics.median(handling) if handling else None,
    )


def percentile(values: Iterable[float], pct: float) -> float | None:
    """Nearest-rank percentile: the smallest value with ``pct`` % of values at or below."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


_KEYS: dict[GroupBy, Callable[[Journey], str]] = {
    "flow": lambda j: j.flow,
    "persona": lambda j: j.persona,
    "channel": lambda j: j.channel,
    "agent": lambda j: j.agent,
    "queue": lambda j: j.queue,
    "day": lambda j: j.day,
}


def breakdown(journeys: Sequence[Journey], by: GroupBy) -> list[tuple[str, Figures]]:
    """The figures per flow, persona, channel, agent, queue or day (sorted by name)."""
    groups: dict[str, list[Journey]] = defaultdict(list)
    for journey in journeys:
        groups[_KEYS[by](journey)].append(journey)
    return [(name, figures(groups[name])) for name in sorted(groups)]


def dropoff(journeys: Sequence[Journey]) -> list[DropOffRow]:
    """Per flow, variant and step: reached, abandoned, asked for a person, low score."""
    reached: Counter[StepKey] = Counter()
    positions: dict[StepKey, list[int]] = defaultdict(list)
    abandoned: Counter[StepKey] = Counter()
    person: Counter[StepKey] = Counter()
    low: Counter[StepKey] = Counter()
    for journey in journeys:
        reached.update(set(journey.steps))  # a step entered twice counts once
        _note_positions(journey.steps, positions)
        if journey.abandoned_at is not None and journey.abandoned_at[0] != NO_FLOW:
            abandoned[journey.abandoned_at] += 1
        person.update(set(journey.handoffs_at))
        if journey.low_score_at is not None:
            low[journey.low_score_at] += 1
    keys = set(reached) | set(abandoned) | set(person) | set(low)
    rows = [DropOffRow(*key, reached[key], abandoned[key], person[key], low[key]) for key in keys]
    # In the order customers go through a flow: the step's mean place in their journeys.
    place = {key: statistics.fmean(p) for key, p in positions.items()}

    def order(r: DropOffRow) -> tuple[str, str, float, str]:
        return (r.flow, r.variant, place.get((r.flow, r.variant, r.step), math.inf), r.step)

    return sorted(rows, key=order)


def _note_positions(steps: Sequence[StepKey], positions: dict[StepKey, list[int]]) -> None:
    """Record where in its flow each step was first entered in one conversation."""
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for flow, variant, step in steps:
        if step not in seen[(flow, variant)]:
            positions[(flow, variant, step)].append(len(seen[(flow, variant)]))
            seen[(flow, variant)].append(step)


def low_comments(journeys: Sequence[Journey], limit: int = COMMENTS_SHOWN) -> list[LowComment]:
    """The latest comments that came with a low score, newest first."""
    rated = [
        j
        for j in journeys
        if j.rating is not None and j.rating.score in LOW_SCORES and j.rating.comment
    ]
    rated.sort(key=lambda j: j.rating.created_at if j.rating else j.started_at, reverse=True)
    return [
        LowComment(
            conversation_id=j.id,
            score=j.rating.score,
            comment=j.rating.comment or "",
            flow=j.flow,
            persona=j.persona,
            channel=j.channel,
            rated_at=j.rating.created_at,
        )
        for j in rated[:limit]
        if j.rating is not None
    ]
