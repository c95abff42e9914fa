"""Pure helpers the shop actions use: order numbers, dates in words, money, masked emails.

No I/O here, and every function that depends on the date takes ``today`` explicitly, so the
wording can be tested for any day.
"""

from __future__ import annotations

import re
from datetime import date

_ORDER_NUMBER = re.compile(r"(?i)(?<![\w-])(?:ws[\s-]?|#)?(\d{5})(?!\w)")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_CURRENCY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£"}


def normalise_order_number(raw: object) -> str | None:
    """``"ws10001"``, ``"WS-10001"``, ``" 10001 "``, ``"order #10001"`` → ``"WS-10001"``.

    Returns None when the text holds no five-digit order number.
    """
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        return None
    match = _ORDER_NUMBER.search(str(raw))
    return f"WS-{match.group(1)}" if match else None


def human_day(day: date, today: date, preposition: str = "on") -> str:
    """A day as a customer would say it, relative to ``today``.

    "today", "tomorrow", "yesterday"; "on Thursday" within a week either way;
    "on 3 December" further away (with the year when it is not this year's nor near).
    ``preposition`` replaces "on" (e.g. "by Thursday"); "" gives the bare day.
    """
    delta = (day - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == -1:
        return "yesterday"
    if -7 < delta < 7:
        text = _WEEKDAYS[day.weekday()]
    else:
        text = f"{day.day} {_MONTHS[day.month - 1]}"
        if day.year != today.year and abs(delta) > 180:
            text += f" {day.year}"
    return f"{preposition} {text}" if preposition else text


def order_eta(
    status: str,
    today: date,
    eta_from: date | None = None,
    eta_to: date | None = None,
    delivered_on: date | None = None,
) -> str:
    """The ``eta`` slot: the words that follow "expected …" in the flows.

    "tomorrow", "on Thursday", "in 3–4 days", "already (it arrived on Monday)",
    "— it was cancelled", "soon (it was due yesterday)".
    """
    if status == "cancelled":
        return "— it was cancelled"
    if status == "delivered":
        if delivered_on is None:
            return "already"
        return f"already (it arrived {human_day(delivered_on, today)})"
    if eta_from is None and eta_to is None:
        return "soon"
    first = eta_from or eta_to
    last = eta_to or eta_from
    assert first is not None and last is not None
    if last < today:
        return f"soon (it was due {human_day(last, today)})"
    if first < today:
        first = today
    if first == last:
        return human_day(first, today)
    lo, hi = (first - today).days, (last - today).days
    if lo >= 2:
        return f"in {lo}–{hi} days"
    return human_day(last, today, preposition="by")


def format_money(amount_cents: int, currency: str = "EUR") -> str:
    """``4990, "EUR"`` → ``"€49.90"`` (unknown currencies: ``"49.90 CHF"``)."""
    sign = "-" if amount_cents < 0 else ""
    units, cents = divmod(abs(amount_cents), 100)
    number = f"{units:,}.{cents:02d}"
    symbol = _CURRENCY_SIGNS.get(currency.upper())
    if symbol is None:
        return f"{sign}{number} {currency.upper()}"
    return f"{sign}{symbol}{number}"


def normalise_email(raw: object) -> str | None:
    """Trimmed, lower-cased email address, or None when it does not look like one."""
    if not isinstance(raw, str):
        return None
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or " " in email or "@" in domain:
        return None
    return email


def mask_email(email: str) -> str:
    """``"ann@example.com"`` → ``"a•••@example.com"``: only the first letter stays."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"
