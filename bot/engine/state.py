"""The state of one conversation, as the pure engine sees it.

It is a plain, JSON-serialisable value: the manager loads it from storage at the start
of a turn, the engine returns a new one, the manager saves it in the same transaction
as the transcript.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Where a conversation is; the manager routes each turn by this."""

    NEW = "new"  # nothing said yet
    MENU = "menu"  # greeted, waiting for a choice or free text
    CHOOSING_PERSONA = "choosing_persona"  # asked "quick answers or step by step?"
    IN_FLOW = "in_flow"  # running a flow step
    HANDOFF = "handoff"  # waiting for / talking with a person
    RATING = "rating"  # solved; asking "How did we do?" (and maybe a comment)
    RESOLVED = "resolved"  # the flow succeeded; the conversation is over
    CLOSED = "closed"  # ended otherwise (customer left, agent closed)


class Awaiting(StrEnum):
    """What kind of answer the current step waits for."""

    NOTHING = "nothing"
    ANSWER = "answer"  # free text (or a button) for an ask step
    CHOICE = "choice"  # a button of a say/ask step
    CHECKPOINT = "checkpoint"  # "Done? / I'm stuck"
    ACTION = "action"  # a custom action result
    VALIDATION = "validation"  # a validation action's verdict on an answer
    VALUE = "value"  # which of the values in an answer is meant ("WS-10001 or WS-10002?")
    DISAMBIGUATION = "disambiguation"  # "Did you mean ...?"
    PERSONA = "persona"  # the persona question
    RATING = "rating"  # a 1–5 score
    COMMENT = "comment"  # an optional comment after the score


ENDED = frozenset({Status.RESOLVED, Status.CLOSED})


@dataclass(frozen=True, slots=True)
class ConversationState:
    status: Status = Status.NEW
    awaiting: Awaiting = Awaiting.NOTHING
    flow_id: str | None = None
    flow_version: str | None = None
    variant: str | None = None
    step_id: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    misunderstandings: int = 0
    stuck: int = 0
    pending_flow: str | None = None  # flow to start once the persona is chosen
    pending_slots: dict[str, Any] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()  # flows offered in "Did you mean ...?" / values asked about
    rating_asked_at: float | None = None  # epoch seconds; late answers are not counted
    rating_score: int | None = None  # the score given (a recovery ticket carries it)
    ahead: tuple[str, ...] = ()  # slots the customer gave before they were asked
    switch_offered: str | None = None  # the flow offered as a switch last turn (one turn)
    turn: int = 0  # increases every turn
    prompt_turn: int = 0  # the turn the current step was entered; stamps its buttons

    def evolve(self, **changes: Any) -> ConversationState:
        # Not dataclasses.replace: its per-call field introspection was ~3 % of a turn.
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        return ConversationState(**values)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def to_json(self) -> dict[str, Any]:
        # What dataclasses.asdict gave (values copied), without its generic recursion.
        data = {name: getattr(self, name) for name in _FIELDS}
        data["slots"] = _plain_copy(self.slots)
        data["pending_slots"] = _plain_copy(self.pending_slots)
        data["candidates"] = list(self.candidates)
        data["ahead"] = list(self.ahead)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ConversationState:
        if not data:
            return cls()
        known = {f for f in cls.__dataclass_fields__}
        clean = {k: v for k, v in data.items() if k in known}
        clean["status"] = Status(clean.get("status", Status.NEW))
        clean["awaiting"] = Awaiting(clean.get("awaiting", Awaiting.NOTHING))
        clean["candidates"] = tuple(clean.get("candidates", ()))
        clean["ahead"] = tuple(clean.get("ahead", ()))
        return cls(**clean)


_FIELDS = tuple(f.name for f in fields(ConversationState))


def _plain_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped values (``copy.deepcopy`` for anything else)."""
    kind = type(value)
    if kind is dict:
        return {k: _plain_copy(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return kind(_plain_copy(v) for v in value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value)
