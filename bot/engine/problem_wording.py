"""How flow-file problem messages name things: a short description of a value as the
operator wrote it, and a "did you mean" hint for a near-miss name.

Shared by the YAML reader, the schema-error messages and the semantic checks, so the
same value reads the same in every message and none of them imports another for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from rapidfuzz import fuzz, process

_SUGGEST_CUTOFF = 70


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` — did you mean 'x'?`` for the closest choice, or ``""`` when none is close."""
    options = [c for c in choices if c != word]
    match = process.extractOne(word, options, scorer=fuzz.ratio, score_cutoff=_SUGGEST_CUTOFF)
    return f" — did you mean '{match[0]}'?" if match else ""


def describe(value: object) -> str:
    """A short, YAML-flavoured description of a value for messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, date):
        return f"a date ({value.isoformat()}; quote it to make it text)"
    return type(value).__name__
