"""Crash points for the restart-safety tests: ``SUPPORTBOT_CRASH_AT=<name>`` kills the
process (``os._exit``, like ``kill -9``: no cleanup, no flush) when it reaches that point.

Unset in production, where each call is one dictionary lookup.
"""

from __future__ import annotations

import os

CRASH_EXIT_CODE = 137


def crash_point(name: str) -> None:
    if os.environ.get("SUPPORTBOT_CRASH_AT") == name:
        os._exit(CRASH_EXIT_CODE)
