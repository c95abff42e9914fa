"""What the engine asks the world to do, and what the world tells it back.

Events go into :func:`bot.engine.dialogue.step`; effects come out. The manager turns
effects into messages, storage writes, handoffs and action calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.messages import Attachment, Button

# ---- events (input) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextEvent:
    text: str


@dataclass(frozen=True, slots=True)
class ButtonEvent:
    payload: str


@dataclass(frozen=True, slots=True)
class StartEvent:
    """The chat was opened (Telegram /start), possibly with a deep-link payload."""

    payload: str | None = None


@dataclass(frozen=True, slots=True)
class NonTextEvent:
    """A photo, file, sticker, location…; ``files`` are the references to what can be
    passed on (a sticker or a location has none)."""

    kind: str
    files: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class ActionResultEvent:
    """The outcome of a custom action the engine asked for."""

    ok: bool
    slots: dict[str, Any] = field(default_factory=dict)
    replies: tuple[Reply, ...] = ()
    error: str | None = None


Event = TextEvent | ButtonEvent | StartEvent | NonTextEvent | ActionResultEvent

# ---- effects (output) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class FlowStarted:
    flow_id: str
    version: str | None
    variant: str


@dataclass(frozen=True, slots=True)
class StepEntered:
    flow_id: str
    variant: str
    step_id: str


@dataclass(frozen=True, slots=True)
class PersonaChosen:
    persona_id: str


@dataclass(frozen=True, slots=True)
class RunAction:
    name: str
    flow_id: str
    step_id: str
    slots: dict[str, Any]
    validating: tuple[str, Any] | None = None
    """(slot, candidate answer) when the action validates an ``ask`` step's answer."""


@dataclass(frozen=True, slots=True)
class HandoffRequested:
    reason: str
    queue: str
    flow_id: str | None
    step_id: str | None


@dataclass(frozen=True, slots=True)
class HandoffCancelled:
    pass


@dataclass(frozen=True, slots=True)
class Resolved:
    flow_id: str
    tag: str | None


@dataclass(frozen=True, slots=True)
class RatingAsked:
    pass


@dataclass(frozen=True, slots=True)
class RatingGiven:
    score: int


@dataclass(frozen=True, slots=True)
class RatingComment:
    text: str


@dataclass(frozen=True, slots=True)
class Misunderstood:
    """The customer's message was not understood (counted for reports)."""

    where: str


Effect = (
    Reply
    | FlowStarted
    | StepEntered
    | PersonaChosen
    | RunAction
    | HandoffRequested
    | HandoffCancelled
    | Resolved
    | RatingAsked
    | RatingGiven
    | RatingComment
    | Misunderstood
)
