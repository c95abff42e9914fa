"""Reading a satisfaction rating however the customer gives it, and the rating buttons.

Typed answers count as much as taps: a digit ("4", "4/5", "5 stars"), stars ("★★★★"),
or an emoji with a documented score — 👍 5, 👎 1, 😀 5, 🙂 4, 😐 3, 🙁 2, 😞 1, 😡 1.
"""

from __future__ import annotations

import re

from bot.messages import Button

LOW_SCORES = frozenset({1, 2})
FACES = ("😞", "🙁", "😐", "🙂", "😀")
EMOJI_SCORES = {"👍": 5, "👎": 1, "😀": 5, "😃": 5, "🙂": 4, "😐": 3, "🙁": 2, "😞": 1, "😡": 1}
_DIGIT = re.compile(r"^\s*([1-5])(\s*(/\s*5|stars?|out of 5|★+))?\s*[.!]?\s*$", re.IGNORECASE)
RATING_PREFIX = "r:"


def parse_score(text: str) -> int | None:
    """The 1–5 score in ``text``, or None if it is not a rating."""
    stripped = text.strip()
    match = _DIGIT.match(stripped)
    if match:
        return int(match.group(1))
    stars = stripped.replace(" ", "")
    if stars and set(stars) <= {"★", "⭐"} and len(stars) <= 5:
        return len(stars)
    if stripped in EMOJI_SCORES:
        return EMOJI_SCORES[stripped]
    return None


def score_of_payload(payload: str) -> int | None:
    """``r:4`` → 4 (a tap on a rating button)."""
    if payload.startswith(RATING_PREFIX) and payload[2:].isdigit():
        score = int(payload[2:])
        return score if 1 <= score <= 5 else None
    return None


def rating_buttons() -> tuple[Button, ...]:
    return tuple(Button(f"{face} {n}", f"{RATING_PREFIX}{n}") for n, face in enumerate(FACES, 1))
