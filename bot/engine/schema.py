"""The flow and persona file formats, as pydantic models.

These models are the single source of truth for the YAML files: the loader validates
against them, ``supportbot flows schema`` exports their JSON Schema for editors, and
the engine reads them. Every model forbids unknown keys so a typo is an error, not a
silently ignored line.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_VARIANT = "default"
ID_PATTERN = r"^[a-z][a-z0-9_]*$"

Identifier = Annotated[str, Field(pattern=ID_PATTERN, max_length=40)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlowTarget(_Strict):
    """Jump into another flow (its start step, or a named step of it)."""

    flow: Identifier
    step: Identifier | None = None


Target = Identifier | FlowTarget
"""A step id of the same variant, or ``{flow: other_flow}``."""


class ButtonSpec(_Strict):
    """A button under a ``say`` or ``ask`` step.

    ``goto`` routes to a step or flow; ``url`` opens a link (self-serve answers);
    ``value`` is stored in the step's ``slot`` when the step has one (defaults to the label).
    """

    label: Annotated[str, Field(min_length=1, max_length=64)]
    goto: Target | None = None
    url: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _not_both(self) -> ButtonSpec:
        if self.url is not None and self.goto is not None:
            raise ValueError("a button has either `goto` or `url`, not both")
        return self


class ValidationKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    EMAIL = "email"
    REGEX = "regex"
    ONE_OF = "one_of"


class Validation(_Strict):
    """How a free-text answer to an ``ask`` step is checked."""

    type: ValidationKind = ValidationKind.TEXT
    pattern: str | None = Field(default=None, description="Regular expression (type: regex).")
    options: list[str] | None = Field(default=None, description="Accepted answers (type: one_of).")
    normalize: str | None = Field(
        default=None,
        description="How a regex match is stored: a template over the pattern's named "
        'groups and `value` (the whole match), e.g. "WS-{{ digits }}" (type: regex).',
    )
    min: float | None = Field(default=None, description="Smallest accepted number (type: number).")
    max: float | None = Field(default=None, description="Largest accepted number (type: number).")
    message: str | None = Field(
        default=None, description="Why an answer was refused, shown with the re-prompt."
    )
    action: Identifier | None = Field(
        default=None,
        description="A rasa-sdk FormValidationAction that checks (and may normalise) the "
        "answer after the checks above, e.g. validate_order_form.",
    )


class Condition(_Strict):
    """A test on one slot. Give exactly one operator besides ``slot``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    slot: Identifier
    equals: str | int | float | bool | None = None
    not_equals: str | int | float | bool | None = None
    in_: list[str | int | float | bool] | None = Field(default=None, alias="in")
    present: bool | None = None
    matches: str | None = None
    greater_than: float | None = None
    less_than: float | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        ops = [name for name in _CONDITION_OPERATORS if getattr(self, name) is not None]
        if len(ops) != 1:
            names = ", ".join(a.rstrip("_") for a in _CONDITION_OPERATORS)
            raise ValueError(f"a condition needs exactly one of: {names}")
        return self


_CONDITION_OPERATORS = (
    "equals",
    "not_equals",
    "in_",
    "present",
    "matches",
    "greater_than",
    "less_than",
)


class BranchCase(_Strict):
    when: Condition
    goto: Target


class Checkpoint(_Strict):
    """A "Done? / I'm stuck" check after a guided step."""

    question: str = "Done?"
    yes: Annotated[str, Field(max_length=64)] = "Yes, done"
    stuck: Annotated[str, Field(max_length=64)] = "I'm stuck"
    on_stuck: Target | None = Field(
        default=None,
        description="Where 'I'm stuck' leads; unset = offer a person.",
    )


class StepKind(StrEnum):
    SAY = "say"
    ASK = "ask"
    BRANCH = "branch"
    GOTO = "goto"
    ACTION = "action"
    HANDOFF = "handoff"
    RESOLVE = "resolve"


STEP_KINDS: tuple[str, ...] = tuple(k.value for k in StepKind)


