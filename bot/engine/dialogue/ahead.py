"""Information given ahead: a value for a later question, taken before it is asked.

"Have you found the email?" — "WS-10001": the customer answered the question after the
next one. A value for any unfilled slot of the running flow is looked for in what the
customer wrote — with that slot's own ``ask`` step's validation — and taken, with a short
acknowledgement; the step that would ask for it then skips the question (its validation
action, if any, still runs). Only distinctive formats are taken ahead (``regex`` and
``email`` validations): a number or free text could be an answer to anything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from bot.engine.dialogue.running import start_flow
from bot.engine.dialogue.turn import Turn
from bot.engine.schema import Flow, Step, ValidationKind
from bot.engine.understanding.values import find_values

AHEAD_KINDS = frozenset({ValidationKind.REGEX, ValidationKind.EMAIL})


def values_for_slots(steps: Iterable[Step], text: str, skip: Collection[str]) -> dict[str, Any]:
    """Each ask step's slot (not in ``skip``) whose value ``text`` holds exactly once."""
    found: dict[str, Any] = {}
    for step in steps:
        rule = step.validate_
        slot = step.slot
        if slot is None or slot in skip or slot in found or rule is None:
            continue
        if step.ask is None or rule.type not in AHEAD_KINDS:
            continue
        values = find_values(text, rule)
        if len(values) == 1:
            found[slot] = values[0]
    return found


def flow_steps(flow: Flow) -> list[Step]:
    """Every step of every variant: before the persona is known, any may ask."""
    return [step for variant in flow.variants.values() for step in variant.steps.values()]


def take_ahead(turn: Turn, text: str, *, exclude: Collection[str] = ()) -> bool:
    """Take values for the running flow's unfilled slots from ``text``; say so."""
    flow = turn.current_flow()
    variant = flow.variants.get(turn.state.variant or "") if flow else None
    if variant is None:
        return False
    skip = {*turn.state.slots, *exclude}
    found = values_for_slots(variant.steps.values(), text, skip)
    if not found:
        return False
    turn.state = turn.state.evolve(
        slots={**turn.state.slots, **found}, ahead=(*turn.state.ahead, *found)
    )
    for value in found.values():
        turn.reply(turn.text("value_noted", value=value))
    return True


def accept_switch_with_value(turn: Turn, text: str) -> bool:
    """Offered another flow last turn, the customer typed a value that flow asks for
    ("where is my order?" offered — "ws10001"): take the switch, with the value."""
    flow = turn.ctx.catalog.flows.get(turn.switch_offered or "")
    if flow is None:
        return False
    found = values_for_slots(flow_steps(flow), text, ())
    if not found:
        return False
    start_flow(turn, flow.id, slots=found, ahead=tuple(found))
    return True
