"""Nothing private in any log: what the libraries we run would log is cut down and masked.

Why this exists: libraries log request bodies, payloads and URLs at levels we enable.
slack-bolt logs the whole body of a request whose signature it refused — the customer's
message — at INFO (a server with a skewed clock refuses every request, so every message
would land in the log); slack-sdk logs each Web API payload and response at DEBUG;
httpx logs request URLs at INFO, and a Bot API URL holds the Telegram token;
python-telegram-bot logs the parameters of every call at DEBUG; aiosqlite logs every
statement with its parameters at DEBUG; rasa-sdk logs the events it skips at DEBUG.

One :class:`PrivacyFilter` on the handlers of the root logger sees every record of every
logger that reaches them — whatever level a library sets on its own loggers (Bolt copies
the root level onto each of its loggers when an app is built, so a level set beforehand
is lost). It:

1. drops a library's records below the level where they stop carrying bodies (QUIET);
2. rewrites Bolt's refused-signature line without the body, keeping what an operator
   needs: how far the request's timestamp is from our clock;
3. masks secrets in what is left, tracebacks included: the configured tokens and
   secrets verbatim, anything shaped like a Telegram or Slack token, passwords in URLs,
   and a library's ``body: …``.

:func:`protect_logs` installs it; ``supportbot`` commands call it right after setting up
logging. uvicorn logs through the root logger too (the runner gives it no logging
config of its own), so its records pass the same filter.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

QUIET: dict[str, int] = {
    "slack_bolt": logging.INFO,  # DEBUG: listener bodies and responses
    "slack_sdk": logging.INFO,  # DEBUG: every payload sent and response received
    "telegram": logging.INFO,  # DEBUG: every Bot API call with its parameters
    "httpx": logging.WARNING,  # INFO: request URLs (Telegram's carry the token)
    "httpcore": logging.INFO,  # DEBUG: request and response headers
    "aiohttp": logging.INFO,  # DEBUG: cookies
    "aiosqlite": logging.WARNING,  # DEBUG: every statement with its parameters
    "sqlalchemy": logging.WARNING,  # INFO (echo): statements and parameters
    "rasa_sdk": logging.INFO,  # DEBUG: events and slots of the tracker
    "uvicorn.access": logging.WARNING,  # INFO: every request, with the client's address
}
"""The lowest level kept per library logger (and its children)."""

SLACK_SIGNATURE_WINDOW = 300
"""Seconds Slack's request timestamps may differ from our clock (Bolt refuses beyond)."""

_TOKEN_PATTERNS = (
    (re.compile(r"(?<![0-9])[0-9]{6,}:[A-Za-z0-9_-]{30,}"), "<telegram-token>"),
    (re.compile(r"\bx(?:ox[abeoprs]|app)-[A-Za-z0-9-]+"), "<slack-token>"),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@/\s]+@"), r"\1:***@"),
)
_BODY = re.compile(r"\b(body|payload): .*", re.DOTALL)
_BOLT_REFUSED = "Invalid request signature detected"
_BOLT_TIMESTAMP = re.compile(r"timestamp: (-?[0-9]+)")


class PrivacyFilter(logging.Filter):
    """On a handler: drops, rewrites and masks records (see the module docstring)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is masked whole; very short
        # values would mask ordinary words.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < _lowest_kept(record.name):
            return False
        third_party = not record.name.startswith("supportbot")
        try:
            message = record.getMessage()
        except Exception:  # arguments that don't fit: never let logging raise from here
            message = str(record.msg)
        if record.name.startswith("slack_bolt") and message.startswith(_BOLT_REFUSED):
            message = _refused_signature(message)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        else:
            message = self.mask(message, third_party)
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text, third_party=False)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info, third_party=False)
        return True

    def mask(self, text: str, third_party: bool) -> str:
        """``text`` without secrets; a library's ``body: …`` (to the end) left out too."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        for pattern, replacement in _TOKEN_PATTERNS:
            text = pattern.sub(replacement, text)
        if third_party:
            text = _BODY.sub(r"\1: (not logged)", text)
        return text


def _lowest_kept(name: str) -> int:
    while name:
        level = QUIET.get(name)
        if level is not None:
            return level
        name = name.rpartition(".")[0]
    return logging.NOTSET


def _refused_signature(message: str) -> str:
    """Bolt's refusal without signature and body; says when the clock is the likely cause."""
    found = _BOLT_TIMESTAMP.search(message)
    if found is None:
        return "slack: refused a request with an invalid signature (no timestamp)"
    skew = int(time.time()) - int(found.group(1))
    if abs(skew) <= SLACK_SIGNATURE_WINDOW:
        return (
            "slack: refused a request with an invalid signature "
            "(not signed with SLACK_SIGNING_SECRET: not from Slack, or the secret is wrong)"
        )
    side = "behind" if skew > 0 else "ahead of"
    return (
        f"slack: refused a request with an invalid signature: its timestamp is {abs(skew)} s "
        f"{side} our clock (Slack allows {SLACK_SIGNATURE_WINDOW} s) — a replay, or this "
        "server's clock is wrong"
    )


def protect_logs(secrets: Iterable[str] = ()) -> PrivacyFilter:
    """Put a :class:`PrivacyFilter` on every handler of the root logger (once), and raise
    the libraries' own levels to :data:`QUIET` so what would be dropped is not even built."""
    privacy = PrivacyFilter(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, PrivacyFilter)]:
            handler.removeFilter(old)
        handler.addFilter(privacy)
    quiet_libraries(QUIET)
    return privacy


def quiet_libraries(names: Iterable[str]) -> None:
    """Raise these library loggers to their :data:`QUIET` level, so what carries bodies or
    tokens is not even built — also where no privacy filter is installed (a channel used
    in-process, without the CLI's logging set-up)."""
    for name in names:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < QUIET[name]:
            logger.setLevel(QUIET[name])
