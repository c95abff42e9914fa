"""What every platform channel provides, and the gate all of them hand updates through.

A channel translates platform updates into :class:`~bot.messages.Inbound`, hands them to
the :class:`InboundGate`, and delivers outbox rows through its :class:`Transport`. It
never decides anything about the conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from starlette.routing import BaseRoute

from bot.delivery import Transport
from bot.messages import Inbound, Outbound
from bot.metrics import ERRORS, UPDATES_IN

Handler = Callable[[Inbound], Awaitable[Sequence[Outbound]]]


class Receipts(Protocol):
    """Says when an update counts as taken (:class:`bot.conversation.receipts.Receipts`,
    passed in: channels do not import the conversation)."""

    async def settle(self, inbound: Inbound, turn: Awaitable[object]) -> None:
        """Run ``turn``; return once it finished or ``inbound`` is kept meanwhile."""
        ...


class ShuttingDown(Exception):
    """The process is stopping: don't acknowledge the update, the platform will redeliver."""


class InboundGate:
    """Counts turns in flight and refuses new ones once shutdown began."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.closed = False

    async def handle(self, inbound: Inbound) -> Sequence[Outbound]:
        if self.closed:
            raise ShuttingDown()
        UPDATES_IN.labels(inbound.key.channel).inc()
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._handler(inbound)
        except Exception:
            ERRORS.labels("turn").inc()
            raise
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    def close(self) -> None:
        self.closed = True

    async def wait_idle(self, seconds: float) -> bool:
        """Wait for turns in flight to finish; False if some were still running."""
        try:
            await asyncio.wait_for(self._idle.wait(), seconds)
        except TimeoutError:
            return False
        return True

    @property
    def in_flight(self) -> int:
        return self._in_flight


class Channel(Protocol):
    """A platform adapter, as the runner sees it."""

    name: str

    @property
    def transport(self) -> Transport: ...

    def routes(self) -> Sequence[BaseRoute]:
        """HTTP routes this channel serves (webhooks), mounted on the one ASGI app."""
        ...

    async def start(self) -> None:
        """Check credentials, register commands/webhooks, start polling if any."""
        ...

    async def stop(self) -> None:
        """Stop taking updates (turns in flight finish; the runner waits for them)."""
        ...

    async def close(self) -> None:
        """Release connections, after the runner delivered the last outbox rows."""
        ...
