"""Checkpoint answers: the fixed yes/stuck phrases, and yes or stuck in ordinary words.

(Greetings and thanks are :mod:`bot.engine.understanding.small_talk`'s.)
"""

from __future__ import annotations

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
