"""The entry points: :func:`step` routes one customer event by conversation status and
by what the conversation waits for, to the concern that handles it.

Button payloads stay far below Telegram's 64-byte limit:
``m:<flow>`` start a flow, ``p:<persona>`` choose a persona, ``b:<turn>:<i>`` button ``i``
of the step entered at ``<turn>``, ``k:<turn>:y|s`` a checkpoint answer,
``v:<turn>:<i>`` value ``i`` of those an answer held,
``g:person|menu|retry|none|leave|stay`` global choices, ``r:<score>|skip`` the rating,
``t:<text>`` a custom action's button (as if the customer typed the text). A ``<turn>``
that is not the current step's is a stale button from an older message.
"""

from __future__ import annotations

from bot.engine.dialogue.actions import on_action_result
from bot.engine.dialogue.answers import (
    answer_question,
    answer_with_file,
    choose_by_text,
    choose_value,
    choose_value_by_text,
    file_expected,
    press_step_button,
)
from bot.engine.dialogue.checkpoints import checkpoint_answer, checkpoint_by_text
from bot.engine.dialogue.handoff import (
    button_during_handoff,
    file_during_handoff,
    text_during_handoff,
)
from bot.engine.dialogue.menu import greet_if_new, handoff, reset_to_menu, show_menu
from bot.engine.dialogue.persona import persona_by_text, switch_persona
from bot.engine.dialogue.prompts import reprompt
from bot.engine.dialogue.rating import ask_rating, rating_button, rating_text, recovery_handoff
from bot.engine.dialogue.routing import (
    disambiguate_by_text,
    open_deep_link,
    route_free_text,
    run_command,
    thank,
)
from bot.engine.dialogue.running import enter, start_flow
from bot.engine.dialogue.turn import DEFAULT_QUEUE, Context, Turn, rating_due
from bot.engine.effects import (
    ButtonEvent,
    Effect,
    Event,
    NonTextEvent,
    StartEvent,
    TextEvent,
)
from bot.engine.matching import command_of, normalize, persona_switch
from bot.engine.rating import LOW_SCORES
from bot.engine.schema import StepKind
from bot.engine.state import Awaiting, ConversationState, Status
from bot.engine.understanding.small_talk import THANKS_PHRASES


def step(
    ctx: Context, state: ConversationState, event: Event
) -> tuple[ConversationState, list[Effect]]:
    """Advance the conversation by one customer event."""
    turn = Turn.begin(ctx, state.evolve(turn=state.turn + 1, switch_offered=None))
    turn.switch_offered = state.switch_offered
    if state.ended:
        turn.state = ConversationState(turn=state.turn + 1)
    if isinstance(event, StartEvent):
        on_start(turn, event.payload)
    elif isinstance(event, TextEvent):
        on_text(turn, event.text)
    elif isinstance(event, ButtonEvent):
        on_button(turn, event.payload)
    elif isinstance(event, NonTextEvent):
        on_non_text(turn, event)
    else:
        on_action_result(turn, event)
    return turn.state, turn.effects


def resume_after_person(
    ctx: Context, state: ConversationState, *, back_to_flow: bool
) -> tuple[ConversationState, list[Effect]]:
    """The person is done: continue the flow where it stopped, or offer the menu."""
    turn = Turn.begin(ctx, state.evolve(turn=state.turn + 1, misunderstandings=0, stuck=0))
    step_ = turn.current_step()
    if back_to_flow and step_ is not None and step_.kind is not StepKind.HANDOFF:
        turn.state = turn.state.evolve(status=Status.IN_FLOW)
        turn.reply(turn.text("back_with_bot"))
        enter(turn, turn.state.step_id or "")
    elif rating_due(ctx, state, turn.current_flow()):
        reset_to_menu(turn)
        ask_rating(turn, "rating_after_person")
    else:
        reset_to_menu(turn)
        show_menu(turn, prompt=True, text=turn.text("back_with_bot_menu"))
    return turn.state, turn.effects


def on_start(turn: Turn, payload: str | None) -> None:
    if turn.state.status is Status.HANDOFF:
        turn.reply(turn.text("handoff_waiting"))
        return
    turn.state = turn.state.evolve(status=Status.NEW)
    greet_if_new(turn)
    opened = open_deep_link(turn, payload) if payload else False
    if not opened:
        show_menu(turn, prompt=True)


def on_non_text(turn: Turn, event: NonTextEvent) -> None:
    """A file answers a step that expects one; otherwise it is kept in the transcript
    (for the person, when one is on the way) and the customer is asked for words."""
    file = event.files[0] if event.files else None
    if turn.state.status is Status.HANDOFF:
        file_during_handoff(turn, file)
        return
    step_ = file_expected(turn)
    if step_ is not None and file is not None:
        answer_with_file(turn, step_, file)
        return
    greet_if_new(turn)
    turn.reply(turn.text("non_text"))
    reprompt(turn)


