"""Evaluating a ``branch`` condition on slots — data only, no expressions to execute."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.engine.schema import Condition


def _same(a: Any, b: Any) -> bool:
    """Equality that forgives YAML/text differences: ``"true" == True``, ``"3" == 3``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).casefold() == str(b).casefold()
    if isinstance(a, int | float) or isinstance(b, int | float):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return str(a).casefold() == str(b).casefold()


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def holds(condition: Condition, slots: Mapping[str, Any]) -> bool:
    value = slots.get(condition.slot)
    present = value is not None and value != ""
    if condition.present is not None:
        return present == condition.present
    if not present:
        return condition.not_equals is not None
    if condition.equals is not None:
        return _same(value, condition.equals)
    if condition.not_equals is not None:
        return not _same(value, condition.not_equals)
    if condition.in_ is not None:
        return any(_same(value, option) for option in condition.in_)
    if condition.matches is not None:
        try:
            return re.search(condition.matches, str(value)) is not None
        except re.error:
            return False
    number = _number(value)
    if number is None:
        return False
    if condition.greater_than is not None:
        return number > condition.greater_than
    return condition.less_than is not None and number < condition.less_than
