"""The customer's answer to the step that waits: typed text, or a tap on one of its buttons.

A typed answer may name a button ("the first one", a typo of its label); otherwise it is
checked against the step's validation, and a refused answer says why and asks again.
"""

from __future__ import annotations

from bot.engine.answers import check_answer
from bot.engine.dialogue.ahead import accept_switch_with_value, take_ahead
from bot.engine.dialogue.prompts import misunderstood, offer_switch_to_other_flow, reprompt
from bot.engine.dialogue.running import go, take_verdict
from bot.engine.dialogue.turn import Turn
from bot.engine.matching import button_for_text
from bot.engine.schema import Step
from bot.engine.state import Awaiting


def answer_question(turn: Turn, text: str) -> None:
    """A typed answer to an ``ask`` step: a button label, or a value to validate."""
    step = turn.current_step()
    if step is None or step.slot is None:
        reprompt(turn)
        return
    if step.buttons:
        index = button_for_text(text, [b.label for b in step.buttons])
        if index is not None and step.buttons[index].url is None:
            press_step_button(turn, step, index)
            return
    verdict = check_answer(text, step.validate_)
    took_ahead = take_ahead(turn, text, exclude={step.slot})
    if took_ahead and not verdict.valid and not verdict.choices:
        reprompt(turn)  # the answer to a later question: noted; this one is still open
        return
    take_verdict(turn, step, verdict)


def choose_value(turn: Turn, index: int) -> None:
    """One of the values asked about was picked (tap, its number or its text)."""
    step = turn.current_step()
    values = turn.state.candidates
    turn.state = turn.state.evolve(awaiting=Awaiting.ANSWER, candidates=())
    if step is None or step.slot is None or not 0 <= index < len(values):
        reprompt(turn)
        return
    take_verdict(turn, step, check_answer(values[index], step.validate_))


def choose_value_by_text(turn: Turn, text: str) -> None:
    """A typed answer to "which one do you mean?": one of them, or a new answer."""
    index = button_for_text(text, list(turn.state.candidates))
    if index is not None:
        choose_value(turn, index)
        return
    turn.state = turn.state.evolve(awaiting=Awaiting.ANSWER, candidates=())
    answer_question(turn, text)


def choose_by_text(turn: Turn, text: str) -> None:
    """Typed text where a step offers buttons: a label, a new subject, or not understood."""
    step = turn.current_step()
    if step is None or not step.buttons:
        reprompt(turn)
        return
    index = button_for_text(text, [b.label for b in step.buttons])
    if index is not None and step.buttons[index].url is None:
        press_step_button(turn, step, index)
        return
    if not understood_before_refusing(turn, text):
        misunderstood(turn, turn.where, turn.text("reprompt_choices"))


def understood_before_refusing(turn: Turn, text: str) -> bool:
    """Text that is none of the offered options: a value for a later question (taken),
    a value for the flow offered as a switch last turn (switched to), or a new problem
    (offered as a switch). False when it is none of these."""
    if take_ahead(turn, text):
        reprompt(turn)
        return True
    return accept_switch_with_value(turn, text) or offer_switch_to_other_flow(turn, text)


def press_step_button(turn: Turn, step: Step, index: int) -> None:
    button = (step.buttons or [])[index]
    turn.state = turn.state.evolve(misunderstandings=0)
    if step.slot is not None:
        value = button.value if button.value is not None else button.label
        turn.state = turn.state.evolve(slots={**turn.state.slots, step.slot: value})
    go(turn, button.goto if button.goto is not None else step.next)
