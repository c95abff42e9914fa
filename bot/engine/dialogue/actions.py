"""What a custom action's result does to the flow: an action step's, or a validation's.

The engine never runs an action; it emits ``RunAction`` and the manager comes back with
an ``ActionResultEvent`` in a second step call, handled here.
"""

from __future__ import annotations

from bot.engine.dialogue.menu import offer_person
from bot.engine.dialogue.prompts import misunderstood
from bot.engine.dialogue.running import accept_answer, go
from bot.engine.dialogue.turn import Turn
from bot.engine.effects import ActionResultEvent
from bot.engine.schema import Step
from bot.engine.state import Awaiting


def on_action_result(turn: Turn, result: ActionResultEvent) -> None:
    step = turn.current_step()
    if step is not None and turn.state.awaiting is Awaiting.VALIDATION:
        on_validation(turn, step, result)
        return
    if turn.state.awaiting is not Awaiting.ACTION or step is None:
        return
    for reply in result.replies:
        turn.reply(reply.text, reply.buttons)
    turn.state = turn.state.evolve(slots={**turn.state.slots, **result.slots})
    if result.ok:
        go(turn, step.next)
    elif step.on_error is not None:
        go(turn, step.on_error)
    else:
        turn.reply(turn.text("action_failed"))
        turn.state = turn.state.evolve(awaiting=Awaiting.NOTHING)
        offer_person(turn)


def on_validation(turn: Turn, step: Step, result: ActionResultEvent) -> None:
    """A validation action's verdict: the (normalised) answer, or why it was refused."""
    turn.state = turn.state.evolve(awaiting=Awaiting.ANSWER)
    if not result.ok:  # could not check: say so honestly, let them retry or get a person
        turn.reply(turn.text("action_failed"))
        offer_person(turn)
        return
    slot = step.slot or ""
    if result.slots.get(slot) is None:
        reason = "\n".join(r.text for r in result.replies if r.text)
        misunderstood(turn, turn.where, reason or None)
        return
    for reply in result.replies:
        turn.reply(reply.text, reply.buttons)
    accept_answer(turn, step, result.slots)
