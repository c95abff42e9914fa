"""Every question the bot can be waiting on, how it is asked, and how it is asked again.

:func:`reprompt` is what keeps a customer from a dead end: whatever went wrong, it shows
again what the conversation waits for, with its buttons. :func:`misunderstood` counts
misunderstandings and offers a person at the persona's limit.
"""

from __future__ import annotations

from typing import Any

from bot.engine.dialogue.menu import offer_person, show_menu
from bot.engine.dialogue.rating import reprompt_rating
from bot.engine.dialogue.turn import Turn
from bot.engine.effects import Misunderstood
from bot.engine.schema import Step
from bot.engine.state import Awaiting, Status
from bot.engine.understanding.decision import understand
from bot.messages import Button


def prompt(turn: Turn, step: Step) -> None:
    """Send a say/ask step's text and buttons; set what we now wait for."""
    text = turn.render(step.say if step.say is not None else step.ask or "")
    checkpoint = step.checkpoint_spec
    if step.buttons:
        buttons = tuple(
            Button(b.label, url=turn.render(b.url))
            if b.url
            else Button(b.label, f"b:{turn.state.prompt_turn}:{i}")
            for i, b in enumerate(step.buttons)
        )
        turn.reply(text, buttons)
        routes = any(b.url is None for b in step.buttons)
        if routes:
            turn.state = turn.state.evolve(awaiting=Awaiting.CHOICE)
            return
    else:
        turn.reply(text)
    if step.ask is not None and step.slot is not None:
        turn.state = turn.state.evolve(awaiting=Awaiting.ANSWER)
    elif checkpoint is not None:
        stamp = turn.state.prompt_turn
        turn.reply(
            turn.render(checkpoint.question),
            (Button(checkpoint.yes, f"k:{stamp}:y"), Button(checkpoint.stuck, f"k:{stamp}:s")),
        )
        turn.state = turn.state.evolve(awaiting=Awaiting.CHECKPOINT)


def ask_persona(turn: Turn, flow_id: str, slots: dict[str, Any]) -> None:
    """Quick answers or step by step? Asked once; the flow starts after the answer."""
    personas = turn.ctx.catalog.personas_in_order()
    buttons = tuple(Button(p.label, f"p:{p.id}") for p in personas)
    turn.reply(turn.text("persona_question"), buttons)
    turn.state = turn.state.evolve(
        status=Status.CHOOSING_PERSONA,
        awaiting=Awaiting.PERSONA,
        pending_flow=flow_id,
        pending_slots=slots,
    )


def ask_did_you_mean(turn: Turn, candidates: tuple[str, ...]) -> None:
    flows = [turn.ctx.catalog.flows[c] for c in candidates if c in turn.ctx.catalog.flows]
    buttons = [Button(f.title, f"m:{f.id}") for f in flows]
    buttons.append(Button(turn.text("did_you_mean_none"), "g:none"))
    turn.reply(turn.text("did_you_mean"), tuple(buttons))
    turn.state = turn.state.evolve(
        status=Status.MENU, awaiting=Awaiting.DISAMBIGUATION, candidates=candidates
    )


def ask_which_value(turn: Turn, values: tuple[str, ...]) -> None:
    """The answer held several values: one button each (and each can be typed)."""
    stamp = turn.state.prompt_turn
    buttons = tuple(Button(value, f"v:{stamp}:{i}") for i, value in enumerate(values))
    turn.reply(turn.text("which_value"), buttons)
    turn.state = turn.state.evolve(awaiting=Awaiting.VALUE, candidates=values)


def offer_switch_to_other_flow(turn: Turn, text: str) -> bool:
    """Mid-flow, the customer raised another problem: offer it, or to carry on here.
    False (nothing said) when the text asks for no other flow."""
    flow_id = understand(text, turn.ctx.catalog, turn.ctx.routing).flow_id
    if flow_id is None or flow_id == turn.state.flow_id:
        return False
    flow = turn.ctx.catalog.flows[flow_id]
    buttons = (
        Button(flow.title, f"m:{flow.id}"),
        Button(turn.text("button_carry_on"), "g:retry"),
    )
    turn.reply(turn.text("switch_offer"), buttons)
    turn.state = turn.state.evolve(switch_offered=flow.id)
    return True


def reprompt(turn: Turn) -> None:
    """Show again what we are waiting for, so the customer always has a way on."""
    step = turn.current_step()
    state = turn.state
    if state.status is Status.IN_FLOW and step is not None:
        if state.awaiting in (Awaiting.ANSWER, Awaiting.CHOICE, Awaiting.CHECKPOINT):
            prompt(turn, step)
            return
        if state.awaiting is Awaiting.ACTION:
            turn.reply(turn.text("not_understood"), turn.global_buttons())
            return
        if state.awaiting is Awaiting.VALUE and state.candidates:
            ask_which_value(turn, state.candidates)
            return
    if state.status is Status.RATING:
        reprompt_rating(turn)
    elif state.awaiting is Awaiting.PERSONA and state.pending_flow:
        ask_persona(turn, state.pending_flow, dict(state.pending_slots))
    elif state.awaiting is Awaiting.DISAMBIGUATION and state.candidates:
        ask_did_you_mean(turn, state.candidates)
    else:
        show_menu(turn, prompt=True)


def misunderstood(turn: Turn, where: str, reason: str | None = None) -> None:
    """Re-prompt with the valid options; at the persona's limit, offer a person."""
    count = turn.state.misunderstandings + 1
    turn.state = turn.state.evolve(misunderstandings=count)
    turn.effects.append(Misunderstood(where))
    if count >= turn.escalation.max_misunderstandings:
        if reason:
            turn.reply(reason)
        offer_person(turn)
        return
    if turn.state.status is Status.IN_FLOW:
        turn.reply(reason or turn.text("not_understood"))
        reprompt(turn)
    else:
        show_menu(turn, prompt=False, text=reason or turn.text("not_understood_menu"))
