"""One exception tree for supportbot.

::

    SupportbotError              base: every error we raise on purpose
    ├── ConfigError              settings that cannot work (bad URL, missing dir)
    ├── FlowFileError            flow/persona files are invalid; carries diagnostics
    └── ActionError              a custom action failed or does not exist

Every message says what to do next; callers show ``str(error)`` to operators as is.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from bot.diagnostics import Diagnostic
from storage.errors import database_outage


class SupportbotError(Exception):
    """Base class of every error supportbot raises on purpose."""


class ConfigError(SupportbotError):
    """The configuration cannot work; the message names the setting."""


class FlowFileError(SupportbotError):
    """Flow or persona files are invalid; ``diagnostics`` lists each problem."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        lines = "\n".join(str(d) for d in self.diagnostics)
        super().__init__(
            f"{len(self.diagnostics)} problem(s) in flow/persona files:\n{lines}\n"
            "Fix them and run `supportbot flows check`."
        )


class ActionError(SupportbotError):
    """A custom action is unknown or failed."""


def log_failure(log: logging.Logger, message: str, *args: object) -> None:
    """Log the exception being handled: one warning line when the database is away for
    now (hundreds of identical tracebacks during a restart help no one), the traceback
    otherwise. Call it from an ``except`` block."""
    error = sys.exc_info()[1]
    outage = None if error is None else database_outage(error)
    if outage is None:
        log.exception(message, *args)
    else:
        log.warning(message + " (database unavailable: %s)", *args, outage)
