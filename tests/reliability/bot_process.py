"""``supportbot run`` for the crash test, with a shorter outbox lease.

    python -m tests.reliability.bot_process run

Exactly the ``supportbot`` command (``bot.cli.app``), except that the outbox sender's
lease is ``SUPPORTBOT_TEST_LEASE_SECONDS`` (default 2) instead of 60 s: a row leased by a
process that was killed waits out its lease before the next process may send it, and
with 60 s every kill would stall the affected chats for a minute (by design — see
``storage/outbox.py``). The crash test kills the bot many times; 2 s keeps it quick.
"""

from __future__ import annotations

import functools
import os

from bot import delivery
from bot.cli import app

LEASE_SECONDS = float(os.environ.get("SUPPORTBOT_TEST_LEASE_SECONDS", "2"))

delivery.OutboxSender.__init__ = functools.partialmethod(  # type: ignore[method-assign]
    delivery.OutboxSender.__init__, lease_seconds=LEASE_SECONDS
)

if __name__ == "__main__":
    app()