def on_text(turn: Turn, raw: str) -> None:
    text = raw.strip()
    status = turn.state.status
    if status is Status.HANDOFF:
        text_during_handoff(turn, text)
        return
    if status is Status.RATING and text:
        if not rating_text(turn, text):
            on_text(turn, text)  # the customer moved on: serve the new request
        return
    if not text:
        greet_if_new(turn)
        turn.reply(turn.text("empty_message"))
        reprompt(turn)
        return
    if normalize(text) in THANKS_PHRASES and status in (Status.NEW, Status.MENU):
        thank(turn)
        return
    greeted = greet_if_new(turn)
    if turn.state.awaiting is not Awaiting.ANSWER or len(text) < 40:
        command = command_of(text)
        if command is not None:
            run_command(turn, command)
            return
    persona = persona_switch(text, turn.ctx.catalog.personas.values())
    if persona is not None:
        switch_persona(turn, persona)
        return
    _answer_by_text(turn, text, greeted=greeted)


def _answer_by_text(turn: Turn, text: str, *, greeted: bool) -> None:
    """Text read as the answer to what the conversation waits for, else as a request."""
    awaiting = turn.state.awaiting
    if awaiting in (Awaiting.ANSWER, Awaiting.VALIDATION):
        answer_question(turn, text)  # (a validation that never finished: check again)
    elif awaiting is Awaiting.CHOICE:
        choose_by_text(turn, text)
    elif awaiting is Awaiting.VALUE:
        choose_value_by_text(turn, text)
    elif awaiting is Awaiting.CHECKPOINT:
        checkpoint_by_text(turn, text)
    elif awaiting is Awaiting.PERSONA:
        persona_by_text(turn, text)
    elif awaiting is Awaiting.DISAMBIGUATION:
        disambiguate_by_text(turn, text)
    elif awaiting is Awaiting.ACTION and turn.state.step_id:
        enter(turn, turn.state.step_id)  # the last attempt never finished: run it again
    else:
        route_free_text(turn, text, greeted=greeted)


def on_button(turn: Turn, payload: str) -> None:
    kind, _, rest = payload.partition(":")
    if kind == "r":
        if turn.state.status is Status.RATING:
            rating_button(turn, payload)
        else:
            turn.reply(turn.text("rating_late"))  # a button from an earlier conversation
            reprompt(turn)
        return
    if kind == "t" and rest:  # a custom action's button: as if the customer typed it
        on_text(turn, rest)
        return
    if kind == "g" and rest in ("menu", "person", "none"):
        _global_button(turn, rest)
        return
    if turn.state.status is Status.HANDOFF:
        button_during_handoff(turn, payload)
        return
    greet_if_new(turn)
    catalog = turn.ctx.catalog
    if kind == "m" and rest in catalog.flows:
        turn.state = turn.state.evolve(awaiting=Awaiting.NOTHING, candidates=())
        start_flow(turn, rest)
    elif kind == "p" and rest in catalog.personas:
        switch_persona(turn, catalog.personas[rest])
    elif kind == "g" and rest == "retry":
        turn.state = turn.state.evolve(misunderstandings=0)
        reprompt(turn)
    elif kind in ("b", "k", "v") and _is_current(turn, rest):
        _step_button(turn, kind, rest)
    else:
        turn.reply(turn.text("stale_button"))
        reprompt(turn)


def _global_button(turn: Turn, which: str) -> None:
    if which == "person":
        if turn.state.status is Status.HANDOFF:
            turn.reply(turn.text("handoff_already"))
        elif turn.state.status is Status.RATING and turn.state.rating_score in LOW_SCORES:
            recovery_handoff(turn)
        else:
            handoff(turn, "customer asked for a person", DEFAULT_QUEUE)
        return
    if turn.state.status is Status.HANDOFF:
        text_during_handoff(turn, "menu")
        return
    greet_if_new(turn)
    reset_to_menu(turn)
    show_menu(turn, prompt=True)


def _is_current(turn: Turn, rest: str) -> bool:
    """Whether a ``b:``/``k:`` button belongs to the step the customer is at now."""
    stamp, _, _ = rest.partition(":")
    waiting = (Awaiting.CHOICE, Awaiting.ANSWER, Awaiting.CHECKPOINT, Awaiting.VALUE)
    return (
        turn.state.status is Status.IN_FLOW
        and turn.state.awaiting in waiting
        and stamp == str(turn.state.prompt_turn)
    )


def _step_button(turn: Turn, kind: str, rest: str) -> None:
    _, _, arg = rest.partition(":")
    step_ = turn.current_step()
    if step_ is None:
        reprompt(turn)
    elif kind == "k" and arg in ("y", "s") and turn.state.awaiting is Awaiting.CHECKPOINT:
        checkpoint_answer(turn, done=arg == "y")
    elif kind == "b" and arg.isdigit() and int(arg) < len(step_.buttons or []):
        press_step_button(turn, step_, int(arg))
    elif kind == "v" and arg.isdigit() and turn.state.awaiting is Awaiting.VALUE:
        choose_value(turn, int(arg))
    else:
        turn.reply(turn.text("stale_button"))
        reprompt(turn)
