"""Finding an answer's value inside what the customer wrote, not only as the whole answer.

"its ws10001", "my email is ann@example.com", "about 3", "the blue one please": every
validation type searches the sentence for its kind of value. Values are returned in the
order they appear, without repeats; more than one means the customer gave several
("WS-10001 or maybe WS-10002?") and the dialogue asks which. A regex may name its groups
and give a ``normalize:`` template over them, so ``ws 10001``, ``#WS-10001`` and
``10001`` are all stored as ``WS-10001``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from rapidfuzz import fuzz

from bot.engine.matching import normalize
from bot.engine.schema import Validation, ValidationKind
from bot.engine.templates import render

_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[^\s@<>()\[\],;:\"'.]{2,}")
_NUMBER = re.compile(
    r"(?<![\w.,])[-−]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)(?![\w]|[.,]\d)"
)
_SMALL_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {word: value for value, word in enumerate(_SMALL_NUMBERS.split())}
_NUMBER_WORDS.update({"a couple": 2, "a dozen": 12, "thirty": 30, "forty": 40, "fifty": 50})
_FUZZY_OPTION = 85.0


def find_values(text: str, validation: Validation | None) -> tuple[Any, ...]:
    """Every value of the validation's kind in ``text``, no repeats: in the order they
    appear (one_of options: in the flow's order)."""
    kind = validation.type if validation else ValidationKind.TEXT
    if kind is ValidationKind.TEXT or validation is None:
        stripped = text.strip()
        return (stripped,) if stripped else ()
    if kind is ValidationKind.NUMBER:
        return _distinct(_numbers(text))
    if kind is ValidationKind.EMAIL:
        return _distinct(m.group(0).rstrip(".") for m in _EMAIL.finditer(text))
    if kind is ValidationKind.REGEX:
        return _distinct(_pattern_values(text, validation))
    return _distinct(_options(text, validation.options or []))


def _distinct(values: Iterable[Any]) -> tuple[Any, ...]:
    seen: list[Any] = []
    keys: set[str] = set()
    for value in values:
        key = str(value).casefold()
        if key not in keys:
            keys.add(key)
            seen.append(value)
    return tuple(seen)


def _numbers(text: str) -> Iterator[int | float]:
    for match in _NUMBER.finditer(text):
        raw = match.group(0).replace("−", "-")
        if re.fullmatch(r"-?\d+,\d{1,2}", raw):  # "49,90": a decimal comma
            raw = raw.replace(",", ".")
        number = float(raw.replace(",", ""))
        yield int(number) if number.is_integer() else number
    words = normalize(text)
    for phrase, value in _NUMBER_WORDS.items():
        if re.search(rf"\b{phrase}\b", words):
            yield value


def _pattern_values(text: str, validation: Validation) -> Iterator[str]:
    for match in re.finditer(validation.pattern or "", text):
        found = match.group(0).strip()
        if not found:
            continue
        if validation.normalize:
            groups = {k: v or "" for k, v in match.groupdict().items()}
            found = render(validation.normalize, {}, {**groups, "value": found}).strip()
        yield found


def _options(text: str, options: list[str]) -> Iterator[str]:
    """Options named in the answer: the whole answer (allowing typos), or a phrase in it."""
    answer = normalize(text)
    whole = [o for o in options if fuzz.ratio(answer, normalize(o)) >= _FUZZY_OPTION]
    if whole:
        yield from whole[:1]
        return
    words = answer.split()
    for option in options:
        wanted = normalize(option).split()
        if not wanted:
            continue
        windows = (" ".join(words[i : i + len(wanted)]) for i in range(len(words)))
        if any(fuzz.ratio(window, " ".join(wanted)) >= _FUZZY_OPTION for window in windows):
            yield option
