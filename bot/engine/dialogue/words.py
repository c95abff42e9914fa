"""Checkpoint answers: the fixed yes/stuck phrases, and yes or stuck in ordinary words;
and an answer to a question that says the customer does not have what it asks for.

(Greetings and thanks are :mod:`bot.engine.understanding.small_talk`'s.)
"""

from __future__ import annotations

import re

YES_WORDS = frozenset({"yes", "y", "done", "ok", "okay", "yep", "yeah", "it worked", "worked"})
STUCK_WORDS = frozenset(
    {"no", "n", "stuck", "im stuck", "i am stuck", "didnt work", "it didnt work", "not working"}
)

_NEGATIVE = frozenset(
    {"no", "n", "nope", "nah", "not", "didnt", "doesnt", "dont", "isnt", "wont", "cant",
     "cannot", "still", "stuck", "fail", "failed", "fails", "error", "broken", "help"}
)  # fmt: skip
_POSITIVE = frozenset(
    {"yes", "y", "yep", "yup", "yeah", "ya", "ok", "okay", "k", "done", "worked", "works",
     "working", "fixed", "sorted", "solved", "found", "perfect", "great", "thanks", "got",
     "sure", "finally", "good", "fine", "success"}
)  # fmt: skip


def yes_or_stuck(norm: str) -> bool | None:
    """A checkpoint answer in ordinary words: True for done ("yep got it", "it works
    now"), False for stuck ("nope", "not yet", "still doesn't work"), None otherwise.
    A negative word wins: "yes but it still fails" is stuck. ``norm``: normalized text."""
    if norm in YES_WORDS:
        return True
    if norm in STUCK_WORDS:
        return False
    words = set(norm.split())
    if len(words) > 12:
        return None  # a long message is more than a yes or no
    if words & _NEGATIVE:
        return False
    if words & _POSITIVE:
        return True
    return None


_LACKS_ANSWER = re.compile(
    r"\b(?:(?:i )?(?:dont|do not|cant|can not|cannot|couldnt|didnt|havent|have not|never)"
    r" (?:have|know|find|remember|see|got|get|receive|received)"
    r"|idk|dunno|no idea|no clue|not sure|lost (?:it|the|my)"
    r"|where (?:do|can|would|could) i (?:find|get|see|look)"
    r"|where (?:is|s) (?:it|that|the number))\b"
)


def lacks_the_answer(norm: str) -> bool:
    """Whether a short reply to a question says the customer does not have or know what
    it asks for ("i dont have it", "no idea", "where do i find it"). ``norm``: normalized
    text; a long message is more than that and is read as an answer."""
    return len(norm.split()) <= 10 and _LACKS_ANSWER.search(norm) is not None
