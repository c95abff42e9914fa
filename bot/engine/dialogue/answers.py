"""The customer's answer to the step that waits: typed text, a tap on one of its buttons,
or a photo/file where the step ``expect``s one.

A typed answer may name a button ("the first one", a typo of its label); otherwise it is
checked against the step's validation, and a refused answer says why and asks again —
unless it says the customer does not have what is asked ("i dont have it"): then other
help is offered (the other style, or a person). A
file's reference (never its bytes) is what the slot stores.
"""

from __future__ import annotations

from bot.engine.answers import check_answer
from bot.engine.dialogue.ahead import accept_switch_with_value, take_ahead
from bot.engine.dialogue.checkpoints import offer_help_after_stuck
from bot.engine.dialogue.handoff import file_sizes
from bot.engine.dialogue.prompts import misunderstood, offer_switch_to_other_flow, reprompt
from bot.engine.dialogue.running import accept_answer, go, take_verdict
from bot.engine.dialogue.turn import Turn
from bot.engine.dialogue.words import lacks_the_answer
from bot.engine.matching import button_for_text, button_named_in, normalize
from bot.engine.schema import Step
from bot.engine.state import Awaiting, Status
from bot.messages import Attachment


def answer_question(turn: Turn, text: str) -> None:
    """A typed answer to an ``ask`` step: a button label, or a value to validate."""
    step = turn.current_step()
    if step is None or step.slot is None:
        reprompt(turn)
        return
    if step.buttons:
        index = step_button_for_text(step, text)
        if index is not None:
            press_step_button(turn, step, index)
            return
    if step.expect is not None:
        misunderstood(turn, turn.where, turn.text(f"expect_{step.expect}"))
        return
    verdict = check_answer(text, step.validate_)
    took_ahead = take_ahead(turn, text, exclude={step.slot})
    if took_ahead and not verdict.valid and not verdict.choices:
        reprompt(turn)  # the answer to a later question: noted; this one is still open
        return
    if not verdict.valid and not verdict.choices and lacks_the_answer(normalize(text)):
        # "i dont have it": asking again in other words will not help; other help might
        turn.state = turn.state.evolve(stuck=turn.state.stuck + 1)
        offer_help_after_stuck(turn, None)
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
    index = step_button_for_text(step, text)
    if index is not None:
        press_step_button(turn, step, index)
        return
    if not understood_before_refusing(turn, text):
        key = f"expect_{step.expect}" if step.expect else "reprompt_choices"
        misunderstood(turn, turn.where, turn.text(key))


def step_button_for_text(step: Step, text: str) -> int | None:
    """The step's (non-link) button the customer typed: its label or number, or, in a
    longer answer, the one label all of whose words it uses."""
    buttons = step.buttons or []
    labels = [b.label for b in buttons]
    index = button_for_text(text, labels)
    if index is None:
        index = button_named_in(text, labels)
    return index if index is not None and buttons[index].url is None else None


def file_expected(turn: Turn) -> Step | None:
    """The current step, if it waits for a photo or a file (``expect:``)."""
    step = turn.current_step()
    waiting = turn.state.awaiting in (Awaiting.ANSWER, Awaiting.CHOICE)
    if step is None or step.expect is None or step.slot is None or not waiting:
        return None
    return step if turn.state.status is Status.IN_FLOW else None


def answer_with_file(turn: Turn, step: Step, file: Attachment) -> None:
    """A file where one is expected: its reference goes into the slot and the flow goes
    on; a file too large to pass on, or not a photo where a photo is asked, is refused."""
    assert step.slot is not None
    if file.too_large:
        turn.reply(turn.text("file_too_large", **file_sizes(file)))
        reprompt(turn)
    elif step.expect == "photo" and not file.is_image:
        misunderstood(turn, turn.where, turn.text("expect_photo"))
    else:
        accept_answer(turn, step, {step.slot: file.to_json()})


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
