"""Database URLs: parsing them for the async drivers, and masking passwords for logs."""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_SECRET_QUERY_KEYS = frozenset({"password", "pass", "pwd", "passwd"})


def mask_url(url: str) -> str:
    """Return ``url`` with its password hidden, for logs and error messages."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Not a URL SQLAlchemy understands: still never print what looks like a password.
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    secret_keys = [key for key in parsed.query if key.lower() in _SECRET_QUERY_KEYS]
    if secret_keys:
        parsed = parsed.update_query_dict(dict.fromkeys(secret_keys, "***"))
    # render_as_string percent-encodes the query's "***"; undo that for readable logs.
    return parsed.render_as_string(hide_password=True).replace("=%2A%2A%2A", "=***")


def async_url(url: str) -> URL:
    """Parse ``url``, turning plain ``sqlite://`` into the async ``sqlite+aiosqlite://``."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed
