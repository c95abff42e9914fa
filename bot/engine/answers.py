"""Checking a free-text answer against an ``ask`` step's validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from bot.engine.matching import normalize
from bot.engine.schema import Validation, ValidationKind

MAX_ANSWER_CHARS = 1000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


@dataclass(frozen=True, slots=True)
class Verdict:
    """``value`` to store when valid; otherwise the wording key (and values) of the reason."""

    valid: bool
    value: Any = None
    reason_key: str = ""
    reason_values: dict[str, Any] | None = None
    custom_reason: str | None = None


def _invalid(validation: Validation | None, key: str, **values: Any) -> Verdict:
    custom = validation.message if validation else None
    return Verdict(False, reason_key=key, reason_values=values, custom_reason=custom)


def check_answer(text: str, validation: Validation | None) -> Verdict:
    answer = text.strip()
    if len(answer) > MAX_ANSWER_CHARS:
        return Verdict(
            False, reason_key="answer_too_long", reason_values={"limit": MAX_ANSWER_CHARS}
        )
    if not answer:
        return _invalid(validation, "invalid_answer")
    kind = validation.type if validation else ValidationKind.TEXT
    if kind is ValidationKind.TEXT:
        return Verdict(True, answer)
    assert validation is not None
    if kind is ValidationKind.NUMBER:
        return _check_number(answer, validation)
    if kind is ValidationKind.EMAIL:
        ok = bool(_EMAIL.match(answer))
        return Verdict(True, answer) if ok else _invalid(validation, "invalid_email")
    if kind is ValidationKind.REGEX:
        ok = re.fullmatch(validation.pattern or "", answer) is not None
        return Verdict(True, answer) if ok else _invalid(validation, "invalid_answer")
    return _check_one_of(answer, validation)


def _check_number(answer: str, validation: Validation) -> Verdict:
    try:
        number = float(answer.replace(",", "").replace(" ", ""))
    except ValueError:
        return _invalid(validation, "invalid_number")
    if number != number or number in (float("inf"), float("-inf")):
        return _invalid(validation, "invalid_number")
    if validation.min is not None and number < validation.min:
        return _invalid(validation, "number_too_small", limit=_show(validation.min))
    if validation.max is not None and number > validation.max:
        return _invalid(validation, "number_too_large", limit=_show(validation.max))
    return Verdict(True, int(number) if number.is_integer() else number)


def _check_one_of(answer: str, validation: Validation) -> Verdict:
    options = validation.options or []
    norm = normalize(answer)
    for option in options:
        if fuzz.ratio(norm, normalize(option)) >= 85:
            return Verdict(True, option)
    return _invalid(validation, "invalid_one_of", options=", ".join(options))


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)
