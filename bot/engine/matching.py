"""Understanding free text: global commands, persona switches and flow triggers.

Fuzzy matching (rapidfuzz) rather than an ML model: operators can predict and test
it, it needs no training data, and it runs in microseconds per message.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz

from bot.engine.catalog import Catalog
from bot.engine.schema import Persona

MAX_MATCH_CHARS = 500
"""Only the start of a very long message is matched: enough for intent, bounded cost."""

CONFIDENT = 85.0
POSSIBLE = 65.0
CLOSE_GAP = 6.0


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
    {"talk", "speak", "chat", "want", "need", "get", "connect", "call", "contact", "reach"}
)

_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "i",
        "my",
        "me",
        "is",
        "it",
        "to",
        "of",
        "and",
        "or",
        "was",
        "in",
        "on",
        "for",
        "do",
        "did",
        "can",
        "you",
        "please",
        "hi",
        "hello",
        "hey",
        "there",
        "im",
        "its",
        "be",
        "with",
        "this",
        "that",
        "what",
        "how",
        "have",
        "has",
        "at",
        "so",
        "just",
    }
)

_WORD = re.compile(r"[\w']+")


def normalize(text: str) -> str:
    """Lower-case, NFKC, punctuation-free, single-spaced; bounded length."""
    text = unicodedata.normalize("NFKC", text[:MAX_MATCH_CHARS]).casefold()
    return " ".join(w.replace("'", "") for w in _WORD.findall(text))


def _content_words(normalized: str) -> set[str]:
    return {w for w in normalized.split() if w not in _STOPWORDS}


def command_of(text: str) -> Command | None:
    """A global command in ``text``, if the whole message is one."""
    norm = normalize(text.lstrip("/"))
    if not norm:
        return None
    for command, phrases in _COMMAND_PHRASES.items():
        if norm in phrases:
            return command
    words = norm.split()
    if len(words) <= 7 and _PERSON_NOUNS & set(words) and _PERSON_VERBS & set(words):
        return Command.PERSON
    return None


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


@dataclass(frozen=True, slots=True)
class FlowMatch:
    flow_id: str
    score: float


def _score(norm: str, words: set[str], phrase: str) -> float:
    target = normalize(phrase)
    if not _content_words(target) & words and fuzz.ratio(norm, target) < CONFIDENT:
        # Share no meaningful word: only near-identical spelling counts (typos).
        return min(fuzz.ratio(norm, target), fuzz.token_sort_ratio(norm, target))
    return max(fuzz.token_set_ratio(norm, target), fuzz.WRatio(norm, target))


def rank_flows(text: str, catalog: Catalog) -> list[FlowMatch]:
    """Flows whose title or triggers resemble ``text``, best first."""
    norm = normalize(text)
    words = _content_words(norm)
    if not words:
        return []
    matches = []
    for flow in catalog.flows.values():
        phrases: Sequence[str] = (flow.title, *flow.triggers)
        best = max(_score(norm, words, p) for p in phrases)
        if best >= POSSIBLE:
            matches.append(FlowMatch(flow.id, best))
    matches.sort(key=lambda m: (-m.score, m.flow_id))
    return matches


@dataclass(frozen=True, slots=True)
class Understanding:
    """How sure we are which flow a message asks for."""

    flow_id: str | None  # the one flow to start, when sure
    candidates: tuple[str, ...]  # flows to offer in "Did you mean ...?", when unsure


def understand(text: str, catalog: Catalog) -> Understanding:
    ranked = rank_flows(text, catalog)
    if not ranked:
        return Understanding(None, ())
    top = ranked[0]
    close = [m.flow_id for m in ranked[1:4] if top.score - m.score < CLOSE_GAP]
    if top.score >= CONFIDENT and not close:
        return Understanding(top.flow_id, ())
    return Understanding(None, (top.flow_id, *close))


def button_for_text(text: str, labels: Sequence[str]) -> int | None:
    """Index of the button whose label the customer typed (or its number, 1-based)."""
    norm = normalize(text)
    if not norm:
        return None
    if norm.isdigit() and 1 <= int(norm) <= len(labels):
        return int(norm) - 1
    best, best_score = None, 0.0
    for index, label in enumerate(labels):
        score = fuzz.ratio(norm, normalize(label))
        if score > best_score:
            best, best_score = index, score
    return best if best_score >= CONFIDENT else None
