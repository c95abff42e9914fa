"""The satisfaction rating at the end of a conversation: the question, the score, the comment.

Typed scores count as much as taps (:mod:`bot.engine.rating` reads them). A low score
is a chance to recover: an apology and the offer of a person in the recovery queue.
"""

from __future__ import annotations

from bot.engine.dialogue.menu import end_conversation, handoff, reset_to_menu, show_menu
from bot.engine.dialogue.turn import RECOVERY_QUEUE, Turn
from bot.engine.effects import RatingAsked, RatingComment, RatingGiven
from bot.engine.matching import Command, command_of, normalize
from bot.engine.rating import LOW_SCORES, parse_score, rating_buttons, score_of_payload
from bot.engine.state import Awaiting, Status
from bot.engine.understanding.small_talk import THANKS_PHRASES
from bot.messages import Button


def ask_rating(turn: Turn, key: str = "rating_question") -> None:
    if turn.state.rating_asked_at is None:
        turn.effects.append(RatingAsked())
    turn.reply(turn.text(key), rating_buttons())
    turn.state = turn.state.evolve(
        status=Status.RATING,
        awaiting=Awaiting.RATING,
        rating_asked_at=turn.state.rating_asked_at or turn.ctx.now,
    )


def reprompt_rating(turn: Turn) -> None:
    """Ask again for what the rating waits on: the score, or the optional comment."""
    if turn.state.awaiting is Awaiting.COMMENT:
        turn.reply(turn.text("rating_thanks"), (Button(turn.text("button_skip"), "r:skip"),))
    else:
        ask_rating(turn)


def rating_text(turn: Turn, text: str) -> bool:
    """A typed answer while rating: a score, a comment, thanks — or a new request.

    Returns False when the text is no answer to the rating: the conversation is back at
    the menu and the caller serves the text as a new request.
    """
    if turn.state.awaiting is Awaiting.COMMENT:
        command = command_of(text) if len(text) < 40 else None
        if command is Command.PERSON:
            recovery_handoff(turn)
        elif command is not None:
            reset_to_menu(turn)
            show_menu(turn, prompt=True)
        else:
            turn.effects.append(RatingComment(text[:2000]))
            end_conversation(turn, "rating_comment_thanks")
        return True
    score = parse_score(text)
    if score is not None:
        rate(turn, score)
    elif normalize(text) in THANKS_PHRASES and turn.state.awaiting is Awaiting.RATING:
        turn.reply(turn.text("rating_nudge"), rating_buttons())
        turn.state = turn.state.evolve(awaiting=Awaiting.RATING)
    else:  # not an answer: the customer moved on
        reset_to_menu(turn)
        return False
    return True


def rate(turn: Turn, score: int) -> None:
    asked = turn.state.rating_asked_at or 0.0
    now = turn.ctx.now
    if now and asked and now - asked > turn.ctx.rating_window_seconds:
        end_conversation(turn, "rating_late")  # too late to count: thanked, not counted
        return
    turn.effects.append(RatingGiven(score))
    turn.state = turn.state.evolve(rating_score=score)
    buttons = [Button(turn.text("button_skip"), "r:skip")]
    if score in LOW_SCORES:
        buttons.append(Button(turn.text("button_person"), "g:person"))
        turn.reply(turn.text("rating_low"), tuple(buttons))
    else:
        url = turn.ctx.recommend_url
        turn.reply(turn.text("rating_thanks", score=score, recommend_url=url), tuple(buttons))
    turn.state = turn.state.evolve(awaiting=Awaiting.COMMENT)


def recovery_handoff(turn: Turn) -> None:
    """A person follows up a disappointed customer: a ticket in the recovery queue."""
    score = turn.state.rating_score
    reason = "follow-up after a low rating" + (f" ({score}/5)" if score else "")
    handoff(turn, reason, RECOVERY_QUEUE)


def rating_button(turn: Turn, payload: str) -> None:
    """A tap on a rating button while the rating is open (the caller checks that)."""
    score = score_of_payload(payload)
    if payload == "r:skip":
        end_conversation(turn, "rating_comment_thanks")
    elif score is not None and turn.state.awaiting is Awaiting.RATING:
        rate(turn, score)
    else:
        turn.reply(turn.text("stale_button"))
        reprompt_rating(turn)
