"""What the bot says while a person owns (or is about to own) the conversation.

The bot stays quiet: messages go to the person. Only "menu" and "person" get an
answer, and leaving a conversation that a person already took asks first.
"""

from __future__ import annotations

from bot.engine.dialogue.menu import reset_to_menu, show_menu
from bot.engine.dialogue.turn import Turn
from bot.engine.effects import HandoffCancelled
from bot.engine.matching import Command, command_of
from bot.messages import MAX_FILE_BYTES, Attachment, Button, human_size


def text_during_handoff(turn: Turn, text: str) -> None:
    """Everything goes to the person; only "menu" and "person" get a bot answer."""
    command = command_of(text) if len(text) < 40 else None
    if command in (Command.MENU, Command.RESTART):
        if turn.ctx.person_assigned:
            buttons = (
                Button(turn.text("button_leave"), "g:leave"),
                Button(turn.text("button_stay"), "g:stay"),
            )
            turn.reply(turn.text("handoff_confirm_leave"), buttons)
        else:
            leave_handoff(turn)
    elif command is Command.PERSON:
        turn.reply(turn.text("handoff_already"))
    elif not turn.ctx.person_assigned:
        turn.reply(turn.text("handoff_waiting"))


def file_during_handoff(turn: Turn, file: Attachment | None) -> None:
    """Files are kept for the person (the desk shows them); one too large to pass on is
    said at once, since the person will never see it."""
    if file is not None and file.too_large:
        turn.reply(turn.text("file_too_large", **file_sizes(file)))
    elif file is not None and not turn.ctx.person_assigned:
        turn.reply(turn.text("handoff_file_kept"))


def button_during_handoff(turn: Turn, payload: str) -> None:
    if payload == "g:leave":
        leave_handoff(turn)
    elif payload == "g:stay":
        turn.reply(turn.text("handoff_stay"))
    elif not turn.ctx.person_assigned:
        turn.reply(turn.text("handoff_waiting"))


def leave_handoff(turn: Turn) -> None:
    turn.effects.append(HandoffCancelled())
    turn.reply(turn.text("handoff_cancelled"))
    reset_to_menu(turn)
    show_menu(turn, prompt=True)


def file_sizes(file: Attachment) -> dict[str, str]:
    """The wording's ``size`` and ``limit`` for a file too large to pass on."""
    return {"size": human_size(file.size), "limit": human_size(MAX_FILE_BYTES)}