class Step(_Strict):
    """One step of a flow variant. Exactly one of the kind keys is given."""

    say: str | None = Field(default=None, description="Send this text (a template).")
    ask: str | None = Field(default=None, description="Ask this question (a template).")
    branch: list[BranchCase] | None = Field(
        default=None, description="Go to the first case whose condition holds."
    )
    goto: Target | None = Field(default=None, description="Continue at a step or another flow.")
    action: Identifier | None = Field(default=None, description="Run this custom action.")
    handoff: str | None = Field(default=None, description="Escalate to a person; the reason.")
    resolve: str | bool | None = Field(
        default=None, description="The flow succeeded; an optional closing message."
    )

    buttons: list[ButtonSpec] | None = None
    slot: Identifier | None = Field(default=None, description="Store the answer in this slot.")
    expect: Literal["photo", "file"] | None = Field(
        default=None,
        description="The answer is a photo or any file the customer sends (its reference "
        "is stored in `slot`), not text.",
    )
    validate_: Validation | None = Field(
        default=None,
        alias="validate",
        description="How the answer is checked; a plain name means `{action: NAME}`.",
    )
    next: Target | None = None
    otherwise: Target | None = Field(default=None, description="Branch target when no case holds.")
    checkpoint: Checkpoint | bool | None = None
    sets: list[Identifier] | None = Field(
        default=None, description="Slots the action may set (for validation and docs)."
    )
    on_error: Target | None = Field(default=None, description="Where to go if the action fails.")
    queue: Identifier | None = Field(default=None, description="Handoff queue (default: general).")
    message: str | None = Field(default=None, description="Text sent to the customer on handoff.")
    tag: Identifier | None = Field(default=None, description="Resolution tag for reports.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("validate_", mode="before")
    @classmethod
    def _action_shorthand(cls, value: object) -> object:
        """``validate: validate_order_form`` is short for ``validate: {action: …}``."""
        return {"action": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Step:
        kinds = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"a step needs exactly one of {', '.join(STEP_KINDS)} (found: {found})"
            )
        return self

    @property
    def kind(self) -> StepKind:
        for k in StepKind:
            if getattr(self, k.value) is not None:
                return k
        raise AssertionError("validated step without a kind")  # pragma: no cover

    @property
    def checkpoint_spec(self) -> Checkpoint | None:
        if self.checkpoint is True:
            return Checkpoint()
        if isinstance(self.checkpoint, Checkpoint):
            return self.checkpoint
        return None


class Variant(_Strict):
    """The steps of a flow for one persona (or ``default``)."""

    start: Identifier
    steps: dict[Identifier, Step]


class Flow(_Strict):
    """A flow file: one customer problem, solved per persona."""

    id: Identifier
    title: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    menu: bool = Field(default=True, description="Listed in the main menu.")
    order: int = Field(default=100, description="Position in the main menu (lower first).")
    triggers: list[str] = Field(
        default_factory=list, description="Phrases and examples for free-text routing."
    )
    slots: list[Identifier] = Field(
        default_factory=list,
        description="Slots filled from outside the flow (deep links, actions).",
    )
    deep_link: Identifier | None = Field(
        default=None,
        description="Deep-link prefix that opens this flow: /start order_123 -> prefix 'order'.",
    )
    start_slot: Identifier | None = Field(
        default=None,
        description="Slot that the rest of a deep-link payload fills ('123' above).",
    )
    rating: bool = Field(default=True, description="Ask 'How did we do?' when this flow resolves.")
    variants: dict[Identifier, Variant]

    def variant_for(self, persona: str | None) -> tuple[str, Variant]:
        """The persona's variant if the flow has one, else the default."""
        if persona is not None and persona in self.variants:
            return persona, self.variants[persona]
        return DEFAULT_VARIANT, self.variants[DEFAULT_VARIANT]


class Escalation(_Strict):
    """When to offer a person (principle: misunderstood twice -> offer a person)."""

    max_misunderstandings: Annotated[int, Field(ge=1, le=10)] = 2
    max_stuck: Annotated[int, Field(ge=1, le=10)] = 2
    offer_persona: Identifier | None = Field(
        default=None,
        description="After repeated 'I'm stuck', offer to switch to this persona first.",
    )


class Persona(_Strict):
    """How a customer likes to be helped."""

    id: Identifier
    label: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="Button label when asking the customer."
    )
    description: str | None = None
    order: int = 100
    default: bool = Field(default=False, description="Used until the customer chooses.")
    switch_phrases: list[str] = Field(
        default_factory=list, description="Phrases that switch to this persona mid-conversation."
    )
    escalation: Escalation = Escalation()
    messages: dict[str, str] = Field(
        default_factory=dict,
        description="Override the bot's own wording for this persona (see README).",
    )


FileKind = Literal["flow", "persona"]


def json_schema(kind: FileKind) -> dict[str, Any]:
    """The JSON Schema editors use to autocomplete and check a flow or persona file."""
    model = Flow if kind == "flow" else Persona
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"supportbot {kind} file"
    return schema
