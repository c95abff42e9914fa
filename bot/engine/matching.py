"""Matching short fixed phrases: global commands, persona switches, button labels.

Fuzzy string matching (rapidfuzz) is right for these — they are a closed set of short
phrases where typos are the problem, not meaning. Which flow free text asks for is
:mod:`bot.engine.understanding`'s job.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from enum import StrEnum

from rapidfuzz import fuzz
from rapidfuzz.distance import DamerauLevenshtein

from bot.engine.schema import Persona

MAX_MATCH_CHARS = 500
"""Only the start of a very long message is matched: enough for intent, bounded cost."""

CONFIDENT = 85.0


class Command(StrEnum):
    MENU = "menu"
    RESTART = "restart"
    HELP = "help"
    PERSON = "person"


_COMMAND_PHRASES: dict[Command, frozenset[str]] = {
    Command.MENU: frozenset(
        {
            "menu",
            "main menu",
            "back to menu",
            "back",
            "start over",
            "cancel",
            "stop",
            "never mind",
            "nevermind",
            "options",
            "home",
        }
    ),
    Command.RESTART: frozenset({"restart", "reset", "start again"}),
    Command.HELP: frozenset({"help", "?", "what can you do", "how does this work"}),
    Command.PERSON: frozenset(
        {
            "human",
            "agent",
            "person",
            "operator",
            "representative",
            "real person",
            "live agent",
            "live person",
            "talk to a person",
            "talk to a human",
            "speak to a person",
            "speak to a human",
            "customer service",
            "someone",
        }
    ),
}

_PERSON_NOUNS = frozenset(
    {"human", "agent", "person", "operator", "representative", "someone", "somebody", "staff"}
)
_PERSON_VERBS = frozenset(
    {"talk", "speak", "chat", "want", "need", "get", "connect", "call", "contact", "reach",
     "demand", "give", "transfer", "put"}
)  # fmt: skip

_FILLER = frozenset(  # words a button label may have that say nothing about the choice
    {"a", "an", "the", "is", "are", "was", "it", "its", "i", "im", "my", "me", "to", "of",
     "and", "on", "in", "at", "this", "that", "please", "pls"}
)  # fmt: skip
_NEGATIONS = frozenset(  # an answer with one of these its label lacks is not that label
    {"no", "not", "nope", "never", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt",
     "wont", "cant", "cannot", "neither", "nor"}
)  # fmt: skip

_WORD = re.compile(r"[\w']+")
_SENTENCE_END = re.compile(r"[.,!?;\n]+")


def normalize(text: str) -> str:
    """Lower-case, NFKC, punctuation-free, single-spaced; bounded length."""
    text = unicodedata.normalize("NFKC", text[:MAX_MATCH_CHARS]).casefold()
    return " ".join(w.replace("'", "") for w in _WORD.findall(text))


def command_of(text: str) -> Command | None:
    """A global command in ``text``, if the whole message is one."""
    norm = normalize(text.lstrip("/"))
    if not norm:
        return None
    for command, phrases in _COMMAND_PHRASES.items():
        if norm in phrases:
            return command
    words = norm.split()
    if any(_asks_for_a_person(normalize(part)) for part in _SENTENCE_END.split(text)):
        return Command.PERSON  # "are you a robot? i want a person"
    if len(words) <= 3 and any(_is_person_noun(word) for word in words):
        return Command.PERSON  # "agnet pls", "representitive", "human?"
    return None


def _asks_for_a_person(sentence: str) -> bool:
    """A short sentence with a person noun and a verb of wanting or reaching one."""
    words = set(sentence.split())
    return len(sentence.split()) <= 7 and bool(_PERSON_NOUNS & words and _PERSON_VERBS & words)


def _is_person_noun(word: str) -> bool:
    """A person noun or its plural, allowing one slip of the keyboard in the longer ones —
    but a common word in its own right is no slip: "where's my stuff" is no "staff",
    "persona" no "person"."""
    if word in _PERSON_NOUNS or (word.endswith("s") and word[:-1] in _PERSON_NOUNS):
        return True
    near = len(word) >= 5 and any(
        DamerauLevenshtein.distance(word, noun) <= (1 if len(noun) < 9 else 2)
        for noun in _PERSON_NOUNS
    )
    if not near:
        return False
    # imported here: the embedding model (numpy, its tokenizer) loads only when needed
    from bot.engine.understanding.embedding import is_whole_token

    return not is_whole_token(word)


def persona_switch(text: str, personas: Iterable[Persona]) -> Persona | None:
    """The persona whose switch phrase ``text`` says, if any."""
    norm = normalize(text)
    if not norm or len(norm) > 80:
        return None
    best: tuple[float, Persona | None] = (0.0, None)
    for persona in personas:
        for phrase in (*persona.switch_phrases, persona.label):
            score = fuzz.ratio(norm, normalize(phrase))
            if score > best[0]:
                best = (score, persona)
    return best[1] if best[0] >= CONFIDENT else None


def button_for_text(text: str, labels: Sequence[str]) -> int | None:
    """Index of the button whose label the customer typed (or its number, 1-based)."""
    norm = normalize(text)
    if not norm:
        return None
    if norm.isdigit() and 1 <= int(norm) <= len(labels):
        return int(norm) - 1
    best, best_score = None, 0.0
    words = set(norm.split())
    for index, label in enumerate(labels):
        label_norm = normalize(label)
        if (words - set(label_norm.split())) & _NEGATIONS:
            continue  # "both are not final" is no typo of "both are final"
        score = fuzz.ratio(norm, label_norm)
        if score > best_score:
            best, best_score = index, score
    return best if best_score >= CONFIDENT else None


def button_named_in(text: str, labels: Sequence[str]) -> int | None:
    """Index of the one button whose label's words all appear in a longer answer ("both
    are final i think" → "Both are final"; "the second one still says pending" → "One is
    pending"), ignoring filler words. None when no label or several equally fit, or when
    the answer negates what a label says ("both are not final")."""
    words = set(normalize(text).split())
    best: list[int] = []
    most = 0
    for index, label in enumerate(labels):
        label_words = set(normalize(label).split())
        content = label_words - _FILLER
        if not content or not content <= words or (words - label_words) & _NEGATIONS:
            continue
        if len(content) > most:
            best, most = [index], len(content)
        elif len(content) == most:
            best.append(index)
    return best[0] if len(best) == 1 else None
