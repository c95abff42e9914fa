"""The places every other part of the dialogue falls back to.

The greeting, the menu, the offer of a person, handing off and ending the conversation
are the ways out that keep a customer from being stuck; they depend on nothing but the
turn, so every concern may use them.
"""

from __future__ import annotations

from bot.engine.dialogue.turn import Turn
from bot.engine.effects import HandoffRequested
from bot.engine.state import Awaiting, Status
from bot.messages import Button


def greet_if_new(turn: Turn) -> bool:
    """Greet (by name when returning) a conversation that has not started yet."""
    if turn.state.status is not Status.NEW:
        return False
    first_name = turn.ctx.customer.get("first_name")
    key = "greeting_returning" if turn.ctx.returning and first_name else "greeting"
    turn.reply(turn.text(key, last_topic=turn.ctx.last_topic))
    turn.state = turn.state.evolve(status=Status.MENU)
    return True


def reset_to_menu(turn: Turn) -> None:
    turn.state = turn.state.evolve(
        status=Status.MENU,
        awaiting=Awaiting.NOTHING,
        flow_id=None,
        flow_version=None,
        variant=None,
        step_id=None,
        slots={},
        misunderstandings=0,
        stuck=0,
        pending_flow=None,
        pending_slots={},
        candidates=(),
        ahead=(),
    )


def show_menu(turn: Turn, *, prompt: bool, text: str | None = None) -> None:
    buttons = tuple(Button(f.title, f"m:{f.id}") for f in turn.ctx.catalog.menu_flows())
    turn.reply(text or turn.text("menu_prompt"), buttons)
    if prompt:
        turn.state = turn.state.evolve(awaiting=Awaiting.NOTHING)


def offer_person(turn: Turn) -> None:
    buttons = [Button(turn.text("button_person"), "g:person")]
    if turn.state.status is Status.IN_FLOW:
        buttons.append(Button(turn.text("button_keep_trying"), "g:retry"))
    buttons.append(Button(turn.text("button_menu"), "g:menu"))
    turn.reply(turn.text("offer_person"), tuple(buttons))


def handoff(turn: Turn, reason: str, queue: str, message: str | None = None) -> None:
    """Tell the customer a person is coming, then request one: the conversation layer
    answers the request with their place in line, which reads after the "why"."""
    turn.reply(message or turn.text("handoff_default"))
    turn.effects.append(HandoffRequested(reason, queue, turn.state.flow_id, turn.state.step_id))
    turn.state = turn.state.evolve(status=Status.HANDOFF, awaiting=Awaiting.NOTHING)


def end_conversation(turn: Turn, text_key: str = "anything_else") -> None:
    turn.reply(turn.text(text_key), (Button(turn.text("button_menu"), "g:menu"),))
    turn.state = turn.state.evolve(status=Status.RESOLVED, awaiting=Awaiting.NOTHING)
