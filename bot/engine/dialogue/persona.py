"""Choosing and switching the customer's persona (quick answers vs step by step).

Asked once and remembered; an answer that is no persona is not nagged about — the
default persona is used and the customer's request is served. A switch mid-flow keeps
the customer at the same step when the other variant has it.
"""

from __future__ import annotations

from bot.engine.dialogue.menu import show_menu
from bot.engine.dialogue.prompts import reprompt
from bot.engine.dialogue.running import enter, start_flow
from bot.engine.dialogue.turn import Turn
from bot.engine.effects import PersonaChosen
from bot.engine.matching import button_for_text
from bot.engine.schema import Persona
from bot.engine.state import Awaiting, Status
from bot.engine.understanding.decision import understand


def persona_by_text(turn: Turn, text: str) -> None:
    personas = turn.ctx.catalog.personas_in_order()
    index = button_for_text(text, [p.label for p in personas])
    if index is not None:
        choose_persona(turn, personas[index])
        return
    # Not an answer to the question: don't nag — use the default and go on.
    default = turn.ctx.catalog.default_persona()
    understood = understand(text, turn.ctx.catalog, turn.ctx.routing)
    if understood.flow_id is not None:
        turn.state = turn.state.evolve(pending_flow=understood.flow_id, pending_slots={})
    if default is not None:
        choose_persona(turn, default, announce=False)


def choose_persona(turn: Turn, persona: Persona, *, announce: bool = True) -> None:
    turn.persona_id = persona.id
    turn.effects.append(PersonaChosen(persona.id))
    if announce:
        turn.reply(turn.text("persona_chosen", persona=persona.label))
    pending, slots = turn.state.pending_flow, dict(turn.state.pending_slots)
    turn.state = turn.state.evolve(pending_flow=None, pending_slots={}, status=Status.MENU)
    if pending and pending in turn.ctx.catalog.flows:
        start_slot = turn.ctx.catalog.flows[pending].start_slot
        ahead = tuple(slot for slot in slots if slot != start_slot)
        start_flow(turn, pending, slots=slots, ask_for_persona=False, ahead=ahead)
    else:
        show_menu(turn, prompt=True)


def switch_persona(turn: Turn, persona: Persona) -> None:
    """Switch style mid-conversation; the flow continues at the same step if it can."""
    if turn.state.awaiting is Awaiting.PERSONA:
        choose_persona(turn, persona)
        return
    turn.persona_id = persona.id
    turn.effects.append(PersonaChosen(persona.id))
    turn.reply(turn.text("persona_switched", persona=persona.label))
    flow = turn.current_flow()
    if turn.state.status is not Status.IN_FLOW or flow is None:
        reprompt(turn)
        return
    variant_id, variant = flow.variant_for(persona.id)
    same_step = turn.state.step_id if turn.state.step_id in variant.steps else None
    turn.state = turn.state.evolve(variant=variant_id, stuck=0, misunderstandings=0)
    enter(turn, same_step or variant.start)
