""" "Done? / I'm stuck" checkpoints of guided steps, and the help offered to the stuck.

Stuck too often (the persona's ``max_stuck``), a customer is offered the other style
(``offer_persona``) or a person, so a guided walk-through never becomes a loop.
"""

from __future__ import annotations

from bot.engine.dialogue.ahead import accept_switch_with_value, take_ahead
from bot.engine.dialogue.menu import offer_person
from bot.engine.dialogue.prompts import misunderstood, offer_switch_to_other_flow, reprompt
from bot.engine.dialogue.running import go
from bot.engine.dialogue.turn import Turn
from bot.engine.dialogue.words import yes_or_stuck
from bot.engine.matching import button_for_text, normalize
from bot.engine.schema import StepKind, Target
from bot.messages import Button


def checkpoint_by_text(turn: Turn, text: str) -> None:
    norm = normalize(text)
    step = turn.current_step()
    checkpoint = step.checkpoint_spec if step else None
    labels = [checkpoint.yes, checkpoint.stuck] if checkpoint else []
    index = button_for_text(text, labels)
    done = {0: True, 1: False}.get(index) if index is not None else None
    if done is None and take_ahead(turn, text):
        done = True  # "Found the email?" — "yes its WS-10001": found it, and the number
    if done is None:
        done = yes_or_stuck(norm)
    if done is not None:
        checkpoint_answer(turn, done=done)
    elif accept_switch_with_value(turn, text):
        return
    elif not offer_switch_to_other_flow(turn, text):
        misunderstood(turn, turn.where)


def checkpoint_answer(turn: Turn, *, done: bool) -> None:
    step = turn.current_step()
    checkpoint = step.checkpoint_spec if step else None
    if step is None or checkpoint is None:
        reprompt(turn)
        return
    if done:
        turn.state = turn.state.evolve(misunderstandings=0)
        go(turn, step.next)
        return
    stuck = turn.state.stuck + 1
    turn.state = turn.state.evolve(stuck=stuck)
    if stuck >= turn.escalation.max_stuck:
        offer_help_after_stuck(turn, checkpoint.on_stuck)
    elif checkpoint.on_stuck is not None:
        go(turn, checkpoint.on_stuck)
    else:
        offer_person(turn)


def offer_help_after_stuck(turn: Turn, on_stuck: Target | None) -> None:
    """Stuck too often: offer the other style if the persona says so, else a person.

    An operator's ``on_stuck`` that already hands off is followed as written.
    """
    other = turn.ctx.catalog.personas.get(turn.escalation.offer_persona or "")
    if other is not None and other.id != turn.persona_id:
        buttons = (Button(other.label, f"p:{other.id}"), *turn.global_buttons()[1:])
        turn.reply(turn.text("offer_persona"), buttons)
    elif _is_handoff_step(turn, on_stuck):
        go(turn, on_stuck)
    else:
        offer_person(turn)


def _is_handoff_step(turn: Turn, target: Target | None) -> bool:
    flow = turn.current_flow()
    if not isinstance(target, str) or flow is None:
        return False
    variant = flow.variants.get(turn.state.variant or "")
    step = variant.steps.get(target) if variant else None
    return step is not None and step.kind is StepKind.HANDOFF
