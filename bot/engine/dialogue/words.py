"""The short fixed phrases the dialogue recognises before any flow is consulted."""

from __future__ import annotations

GREETINGS = frozenset(
    {"hi", "hello", "hey", "hi there", "hello there", "hey there", "good morning",
     "good afternoon", "good evening", "hallo", "hola", "yo", "start"}
)  # fmt: skip
THANKS = frozenset(
    {"thanks", "thank you", "thx", "ty", "cheers", "thanks a lot", "thank you very much",
     "great thanks", "ok thanks", "bye", "goodbye", "bye bye"}
)  # fmt: skip
YES_WORDS = frozenset({"yes", "y", "done", "ok", "okay", "yep", "yeah", "it worked", "worked"})
STUCK_WORDS = frozenset(
    {"no", "n", "stuck", "im stuck", "i am stuck", "didnt work", "it didnt work", "not working"}
)
