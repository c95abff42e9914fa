"""The shared context of one turn: what the engine may read, and what the turn builds up.

Every concern of the dialogue (routing, flow running, personas, checkpoints, rating,
handoff talk) is a set of functions taking one :class:`Turn`. The turn holds only what
they all share — the new state, the effects so far, the persona in use — plus the few
read-only lookups they all need; the behaviour lives in the modules beside this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.engine.catalog import Catalog
from bot.engine.effects import Effect, Reply
from bot.engine.schema import Escalation, Flow, Persona, Step
from bot.engine.state import ConversationState
from bot.engine.templates import render
from bot.engine.understanding.decision import DEFAULT_THRESHOLDS, RoutingThresholds
from bot.engine.wording import say
from bot.messages import Button

DEFAULT_QUEUE = "general"
RECOVERY_QUEUE = "recovery"


@dataclass(frozen=True, slots=True)
class Context:
    """What the engine may know beyond the conversation state (read-only)."""

    catalog: Catalog
    customer: Mapping[str, Any]
    """first_name, last_name, name, language — for templates."""
    persona_id: str | None
    """The customer's remembered persona; None = not chosen yet."""
    returning: bool = False
    last_topic: str | None = None
    person_assigned: bool = False
    """A person owns the conversation: the bot stays quiet (messages go to them)."""
    now: float = 0.0
    """Epoch seconds of this turn (rating expiry); 0 = unknown."""
    rating_enabled: bool = True
    rating_window_seconds: float = 24 * 3600.0
    recommend_url: str | None = None
    routing: RoutingThresholds = DEFAULT_THRESHOLDS
    """When free text is sure enough to start a flow (settings SUPPORTBOT_ROUTING_*)."""


@dataclass(slots=True)
class Turn:
    """The new state and the effects of one :func:`~bot.engine.dialogue.step` call."""

    ctx: Context
    state: ConversationState
    persona_id: str | None
    effects: list[Effect] = field(default_factory=list)
    auto_steps: int = 0
    """Steps entered without customer input so far (guards against goto loops)."""
    switch_offered: str | None = None
    """The flow offered as a switch in the turn before this one, if any."""

    @classmethod
    def begin(cls, ctx: Context, state: ConversationState) -> Turn:
        return cls(ctx, state, ctx.persona_id)

    @property
    def persona(self) -> Persona | None:
        personas = self.ctx.catalog.personas
        if self.persona_id and self.persona_id in personas:
            return personas[self.persona_id]
        return self.ctx.catalog.default_persona()

    @property
    def escalation(self) -> Escalation:
        persona = self.persona
        return persona.escalation if persona else Escalation()

    def text(self, key: str, **values: Any) -> str:
        """A bot message in the persona's wording."""
        persona = self.persona
        overrides = persona.messages if persona else {}
        return say(key, overrides, self.ctx.customer, **values)

    def reply(self, text: str, buttons: tuple[Button, ...] = ()) -> None:
        if text or buttons:
            self.effects.append(Reply(text, buttons))

    def render(self, template: str) -> str:
        """An operator's template with the customer's details and the flow's slots."""
        return render(template, self.ctx.customer, self.state.slots)

    def current_flow(self) -> Flow | None:
        if self.state.flow_id is None:
            return None
        return self.ctx.catalog.flow(self.state.flow_id, self.state.flow_version)

    def current_step(self) -> Step | None:
        flow = self.current_flow()
        if flow is None or self.state.variant is None or self.state.step_id is None:
            return None
        variant = flow.variants.get(self.state.variant)
        return variant.steps.get(self.state.step_id) if variant else None

    @property
    def where(self) -> str:
        """``flow.step`` — where a misunderstanding happened, for the reports."""
        return f"{self.state.flow_id}.{self.state.step_id}"

    def global_buttons(self) -> tuple[Button, ...]:
        return (
            Button(self.text("button_menu"), "g:menu"),
            Button(self.text("button_person"), "g:person"),
        )


def rating_due(ctx: Context, state: ConversationState, flow: Flow | None) -> bool:
    """Ask once per conversation, unless switched off globally or for the flow."""
    return ctx.rating_enabled and state.rating_asked_at is None and (flow is None or flow.rating)
