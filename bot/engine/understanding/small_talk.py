"""Built-in examples of messages that are no support request, fitted beside every catalog.

The classifier learns "greeting", "thanks" and "something else entirely" from these, so
an opening "hello!!" or "thx bye" gets the greeting, and chatter far from every flow is
not forced onto the nearest one. Operators never edit this: it describes chat in
general, not the shop. Flow ids cannot start with ``_``, so these never clash.
"""

from __future__ import annotations

GREETING = "_greeting"
THANKS = "_thanks"
OTHER = "_other"


def is_small_talk(label: str) -> bool:
    return label.startswith("_")


GREETING_PHRASES = frozenset(
    {"hi", "hello", "hey", "hi there", "hello there", "hey there", "good morning",
     "good afternoon", "good evening", "hallo", "hola", "yo", "start"}
)  # fmt: skip
"""Taken as a greeting as they stand (after normalising), before any classifier."""
THANKS_PHRASES = frozenset(
    {"thanks", "thank you", "thx", "ty", "cheers", "thanks a lot", "thank you very much",
     "great thanks", "ok thanks", "bye", "goodbye", "bye bye"}
)  # fmt: skip
"""Taken as thanks or goodbye as they stand (after normalising)."""

EXAMPLES: dict[str, tuple[str, ...]] = {
    GREETING: (
        *sorted(GREETING_PHRASES),
        "hiya",
        "hi bot",
        "hello is anyone there",
        "greetings",
        "howdy",
        "hi how are you",
        "morning",
    ),
    THANKS: (
        *sorted(THANKS_PHRASES),
        "thank you so much",
        "see you",
        "ok cool",
        "perfect",
        "that's all",
        "nothing else",
    ),
    OTHER: (
        "what is the weather like",
        "tell me a joke",
        "are you a robot",
        "who made you",
        "what is the meaning of life",
        "test",
        "testing 123",
        "asdfgh",
        "lol",
        "what time is it",
        "do you like music",
        "i love you",
        "you are stupid",
        "what's your name",
        "how old are you",
        "can you write me a poem",
        "who won the football game",
        "recommend a movie",
    ),
}

_LONGEST_FIRST = sorted(GREETING_PHRASES, key=len, reverse=True)


def without_greeting(normalized: str) -> str:
    """A normalised message without the greeting it opens with ("hi there my parcel is
    late" → "my parcel is late"), so the greeting does not dilute the request; a message
    that is only a greeting stays as it is."""
    for greeting in _LONGEST_FIRST:
        if normalized.startswith(greeting + " "):
            return normalized[len(greeting) + 1 :]
    return normalized
