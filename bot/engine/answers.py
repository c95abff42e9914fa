"""Checking a free-text answer against an ``ask`` step's validation.

The value is looked for inside the answer (:mod:`bot.engine.understanding.values`): one
value is the answer; several are a question back to the customer (``choices``); none
is refused with the reason, so the re-prompt says what is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.engine.schema import Validation, ValidationKind
from bot.engine.understanding.values import find_values

MAX_ANSWER_CHARS = 1000
MAX_CHOICES = 5
"""Values offered when an answer holds several; more means it was no answer at all."""

_REASONS = {
    ValidationKind.TEXT: "invalid_answer",
    ValidationKind.NUMBER: "invalid_number",
    ValidationKind.EMAIL: "invalid_email",
    ValidationKind.REGEX: "invalid_answer",
    ValidationKind.ONE_OF: "invalid_one_of",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """``value`` to store when valid; ``choices`` when the answer holds several values;
    otherwise the wording key (and values) of the reason."""

    valid: bool
    value: Any = None
    reason_key: str = ""
    reason_values: dict[str, Any] | None = None
    custom_reason: str | None = None
    choices: tuple[Any, ...] = ()


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
    values = find_values(answer, validation)
    if kind is ValidationKind.NUMBER and validation is not None:
        return _check_numbers(values, validation)
    if len(values) == 1:
        return Verdict(True, values[0])
    if 1 < len(values) <= MAX_CHOICES:
        return Verdict(False, choices=values)
    reason = _REASONS[kind]
    if kind is ValidationKind.ONE_OF and validation is not None:
        return _invalid(validation, reason, options=", ".join(validation.options or []))
    return _invalid(validation, reason)


def _check_numbers(values: tuple[Any, ...], validation: Validation) -> Verdict:
    """Numbers outside min/max do not count; if none is inside, say which limit."""
    low, high = validation.min, validation.max
    inside = [n for n in values if (low is None or n >= low) and (high is None or n <= high)]
    if len(inside) == 1:
        return Verdict(True, inside[0])
    if 1 < len(inside) <= MAX_CHOICES:
        return Verdict(False, choices=tuple(inside))
    if not values or inside:
        return _invalid(validation, "invalid_number")
    if low is not None and all(n < low for n in values):
        return _invalid(validation, "number_too_small", limit=_show(low))
    assert high is not None
    return _invalid(validation, "number_too_large", limit=_show(high))


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)
