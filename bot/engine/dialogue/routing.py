"""Where a customer's words lead when no question is open: a flow, "Did you mean", the menu.

Free text is classified against the flows' triggers (:mod:`bot.engine.understanding`);
a confident match starts the flow — with the slots the opening message already holds
filled (:mod:`.ahead`; the ``start_slot`` for the flow's own branch, the rest skipping
their questions) — plausible ones are offered as "Did you mean …?",
small talk gets the greeting or "you're welcome", and anything else the menu. Global
commands and deep links are routed here too.
"""

from __future__ import annotations

from bot.engine.dialogue.ahead import flow_steps, values_for_slots
from bot.engine.dialogue.menu import handoff, reset_to_menu, show_menu
from bot.engine.dialogue.prompts import ask_did_you_mean, misunderstood, reprompt
from bot.engine.dialogue.running import start_flow
from bot.engine.dialogue.turn import DEFAULT_QUEUE, Turn
from bot.engine.matching import Command, button_for_text, normalize
from bot.engine.state import Awaiting, Status
from bot.engine.understanding import small_talk
from bot.engine.understanding.decision import understand
from bot.messages import Button


def route_free_text(turn: Turn, text: str, *, greeted: bool) -> None:
    if normalize(text) in small_talk.GREETING_PHRASES:
        show_menu(turn, prompt=True)
        return
    understood = understand(text, turn.ctx.catalog, turn.ctx.routing)
    if understood.flow_id is not None:
        flow = turn.ctx.catalog.flows[understood.flow_id]
        found = values_for_slots(flow_steps(flow), text, ())
        ahead = tuple(slot for slot in found if slot != flow.start_slot)
        start_flow(turn, flow.id, slots=found, ahead=ahead)
    elif understood.candidates:
        ask_did_you_mean(turn, understood.candidates)
    elif greeted or understood.small_talk == small_talk.GREETING:
        show_menu(turn, prompt=True)
    elif understood.small_talk == small_talk.THANKS:
        thank(turn)
    else:
        misunderstood(turn, "menu")


def thank(turn: Turn) -> None:
    """ "thanks", "bye": no request — say you're welcome and leave the menu one tap away."""
    turn.reply(turn.text("you_are_welcome"), (Button(turn.text("button_menu"), "g:menu"),))
    turn.state = turn.state.evolve(status=Status.MENU, awaiting=Awaiting.NOTHING)


def disambiguate_by_text(turn: Turn, text: str) -> None:
    """A typed answer to "Did you mean …?": one of the offered flows, or a new request."""
    flows = [turn.ctx.catalog.flows[c] for c in turn.state.candidates]
    index = button_for_text(text, [f.title for f in flows])
    turn.state = turn.state.evolve(awaiting=Awaiting.NOTHING, candidates=())
    if index is not None:
        start_flow(turn, flows[index].id)
    else:
        route_free_text(turn, text, greeted=False)


def open_deep_link(turn: Turn, payload: str) -> bool:
    """``/start <flow>`` or ``/start <deep_link>_<value>``: start that flow (with its slot)."""
    for flow in turn.ctx.catalog.flows.values():
        if payload == flow.id:
            start_flow(turn, flow.id)
            return True
        if flow.deep_link and payload.startswith(f"{flow.deep_link}_"):
            value = payload[len(flow.deep_link) + 1 :]
            slots = {flow.start_slot: value} if flow.start_slot else {}
            start_flow(turn, flow.id, slots=slots)
            return True
    return False


def run_command(turn: Turn, command: Command) -> None:
    """menu / restart / help / person — understood at any step."""
    if command in (Command.MENU, Command.RESTART):
        reset_to_menu(turn)
        show_menu(turn, prompt=True)
    elif command is Command.HELP:
        turn.reply(turn.text("help"))
        reprompt(turn)
    else:
        handoff(turn, "customer asked for a person", DEFAULT_QUEUE)
