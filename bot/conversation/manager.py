"""The conversation manager: ``handle(inbound) -> outbound messages``.

Every channel calls this one method. A turn takes the conversation's lock, loads the
customer and state from the store, asks the pure engine what to do, applies the
effects, and writes state + transcript in one transaction. A custom action runs
*between* two transactions (its call is recorded first, its result in a second
commit), so a slow back-end never holds the database's write lock. Messages that
arrive while their chat's turn is queued or running are taken together as the next
turn, and a flooding chat's messages are stored without being answered one by one
(:mod:`bot.conversation.arrivals`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from bot.actions import ActionCall, ActionRunner
from bot.conversation.arrivals import Arrivals, Batch, Mode, fresh_of, joined
from bot.conversation.events import event_entry
from bot.conversation.flood import OFF, FloodPolicy
from bot.conversation.locks import KeyedLocks
from bot.conversation.queues import QueuesFile, describe_opening
from bot.conversation.rating_alerts import comment_alerts, low_score_alerts
from bot.engine.catalog import Catalog
from bot.engine.dialogue import Context, step
from bot.engine.effects import (
    ActionResultEvent,
    ButtonEvent,
    Effect,
    Event,
    FlowStarted,
    HandoffCancelled,
    HandoffRequested,
    NonTextEvent,
    PersonaChosen,
    RatingComment,
    RatingGiven,
    Reply,
    RunAction,
    StartEvent,
    TextEvent,
)
from bot.engine.rating import LOW_SCORES
from bot.engine.state import Awaiting, ConversationState
from bot.engine.understanding.decision import DEFAULT_THRESHOLDS, RoutingThresholds
from bot.engine.wording import say
from bot.faults import crash_point
from bot.messages import Button, ConversationKey, Inbound, InboundKind, Outbound, well_formed
from bot.metrics import TURN_SECONDS
from storage import CustomerRecord, Store, TranscriptEntry, Turn
from storage.records import OutboxMessage, utcnow

log = logging.getLogger("supportbot.conversation")

MAX_ACTIONS_PER_TURN = 10
"""Actions chained in one customer turn; more means a loop between action steps."""
HISTORY = 50
"""Transcript entries an action sees (its tracker's events)."""


@dataclass(frozen=True, slots=True)
class RatingPolicy:
    """Whether and how to ask "How did we do?" (settings: SUPPORTBOT_RATING_*)."""

    enabled: bool = True
    window_seconds: float = 24 * 3600.0
    recommend_url: str | None = None
    alert_desks: tuple[ConversationKey, ...] = ()
    """Agents' desk chats told about low scores (Slack agent channel, Telegram group)."""


class CatalogSource(Protocol):
    """Where the current flows come from (the hot-reloading registry, or a fixed catalog)."""

    @property
    def catalog(self) -> Catalog: ...


@dataclass(frozen=True, slots=True)
class FixedCatalog:
    """A catalog that never changes (tests, one-off tools)."""

    catalog: Catalog


def event_of(inbound: Inbound) -> Event:
    if inbound.kind is InboundKind.BUTTON:
        return ButtonEvent(inbound.payload or "")
    if inbound.kind is InboundKind.START:
        return StartEvent(inbound.payload or None)
    if inbound.kind is InboundKind.NON_TEXT:
        return NonTextEvent(inbound.non_text_kind or "unknown", inbound.attachments)
    return TextEvent(inbound.text)


def customer_view(customer: CustomerRecord) -> dict[str, Any]:
    """The customer fields templates may use."""
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    return {
        "first_name": customer.first_name or "",
        "last_name": customer.last_name or "",
        "name": name,
        "language": customer.language or "",
    }


class ConversationManager:
    def __init__(
        self,
        store: Store,
        flows: CatalogSource,
        actions: ActionRunner,
        on_queued: Callable[[str], None] | None = None,
        queues: QueuesFile | None = None,
        clock: Callable[[], datetime] = utcnow,
        rating: RatingPolicy | None = None,
        routing: RoutingThresholds = DEFAULT_THRESHOLDS,
        flood: FloodPolicy = OFF,
        bursts: bool = True,
    ) -> None:
        """``on_queued(channel)`` is called after a commit that queued outgoing messages;
        ``queues`` gives each handoff queue's business hours; ``clock`` is for tests;
        ``flood`` says when a chat is flooding (default: never); ``bursts``: messages
        that arrive during a chat's turn are answered together."""
        self.queues = queues or QueuesFile()
        self.clock = clock
        self.rating = rating or RatingPolicy()
        self.routing = routing
        self._store = store
        self._flows = flows
        self._actions = actions
        self.on_queued = on_queued
        self._locks = KeyedLocks()
        self.arrivals = Arrivals(self._run_batch, self._locks, flood, bursts=bursts)

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        """Take one customer message; return once the turn that stores it committed.

        Returns that turn's replies, in order (they are also in the outbox, from where
        the channel's sender delivers them; the return value is for callers that want to
        look: tests, tools). A message taken together with later ones returns none: the
        call of a batch's last new message gets the batch's replies.
        """
        return await self.arrivals.submit(well_formed(inbound))

    async def _run_batch(self, batch: Batch) -> list[Outbound]:
        """One turn over a batch; :class:`Arrivals` holds the chat's in-process lock."""
        key = batch.items[-1].key
        with TURN_SECONDS.time():
            async with self._store.chat_lock(str(key)):
                catalog = self._flows.catalog
                replies, pending = await self._first_phase(batch, catalog)
                for _ in range(MAX_ACTIONS_PER_TURN):
                    if pending is None:
                        break
                    call, sender = pending
                    history = await self._store.recent_transcript(call.conversation_id, HISTORY)
                    result = await self._actions.run(replace(call, history=tuple(history)))
                    more, pending = await self._continue(sender, catalog, result)
                    replies.extend(more)
        if replies and self.on_queued is not None:
            self.on_queued(key.channel)
        return [Outbound(key, r.text, r.buttons) for r in replies]

    @asynccontextmanager
    async def chat_turn(
        self, chat_key: str, customer_id: str, update_id: str | None = None
    ) -> AsyncIterator[Turn]:
        """A turn of ``chat_key`` that is not a customer message (an agent's, say),
        serialised with the customer's turns in the same way. ``update_id`` (the desk
        platform's id of the agent's message) makes a redelivery a ``duplicate`` turn."""
        channel, _, user_id = customer_id.partition(":")
        async with (
            self._locks.hold(chat_key),
            self._store.chat_lock(chat_key),
            self._store.turn(chat_key, channel, user_id, update_id) as turn,
        ):
            yield turn
        if self.on_queued is not None:
            self.on_queued(channel)

    async def _first_phase(
        self, batch: Batch, catalog: Catalog
    ) -> tuple[list[Reply], tuple[ActionCall, Inbound] | None]:
        """Store the batch's messages (each on its own) and answer them as one text;
        held (flooding): store only; the latest of a flood: answer what was stored."""
        last = batch.items[-1]
        stored = batch.mode is Mode.LATEST
        ids = [] if stored else [i.update_id for i in batch.items if i.update_id is not None]
        async with self._store.turn(
            str(last.key), last.key.channel, last.sender.user_id, update_ids=ids
        ) as turn:
            if turn.duplicate:
                log.info("ignored redelivered update(s) %s on %s", ", ".join(ids), last.key)
                return [], _interrupted_action(turn, catalog, last)
            inbounds = batch.items if stored else fresh_of(batch.items, turn.seen)
            batch.answered = inbounds[-1]
            for index, inbound in enumerate([] if stored else inbounds):
                _update_profile(turn.customer, inbound)
                turn.append(_inbound_entry(inbound, batch.mode is Mode.HOLD, index > 0))
            if batch.mode is Mode.HOLD:
                outcome: tuple[list[Reply], tuple[ActionCall, Inbound] | None]
                outcome = await self._flood_notice(turn, catalog, last.key, batch.notice), None
            else:
                inbound = joined(inbounds)
                outcome = await self._run(turn, catalog, event_of(inbound), inbound)
            crash_point("turn:before-commit")
        crash_point("turn:after-commit")
        return outcome

    async def _flood_notice(
        self, turn: Turn, catalog: Catalog, key: ConversationKey, notice: bool
    ) -> list[Reply]:
        """Held messages are not answered; the first hold of a flood says so (unless a
        person owns the chat: the bot is quiet then)."""
        if not notice or (turn.ticket is not None and turn.ticket.status == "assigned"):
            return []
        replies, _ = await self.record(turn, [Reply(self._say(turn, catalog, "flood_notice"))], key)
        return replies

    async def _continue(
        self, sender: Inbound, catalog: Catalog, result: ActionResultEvent
    ) -> tuple[list[Reply], tuple[ActionCall, Inbound] | None]:
        """The action's result, stepped in a turn of its own (``sender``: whose turn
        called the action)."""
        async with self._store.turn(
            str(sender.key), sender.key.channel, sender.sender.user_id
        ) as turn:
            turn.append(
                TranscriptEntry(
                    "event", "action_result", data={"ok": result.ok, "error": result.error}
                )
            )
            return await self._run(turn, catalog, result, sender)

    async def _run(
        self, turn: Turn, catalog: Catalog, event: Event, inbound: Inbound
    ) -> tuple[list[Reply], tuple[ActionCall, Inbound] | None]:
        """Step the engine inside an open turn and record everything it did."""
        state = ConversationState.from_json(turn.conversation.state)
        ctx = self.context(turn, catalog)
        state, effects = step(ctx, state, event)
        replies, action = await self.record(turn, effects, inbound.key)
        save_state(turn, state)
        if action is None:
            return replies, None
        call = ActionCall(
            name=action.name,
            customer_id=turn.customer.id,
            conversation_id=turn.conversation.id,
            flow_id=action.flow_id,
            step_id=action.step_id,
            slots=action.slots,
            customer=ctx.customer,
            validating=action.validating,
            latest_text=inbound.text,
        )
        return replies, (call, inbound)

    @property
    def catalog(self) -> Catalog:
        return self._flows.catalog

    def context(self, turn: Turn, catalog: Catalog | None = None) -> Context:
        """What the engine may know about this turn besides the conversation state."""
        catalog = catalog or self.catalog
        previous_flow = turn.previous.flow_id if turn.previous else None
        previous = catalog.flows.get(previous_flow) if previous_flow else None
        return Context(
            catalog=catalog,
            customer=customer_view(turn.customer),
            persona_id=turn.customer.persona,
            returning=turn.previous is not None,
            last_topic=previous.title if previous else None,
            person_assigned=turn.ticket is not None and turn.ticket.status == "assigned",
            now=self.clock().timestamp(),
            rating_enabled=self.rating.enabled,
            rating_window_seconds=self.rating.window_seconds,
            recommend_url=self.rating.recommend_url,
            routing=self.routing,
        )

    async def record(
        self, turn: Turn, effects: Sequence[Effect], key: ConversationKey
    ) -> tuple[list[Reply], RunAction | None]:
        """Apply the engine's effects to an open turn: transcript, outbox, tickets."""
        replies, action = await self._apply(turn, self.catalog, effects)
        for reply in replies:
            turn.enqueue(outbox_message(key, reply))
        return replies, action

    async def _apply(
        self, turn: Turn, catalog: Catalog, effects: Sequence[Effect]
    ) -> tuple[list[Reply], RunAction | None]:
        replies: list[Reply] = []
        action: RunAction | None = None
        for effect in effects:
            if isinstance(effect, Reply):
                replies.append(effect)
                turn.append(_reply_entry(effect))
                continue
            entry = event_entry(effect)
            if isinstance(effect, FlowStarted):  # reports break flows down by persona
                entry.data["persona"] = turn.customer.persona
            turn.append(entry)
            if isinstance(effect, PersonaChosen):
                turn.customer.persona = effect.persona_id
            elif isinstance(effect, RunAction):
                action = effect
            elif isinstance(effect, HandoffRequested):
                queued = await self._open_ticket(turn, catalog, effect)
                replies.append(queued)
                turn.append(_reply_entry(queued))
            elif isinstance(effect, RatingGiven):
                await turn.record_rating(score=effect.score)
                if effect.score in LOW_SCORES:
                    for alert in low_score_alerts(turn, effect.score, self.rating.alert_desks):
                        turn.enqueue(alert)
            elif isinstance(effect, RatingComment):
                await turn.record_rating(comment=effect.text)
                state = ConversationState.from_json(turn.conversation.state)
                if state.rating_score in LOW_SCORES:
                    for alert in comment_alerts(turn, effect.text, self.rating.alert_desks):
                        turn.enqueue(alert)
            elif isinstance(effect, HandoffCancelled):
                ticket = await turn.cancel_ticket()
                if ticket is not None:
                    turn.append(
                        TranscriptEntry("event", "ticket_cancelled", data={"ticket": ticket.id})
                    )
        return replies, action

    async def _open_ticket(self, turn: Turn, catalog: Catalog, request: HandoffRequested) -> Reply:
        """Open the ticket (or find the open one) and tell the customer where they stand."""
        ticket, place = await turn.open_ticket(
            request.queue, request.reason, request.flow_id, request.step_id
        )
        turn.append(
            TranscriptEntry(
                "event", "ticket_opened", data={"ticket": ticket.id, "queue": ticket.queue}
            )
        )
        hours = self.queues.for_queue(ticket.queue)
        now = self.clock()
        if not hours.is_open(now):
            back = hours.next_opening(now)
            text = self._say(
                turn, catalog, "handoff_out_of_hours",
                back=describe_opening(back) if back else None,
            )  # fmt: skip
        else:
            text = self._say(
                turn, catalog, "handoff_queue",
                position=place.position, minutes=place.estimate_minutes,
            )  # fmt: skip
        return Reply(text)

    @staticmethod
    def _say(turn: Turn, catalog: Catalog, name: str, **values: Any) -> str:
        """The bot's own wording ``name``, in the customer's persona's words."""
        persona = catalog.personas.get(turn.customer.persona or "")
        overrides = persona.messages if persona else {}
        return say(name, overrides, customer_view(turn.customer), **values)


def _interrupted_action(
    turn: Turn, catalog: Catalog, inbound: Inbound
) -> tuple[ActionCall, Inbound] | None:
    """The action a crashed worker recorded but never ran, so a redelivery can finish it.

    A turn with an action commits twice (before and after the action). If the process
    died in between, the update is already recorded, so its redelivery is a duplicate —
    but the customer has not had the action's answer yet.
    """
    state = ConversationState.from_json(turn.conversation.state)
    if state.awaiting is not Awaiting.ACTION or not state.flow_id or not state.step_id:
        return None
    flow = catalog.flow(state.flow_id, state.flow_version)
    variant = flow.variants.get(state.variant or "") if flow else None
    step = variant.steps.get(state.step_id) if variant else None
    if step is None or step.action is None:
        return None
    call = ActionCall(
        name=step.action,
        customer_id=turn.customer.id,
        conversation_id=turn.conversation.id,
        flow_id=state.flow_id,
        step_id=state.step_id,
        slots=dict(state.slots),
        customer=customer_view(turn.customer),
    )
    return call, inbound


def outbox_message(key: ConversationKey, reply: Reply) -> OutboxMessage:
    """A reply as a channel-neutral outbox payload (see :func:`bot.delivery.outbound_of`)."""
    payload = {"text": reply.text, "buttons": buttons_json(reply.buttons)}
    return OutboxMessage(key.channel, key.chat_id, payload)


def buttons_json(buttons: Sequence[Button]) -> list[dict[str, str]]:
    return [
        {"label": b.label, **({"payload": b.payload} if b.payload else {}), **(
            {"url": b.url} if b.url else {})}
        for b in buttons
    ]  # fmt: skip


def _update_profile(customer: CustomerRecord, inbound: Inbound) -> None:
    customer.profile.pop("unreachable_since", None)  # they wrote to us: reachable again
    sender = inbound.sender
    if sender.first_name:
        customer.first_name = sender.first_name
    if sender.last_name:
        customer.last_name = sender.last_name
    if sender.language:
        customer.language = sender.language
    customer.last_seen_at = utcnow()


def save_state(turn: Turn, state: ConversationState) -> None:
    conversation = turn.conversation
    conversation.state = state.to_json()
    conversation.status = state.status.value
    conversation.flow_id = state.flow_id
    conversation.flow_version = state.flow_version
    conversation.step_id = state.step_id
    if state.ended and conversation.ended_at is None:
        conversation.ended_at = utcnow()
        conversation.outcome = state.status.value


def _inbound_entry(inbound: Inbound, held: bool, with_previous: bool) -> TranscriptEntry:
    """A customer's message; ``held``: stored while the chat flooded, not answered;
    ``with_previous``: answered together with the message before it (a burst)."""
    data: dict[str, Any] = {"held": True} if held else {}
    if with_previous:
        data["with_previous"] = True
    if inbound.payload is not None:
        data["payload"] = inbound.payload
    if inbound.non_text_kind is not None:
        data["non_text_kind"] = inbound.non_text_kind
    if inbound.update_id is not None:
        data["update_id"] = inbound.update_id
    if inbound.attachments:  # references only: the files stay on their platform
        data["attachments"] = [a.to_json() for a in inbound.attachments]
    return TranscriptEntry("in", inbound.kind.value, inbound.text, data)


def _reply_entry(reply: Reply) -> TranscriptEntry:
    buttons = buttons_json(reply.buttons)
    return TranscriptEntry("out", "reply", reply.text, {"buttons": buttons} if buttons else {})
